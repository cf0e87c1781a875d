"""OpenAI's Completions API: the conversation as one prompt string."""

from __future__ import annotations

from . import Wire


class OpenAICompletions(Wire):
    name = "completions"

    def messages(self, messages) -> str:  # type: ignore[override] - one prompt, not a list
        """The user and assistant turns' text, one per line, as llm's own
        Completion model joins them (a turn without text is left out). A
        system prompt comes first: a base model has no other place for it."""
        turns = [m for m in messages if m.role in ("system", "user", "assistant")]
        return "\n".join(m.content for m in turns if m.content)


WIRE = OpenAICompletions

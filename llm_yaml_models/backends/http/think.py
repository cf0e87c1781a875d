"""``<think>...</think>`` inline in a reply's text, split out as reasoning.

Some servers (a model's chat template, a proxy without a reasoning parser)
put the model's thinking in the text itself. ``ThinkTags`` is fed the text
as it arrives, chunk by chunk, and keeps what may be the start of a tag
until the next chunk says: a tag cut across two events, or two network
reads, is still a tag. Tags nest (an inner pair is reasoning, tags
included); a ``</think>`` with none open is text; a ``<think>`` still open
when the reply ends makes the rest reasoning. Nothing here raises.
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


class Thought(str):
    """Reasoning text, inside the decoder: cheaper to make than llm's
    StreamEvent, and joined into one per network read before it leaves."""

    __slots__ = ()


def reasoning_event(text: str):
    """llm's event for reasoning text."""
    from llm.parts import StreamEvent

    return StreamEvent(type="reasoning", chunk=text)


def part_opener(index: int):
    """An empty reasoning event that starts a part of its own, numbered by
    the API's block or item ``index``: llm joins adjacent reasoning into one
    part (one signature, one id), so two blocks in a row need this. An empty
    text event between them did it before, and llm's CLI writes a newline to
    stderr at each turn from reasoning to text: after a thinking block and a
    redacted one (which shows nothing), a blank line.

    The number is one llm has not given: each block or item before this one
    made at most one part, and llm numbers its own parts up from 0."""
    from llm.parts import StreamEvent

    return StreamEvent(type="reasoning", chunk="", part_index=index)


def _held(text: str, tags: tuple[str, ...]) -> int:
    """How many characters at the end of ``text`` may start one of ``tags``."""
    for size in range(min(len(text), len(CLOSE) - 1), 0, -1):
        tail = text[-size:]
        if any(tag.startswith(tail) for tag in tags):
            return size
    return 0


class ThinkTags:
    """One reply's text in, text (``str``) and reasoning (``Thought``)
    chunks out, in order."""

    def __init__(self):
        self.depth = 0  # tags open
        self.pending = ""  # the end of the last chunk: maybe the start of a tag
        self.thought = False  # some reasoning came

    def feed(self, text: str) -> list:
        text, self.pending = self.pending + text, ""
        out: list = []
        while text:
            tags = (OPEN, CLOSE) if self.depth else (OPEN,)
            found = [(i, tag) for tag in tags if (i := text.find(tag)) >= 0]
            if not found:
                keep = _held(text, tags)
                self._emit(out, text[: len(text) - keep])
                self.pending = text[len(text) - keep :]
                break
            i, tag = min(found)
            text = self._tag(out, text, i, tag)
        return out

    def _tag(self, out: list, text: str, i: int, tag: str) -> str:
        """Emit what comes before the tag at ``i``; what follows it is left."""
        outermost = (tag == OPEN and not self.depth) or (tag == CLOSE and self.depth == 1)
        end = i + len(tag)
        self._emit(out, text[:i] if outermost else text[:end])  # inner tags are reasoning
        self.depth += 1 if tag == OPEN else -1
        return text[end:]

    def finish(self) -> list:
        """The reply ended: what was held back, as what it was inside."""
        out: list = []
        self._emit(out, self.pending)
        self.pending = ""
        return out

    def _emit(self, out: list, text: str) -> None:
        if text and self.depth:
            self.thought = True
            out.append(Thought(text))
        elif text:
            out.append(text)

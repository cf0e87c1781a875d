"""API families: what differs from one HTTP model API to another.

A family is a module here with one ``Wire`` subclass. It encodes the
conversation, tool specs and a reply schema in its API's shapes, and its
``Reader`` reads what a reply says beyond the declared paths (one reader
per reply, so it may keep state across events). A preset names the family
in ``messages:`` (and ``tools:``, ``schema:``); all else about an API is
data in the preset. Adding a family is one module here and one preset.

    Wire            the family: stateless, one instance
      messages()      the conversation, as the API's message list
      conversation()  the same, as one declaration asks for it
      tool_body()     body keys that offer tools
      offered()       the same, with llm's server-side tools' specs beside them
      schema_body()   body keys that ask for a JSON schema
      finished()      the body, with what the family reads of the request itself
                      (options declared ``send: false``, ``-R``)
      preface()       text the reply starts with that the server does not send
      reader()        a Reader for one reply
    Reader          one reply: reply() for a whole one, event() per streamed event,
                    end() when a stream has ended
    ReplyState      what a Reader knows of its reply, passed down by the
                    decoder, which no family imports (a lower floor never
                    imports a higher one)
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ...base import Message, Request, Secrets
    from ..config import HttpConfig
    from ..outcome import Outcome

# name as declared -> module; each module's WIRE is its family
FAMILIES = {
    "text": "text",
    "openai": "openai_chat",
    "anthropic": "anthropic",
    "ollama": "ollama",
    "gemini": "gemini",
    "openai-responses": "openai_responses",
    "completions": "openai_completions",
    "bedrock-converse": "bedrock",
}


@dataclass
class ReplyState:
    """One reply, as its Reader sees it: where it came from, the secrets
    to star in what it keeps, the Outcome it fills, and whether reasoning
    came (at a declared path, or in think tags)."""

    where: str
    secrets: Secrets
    outcome: Outcome
    reasoned: Callable[[], bool]

    def named(self, slots: list) -> list:
        """A tool call's name, as llm's event, when it first comes: once,
        however often a server repeats it. The call's id is fixed then (one
        made up if the API gave none), and its arguments follow whole, when
        the reply has ended (``factory``), so that a secret a server echoes
        in them is starred before llm logs them."""
        from llm.parts import StreamEvent

        events = []
        for slot in slots:
            slot["id"] = self.secrets.call_id(slot["id"])
            events.append(StreamEvent("tool_call_name", slot["name"], tool_call_id=slot["id"]))
        return events


class Reader:
    """What one reply says beyond the declared paths: chunks to yield
    (``str`` text, or llm ``StreamEvent``), in the order they came."""

    def __init__(self, state: ReplyState):
        self.state = state

    def reply(self, data: Any) -> list:
        """A whole JSON reply, after the declared paths have been read."""
        return []

    def event(self, name: str, payload: Any) -> list:
        """One streamed event (its SSE name, or ""), after the declared paths."""
        return []

    def end(self) -> list:
        """The stream has ended: what is left to say."""
        return []


class Wire:
    """One API family. Each method has the plain default; a family
    overrides what its API does differently."""

    name: ClassVar[str] = "text"
    tools: ClassVar[bool] = False  # can it offer tools (``tool_body``)?
    schema: ClassVar[bool] = False  # can it ask for a JSON schema (``schema_body``)?
    # can its messages carry an earlier reply's reasoning (``conversation``)?
    send_reasoning: ClassVar[bool] = False

    def messages(self, messages: list[Message]) -> list[dict]:
        return [{"role": m.role, "content": m.content} for m in messages]

    def conversation(self, messages: list[Message], config: HttpConfig) -> list[dict]:
        """``messages()`` for one declaration, which may ask for more
        (``send_reasoning``)."""
        return self.messages(messages)

    def tool_body(self, tools: list) -> dict:
        raise NotImplementedError(f"{self.name} has no tools")

    def offered(self, tools: list, server_tools: list[dict]) -> dict:
        """Body keys that offer llm's tools (``tool_body``) and the
        server-side tools, whose specs go into the same ``tools`` list as
        written: where Anthropic, OpenAI's Responses and Gemini take them."""
        body = self.tool_body(tools) if tools else {}
        if server_tools:
            body = {**body, "tools": [*body.get("tools", []), *server_tools]}
        return body

    def schema_body(self, schema: dict) -> dict:
        raise NotImplementedError(f"{self.name} has no reply schema")

    def finished(self, body: Any, request: Request) -> Any:
        """``body`` as rendered, with what this family does with the request
        beyond the templates (a copy where it changes)."""
        return body

    def preface(self, request: Request) -> str:
        """Text shown (and logged) before the reply's own."""
        return ""

    def reader(self, state: ReplyState) -> Reader:
        return Reader(state)


def alternating(messages: list[Message], blocks: Callable) -> list[dict]:
    """Turns that alternate between user and assistant, as Anthropic's and
    Bedrock's APIs take them: the system prompt is the body's own key, not a
    message, and tool results and the user's next words are one user turn
    (each tool call must be answered in the turn right after it).
    ``blocks(message)`` gives a message's role and its content blocks."""
    out: list[dict] = []
    for m in messages:
        if m.role == "system":
            continue
        role, content = blocks(m)
        if out and role == "user" and out[-1]["role"] == "user":
            out[-1]["content"] += content
        else:
            out.append({"role": role, "content": content})
    return out


@functools.cache
def wire(name: str) -> Wire:
    """The family called ``name`` in a declaration."""
    return importlib.import_module(f"{__name__}.{FAMILIES[name]}").WIRE()


def names(capability: str | None = None) -> list[str]:
    """The families' names; only those with ``capability`` (tools, schema)."""
    return [n for n in FAMILIES if capability is None or getattr(wire(n), capability)]

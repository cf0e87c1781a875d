"""Ollama's native chat API.

A reply's ``message`` may hold ``thinking`` (llm reasoning) and
``tool_calls``, each whole, its ``arguments`` an object. The thinking goes
back on later assistant messages (models such as gpt-oss want it within a
tool chain), and a tool's result as a ``tool`` message naming the tool."""

from __future__ import annotations

import json
from typing import Any

from ..outcome import WireError
from . import Reader, Wire
from .openai_chat import tool_specs


def _message(m, names: dict) -> dict:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.attachments:
        out["images"] = [a.base64_content() for a in m.attachments]
    if m.role == "tool" and m.tool_call_id in names:
        out["tool_name"] = names[m.tool_call_id]
    thinking = "".join(p.text for p in m.reasoning if not p.redacted)
    if m.role == "assistant" and thinking:
        out["thinking"] = thinking
    if m.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": call.name, "arguments": call.arguments}} for call in m.tool_calls
        ]
    return out


class Ollama(Wire):
    name = "ollama"
    tools = True
    schema = True

    def messages(self, messages) -> list[dict]:
        names = {c.tool_call_id: c.name for m in messages for c in m.tool_calls}
        return [_message(m, names) for m in messages]

    def tool_body(self, tools) -> dict:
        return {"tools": tool_specs(tools)}  # Ollama takes OpenAI's function tools

    def schema_body(self, schema) -> dict:
        return {"format": schema}

    def reader(self, state) -> Reader:
        return OllamaReader(state)


class OllamaReader(Reader):
    """``message.thinking`` and ``message.tool_calls``, in each line or the whole reply."""

    def reply(self, data: Any) -> list:
        # Tool calls reach llm after the text (the factory sends them on).
        return self._read(data, streamed=False)

    def event(self, name: str, payload: Any) -> list:
        return self._read(payload, streamed=True)

    def _read(self, data: Any, streamed: bool) -> list:
        from llm.parts import StreamEvent

        message = data.get("message") if isinstance(data, dict) else None
        if not isinstance(message, dict):
            return []
        chunks: list = []
        thinking = message.get("thinking")
        if thinking is not None and not isinstance(thinking, str):
            raise WireError(
                f"message.thinking in the reply from {self.state.where} is not a string"
            )
        if thinking:
            chunks.append(StreamEvent("reasoning", thinking))
        calls = message.get("tool_calls")
        if calls is not None and not isinstance(calls, list):
            raise WireError(
                f"message.tool_calls in the reply from {self.state.where} is not a list"
            )
        for call in calls or []:
            call_id, name = self._call(call)
            if streamed:  # where it came; the factory sends every call's arguments
                chunks.append(StreamEvent("tool_call_name", name, tool_call_id=call_id))
        return chunks

    def _call(self, call: Any) -> tuple[str, str]:
        """One tool call, checked, kept for llm to run: its id and name."""
        where = self.state.where
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise WireError(f"a tool call in the reply from {where} is not an object")
        name, arguments = function.get("name"), function.get("arguments", {})
        if not isinstance(name, str) or not name:
            raise WireError(f"a tool call in the reply from {where}: function.name is not a string")
        if not isinstance(arguments, dict):
            raise WireError(
                f"a tool call in the reply from {where}: function.arguments is not an object"
            )
        call_id = self.state.secrets.call_id(call.get("id"))  # older Ollama gives none
        outcome = self.state.outcome
        slot = {"id": call_id, "name": name, "arguments": json.dumps(arguments)}
        outcome.tool_calls[("ollama", len(outcome.tool_calls))] = slot
        return call_id, name


WIRE = Ollama

"""OpenAI Chat Completions, and every server that speaks it."""

from __future__ import annotations

import json
from typing import Any

from . import Reader, Wire


def data_url(attachment) -> str:
    return f"data:{attachment.resolve_type()};base64,{attachment.base64_content()}"


def _attachment(attachment) -> dict:
    kind = attachment.resolve_type()
    if kind.startswith("audio/"):
        fmt = "wav" if kind in ("audio/wav", "audio/x-wav") else "mp3"
        return {
            "type": "input_audio",
            "input_audio": {"data": attachment.base64_content(), "format": fmt},
        }
    if kind == "application/pdf":  # as llm's own client sends a PDF
        return {
            "type": "file",
            "file": {"filename": f"{attachment.id()}.pdf", "file_data": data_url(attachment)},
        }
    url = attachment.url or data_url(attachment)
    return {"type": "image_url", "image_url": {"url": url}}


def _message(m, send_reasoning: str | None = None) -> dict:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    out: dict[str, Any] = {"role": m.role}
    if m.attachments:
        parts = [{"type": "text", "text": m.content}] if m.content else []
        out["content"] = parts + [_attachment(a) for a in m.attachments]
    else:
        out["content"] = m.content
    if m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [
            {
                "id": call.tool_call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in m.tool_calls
        ]
    sends = send_reasoning == "always" or (send_reasoning == "tool_calls" and m.tool_calls)
    if m.role == "assistant" and sends:
        reasoning = "".join(p.text for p in m.reasoning if p.text and not p.redacted)
        if reasoning:
            out["reasoning_content"] = reasoning
    return out


def _reasoning_tokens(data: Any) -> bool:
    """Whether a reply's usage counts reasoning tokens."""
    usage = data.get("usage") if type(data) is dict else None
    if not usage or type(usage) is not dict:
        return False
    details = usage.get("completion_tokens_details")
    return type(details) is dict and bool(details.get("reasoning_tokens"))


class OpenAIReader(Reader):
    """Reasoning a hosted model did but did not show (usage counts its
    tokens, no text came) is recorded as llm's own OpenAI client records
    it: one redacted reasoning part, which llm puts first in the message."""

    hidden = False

    def reply(self, data: Any) -> list:
        self.hidden = _reasoning_tokens(data)
        return self.end()

    def event(self, name: str, payload: Any) -> list:
        if type(payload) is dict and "usage" in payload and _reasoning_tokens(payload):
            self.hidden = True
        return []

    def end(self) -> list:
        if not self.hidden or self.state.reasoned():
            return []
        from llm.parts import StreamEvent

        self.hidden = False
        return [StreamEvent(type="reasoning", chunk="", redacted=True)]


def tool_specs(tools) -> list[dict]:
    """llm's tools as OpenAI function tools."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description or "",
                "parameters": tool.input_schema or {"type": "object", "properties": {}},
            },
        }
        for tool in tools
    ]


class OpenAIChat(Wire):
    name = "openai"
    tools = True
    schema = True
    send_reasoning = True

    def messages(self, messages) -> list[dict]:
        return [_message(m) for m in messages]

    def conversation(self, messages, config) -> list[dict]:
        return [_message(m, config.send_reasoning) for m in messages]

    def reader(self, state) -> Reader:
        return OpenAIReader(state)

    def tool_body(self, tools) -> dict:
        return {"tools": tool_specs(tools)}

    def schema_body(self, schema) -> dict:
        spec = {"name": "output", "schema": schema}
        return {"response_format": {"type": "json_schema", "json_schema": spec}}


WIRE = OpenAIChat

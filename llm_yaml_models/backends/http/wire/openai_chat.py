"""OpenAI Chat Completions, and every server that speaks it."""

from __future__ import annotations

import json
from typing import Any

from . import Wire


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


def _message(m) -> dict:
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
    return out


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

    def messages(self, messages) -> list[dict]:
        return [_message(m) for m in messages]

    def tool_body(self, tools) -> dict:
        return {"tools": tool_specs(tools)}

    def schema_body(self, schema) -> dict:
        spec = {"name": "output", "schema": schema}
        return {"response_format": {"type": "json_schema", "json_schema": spec}}


WIRE = OpenAIChat

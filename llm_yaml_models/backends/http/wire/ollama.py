"""Ollama's native chat API."""

from __future__ import annotations

from . import Wire


def _message(m) -> dict:
    out = {"role": m.role, "content": m.content}
    if m.attachments:
        out["images"] = [a.base64_content() for a in m.attachments]
    return out


class Ollama(Wire):
    name = "ollama"
    schema = True

    def messages(self, messages) -> list[dict]:
        return [_message(m) for m in messages]

    def schema_body(self, schema) -> dict:
        return {"format": schema}


WIRE = Ollama

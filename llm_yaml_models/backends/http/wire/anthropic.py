"""Anthropic's Messages API."""

from __future__ import annotations

from . import Wire


def _message(m) -> dict:
    blocks: list[dict] = []
    for a in m.attachments:
        source = (
            {"type": "url", "url": a.url}
            if a.url
            else {"type": "base64", "media_type": a.resolve_type(), "data": a.base64_content()}
        )
        blocks.append(
            {"type": "document" if "pdf" in a.resolve_type() else "image", "source": source}
        )
    if m.content or not blocks:
        blocks.append({"type": "text", "text": m.content})
    return {"role": "assistant" if m.role == "assistant" else "user", "content": blocks}


class Anthropic(Wire):
    name = "anthropic"

    def messages(self, messages) -> list[dict]:
        # The system prompt is the body's own key, not a message.
        return [_message(m) for m in messages if m.role != "system"]


WIRE = Anthropic

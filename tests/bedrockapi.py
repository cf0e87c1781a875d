"""A Bedrock Converse server on 127.0.0.1 for the tests, and AWS's event-stream
framing written from its spec (struct and zlib), independently of the
plugin's decoder.

``BedrockAPI`` answers ``.../converse`` with ``converse_json(blocks)`` and
``.../converse-stream`` with the same turn as event-stream messages; each
request gets the next of ``turns`` (the last one again after that).
"""

from __future__ import annotations

import json
import struct
import zlib

from fakeapi import FakeAPI

# -- the framing, from the spec ---------------------------------------------------------


def header(name: str, kind: int, value=None) -> bytes:
    raw = name.encode()
    head = struct.pack(">B", len(raw)) + raw + struct.pack(">B", kind)
    if kind in (0, 1):
        return head
    fixed = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}
    if kind in fixed:
        return head + struct.pack(fixed[kind], value)
    if kind == 9:
        return head + value.bytes
    data = value.encode() if kind == 7 else value
    return head + struct.pack(">H", len(data)) + data


def frame(headers: list[bytes], payload: bytes = b"") -> bytes:
    block = b"".join(headers)
    total = 12 + len(block) + len(payload) + 4
    prelude = struct.pack(">II", total, len(block))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + block + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(kind: str, payload: dict) -> bytes:
    """A ConverseStream event as Bedrock frames it."""
    return frame(
        [
            header(":event-type", 7, kind),
            header(":content-type", 7, "application/json"),
            header(":message-type", 7, "event"),
        ],
        json.dumps(payload).encode(),
    )


def exception(kind: str, message: str) -> bytes:
    return frame(
        [
            header(":exception-type", 7, kind),
            header(":content-type", 7, "application/json"),
            header(":message-type", 7, "exception"),
        ],
        json.dumps({"message": message}).encode(),
    )


# -- Converse's shapes -----------------------------------------------------------------------

USAGE = {
    "inputTokens": 11,
    "outputTokens": 7,
    "totalTokens": 18,
    "cacheReadInputTokens": 5,
    "cacheWriteInputTokens": 3,
}


def converse_json(blocks: list, stop: str = "end_turn", usage: dict = USAGE) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": stop,
        "usage": usage,
        "metrics": {"latencyMs": 12},
    }


def _block_events(index: int, block: dict) -> list[bytes]:
    """One content block as ConverseStream sends it: start, deltas, stop."""
    out = []
    at = {"contentBlockIndex": index}
    if "toolUse" in block:
        tool = block["toolUse"]
        start = {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}
        out.append(event("contentBlockStart", {**at, "start": start}))
        text = json.dumps(tool["input"])
        for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
            out.append(event("contentBlockDelta", {**at, "delta": {"toolUse": {"input": piece}}}))
    elif "reasoningContent" in block:
        found = block["reasoningContent"]
        if "redactedContent" in found:
            deltas = [{"redactedContent": found["redactedContent"]}]
        else:
            text = found["reasoningText"]["text"]
            deltas = [{"text": text[:5]}, {"text": text[5:]}]
            deltas.append({"signature": found["reasoningText"]["signature"]})
        for delta in deltas:
            out.append(event("contentBlockDelta", {**at, "delta": {"reasoningContent": delta}}))
    else:
        text = block["text"]
        for piece in (text[:3], text[3:]):
            out.append(event("contentBlockDelta", {**at, "delta": {"text": piece}}))
    out.append(event("contentBlockStop", at))
    return out


def converse_stream(blocks: list, stop: str = "end_turn", usage: dict = USAGE) -> list[bytes]:
    """A turn as ConverseStream's messages, one network read each."""
    out = [event("messageStart", {"role": "assistant"})]
    for index, block in enumerate(blocks):
        out += _block_events(index, block)
    out.append(event("messageStop", {"stopReason": stop}))
    out.append(event("metadata", {"usage": usage, "metrics": {"latencyMs": 12}}))
    return out


def converse_reply(path: str, text: str) -> tuple[bool, str, bytes]:
    """FakeAPI's answer at .../converse and .../converse-stream: ``text``."""
    usage = {"inputTokens": 3, "outputTokens": len(text.split()), "totalTokens": 3}
    blocks = [{"text": text}]
    if path.endswith("/converse-stream"):
        body = b"".join(converse_stream(blocks, usage=usage))
        return True, "application/vnd.amazon.eventstream", body
    return False, "application/json", json.dumps(converse_json(blocks, usage=usage)).encode()


class BedrockAPI(FakeAPI):
    """Converse and ConverseStream, one turn per request."""

    def __init__(self):
        super().__init__()
        self.turns: list = [([{"text": "Hello from Bedrock"}], "end_turn")]

    def _reply(self, request):
        if not request.path.endswith(("/converse", "/converse-stream")):
            return super()._reply(request)
        blocks, stop = self.turns[min(len(self.requests), len(self.turns)) - 1]
        if request.path.endswith("/converse-stream"):
            return (
                True,
                "application/vnd.amazon.eventstream",
                b"".join(converse_stream(blocks, stop)),
            )
        return False, "application/json", json.dumps(converse_json(blocks, stop)).encode()

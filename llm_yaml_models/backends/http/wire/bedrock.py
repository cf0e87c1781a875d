"""Amazon Bedrock's Converse API (``/model/{modelId}/converse``, streamed
from ``/converse-stream`` in AWS's event-stream framing).

A message's content is a list of blocks, each an object with one key:
``text``, ``image`` and ``document`` (bytes as base64), ``toolUse``,
``toolResult`` and ``reasoningContent`` (``reasoningText`` with its
``signature``, or ``redactedContent``). Reasoning becomes llm reasoning,
its signature or redacted bytes the part's ``provider_metadata["bedrock"]``;
on the next turn the assistant message carries the blocks back in their
order. Tool results go back as ``toolResult`` blocks in a user message. A
stream's events come by name (``:event-type``): contentBlockStart (a tool
call's id and name), contentBlockDelta, contentBlockStop, messageStop,
metadata (usage)."""

from __future__ import annotations

import json
from typing import Any

from ..outcome import WireError, streamed_arguments
from . import Reader, ReplyState, Wire, alternating

IMAGES = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
DOCUMENTS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}


def _attachment(a, number: int) -> dict:
    kind = a.resolve_type()
    source = {"bytes": a.base64_content()}
    if kind in IMAGES:
        return {"image": {"format": IMAGES[kind], "source": source}}
    if kind in DOCUMENTS:
        # A name is required, and the model reads it: one per document, no path.
        name = f"document-{number}"
        return {"document": {"format": DOCUMENTS[kind], "name": name, "source": source}}
    raise WireError(f"Bedrock's Converse API takes no attachment of type {kind}")


def _attachments(m) -> list[dict]:
    return [_attachment(a, i) for i, a in enumerate(m.attachments, 1)]


def _user(m) -> list[dict]:
    blocks = _attachments(m)
    if m.content or not blocks:
        blocks.append({"text": m.content})
    return blocks


def _tool_result(m) -> list[dict]:
    content = [{"text": m.content}] + _attachments(m)
    return [{"toolResult": {"toolUseId": m.tool_call_id, "content": content}}]


def _reasoning_block(part) -> dict | None:
    """A reasoning block as it came; None for reasoning Bedrock did not
    sign (another model's, or cut off), which it would refuse."""
    meta = (part.provider_metadata or {}).get("bedrock")
    if not isinstance(meta, dict):
        return None
    if isinstance(meta.get("redacted"), str):
        return {"reasoningContent": {"redactedContent": meta["redacted"]}}
    if isinstance(meta.get("signature"), str):
        text = {"text": part.text, "signature": meta["signature"]}
        return {"reasoningContent": {"reasoningText": text}}
    return None


def _tool_use(call) -> dict:
    return {"toolUse": {"toolUseId": call.tool_call_id, "name": call.name, "input": call.arguments}}


def _assistant(m) -> list[dict]:
    """The reply's blocks in their order, from llm's parts when there are any."""
    from llm.parts import ReasoningPart, TextPart, ToolCallPart

    blocks: list[dict] = []
    for part in m.parts:
        if isinstance(part, ReasoningPart):
            block = _reasoning_block(part)
        elif isinstance(part, TextPart):
            block = {"text": part.text} if part.text else None
        elif isinstance(part, ToolCallPart) and not part.server_executed:
            block = _tool_use(part)  # another API's server tool calls are its own
        else:
            block = None
        if block is not None:
            blocks.append(block)
    if not m.parts:
        blocks = [{"text": m.content}] if m.content else []
        blocks += [_tool_use(call) for call in m.tool_calls]
    return blocks or [{"text": m.content}]


def _blocks(m) -> tuple[str, list[dict]]:
    if m.role == "assistant":
        return "assistant", _assistant(m)
    if m.role == "tool":
        return "user", _tool_result(m)
    return "user", _user(m)


def tool_specs(tools) -> list[dict]:
    """llm's tools as Converse ``toolSpec``s (a description may not be empty)."""
    specs = []
    for tool in tools:
        schema = tool.input_schema or {"type": "object", "properties": {}}
        spec = {"name": tool.name, "inputSchema": {"json": schema}}
        if tool.description:
            spec["description"] = tool.description
        specs.append({"toolSpec": spec})
    return specs


class Bedrock(Wire):
    name = "bedrock-converse"
    tools = True

    def messages(self, messages) -> list[dict]:
        return alternating(messages, _blocks)

    def tool_body(self, tools) -> dict:
        return {"toolConfig": {"tools": tool_specs(tools)}}

    def reader(self, state: ReplyState) -> Reader:
        return BedrockReader(state)


def _event(kind: str, chunk: str = "", **fields):
    from llm.parts import StreamEvent

    return StreamEvent(kind, chunk, **fields)


class BedrockReader(Reader):
    """Reasoning and tool calls, streamed or whole; text in its place."""

    def __init__(self, state: ReplyState):
        super().__init__(state)
        self.calls: dict[Any, dict] = {}  # streamed toolUse blocks by index
        self.last: Any = None  # the block the last reasoning came in

    def _string(self, block: dict, key: str, what: str) -> str:
        value = block.get(key)
        if type(value) is not str:
            raise WireError(f"{what} in the reply from {self.state.where}: {key} is not a string")
        return value

    def _reasoning(self, where: Any, text: str = "", meta: dict | None = None) -> list:
        """llm joins adjacent reasoning into one part: an empty text chunk
        between two reasoning blocks keeps them two, each with its signature."""
        boundary = [_event("text")] if self.last is not None and self.last != where else []
        self.last = where
        metadata = {"bedrock": meta} if meta else None
        return boundary + [_event("reasoning", text, provider_metadata=metadata)]

    def _call(self, key: Any, tool: dict, arguments: Any) -> None:
        if not isinstance(arguments, dict):
            where = self.state.where
            raise WireError(
                f"a toolUse block in the reply from {where}: input is not a JSON object"
            )
        slot = {"id": tool["id"], "name": tool["name"], "arguments": json.dumps(arguments)}
        self.state.outcome.tool_calls[("toolUse", key)] = slot

    def _tool(self, block: dict) -> tuple[dict, list]:
        """A toolUse block's id (starred, or made up: ``ReplyState.named``)
        and name, and the event that names the call."""
        tool = {
            "id": self._string(block, "toolUseId", "a toolUse block"),
            "name": self._string(block, "name", "a toolUse block"),
        }
        return tool, self.state.named([tool])

    # -- a whole reply ----------------------------------------------------------

    def reply(self, data: Any) -> list:
        """Every block in its place: text, reasoning, and each tool call's
        name (its input goes to llm once the reply is read)."""
        message = data.get("output", {}).get("message") if isinstance(data, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        chunks: list = []
        for i, block in enumerate(content if isinstance(content, list) else []):
            if not isinstance(block, dict):
                continue
            if isinstance(block.get("text"), str):
                chunks.append(block["text"])
            elif isinstance(block.get("reasoningContent"), dict):
                chunks += self._whole_reasoning(i, block["reasoningContent"])
            elif isinstance(block.get("toolUse"), dict):
                tool, named = self._tool(block["toolUse"])
                self._call(i, tool, block["toolUse"].get("input"))
                chunks += named
        return chunks

    def _whole_reasoning(self, index: int, block: dict) -> list:
        if "redactedContent" in block:
            data = self._string(block, "redactedContent", "a reasoningContent block")
            return self._reasoning(index, meta={"redacted": data})
        found = block.get("reasoningText")
        found = found if isinstance(found, dict) else {}
        text = self._string(found, "text", "a reasoningText block")
        signature = found.get("signature")
        meta = {"signature": signature} if isinstance(signature, str) else None
        return self._reasoning(index, text, meta)

    # -- a stream ----------------------------------------------------------------

    def event(self, name: str, payload: Any) -> list:
        if not isinstance(payload, dict):
            return []
        index = payload.get("contentBlockIndex")
        if name == "contentBlockStart" and isinstance(payload.get("start"), dict):
            return self._start(index, payload["start"])
        if name == "contentBlockDelta" and isinstance(payload.get("delta"), dict):
            return self._delta(index, payload["delta"])
        if name == "contentBlockStop":
            self._stop(index)
        elif name == "messageStop":
            for index in list(self.calls):
                self._stop(index)
        return []

    def _start(self, index: Any, start: dict) -> list:
        if not isinstance(start.get("toolUse"), dict):
            return []
        tool, named = self._tool(start["toolUse"])
        self.calls[index] = {**tool, "json": []}
        return named

    def _delta(self, index: Any, delta: dict) -> list:
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            return self._reasoning_delta(index, reasoning)
        tool = delta.get("toolUse")
        if isinstance(tool, dict) and index in self.calls:
            self.calls[index]["json"].append(self._string(tool, "input", "a toolUse delta"))
        return []

    def _reasoning_delta(self, index: Any, delta: dict) -> list:
        what = "a reasoningContent delta"
        if "text" in delta:
            text = self._string(delta, "text", what)
            return self._reasoning(index, text) if text else []
        if "signature" in delta:
            return self._reasoning(
                index, meta={"signature": self._string(delta, "signature", what)}
            )
        if "redactedContent" in delta:
            data = self._string(delta, "redactedContent", what)
            return self._reasoning(index, meta={"redacted": data})
        return []

    def _stop(self, index: Any) -> None:
        call = self.calls.pop(index, None)
        if call is None:
            return
        self._call(index, call, streamed_arguments("".join(call["json"])))


WIRE = Bedrock

"""Anthropic's Messages API.

A reply is a list of content blocks: ``thinking`` (its text, then a
``signature``), ``redacted_thinking`` (opaque ``data``), ``text`` (with
``citations`` where a server tool gave sources) and ``tool_use``; with
server-side tools, ``server_tool_use`` and its result,
``web_search_tool_result`` and the like. Thinking becomes llm reasoning,
its signature or data the part's ``provider_metadata["anthropic"]``, as
llm-anthropic keeps them; a server tool's call and result become llm's
tool call and result parts with ``server_executed``, and citations the
text part's ``provider_metadata["anthropic"]["citations"]``. On the next
turn the assistant message carries every block back as it came, in its
order, as the API requires within a tool chain (a server tool's result
block rebuilt from its part, as llm-anthropic rebuilds it). Tool results
go back as ``tool_result`` blocks in a user message. Unknown block types
are ignored."""

from __future__ import annotations

import json
from typing import Any

from ..outcome import Pieces, WireError, streamed_arguments
from ..think import part_opener
from . import Reader, Wire, alternating


def _source(a) -> dict:
    if a.url:
        return {"type": "url", "url": a.url}
    return {"type": "base64", "media_type": a.resolve_type(), "data": a.base64_content()}


def _attachment(a) -> dict:
    return {"type": "document" if "pdf" in a.resolve_type() else "image", "source": _source(a)}


def _user(m) -> list[dict]:
    blocks = [_attachment(a) for a in m.attachments]
    if m.content or not blocks:
        blocks.append({"type": "text", "text": m.content})
    return blocks


def _tool_result(m) -> list[dict]:
    content: Any = m.content
    if m.attachments:
        content = [{"type": "text", "text": m.content}] + [_attachment(a) for a in m.attachments]
    return [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": content}]


def _reasoning_block(part) -> dict | None:
    """A thinking block as it came; None for reasoning the API did not sign
    (from another model, or cut off), which it would refuse."""
    meta = (part.provider_metadata or {}).get("anthropic")
    if not isinstance(meta, dict):
        return None
    data = _redacted_data(meta)
    if data is not None:
        return {"type": "redacted_thinking", "data": data}
    if isinstance(meta.get("signature"), str):
        return {"type": "thinking", "thinking": part.text, "signature": meta["signature"]}
    return None


def _redacted_data(meta: dict) -> str | None:
    """A redacted block's data, as llm-anthropic stores it (``type`` and
    ``data``), or as this plugin stored it before (``redacted_data``)."""
    if meta.get("type") == "redacted_thinking" and isinstance(meta.get("data"), str):
        return meta["data"]
    old = meta.get("redacted_data")
    return old if isinstance(old, str) else None


def _tool_use(call) -> dict:
    return {"type": "tool_use", "id": call.tool_call_id, "name": call.name, "input": call.arguments}


_SERVER_CALLS = ("server_tool_use", "mcp_tool_use")


def _server_tool_use(part) -> dict:
    """A call a server tool made, as it came: an MCP connector's call
    names its server (kept in the part's metadata, as llm-anthropic keeps it)."""
    meta = (part.provider_metadata or {}).get("anthropic")
    server = meta.get("mcp_server_name") if isinstance(meta, dict) else None
    block = {**_tool_use(part), "type": "mcp_tool_use" if server else "server_tool_use"}
    return {**block, "server_name": server} if server else block


def _server_result(part) -> dict:
    """A server tool's result block (``web_search_tool_result``...), from
    its part: its name and its content as JSON, as llm-anthropic stores it."""
    try:
        content = json.loads(part.output) if part.output else None
    except ValueError:
        content = part.output
    block = {"type": f"{part.name}_tool_result", "tool_use_id": part.tool_call_id}
    return block if content is None else {**block, "content": content}


def _assistant(m) -> list[dict]:
    """The reply's blocks in their order: from llm's parts when there are
    any (they keep thinking, text and tool calls as they came)."""
    blocks = [block for block in map(_assistant_block, m.parts) if block is not None]
    if not m.parts:
        blocks = [{"type": "text", "text": m.content}] if m.content else []
        blocks += [_tool_use(call) for call in m.tool_calls]
    return blocks or [{"type": "text", "text": m.content}]


def _assistant_block(part) -> dict | None:
    """One of llm's parts of an earlier reply, as the API sent it."""
    from llm.parts import ReasoningPart, TextPart, ToolCallPart, ToolResultPart

    if isinstance(part, ReasoningPart):
        return _reasoning_block(part)
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ToolCallPart):
        return _server_tool_use(part) if part.server_executed else _tool_use(part)
    if isinstance(part, ToolResultPart) and part.server_executed:
        return _server_result(part)
    return None


def _blocks(m) -> tuple[str, list[dict]]:
    if m.role == "assistant":
        return "assistant", _assistant(m)
    if m.role == "tool":
        return "user", _tool_result(m)
    return "user", _user(m)


def tool_specs(tools) -> list[dict]:
    """llm's tools as Anthropic tool specs."""
    return [
        {
            "name": tool.name,
            "description": tool.description or "",
            "input_schema": tool.input_schema or {"type": "object", "properties": {}},
        }
        for tool in tools
    ]


_STRING_FORMATS = {
    *("date-time", "time", "date", "duration", "email"),
    *("hostname", "uri", "ipv4", "ipv6", "uuid"),
}


def strict_schema(schema: dict) -> dict:
    """A JSON schema as Anthropic's structured outputs take it (the shape
    the official SDK's ``transform_schema`` sends): every object closed
    (``additionalProperties: false``), ``oneOf`` as ``anyOf``, and the
    keywords the API does not read written into the description."""
    rest = dict(schema)
    out: dict = {}
    if "$defs" in rest:
        out["$defs"] = {k: strict_schema(v) for k, v in rest.pop("$defs").items()}
    if "$ref" in rest:
        return {**out, "$ref": rest.pop("$ref")}
    kind = rest.pop("type", None)
    out.update(_variants(rest) or ({"type": kind} if kind is not None else {}))
    for key in ("enum", "description", "title"):
        if key in rest:
            out[key] = rest.pop(key)
    out.update(_typed(kind, rest))
    if rest:
        extra = ", ".join(f"{k}: {v}" for k, v in rest.items())
        out["description"] = (out["description"] + "\n\n" if "description" in out else "") + (
            "{" + extra + "}"
        )
    return out


def _variants(rest: dict) -> dict:
    """anyOf, oneOf (sent as anyOf) or allOf, each variant made strict."""
    for key, sent in (("anyOf", "anyOf"), ("oneOf", "anyOf"), ("allOf", "allOf")):
        if isinstance(rest.get(key), list):
            variants = [strict_schema(v) for v in rest.pop(key)]
            for other in ("anyOf", "oneOf", "allOf"):
                rest.pop(other, None)
            return {sent: variants}
    return {}


def _typed(kind: Any, rest: dict) -> dict:
    """The keywords of one type that the API reads (taken out of ``rest``)."""
    out: dict = {}
    if kind == "object":
        properties = rest.pop("properties", {})
        out["properties"] = {k: strict_schema(v) for k, v in properties.items()}
        rest.pop("additionalProperties", None)
        out["additionalProperties"] = False
        if "required" in rest:
            out["required"] = rest.pop("required")
    elif kind == "string" and rest.get("format") in _STRING_FORMATS:
        out["format"] = rest.pop("format")
    elif kind == "array":
        if "items" in rest:
            out["items"] = strict_schema(rest.pop("items"))
        if rest.get("minItems") in (0, 1):
            out["minItems"] = rest.pop("minItems")
    return out


def _cached(message: dict) -> dict:
    """``message`` with a cache breakpoint on its last content block: the
    prefix up to there (tools, system prompt, every turn) is cached."""
    content = message.get("content")
    if not isinstance(content, list) or not content:
        return message
    last = {**content[-1], "cache_control": {"type": "ephemeral"}}
    return {**message, "content": content[:-1] + [last]}


def _placed(messages: list, options) -> list:
    """The cache breakpoint, then the prefill turn (a copy of ``messages``)."""
    if options.get("cache"):
        messages = messages[:-1] + [_cached(messages[-1])]
    if options.get("prefill"):
        messages = messages + [_prefill(options["prefill"])]
    return messages


def thought(body: dict, options, hidden: bool) -> dict:
    """``body`` (a copy where it changes) with thinking as llm-anthropic
    asks for it. ``thinking: false`` turns it off; ``thinking: true`` or a
    ``thinking_effort`` asks for adaptive thinking, unless a
    ``thinking_budget`` asked for a fixed budget; the effort goes in
    ``output_config``. Adaptive thinking is displayed summarized (Claude
    4.7 and later would omit it), and under ``-R`` no thinking is displayed."""
    effort = options.get("thinking_effort")
    if options.get("thinking") is False:
        body = {**body, "thinking": {"type": "disabled"}}
    elif (options.get("thinking") or effort) and "thinking" not in body:
        body = {**body, "thinking": {"type": "adaptive"}}
    if effort:
        body = {**body, "output_config": {**body.get("output_config", {}), "effort": effort}}
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind in ("enabled", "adaptive") and hidden:
        body = {**body, "thinking": {**thinking, "display": "omitted"}}
    elif kind == "adaptive" and "display" not in thinking:
        body = {**body, "thinking": {**thinking, "display": "summarized"}}
    return body


def _prefill(text: str) -> dict:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


_BLOCK_EVENTS = ("content_block_start", "content_block_delta", "content_block_stop")


def refusal(stop_details: Any) -> str:
    """What a ``stop_reason: "refusal"`` says, from its ``stop_details``
    (a category and an explanation, each may be null), as llm-anthropic
    says it."""
    details = stop_details if isinstance(stop_details, dict) else {}
    category, explanation = details.get("category"), details.get("explanation")
    message = "the model refused this request"
    if isinstance(category, str) and category:
        message += f" ({category})"
    if isinstance(explanation, str) and explanation:
        message += f": {explanation}"
    return message


class Anthropic(Wire):
    name = "anthropic"
    tools = True
    schema = True

    def messages(self, messages) -> list[dict]:
        return alternating(messages, _blocks)

    def tool_body(self, tools) -> dict:
        return {"tools": tool_specs(tools)}

    def schema_body(self, schema) -> dict:
        """Structured outputs, as llm-anthropic sends them (no beta header)."""
        return {
            "output_config": {"format": {"type": "json_schema", "schema": strict_schema(schema)}}
        }

    def finished(self, body, request) -> Any:
        """The options this family places itself, where llm-anthropic puts
        them: ``cache`` a breakpoint on the last block of the last message,
        ``prefill`` an assistant turn after it; ``thinking`` and
        ``thinking_effort`` (``thought``)."""
        if not isinstance(body, dict):
            return body
        messages = body.get("messages")
        if isinstance(messages, list) and messages:
            body = {**body, "messages": _placed(messages, request.options)}
        return thought(body, request.options, request.hide_reasoning)

    def preface(self, request) -> str:
        """A prefill is the reply's start (the server continues it), shown
        unless ``hide_prefill``."""
        prefill = request.options.get("prefill")
        if prefill and not request.options.get("hide_prefill"):
            return prefill
        return ""

    def reader(self, state) -> Reader:
        return AnthropicReader(state)


def _event(kind: str, chunk: str = "", **fields):
    from llm.parts import StreamEvent

    return StreamEvent(kind, chunk, **fields)


class AnthropicReader(Reader):
    """Thinking, tool_use and server tool blocks, and citations, streamed or whole."""

    def __init__(self, state):
        super().__init__(state)
        self.blocks: dict[Any, dict] = {}  # streamed tool_use blocks by index
        self.last = ""  # the type of the block before this one
        # The citations of the text blocks since the last other block: llm
        # makes one text part of them, and keeps the last metadata given.
        self.citations: list = []

    # -- shared ---------------------------------------------------------------

    def _checked(self, part: dict, key: str) -> str:
        """``part[key]``, a string as the API documents, or the error saying not."""
        value = part.get(key)
        if type(value) is not str:
            name = part.get("type")
            label = name if str(name).endswith("_delta") else f"{name} block"
            article = "an" if label[0] in "aeiou" else "a"
            where = self.state.where
            raise WireError(f"{article} {label} in the reply from {where}: {key} is not a string")
        return value

    def _started(self, kind: Any, index: Any) -> list:
        """llm joins adjacent reasoning into one part: a thinking block
        opens a part of its own (``part_opener``), so that two in a row stay
        two, each with its signature. A proxy's block with no index gets an
        empty text chunk before it instead."""
        thinking = ("thinking", "redacted_thinking")
        last, self.last = self.last, kind
        if kind != "text":
            self.citations = []
        if kind not in thinking:
            return []
        if type(index) is int:
            return [part_opener(index)]
        return [_event("text")] if last in thinking else []

    def _redacted(self, block: dict) -> list:
        # As llm-anthropic stores it, so that either plugin continues the other's conversation.
        meta = {"type": "redacted_thinking", "data": self._checked(block, "data")}
        return [_event("reasoning", provider_metadata={"anthropic": meta})]

    def _refused(self, stop: dict) -> None:
        """A refusal is an error, not an empty reply: the text before it
        (a classifier may fire mid-stream) has been shown."""
        if stop.get("stop_reason") == "refusal":
            where = self.state.where
            raise WireError(f"error from {where}: {refusal(stop.get('stop_details'))}")

    def _arguments(self, block: dict, arguments: Any) -> dict:
        if not isinstance(arguments, dict):
            kind, where = block.get("type", "tool_use"), self.state.where
            raise WireError(f"a {kind} block in the reply from {where}: input is not a JSON object")
        return arguments

    def _call(self, key: Any, block: dict, arguments: Any) -> None:
        arguments = self._arguments(block, arguments)
        slot = {"id": block["id"], "name": block["name"], "arguments": json.dumps(arguments)}
        self.state.outcome.tool_calls[("tool_use", key)] = slot

    def _server_call(self, block: dict) -> tuple[str, list]:
        """A server tool's call (``server_tool_use``, an MCP connector's
        ``mcp_tool_use``), named where it came; llm records it, never runs it."""
        tool = self._tool_use(block)
        server = block.get("server_name") if block.get("type") == "mcp_tool_use" else None
        meta = {"anthropic": {"mcp_server_name": server}} if isinstance(server, str) else None
        fields = {"tool_call_id": tool["id"], "server_executed": True, "provider_metadata": meta}
        return tool["id"], [_event("tool_call_name", tool["name"], **fields)]

    def _server_arguments(self, call_id: str, arguments: Any) -> list:
        # Starred: a server may echo the key in what it searched for.
        text = self.state.secrets.hide(json.dumps(arguments))
        return [_event("tool_call_args", text, tool_call_id=call_id, server_executed=True)]

    def _server_result(self, block: dict) -> list:
        """A server tool's result block, whole (streamed too): its content as
        JSON, under the tool's name (``web_search`` for ``web_search_tool_result``)."""
        content = block.get("content")
        output = json.dumps(content) if content not in (None, []) else ""
        call_id = block.get("tool_use_id")
        call_id = self.state.secrets.hide(call_id) if isinstance(call_id, str) else None
        return [
            _event(
                "tool_result",
                self.state.secrets.hide(output),
                tool_call_id=call_id,
                server_executed=True,
                tool_name=block["type"].removesuffix("_tool_result"),
            )
        ]

    def _cited(self, citations: Any) -> list:
        """Citations of a text block, kept in llm's text part: all of those
        since the last other block, as llm keeps the last metadata given."""
        if not isinstance(citations, list) or not citations:
            return []
        self.citations += self.state.secrets.hide(citations)
        meta = {"anthropic": {"citations": list(self.citations)}}
        return [_event("text", provider_metadata=meta)]

    def _tool_use(self, block: dict) -> dict:
        # A proxy's "": an id made up here names the call and its arguments alike.
        call_id = self.state.secrets.call_id(self._checked(block, "id"), "toolu")
        return {"id": call_id, "name": self._checked(block, "name")}

    # -- a whole reply ----------------------------------------------------------

    def reply(self, data: Any) -> list:
        """Every block in its place, as streamed: thinking, text, and each
        tool call's name (its input goes to llm once the reply is read). In
        place, a tool_use between two thinking blocks keeps them two."""
        if isinstance(data, dict):
            self._refused(data)
        content = data.get("content") if isinstance(data, dict) else None
        chunks: list = []
        for i, block in enumerate(content if isinstance(content, list) else []):
            kind = block.get("type") if isinstance(block, dict) else None
            chunks += self._started(kind, i)
            if kind in ("thinking", "redacted_thinking"):
                chunks += self._whole_thinking(block)
            elif kind == "tool_use":
                tool = self._tool_use(block)
                self._call(i, tool, block.get("input"))
                chunks.append(_event("tool_call_name", tool["name"], tool_call_id=tool["id"]))
            elif kind in _SERVER_CALLS:
                call_id, named = self._server_call(block)
                arguments = self._arguments(block, block.get("input"))
                chunks += named + self._server_arguments(call_id, arguments)
            elif isinstance(kind, str) and kind.endswith("_tool_result"):
                chunks += self._server_result(block)
            elif kind == "text" and isinstance(block.get("text"), str):
                # In its place: between thinking blocks, it keeps them apart.
                chunks += [block["text"], *self._cited(block.get("citations"))]
        return chunks

    def _whole_thinking(self, block: dict) -> list:
        if block["type"] == "redacted_thinking":
            return self._redacted(block)
        text = self._checked(block, "thinking")
        signature = block.get("signature")
        meta = {"anthropic": {"signature": signature}} if isinstance(signature, str) else None
        return [_event("reasoning", text, provider_metadata=meta)]

    # -- a stream ----------------------------------------------------------------

    def event(self, name: str, payload: Any) -> list:
        if not isinstance(payload, dict):
            return []
        kind = payload.get("type", name)
        index = payload.get("index")
        if kind in _BLOCK_EVENTS and index is not None and type(index) is not int:
            where = self.state.where
            raise WireError(f"a {kind} event in the reply from {where}: index is not an integer")
        if kind == "content_block_start" and isinstance(payload.get("content_block"), dict):
            return self._start(payload.get("index"), payload["content_block"])
        if kind == "content_block_delta" and isinstance(payload.get("delta"), dict):
            return self._delta(payload.get("index"), payload["delta"])
        if kind == "message_delta" and isinstance(payload.get("delta"), dict):
            self._refused(payload["delta"])
        if kind == "content_block_stop":
            return self._stop(payload.get("index"))
        if kind == "message_stop":
            return [chunk for index in list(self.blocks) for chunk in self._stop(index)]
        return []

    def _start(self, index: Any, block: dict) -> list:
        kind = block.get("type")
        chunks = self._started(kind, index)
        if kind == "redacted_thinking":
            return chunks + self._redacted(block)
        if kind == "thinking" and (block.get("thinking") or block.get("signature")):
            return chunks + self._whole_thinking(block)
        if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
            return chunks + [block["text"]]
        if isinstance(kind, str) and kind.endswith("_tool_result"):
            return chunks + self._server_result(block)
        if kind in _SERVER_CALLS:
            call_id, named = self._server_call(block)
            start = block.get("input")
            json_text = Pieces(json.dumps(start) if start else "")
            self.blocks[index] = {"id": call_id, "server": block, "json": json_text}
            return chunks + named
        if kind != "tool_use":
            return chunks
        # The call where it came; its input reaches llm whole, once read
        # (the factory sends the arguments of every call).
        tool = self._tool_use(block)
        start = block.get("input")  # the API sends {} and the input in deltas; a proxy, whole
        self.blocks[index] = {**tool, "json": Pieces(json.dumps(start) if start else "")}
        return chunks + [_event("tool_call_name", tool["name"], tool_call_id=tool["id"])]

    def _delta(self, index: Any, delta: dict) -> list:
        kind = delta.get("type")
        if kind == "thinking_delta":
            text = self._checked(delta, "thinking")
            return [_event("reasoning", text)] if text else []
        if kind == "signature_delta":
            signature = self._checked(delta, "signature")
            return [_event("reasoning", provider_metadata={"anthropic": {"signature": signature}})]
        if kind == "input_json_delta" and index in self.blocks:
            self.blocks[index]["json"].add(self._checked(delta, "partial_json"))
        if kind == "citations_delta":
            return self._cited([delta.get("citation")])
        return []

    def _stop(self, index: Any) -> list:
        block = self.blocks.pop(index, None)
        if block is None:
            return []
        arguments = streamed_arguments(str(block["json"]))
        if "server" in block:
            arguments = self._arguments(block["server"], arguments)
            return self._server_arguments(block["id"], arguments)
        self._call(index, block, arguments)
        return []


WIRE = Anthropic

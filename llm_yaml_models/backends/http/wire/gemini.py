"""Google's Gemini API: ``generateContent``, and ``streamGenerateContent``
as SSE (the preset's ``stream.path``).

A reply's parts come in order: thoughts (``thought: true``), text, function
calls. The declared paths read the text; the reader makes thoughts llm
reasoning and function calls tool calls, and keeps each part's
``thoughtSignature`` as provider_metadata (``{"gemini": {...}}``, as
llm-gemini does), which ``messages()`` sends back, byte for byte, on the
part it came with.

With the built-in tools (``server_tools``: Google Search, URL context, code
execution), a reply also has the server's own parts: ``executableCode`` and
its ``codeExecutionResult``, and Gemini 3's ``toolCall`` and
``toolResponse``. Each becomes llm's tool call or result, ``server_executed``,
the part itself kept in its metadata (``{"gemini": {"part": ...}}``) and sent
back as it came, as llm-gemini does; the text then goes in its place among
them. A candidate's ``groundingMetadata`` (its sources) is kept on the text
part (``{"gemini": {"groundingMetadata": ...}}``).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from ..outcome import WireError
from . import Reader, Wire

META = "gemini"
SIGNATURE = "thoughtSignature"


def _signed(part: dict, metadata: dict | None) -> dict:
    signature = ((metadata or {}).get(META) or {}).get(SIGNATURE)
    return {**part, SIGNATURE: signature} if signature else part


def _inline(attachment) -> dict:
    data = {"mime_type": attachment.resolve_type(), "data": attachment.base64_content()}
    return {"inline_data": data}


# URLs Gemini fetches itself: YouTube videos, Cloud Storage objects, and
# files uploaded with the Files API.
_YOUTUBE = re.compile(r"https?://((www\.)?youtube\.com/(watch\?v=|embed/)|youtu\.be/)")
_FILES_API = re.compile(r"https://generativelanguage\.googleapis\.com/[^/?#]+/files/")


def _attachment(attachment) -> dict:
    """An attachment by a URL Gemini fetches as ``fileData`` (not
    downloaded here), as llm-gemini sends a YouTube URL; any other inline."""
    url = attachment.url or ""
    if _YOUTUBE.match(url):
        return {"fileData": {"mimeType": "video/youtube", "fileUri": url}}
    if url.startswith("gs://") or _FILES_API.match(url):
        kind = {"mimeType": attachment.type} if attachment.type else {}
        return {"fileData": {**kind, "fileUri": url}}
    return _inline(attachment)


def _call(name: str, arguments: dict, tool_call_id: str | None) -> dict:
    call = {"name": name, "args": arguments}
    return {"functionCall": {**call, "id": tool_call_id} if tool_call_id else call}


def _model_part(part) -> dict | None:
    """One of llm's parts of an earlier reply, as Gemini sent it."""
    from llm.parts import AttachmentPart, ReasoningPart, TextPart, ToolCallPart

    metadata = getattr(part, "provider_metadata", None)
    if getattr(part, "server_executed", False):
        native = ((metadata or {}).get(META) or {}).get("part")
        return copy.deepcopy(native) if isinstance(native, dict) else None
    if isinstance(part, TextPart) and part.text:
        return _signed({"text": part.text}, metadata)
    if isinstance(part, ReasoningPart) and _signed({}, metadata):
        # Unsigned thoughts are a summary for the reader: Gemini takes none back.
        return _signed({"text": part.text, "thought": True}, metadata)
    if isinstance(part, ToolCallPart):
        return _signed(_call(part.name, part.arguments, part.tool_call_id), metadata)
    if isinstance(part, AttachmentPart) and part.attachment:
        return _inline(part.attachment)
    return None


def _model_parts(m) -> list[dict]:
    if m.parts:
        parts = [p for p in map(_model_part, m.parts) if p is not None]
    else:
        parts = [{"text": m.content}] if m.content else []
        parts += [_call(c.name, c.arguments, c.tool_call_id) for c in m.tool_calls]
    return parts or [{"text": ""}]


def _user_parts(m) -> list[dict]:
    parts = [{"text": m.content}] if m.content or not m.attachments else []
    return parts + [_attachment(a) for a in m.attachments]


def _result(m, names: dict) -> list[dict]:
    """A tool's result, with the name of the call it answers (Gemini needs it)."""
    response = {"name": names.get(m.tool_call_id, ""), "response": {"output": m.content}}
    if m.tool_call_id:
        response["id"] = m.tool_call_id
    return [{"functionResponse": response}] + [_attachment(a) for a in m.attachments]


def contents(messages) -> list[dict]:
    """The conversation as Gemini's ``contents``. The system prompt is the
    body's ``systemInstruction``; the results of one turn's calls are one
    user turn, as Gemini pairs them with the calls."""
    out: list[dict] = []
    names: dict[str | None, str] = {}
    results: dict | None = None  # the user turn that holds the latest results
    for m in messages:
        if m.role == "tool":
            if results is None:
                out.append(results := {"role": "user", "parts": []})
            results["parts"] += _result(m, names)
            continue
        results = None
        if m.role == "assistant":
            names.update((c.tool_call_id, c.name) for c in m.tool_calls)
            out.append({"role": "model", "parts": _model_parts(m)})
        elif m.role != "system":
            out.append({"role": "user", "parts": _user_parts(m)})
    return out


_NOT_GEMINI = ("$schema", "additionalProperties", "title")


def gemini_schema(schema: Any, defs: dict | None = None, seen: tuple = ()) -> Any:
    """A JSON schema in the subset Gemini's ``responseSchema`` reads: no
    ``$schema``, ``additionalProperties`` or ``title``, and ``$ref`` to
    ``$defs`` written out (llm-gemini's ``cleanup_schema``)."""
    if isinstance(schema, list):
        return [gemini_schema(s, defs, seen) for s in schema]
    if not isinstance(schema, dict):
        return schema
    defs = {**(defs or {}), **schema.get("$defs", {})}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in seen or name not in defs:
            why = "refers to itself" if name in seen else "has no such definition"
            raise WireError(f"--schema {why}: {ref} (Gemini's responseSchema cannot say that)")
        return gemini_schema(copy.deepcopy(defs[name]), defs, (*seen, name))
    out = {}
    for key, value in schema.items():
        if key in _NOT_GEMINI or key == "$defs":
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: gemini_schema(v, defs, seen) for k, v in value.items()}
        else:
            out[key] = gemini_schema(value, defs, seen)
    return out


def declarations(tools) -> list[dict]:
    """llm's tools as Gemini function declarations (no ``parameters`` for a
    tool that takes none: Gemini refuses an object with no properties)."""
    out = []
    for tool in tools:
        declaration = {"name": tool.name, "description": tool.description or ""}
        schema = tool.input_schema or {}
        if schema.get("properties"):
            declaration["parameters"] = gemini_schema(schema)
        out.append(declaration)
    return out


def _parts(data: Any) -> list:
    """The first candidate's parts, or none."""
    candidates = data.get("candidates") if isinstance(data, dict) else None
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    content = first.get("content") if isinstance(first, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


# The server's own parts: (the key, llm's event, the key of its tool's type)
_SERVER_PARTS = {
    "executableCode": ("tool_call", None),
    "codeExecutionResult": ("tool_result", None),
    "toolCall": ("tool_call", "toolType"),
    "toolResponse": ("tool_result", "toolType"),
}
# Gemini 3's tool types, by the names llm-gemini records them under.
_TOOL_NAMES = {
    "GOOGLE_SEARCH": "google_search",
    "GOOGLE_SEARCH_WEB": "google_search",
    "URL_CONTEXT": "url_context",
    "CODE_EXECUTION": "code_execution",
}


def _server_part(part: dict) -> str | None:
    return next((key for key in _SERVER_PARTS if isinstance(part.get(key), dict)), None)


def _tool_name(tool_type: Any) -> str:
    if not isinstance(tool_type, str) or not tool_type:
        return "server_side_tool"
    return _TOOL_NAMES.get(tool_type, tool_type.lower())


def _grounding(data: Any) -> Any:
    candidates = data.get("candidates") if isinstance(data, dict) else None
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    return first.get("groundingMetadata") if isinstance(first, dict) else None


class GeminiReader(Reader):
    """Thoughts as reasoning, function calls as tool calls, signatures as
    provider_metadata; the text itself is the declared path's, but among
    the server's own parts, where the reader puts it in its place."""

    def __init__(self, state):
        super().__init__(state)
        self.calls: dict[str, str] = {}  # a server part's kind -> its latest call's id
        # The gemini metadata of the text part being built: llm keeps the
        # last metadata given, so the sources are added to its signature.
        self.text_meta: dict = {}

    def reply(self, data: Any) -> list:
        return self._chunks(data)

    def event(self, name: str, payload: Any) -> list:
        return self._chunks(payload)

    def _chunks(self, data: Any) -> list:
        from llm.parts import StreamEvent

        parts = _parts(data)
        in_place = any(_server_part(part) for part in parts)
        chunks = []
        for part in parts:
            metadata = self._metadata(part)
            if not ("text" in part and not part.get("thought")):
                self.text_meta = {}
            if "functionCall" in part:
                self._tool_call(part["functionCall"], metadata)
            elif _server_part(part):
                chunks += self._server(part)
            elif part.get("thought"):
                text = part.get("text") if isinstance(part.get("text"), str) else ""
                chunks.append(StreamEvent("reasoning", text, provider_metadata=metadata))
            else:
                # Before the part's text, which the declared path yields: one TextPart.
                self.text_meta.update((metadata or {}).get(META, {}))
                chunks += [StreamEvent("text", "", provider_metadata=metadata)] if metadata else []
                text = part.get("text")
                chunks += [text] if in_place and isinstance(text, str) and text else []
        return chunks + self._grounded(_grounding(data))

    def _server(self, part: dict) -> list:
        """A server part as llm-gemini records it: a call named for its tool
        with its code or arguments, or a result, with the id of its call."""
        from llm.parts import StreamEvent

        key = _server_part(part)
        kind, type_key = _SERVER_PARTS[key]
        body = part[key]
        name = _tool_name(body.get(type_key)) if type_key else "code_execution"
        family = "toolCall" if type_key else "executableCode"
        # Ids made up as llm-gemini makes them: code_..., google_search_...
        prefix = name if type_key else "code"
        call_id = self._call_id(family, kind, body.get("id"), prefix)
        fields = {"tool_call_id": call_id, "server_executed": True}
        meta = {META: {"part": self.state.secrets.hide(part)}}
        if kind == "tool_result":
            output = self.state.secrets.hide(
                json.dumps(body.get("response", {}) if type_key else body)
            )
            return [StreamEvent(kind, output, tool_name=name, provider_metadata=meta, **fields)]
        arguments = json.dumps(body.get("args") or {} if type_key else body)
        return [
            StreamEvent("tool_call_name", name, provider_metadata=meta, **fields),
            StreamEvent("tool_call_args", self.state.secrets.hide(arguments), **fields),
        ]

    def _call_id(self, family: str, kind: str, given: Any, prefix: str) -> str:
        """The part's id; a result without one answers the latest call of
        its family (code execution, or Gemini 3's tool calls)."""
        named = isinstance(given, str) and given
        if not named and kind == "tool_result" and family in self.calls:
            return self.calls[family]
        call_id = self.state.secrets.call_id(given, prefix)
        if kind == "tool_call":
            self.calls[family] = call_id
        return call_id

    def _grounded(self, grounding: Any) -> list:
        """The candidate's sources, on the text part (with its signature)."""
        from llm.parts import StreamEvent

        if not isinstance(grounding, dict) or not grounding:
            return []
        self.text_meta["groundingMetadata"] = self.state.secrets.hide(grounding)
        return [StreamEvent("text", "", provider_metadata={META: dict(self.text_meta)})]

    def _metadata(self, part: dict) -> dict | None:
        signature = part.get(SIGNATURE)
        if not isinstance(signature, str) or not signature:
            return None
        return {META: {SIGNATURE: self.state.secrets.hide(signature)}}

    def _tool_call(self, call: Any, metadata: dict | None) -> None:
        where = self.state.where
        if not isinstance(call, dict):
            raise WireError(f"a function call in the reply from {where} is not an object")
        name, arguments, call_id = call.get("name"), call.get("args") or {}, call.get("id")
        for field, value, kind, what in (
            ("name", name, str, "a string"),
            ("args", arguments, dict, "an object"),
            ("id", call_id or "", str, "a string"),
        ):
            if not isinstance(value, kind):
                raise WireError(f"a function call in the reply from {where}: {field} is not {what}")
        calls = self.state.outcome.tool_calls
        slot = {"id": call_id, "name": name, "arguments": json.dumps(arguments)}
        calls[len(calls)] = {**slot, "metadata": metadata}


class Gemini(Wire):
    name = "gemini"
    tools = True
    schema = True

    def messages(self, messages) -> list[dict]:
        return contents(messages)

    def tool_body(self, tools) -> dict:
        return {"tools": [{"functionDeclarations": declarations(tools)}]}

    def schema_body(self, schema) -> dict:
        spec = {"responseMimeType": "application/json", "responseSchema": gemini_schema(schema)}
        return {"generationConfig": spec}

    def finished(self, body, request) -> Any:
        """``media_resolution`` as the API's enum name (``low`` is sent as
        ``MEDIA_RESOLUTION_LOW``, as llm-gemini sends it); under ``-R`` no
        thought summaries asked for, as llm-gemini does."""
        config = body.get("generationConfig") if isinstance(body, dict) else None
        if not isinstance(config, dict):
            return body
        resolution = config.get("mediaResolution")
        if isinstance(resolution, str) and not resolution.startswith("MEDIA_RESOLUTION_"):
            config = {**config, "mediaResolution": f"MEDIA_RESOLUTION_{resolution.upper()}"}
        thinking = config.get("thinkingConfig")
        if request.hide_reasoning and isinstance(thinking, dict) and "includeThoughts" in thinking:
            rest = {k: v for k, v in thinking.items() if k != "includeThoughts"}
            config = {k: v for k, v in config.items() if k != "thinkingConfig"}
            config = {**config, "thinkingConfig": rest} if rest else config
        return {**body, "generationConfig": config}

    def reader(self, state) -> Reader:
        return GeminiReader(state)


WIRE = Gemini

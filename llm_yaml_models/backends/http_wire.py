"""The HTTP backend's pure half: request in, HTTP call out; bytes in, text out.

Nothing here does I/O, so the sync and async backends share all of it:
building the call (message formats, the body template, unplaced options,
tools, schemas) and the secrets it holds, redacting it for display, and
decoding replies and streams (SSE, NDJSON) with JMESPath.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jmespath

from ..errors import printable
from ..templates import UNSET, names_in, render, render_url
from .base import Message, Request, Secrets, hide_secret

SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "proxy-authorization", "cookie")
KEY_MARK = "\x00key\x00"


# -- messages --------------------------------------------------------------


def _data_url(attachment) -> str:
    return f"data:{attachment.resolve_type()};base64,{attachment.base64_content()}"


def _openai_attachment(attachment) -> dict:
    kind = attachment.resolve_type()
    if kind.startswith("audio/"):
        fmt = "wav" if kind in ("audio/wav", "audio/x-wav") else "mp3"
        return {
            "type": "input_audio",
            "input_audio": {"data": attachment.base64_content(), "format": fmt},
        }
    url = attachment.url or _data_url(attachment)
    return {"type": "image_url", "image_url": {"url": url}}


def _openai_message(m: Message) -> dict:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    out: dict[str, Any] = {"role": m.role}
    if m.attachments:
        parts = [{"type": "text", "text": m.content}] if m.content else []
        out["content"] = parts + [_openai_attachment(a) for a in m.attachments]
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


def _anthropic_message(m: Message) -> dict:
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


def _ollama_message(m: Message) -> dict:
    out = {"role": m.role, "content": m.content}
    if m.attachments:
        out["images"] = [a.base64_content() for a in m.attachments]
    return out


def messages_for(style: str, messages: list[Message]) -> list[dict]:
    """The conversation in an API's own message shape."""
    if style == "openai":
        return [_openai_message(m) for m in messages]
    if style == "anthropic":
        return [_anthropic_message(m) for m in messages if m.role != "system"]
    if style == "ollama":
        return [_ollama_message(m) for m in messages]
    return [{"role": m.role, "content": m.content} for m in messages]


# -- the call ----------------------------------------------------------------


@dataclass
class Call:
    """One HTTP request, ready to send (or to print)."""

    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    body: Any
    streaming: bool
    key: str | None = field(default=None, repr=False)
    framing: str = "none"  # how a streamed reply is framed: sse, ndjson or none
    # Never shown, never sent to another origin: the request's secrets.
    secrets: Secrets = field(default_factory=Secrets, repr=False)

    @property
    def where(self) -> str:
        """The URL as errors show it: no query string, which may hold secrets."""
        return self.url.partition("?")[0].partition("#")[0]


def _tool_specs(tools) -> list[dict]:
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


def build_call(config, request: Request, key: str | None) -> Call:
    """Render the declared templates for one request."""
    streaming = request.stream and config.stream.format != "none"
    context = {
        "prompt": request.prompt,
        "system": request.system or UNSET,
        "messages": messages_for(config.messages, request.messages),
        "model": config.model_name,
        "stream": streaming,
        "options": dict(request.options),
        "key": key if key is not None else UNSET,
    }
    headers = {
        name: str(value)
        for name, template in config.headers.items()
        if not (key is None and "key" in names_in(template))
        for value in [render(template, context)]
        if value is not UNSET
    }
    params = {k: str(v) for k, v in render(config.params, context).items()}
    body = render(config.body, context) if config.body is not None else None
    if streaming and config.stream.body:
        body = {**(body or {}), **render(config.stream.body, context)}
    for name, value in _unplaced(config, request.options, streaming).items():
        if config.method == "GET":
            params[name] = value if isinstance(value, str) else json.dumps(value)
        else:
            body = {**(body or {}), name: value}
    body = _with_tools_and_schema(config, request, body)
    url = render_url(config.url, context)
    for name, value in headers.items():
        if not value.isascii():
            raise WireError(f"header {name!r} is not ASCII once its template is filled in")
    secrets = _secrets(config, request, url)
    framing = config.stream.format
    return Call(config.method, url, headers, params, body, streaming, key, framing, secrets)


def _unplaced(config, options, streaming: bool) -> dict:
    """The options no template places (in the URL, a header, a query
    parameter or the body): they are sent as body keys, or query
    parameters for GET, unless declared ``send: false``."""
    templates = [config.url, config.headers, config.params, config.body]
    names = names_in(templates + ([config.stream.body] if streaming else []))
    if "options" in names:
        return {}
    placed = {n.partition(".")[2] for n in names if n.startswith("options.")}
    return {k: v for k, v in options.items() if k not in placed and k not in config.unsent}


def _with_tools_and_schema(config, request: Request, body: Any) -> Any:
    if request.tools and config.tools == "openai":
        body = {**(body or {}), "tools": _tool_specs(request.tools)}
    if request.schema is not None:
        if config.schema == "openai":
            schema = {"name": "output", "schema": request.schema}
            body = {
                **(body or {}),
                "response_format": {"type": "json_schema", "json_schema": schema},
            }
        elif config.schema == "ollama":
            body = {**(body or {}), "format": request.schema}
    return body


def _secrets(config, request: Request, url: str) -> Secrets:
    """The request's secrets, with what this call adds: the configuration's
    (``HttpConfig.secrets``), and a password the URL's template put in."""
    secrets = request.secrets
    secrets.update(config.secrets())
    secrets.add_url(url)
    return secrets


def _masked(name: str, value: str) -> str:
    if name.lower() in SECRET_HEADERS:
        scheme, _, rest = value.partition(" ")
        return f"{scheme} ***" if rest and scheme.isalpha() and len(scheme) < 10 else "***"
    return value


def redacted(built, secrets: Secrets) -> str:
    """A built request (``httpx2.Request``) as text: the request line, every
    header the client sends, and the body bytes as they are sent. Each
    secret is starred, and so is the value of a header that carries
    credentials (Authorization, x-api-key, ...)."""
    lines = [f"{built.method} {built.url}"]
    for raw_name, raw_value in built.headers.raw:
        name = raw_name.decode("latin-1")
        lines.append(f"{name}: {_masked(name, raw_value.decode('latin-1'))}")
    if built.content:
        lines += ["", built.content.decode("utf-8", "replace")]
    return "\n".join(printable(secrets.hide(line)) for line in lines)


# -- replies -----------------------------------------------------------------


@dataclass
class Outcome:
    """What a reply said besides its text."""

    id: str | None = None
    model: str | None = None
    finish_reason: str | None = None
    usage: dict = field(default_factory=dict)  # input, output, details
    tool_calls: dict = field(default_factory=dict)  # index -> {id, name, arguments}

    def log(self) -> dict:
        out = {"id": self.id, "model": self.model, "finish_reason": self.finish_reason}
        usage = {k: v for k, v in self.usage.items() if v is not None}
        if usage:
            out["usage"] = usage
        return {k: v for k, v in out.items() if v is not None}


def _steps(node: dict) -> list | None:
    """A plain path (fields and indexes) as lookup steps, or None."""
    kind = node["type"]
    if kind == "field":
        return [node["value"]]
    if kind == "index":
        return [node["value"]]
    if kind in ("subexpression", "index_expression"):
        steps: list = []
        for child in node["children"]:
            part = _steps(child)
            if part is None:
                return None
            steps += part
        return steps
    return None


def _walk(steps: list, data: Any) -> Any:
    for step in steps:
        if isinstance(step, str):
            if not isinstance(data, dict):
                return None
            data = data.get(step)
        else:
            if not isinstance(data, list) or not -len(data) <= step < len(data):
                return None
            data = data[step]
    return data


def _false(value: Any) -> bool:
    # JMESPath's idea of false, for ||
    return value is None or value is False or value in ("", [], {})


def compile_path(expr: str):
    """A JMESPath expression as a function of the data.

    Plain paths (``choices[0].delta.content``) and ``a || b`` of them become
    direct lookups: they run once per streamed event, and jmespath's
    interpreter costs microseconds each. Anything else uses jmespath."""
    compiled = jmespath.compile(expr)
    node = compiled.parsed
    alternatives = node["children"] if node["type"] == "or_expression" else [node]
    paths = [_steps(n) for n in alternatives]
    if any(p is None for p in paths):
        return compiled.search
    if len(paths) == 1:
        return functools.partial(_walk, paths[0])

    def first(data: Any) -> Any:
        value = None
        for path in paths:
            value = _walk(path, data)
            if not _false(value):
                return value
        return value

    return first


class Paths:
    """Compiled JMESPath expressions from a ``response:`` or ``stream:`` spec."""

    def __init__(self, spec):
        self.spec = spec
        self._finders: dict[str, Any] = {}
        for name in ("text", "finish_reason", "error", "id", "model", "tool_calls", "done_when"):
            expr = getattr(spec, name, None)
            if expr:
                self._finders[name] = compile_path(expr)
        usage = getattr(spec, "usage", None)
        self._usage = [
            (part, compile_path(getattr(usage, part)))
            for part in ("input", "output", "details")
            if usage is not None and getattr(usage, part)
        ]

    def find(self, name: str, data: Any) -> Any:
        finder = self._finders.get(name)
        return finder(data) if finder else None

    def usage(self, data: Any, into: dict) -> None:
        for part, finder in self._usage:
            found = finder(data)
            if found is not None:
                into[part] = simplified(found) if part == "details" else found


_COUNTED = {"prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens"}


def simplified(details: Any) -> Any:
    """Usage details without the counts already reported, zeros or nulls."""
    if not isinstance(details, dict):
        return details
    out = {}
    for key, value in details.items():
        if key in _COUNTED or value in (None, 0, {}, []):
            continue
        value = simplified(value)
        if value not in ({}, None):
            out[key] = value
    return out or None


def tool_call_deltas(outcome: Outcome, deltas: list) -> None:
    """Fold OpenAI-style streamed tool-call fragments into ``outcome``."""
    for delta in deltas or []:
        slot = outcome.tool_calls.setdefault(
            delta.get("index", len(outcome.tool_calls)), {"id": None, "name": "", "arguments": ""}
        )
        slot["id"] = delta.get("id") or slot["id"]
        function = delta.get("function") or {}
        slot["name"] += function.get("name") or ""
        slot["arguments"] += function.get("arguments") or ""


class SSEParser:
    """Server-sent events from lines: yields (event name, data) pairs."""

    def __init__(self):
        self.event = ""
        self.data: list[str] = []

    def feed(self, line: str):
        if not line:
            if self.data or self.event:
                event, data = self.event or "message", "\n".join(self.data)
                self.event, self.data = "", []
                return event, data
            return None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        return None

    def flush(self):
        return self.feed("")


class WireError(Exception):
    """The reply could not be used; the message says how, for the user."""


def _json(text: str, where: str, secret: str | None = None) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        text = hide_secret(text, secret)  # before cutting, or a cut key would show
        snippet = text[:80] + ("..." if len(text) > 80 else "")
        raise WireError(f"reply from {where} is not JSON: {snippet!r}") from None


class Decoder:
    """Turns a reply, or a stream's lines, into text chunks and an Outcome."""

    def __init__(self, config, where: str, secret: str | None = None):
        self.config = config
        self.where = where
        self.secret = secret  # the key: never part of a message
        self.reply_paths = Paths(config.response)
        self.stream_paths = Paths(config.stream)
        self.outcome = Outcome()
        self.sse = SSEParser() if config.stream.format == "sse" else None
        self.done = False
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._partial = ""
        self._body: list[bytes] = []
        self._progress = time.monotonic()

    def _pace(self, progressed: bool) -> None:
        """A server that sends a byte at a time never trips a read timeout:
        going ``timeout`` seconds without a complete event (or, for a whole
        reply, without finishing it) is a timeout too."""
        now = time.monotonic()
        if progressed:
            self._progress = now
        elif now - self._progress > self.config.timeout:
            raise WireError(
                f"timed out waiting for {self.where} after {self.config.timeout:g}s: "
                "the reply is arriving too slowly"
            )

    def begin(self) -> None:
        """A reply has started (this attempt's): its pace is measured from now."""
        self._progress = time.monotonic()

    def take(self, data: bytes) -> None:
        """A piece of a reply that is read whole."""
        self._body.append(data)
        self._pace(False)

    def receive(self, data: bytes, streamed: bool) -> list[str]:
        """Bytes as they arrive: text to show now, if the reply is a stream."""
        if not streamed:
            self.take(data)
            return []
        text = self.feed(data)
        return [text] if text else []

    def finish(self, streamed: bool, streaming: bool) -> list[str]:
        """The reply is complete: what is left to show."""
        if not streamed:
            return self.whole(streaming)
        text = self.end()
        return [text] if text else []

    def error_message(self, data: Any, paths: Paths) -> str | None:
        found = paths.find("error", data) if isinstance(data, dict | list) else None
        if found in (None, "", [], {}):
            return None
        return found if isinstance(found, str) else json.dumps(found)

    def status_error(self, status: int, body: bytes) -> str:
        """The provider's own message for an HTTP error status."""
        text = body.decode("utf-8", "replace").strip()
        message = None
        with contextlib.suppress(ValueError):
            message = self.error_message(json.loads(text), self.reply_paths)
        message = hide_secret(message or text, self.secret)[:200] or "(empty reply)"
        return f"HTTP {status} from {self.where}: {message}"

    def whole(self, streaming: bool) -> list[str]:
        """A reply read in one piece: a JSON reply, or a whole stream (a
        server may label its event stream as JSON)."""
        body = b"".join(self._body)
        if streaming and not body.lstrip().startswith((b"{", b"[")):
            return [t for t in (self.feed(body), self.end()) if t]
        return [self.reply(body)]

    def reply(self, body: bytes) -> str:
        data = _json(_text(body, self.where), self.where, self.secret)
        error = self.error_message(data, self.reply_paths)
        if error:
            raise WireError(f"error from {self.where}: {error}")
        self._note(data, self.reply_paths)
        if self.config.tools == "openai":
            for i, call in enumerate(self.reply_paths.find("tool_calls", data) or []):
                tool_call_deltas(self.outcome, [{"index": i, **call}])
        text = self.reply_paths.find("text", data)
        if text is None and not self.outcome.tool_calls:
            raise WireError(
                f"nothing at '{self.config.response.text}' in the reply from {self.where}"
            )
        return text if isinstance(text, str) else ("" if text is None else json.dumps(text))

    def _note(self, data: Any, paths: Paths) -> None:
        outcome = self.outcome
        outcome.id = paths.find("id", data) or outcome.id
        outcome.model = paths.find("model", data) or outcome.model
        outcome.finish_reason = paths.find("finish_reason", data) or outcome.finish_reason
        paths.usage(data, outcome.usage)

    def feed(self, data: bytes) -> str:
        """The text of every complete line in the bytes received so far.

        A whole network read is decoded at once, so a burst of events costs
        one chunk downstream, not one per event."""
        try:
            text = self._partial + self._utf8.decode(data)
        except UnicodeDecodeError as exc:
            raise WireError(f"stream from {self.where} is not valid UTF-8") from exc
        lines = text.splitlines(keepends=True)
        self._partial = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
        self._pace(bool(lines))
        texts = [t for line in lines if (t := self.line(line.rstrip("\r\n")))]
        return "".join(texts)

    def line(self, line: str) -> str | None:
        """One line of a stream; returns text to show, if any."""
        if self.sse is not None:
            event = self.sse.feed(line)
            return self.event(*event) if event else None
        return self.event("", line) if line.strip() else None

    def event(self, name: str, data: str) -> str | None:
        spec = self.config.stream
        if self.done or name in spec.skip_events:
            return None
        if spec.done is not None and data.strip() == spec.done:
            self.done = True
            return None
        payload = _json(data, self.where, self.secret)
        error = self.error_message(payload, self.stream_paths)
        if error:
            raise WireError(f"error from {self.where}: {error}")
        self._note(payload, self.stream_paths)
        if self.config.tools == "openai":
            tool_call_deltas(self.outcome, self.stream_paths.find("tool_calls", payload))
        if name in spec.done_events or (
            spec.done_when and self.stream_paths.find("done_when", payload)
        ):
            self.done = True
        text = self.stream_paths.find("text", payload)
        return text if isinstance(text, str) and text else None

    def end(self) -> str | None:
        """The stream closed: flush, and insist that it finished."""
        partial, self._partial = self._partial, ""
        text = None
        if partial.strip():
            if self.sse is None:
                try:
                    json.loads(partial)
                except ValueError:
                    raise WireError(
                        f"stream from {self.where} ended in the middle of a line"
                    ) from None
            text = self.line(partial)
        if self.sse is not None:
            event = self.sse.flush()
            text = (text or "") + (self.event(*event) or "") if event else text
        spec = self.config.stream
        if not self.done and (spec.done is not None or spec.done_events or spec.done_when):
            raise WireError(f"stream from {self.where} ended before it was complete")
        return text


def _text(body: bytes, where: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"reply from {where} is not valid UTF-8 (byte {exc.start})") from None

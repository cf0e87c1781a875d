"""The HTTP backend's pure half: request in, HTTP call out; bytes in, text out.

Nothing here does I/O, so the sync and async backends share all of it:
building the call (message formats, the body template, unplaced options,
tools, schemas) and the secrets it holds, redacting it for display, and
decoding replies and streams (SSE, NDJSON) with JMESPath.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from ..errors import printable
from ..templates import UNSET, names_in, render, render_url
from .base import Message, Request, Secrets

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

MAX_COUNT = 2**63 - 1  # the largest integer SQLite holds: logs.db's token columns


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

    def drop_bad_counts(self) -> list[str]:
        """Remove token counts that are not non-negative integers SQLite can
        hold (a string, a float, 10**30); returns how each one read."""
        dropped = []
        for part in ("input", "output"):
            value = self.usage.get(part)
            if value is not None and not (type(value) is int and 0 <= value <= MAX_COUNT):
                shown = repr(value)
                dropped.append(f"{part} {shown[:40]}{'...' if len(shown) > 40 else ''}")
                del self.usage[part]
        return dropped


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
    """Compiled JMESPath expressions from a ``response:`` or ``stream:`` spec.

    An expression that fails on the data it meets (``join()`` of a null, say)
    is a WireError naming it, like any other reply we cannot read."""

    def __init__(self, spec, where: str = ""):
        self.spec = spec
        self.where = where
        self._finders: dict[str, tuple] = {}
        for name in ("text", "finish_reason", "error", "id", "model", "tool_calls", "done_when"):
            expr = getattr(spec, name, None)
            if expr:
                self._finders[name] = (expr, compile_path(expr))
        usage = getattr(spec, "usage", None)
        self._usage = [
            (part, getattr(usage, part), compile_path(getattr(usage, part)))
            for part in ("input", "output", "details")
            if usage is not None and getattr(usage, part)
        ]

    def _failed(self, expr: str, exc: Exception) -> WireError:
        message = str(exc).replace("\n", " ")
        return WireError(f"cannot apply '{expr}' to the reply from {self.where}: {message}")

    def find(self, name: str, data: Any) -> Any:
        found = self._finders.get(name)
        if found is None:
            return None
        try:
            return found[1](data)
        except JMESPathError as exc:
            raise self._failed(found[0], exc) from exc

    def usage(self, data: Any, into: dict) -> None:
        """Usage found in ``data``, over what earlier events said: the last
        value wins, but a count of 0 never hides an earlier one (LiteLLM's
        Anthropic stream says 0 input tokens first, and the count later)."""
        for part, expr, finder in self._usage:
            try:
                found = finder(data)
            except JMESPathError as exc:
                raise self._failed(expr, exc) from exc
            if found is None or (found == 0 and part != "details" and into.get(part)):
                continue
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


def tool_call_deltas(outcome: Outcome, deltas: Any, where: str) -> None:
    """Fold OpenAI-style tool-call fragments into ``outcome``.

    Arguments arrive in pieces; the id and the name come whole, in the first
    fragment that has them (some servers repeat them in every fragment)."""
    if deltas is None:
        return
    if not isinstance(deltas, list):
        raise WireError(f"tool calls in the reply from {where} are not a list")
    for delta in deltas:
        index, call_id, name, arguments = _tool_call(delta, len(outcome.tool_calls), where)
        slot = outcome.tool_calls.setdefault(index, {"id": None, "name": "", "arguments": ""})
        slot["id"] = slot["id"] or call_id
        slot["name"] = slot["name"] or name
        slot["arguments"] += arguments


def _tool_call(delta: Any, next_index: int, where: str) -> tuple:
    """(index, id, name, arguments) of one tool-call fragment, checked."""
    function = delta.get("function") if isinstance(delta, dict) else None
    if not isinstance(delta, dict) or not isinstance(function, dict | None):
        raise WireError(f"a tool call in the reply from {where} is not an object")
    function = function or {}
    arguments = function.get("arguments")
    if isinstance(arguments, dict):  # some servers send the object itself
        arguments = json.dumps(arguments)
    fields = {
        "index": delta.get("index", next_index),
        "id": delta.get("id"),
        "function.name": function.get("name"),
        "function.arguments": arguments,
    }
    for name, value in fields.items():
        kind = int if name == "index" else str
        if value is not None and type(value) is not kind:
            what = "an integer" if kind is int else "a string"
            raise WireError(f"a tool call in the reply from {where}: {name} is not {what}")
    return fields["index"], fields["id"], fields["function.name"] or "", arguments or ""


def tool_arguments(text: str) -> dict:
    """A tool call's arguments as the dict llm passes on; anything else is kept raw."""
    try:
        arguments = json.loads(text or "{}")
    except (ValueError, RecursionError):
        arguments = None
    return arguments if isinstance(arguments, dict) else {"_raw": text}


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


def _quoted(text: str, secrets: Secrets) -> str:
    """The start of a reply, for an error message."""
    text = secrets.hide(text)  # before cutting, or a cut secret would show
    return repr(text[:80] + ("..." if len(text) > 80 else ""))


def _json(text: str, where: str, secrets: Secrets) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise WireError(f"reply from {where} is JSON nested too deeply to read") from None
    except ValueError:
        raise WireError(f"reply from {where} is not JSON: {_quoted(text, secrets)}") from None


class Decoder:
    """Turns a reply, or a stream's lines, into text chunks and an Outcome.

    The backend calls ``begin`` when the reply's head has arrived, then
    ``receive`` with each piece of the body until ``done`` (the stream said
    it is complete) or the body ends, then ``finish``."""

    def __init__(self, config, where: str, secrets: Secrets | None = None):
        self.config = config
        self.where = where
        self.secrets = secrets or Secrets()  # never part of a message
        self.limit = config.max_reply_bytes
        self.reply_paths = Paths(config.response, where)
        self.stream_paths = Paths(config.stream, where)
        self.outcome = Outcome()
        self.sse = SSEParser() if config.stream.format == "sse" else None
        self.done = False
        self.begin(200, "", False)

    def begin(self, status: int, kind: str, streaming: bool) -> None:
        """A reply (this attempt's) has started, with this status and content
        type: how to read it. Its pace and size are measured from now.

        A server asked for SSE may answer with plain JSON, typically an
        error: that is read as a reply."""
        self.status = status
        self.streaming = streaming
        self.html = kind.startswith("text/html")
        json_reply = kind.startswith("application/json") and self.sse is not None
        self.streamed = streaming and status < 400 and not json_reply and not self.html
        self._progress = time.monotonic()
        self._size = 0
        self._body: list[bytes] = []
        self._pending: list[bytes] = []  # the start of a line
        self._cr = False  # the last piece ended with CR: an LF next is part of it
        self._events = 0

    def _pace(self, progressed: bool) -> None:
        """A server that sends a byte at a time, or only keep-alives, never
        trips a read timeout: going ``timeout`` seconds without an event (or,
        for a whole reply, without finishing it) is a timeout too."""
        now = time.monotonic()
        if progressed:
            self._progress = now
        elif now - self._progress > self.config.timeout:
            raise WireError(
                f"timed out waiting for {self.where} after {self.config.timeout:g}s: "
                "the reply is arriving too slowly"
            )

    def receive(self, data: bytes) -> list[str]:
        """Bytes as they arrive (decompressed): text to show now, if the
        reply is a stream."""
        self._size += len(data)
        if self._size > self.limit:
            raise WireError(
                f"reply from {self.where} is larger than {self.limit} bytes "
                "(max_reply_bytes), decompressed"
            )
        if not self.streamed:
            self._body.append(data)
            self._pace(False)
            return []
        text = self.feed(data)
        return [text] if text else []

    def finish(self) -> list[str]:
        """The reply is complete, or said it is: what is left to show."""
        if not self.streamed:
            return self.whole()
        text = self.end()
        return [text] if text else []

    def error_message(self, data: Any, paths: Paths) -> str | None:
        found = paths.find("error", data) if isinstance(data, dict | list) else None
        if found in (None, "", [], {}):
            return None
        return found if isinstance(found, str) else json.dumps(found)

    def status_error(self) -> str:
        """The provider's own message for an HTTP error status."""
        text = b"".join(self._body).decode("utf-8", "replace").strip()
        message = None
        with contextlib.suppress(ValueError, RecursionError, WireError):
            message = self.error_message(json.loads(text), self.reply_paths)
        message = self.secrets.hide(message or text)[:200] or "(empty reply)"
        return f"HTTP {self.status} from {self.where}: {message}"

    def whole(self) -> list[str]:
        """A reply read in one piece: a JSON reply, or a whole stream (a
        server may label its event stream as JSON)."""
        body = b"".join(self._body)
        if self.streaming and self.html:
            text = body.decode("utf-8", "replace")
            quoted = _quoted(text, self.secrets)
            raise WireError(f"reply from {self.where} is an HTML page, not a stream: {quoted}")
        if self.streaming and not body.lstrip().startswith((b"{", b"[")):
            return [t for t in (self.feed(body), self.end()) if t]
        return [self.reply(body)]

    def reply(self, body: bytes) -> str:
        data = _json(_text(body, self.where), self.where, self.secrets)
        error = self.error_message(data, self.reply_paths)
        if error:
            raise WireError(f"error from {self.where}: {error}")
        self._note(data, self.reply_paths)
        if self.config.tools == "openai":
            calls = self.reply_paths.find("tool_calls", data)
            if calls is not None and not isinstance(calls, list):
                raise WireError(f"tool calls in the reply from {self.where} are not a list")
            for i, call in enumerate(calls or []):
                delta = {"index": i, **call} if isinstance(call, dict) else call
                tool_call_deltas(self.outcome, [delta], self.where)
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
        lines = self._lines(data)
        before = self._events
        texts = [t for line in lines if (t := self.line(line))]
        self._pace(self._events != before)
        return "".join(texts)

    def _lines(self, data: bytes) -> list[str]:
        """The complete lines in ``data`` and what came before it.

        Lines end at CR, LF or CRLF only (as SSE and NDJSON define them), so
        this splits bytes, not text: ``str.splitlines`` would also split at
        U+2028, U+0085 and the like, which JSON holds raw. A CR at the end of
        one read and its LF at the start of the next are one line end."""
        if self._cr and data[:1] == b"\n":
            data = data[1:]
            self._cr = False
        if not data:
            return []
        end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if end < 0:
            self._cr = False
            self._pending.append(data)
            return []
        head, rest = data[: end + 1], data[end + 1 :]
        if self._pending:
            head = b"".join(self._pending) + head
        self._pending = [rest] if rest else []
        self._cr = not rest and head.endswith(b"\r")
        if b"\r" in head:
            head = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = self._decoded(head).split("\n")
        lines.pop()  # what follows the last line end: nothing
        return lines

    def _decoded(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError(f"stream from {self.where} is not valid UTF-8") from None

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
        self._events += 1
        if spec.done is not None and data.strip() == spec.done:
            self.done = True
            return None
        payload = _json(data, self.where, self.secrets)
        error = self.error_message(payload, self.stream_paths)
        if error:
            raise WireError(f"error from {self.where}: {error}")
        self._note(payload, self.stream_paths)
        if self.config.tools == "openai":
            calls = self.stream_paths.find("tool_calls", payload)
            tool_call_deltas(self.outcome, calls, self.where)
        if name in spec.done_events or (
            spec.done_when and self.stream_paths.find("done_when", payload)
        ):
            self.done = True
        text = self.stream_paths.find("text", payload)
        return text if isinstance(text, str) and text else None

    def end(self) -> str | None:
        """The stream closed, or said it is complete: flush, and insist that
        it finished."""
        partial = self._decoded(b"".join(self._pending))
        self._pending = []
        text = None
        if partial.strip() and not self.done:
            if self.sse is None:
                try:
                    json.loads(partial)
                except (ValueError, RecursionError):
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

"""Bytes in, text out: a reply read whole, or a stream's lines (SSE,
NDJSON) or binary messages (AWS event stream) decoded as they arrive,
through the declared paths and the API family's reader."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from llm.parts import StreamEvent

from ..base import Secrets
from .eventstream import EventStream, FramingError, Message
from .jmespaths import USAGE, Paths, merge_usage
from .outcome import Outcome, WireError, cut, tool_call_deltas
from .think import ThinkTags, Thought, reasoning_event
from .wire import ReplyState, wire

# What a stream may be labelled (or not labelled at all). Under any other type,
# a reply in which no event came is quoted, not called an unfinished stream.
STREAM_KINDS = {"", "text/event-stream", "application/x-ndjson", "application/ndjson"}
STREAM_KINDS |= {"application/jsonl", "application/x-jsonlines", "application/json"}
QUOTED = 200  # bytes of a reply kept to quote


class SSEParser:
    """Server-sent events from lines: yields (event name, data) pairs."""

    def __init__(self):
        self.event = ""
        self.data: list[str] = []

    def feed(self, line: str):
        if line[:6] == "data: ":  # nearly every line: no partition
            self.data.append(line[6:])
            return None
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
    """Turns a reply, or a stream's lines, into chunks and an Outcome.

    The backend calls ``begin`` when the reply's head has arrived, then
    ``receive`` with each piece of the body until ``done`` (the stream said
    it is complete) or the body ends, then ``finish``."""

    def __init__(self, config, where: str, secrets: Secrets | None = None):
        self.config = config
        self.where = where
        self.secrets = secrets or Secrets()  # never part of a message
        self.limit = config.max_reply_bytes
        self.reply_paths = Paths(config.response, where, self.secrets.hide)
        self.stream_paths = Paths(config.stream, where, self.secrets.hide)
        self.outcome = Outcome()
        self.sse = SSEParser() if config.stream.format == "sse" else None
        self.state = ReplyState(where, self.secrets, self.outcome, lambda: self.reasoned)
        self.reader = wire(config.messages).reader(self.state)
        self.done = False
        self.deadline = None  # the body's deadline, set by the backend for each reply
        self.begin(200, "", False)

    def begin(self, status: int, kind: str, streaming: bool) -> None:
        """A reply (this attempt's) has started, with this status and content
        type: how to read it. Its pace and size are measured from now.

        A server asked for SSE may answer with plain JSON, typically an
        error: that is read as a reply."""
        self.status = status
        self.streaming = streaming
        self.html = kind.startswith("text/html")
        self.kind = kind.partition(";")[0].strip().lower()
        framed = self.sse is not None or self.config.stream.format == "eventstream"
        json_reply = kind.startswith("application/json") and framed
        self.streamed = streaming and status < 400 and not json_reply and not self.html
        self._size = 0
        self._start = b""  # a stream's first bytes, to quote if it is not one
        self._body: list[bytes] = []
        self._pending: list[bytes] = []  # the start of a line
        self._cr = False  # the last piece ended with CR: an LF next is part of it
        self._events = 0
        self.think = ThinkTags() if self.config.stream.think_tags else None
        self._reasoned = False
        self.failure: WireError | None = None  # raised once the text before it is out
        self.frames = EventStream() if self.config.stream.format == "eventstream" else None

    def _pace(self, progressed: bool) -> None:
        """A server that sends a byte at a time, or only keep-alives, never
        trips a read timeout: the body's deadline (``transport.Deadline``,
        held at every read on the wire) gives a stream ``timeout`` seconds
        from its last event, and a whole reply ``timeout`` seconds in all."""
        if progressed and self.deadline is not None:
            self.deadline.renew()

    def receive(self, data: bytes) -> list:
        """Bytes as they arrive (decompressed): the chunks to show now, if
        the reply is a stream. A chunk is text (``str``) or an llm
        ``StreamEvent`` (reasoning, say)."""
        self._size += len(data)
        if self._size > self.limit:
            raise WireError(
                f"reply from {self.where} is larger than {self.limit} bytes "
                "(max_reply_bytes), decompressed"
            )
        if not self.streamed:
            self._body.append(data)
            return []
        if len(self._start) < QUOTED:
            self._start += data[:QUOTED]
        return self.feed(data)

    def finish(self) -> list:
        """The reply is complete, or said it is: what is left to show; or
        the error a stream reported after its last text."""
        chunks = self.end() if self.streamed else self.whole()
        if self.failure is not None:
            raise self.failure
        return chunks

    def error_message(self, data: Any, paths: Paths) -> str | None:
        return _error_text(data, paths.get["error"](data))

    def status_error(self) -> str:
        """The provider's own message for an HTTP error status."""
        text = b"".join(self._body).decode("utf-8", "replace").strip()
        message = None
        with contextlib.suppress(ValueError, RecursionError, WireError):
            message = self.error_message(json.loads(text), self.reply_paths)
        message = cut(message or text, self.secrets.hide) or "(empty reply)"
        return f"HTTP {self.status} from {self.where}: {message}"

    def whole(self) -> list:
        """A reply read in one piece: a JSON reply, or a whole stream (a
        server may label its event stream as JSON)."""
        body = b"".join(self._body)
        if self.streaming and self.html:
            text = body.decode("utf-8", "replace")
            quoted = _quoted(text, self.secrets)
            raise WireError(f"reply from {self.where} is an HTML page, not a stream: {quoted}")
        if self.streaming and not body.lstrip().startswith((b"{", b"[")):
            return _joined(self.feed(body) + self.end())
        return self.reply(body)

    def parsed(self, body: bytes) -> Any:
        """A whole reply's JSON; a reply that is not UTF-8 JSON is a WireError."""
        return _json(_text(body, self.where), self.where, self.secrets)

    def reply(self, body: bytes) -> list:
        data = self.parsed(body)
        _, text, reasoning, *_, calls, _ = self._read(data, self.reply_paths)[:-3]
        if calls is not None and not isinstance(calls, list):
            raise WireError(f"tool calls in the reply from {self.where} are not a list")
        named = []
        for i, call in enumerate(calls or []):
            delta = {"index": i, **call} if isinstance(call, dict) else call
            named += tool_call_deltas(self.outcome, [delta], self.where)
        chunks = self.reasoning(reasoning, self.reply_paths)
        text = text if isinstance(text, str) or text is None else json.dumps(text)
        # Think tags first: the family's reader asks whether reasoning came.
        said = [text or ""] if self.think is None else self.think.feed(text or "")
        said += self.think.finish() if self.think is not None else []
        read = self.reader.reply(data)
        if any(type(c) is str for c in read):  # the family gave the text, in its place
            return _joined(chunks + read + self.state.named(named))
        if text is None and not (self.outcome.tool_calls or chunks or read):
            raise WireError(
                f"nothing at '{self.config.response.text}' in the reply from {self.where}"
            )
        return _joined(chunks + read + said + self.state.named(named))

    def reasoning(self, found: Any, paths: Paths) -> list:
        """The reasoning found at the declared path, as a chunk; it must be text."""
        if found is None or found == "":
            return []
        if not isinstance(found, str):
            raise WireError(
                f"reasoning at '{paths.spec.reasoning}' in the reply from {self.where} "
                f"is {_json_kind(found)}, not a string"
            )
        self._reasoned = True
        return [Thought(found)]

    @property
    def reasoned(self) -> bool:
        """Some reasoning text came (at the declared path, or in think tags)."""
        return self._reasoned or (self.think is not None and self.think.thought)

    def _read(self, data: Any, paths: Paths) -> tuple:
        """Every declared path in a reply or event, at once (``Paths.read``):
        an error the reply reports is raised, and what the Outcome keeps is
        noted. Returns the values in ``paths.NAMES`` order, then usage."""
        values = paths.read(data)
        if values[0] is not None and (error := _error_text(data, values[0])):
            raise WireError(f"error from {self.where}: {error}")
        outcome = self.outcome
        _, _, _, finish_reason, found_id, model, _, _, *usage = values
        outcome.id = found_id or outcome.id
        outcome.model = model or outcome.model
        outcome.finish_reason = finish_reason or outcome.finish_reason
        if usage[0] is not None or usage[1] is not None or usage[2] is not None:
            merge_usage(list(zip(USAGE, usage, strict=True)), outcome.usage)
        return values

    def feed(self, data: bytes) -> list:
        """The chunks of every complete line in the bytes received so far.

        A whole network read is decoded at once, so a burst of text events
        costs one chunk downstream, not one per event."""
        if self.frames is not None:
            return self._framed(data)
        lines = self._lines(data)
        before = self._events
        chunks: list = []
        try:
            for line in lines:
                found = self.line(line)
                if found:
                    chunks += found
        except WireError as exc:
            if not chunks:
                raise
            # What came before the error in this read is shown first, as it
            # would be had it come in a read of its own; ``finish`` raises it.
            self.failure, self.done = exc, True
        self._pace(self._events != before)
        return _joined(chunks)

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

    def _framed(self, data: bytes) -> list:
        """``feed`` for an AWS event stream: each whole message is an event."""
        try:
            messages = self.frames.feed(data)
        except FramingError as exc:
            raise WireError(f"event stream from {self.where} is damaged: {exc}") from None
        before = self._events
        chunks: list = []
        for message in messages:
            chunks += self.message(message) or []
        self._pace(self._events != before)
        return _joined(chunks)

    def message(self, message: Message) -> list | None:
        """One event-stream message: an event by its ``:event-type``, or the
        exception the service reports mid-stream."""
        if message.kind != "event":
            raise _stream_exception(message, self.where, self.secrets, first=not self._events)
        name = message.headers.get(":event-type", "")
        return self.event(str(name), self._decoded(message.payload))

    def _decoded(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError(f"stream from {self.where} is not valid UTF-8") from None

    def line(self, line: str) -> list | None:
        """One line of a stream; returns the chunks to show, if any."""
        if self.sse is not None:
            event = self.sse.feed(line)
            return self.event(*event) if event else None
        return self.event("", line) if line.strip() else None

    def event(self, name: str, data: str) -> list | None:
        spec = self.config.stream
        if self.done or name in spec.skip_events:
            return None
        self._events += 1
        if spec.done is not None and data.strip() == spec.done:
            self.done = True
            return None
        payload = _json(data, self.where, self.secrets)
        _, text, reasoning, *_, calls, done_when = self._read(payload, self.stream_paths)[:-3]
        named = tool_call_deltas(self.outcome, calls, self.where) if calls is not None else ()
        if done_when or name in spec.done_events or _typed_done(name, payload, spec.done_events):
            self.done = True
        chunks = self.reasoning(reasoning, self.stream_paths) if reasoning is not None else []
        read = self.reader.event(name, payload)
        chunks += read
        # The family may give the text itself, in its place among its parts.
        if isinstance(text, str) and text and not (read and any(type(c) is str for c in read)):
            if self.think is None:
                chunks.append(text)
            else:
                chunks += self.think.feed(text)
        if named:
            chunks += self.state.named(named)
        return chunks or None

    def end(self) -> list:
        """The stream closed, or said it is complete: flush, and insist that
        it finished."""
        if not self._events and self.kind not in STREAM_KINDS and self._start.strip():
            quoted = _quoted(self._start.decode("utf-8", "replace"), self.secrets)
            raise WireError(f"reply from {self.where} is {self.kind}, not a stream: {quoted}")
        if self.frames is not None and self.frames.pending and not self.done:
            raise WireError(f"stream from {self.where} ended in the middle of a message")
        partial = self._decoded(b"".join(self._pending))
        self._pending = []
        chunks = []
        if partial.strip() and not self.done:
            if self.sse is None:
                try:
                    json.loads(partial)
                except (ValueError, RecursionError):
                    raise WireError(
                        f"stream from {self.where} ended in the middle of a line"
                    ) from None
            chunks += self.line(partial) or []
        if self.sse is not None:
            event = self.sse.flush()
            chunks += (self.event(*event) or []) if event else []
        spec = self.config.stream
        if not self.done and (spec.done is not None or spec.done_events or spec.done_when):
            raise WireError(f"stream from {self.where} ended before it was complete")
        if self.think is not None:
            chunks += self.think.finish()
        return _joined(chunks + self.reader.end())


class StreamException(WireError):
    """An exception an event stream reports (``:message-type: exception``)."""

    RETRIED = ("throttlingException", "serviceUnavailableException", "internalServerException")

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind

    @property
    def retryable(self) -> bool:
        """Worth another attempt, as a 429 or 503 is."""
        return self.kind in self.RETRIED


def _stream_exception(message: Message, where: str, secrets: Secrets, first: bool):
    """``error from URL: TYPE: message``, from an exception's headers and
    payload (``{"message": ...}``), or an error's ``:error-code`` and
    ``:error-message`` headers. Only an exception before any event may be
    retried: after one, a retry would repeat what was shown."""
    found = message.headers
    kind = found.get(":exception-type") or found.get(":error-code") or message.kind
    text = found.get(":error-message") or ""
    with contextlib.suppress(ValueError, RecursionError, AttributeError):
        data = json.loads(message.payload.decode("utf-8"))
        text = data.get("message") or data.get("Message") or text
    text = " ".join(str(text).split()) or "(no message)"
    line = secrets.hide(f"error from {where}: {kind}: {text[:200]}")
    return StreamException(line, str(kind) if first else "")


def _error_text(data: Any, found: Any) -> str | None:
    """What a reply's error path found, as a message (None: no error)."""
    if found in (None, "", [], {}) or type(data) not in (dict, list):
        return None
    return found if isinstance(found, str) else json.dumps(found)


def _text(body: bytes, where: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"reply from {where} is not valid UTF-8 (byte {exc.start})") from None


_JSON_KINDS = {dict: "an object", list: "an array", bool: "a boolean"}


def _json_kind(value: Any) -> str:
    return _JSON_KINDS.get(type(value), "a number")


def _kind(chunk: Any) -> str | None:
    """What a chunk may be joined with: text, plain reasoning, or nothing."""
    if type(chunk) is str:
        return "text"
    if type(chunk) is Thought:
        return "reasoning"
    plain = not (chunk.redacted or chunk.provider_metadata or chunk.part_index is not None)
    return "reasoning" if chunk.type == "reasoning" and plain and not chunk.message_index else None


def _joined(chunks: list) -> list:
    """The chunks as they leave the decoder: adjacent text as one, adjacent
    plain reasoning as one llm StreamEvent (llm joins them anyway, and each
    chunk costs it an event)."""
    if len(chunks) < 2 and not (chunks and type(chunks[0]) is Thought):
        return chunks
    if all(type(c) is str for c in chunks):
        return ["".join(chunks)]
    out: list = []
    run: list[str] = []
    kind = None
    for chunk in chunks:
        this = _kind(chunk)
        if this != kind or this is None:
            _flush(out, run, kind)
            run, kind = [], this
        if this is None:
            out.append(chunk)
        else:
            run.append(chunk if type(chunk) is not StreamEvent else chunk.chunk)
    _flush(out, run, kind)
    return out


def _flush(out: list, run: list[str], kind: str | None) -> None:
    if run:
        out.append("".join(run) if kind == "text" else reasoning_event("".join(run)))


def _typed_done(name: str, payload: Any, done_events: tuple) -> bool:
    """An SSE stream with no ``event:`` lines (a proxy's) names its events
    only in each payload's ``type``, as Anthropic and Responses events do."""
    if name != "message" or not done_events or not isinstance(payload, dict):
        return False
    kind = payload.get("type")
    return isinstance(kind, str) and kind in done_events

"""A real HTTP server on 127.0.0.1 that speaks each preset's wire format.

It runs an asyncio loop in a daemon thread, parses HTTP/1.1 itself (with
keep-alive) and writes precomputed replies, so it is cheap enough to
benchmark against. Tests make it misbehave on purpose with ``fail_next``.

Routes (any prefix before them is ignored, so base URLs may carry one):
  .../chat/completions   OpenAI Chat Completions (JSON, or SSE when stream)
  .../api/chat           Ollama (JSON, or NDJSON when stream)
  .../messages           Anthropic Messages (JSON, or SSE with named events)
  .../generic            {"output": {"text": ...}, "tokens": {...}}
  .../redirect?to=URL    307 to URL
Every request is recorded in ``requests``. ``queue(pieces)`` makes the next
request's reply exactly those bytes, one HTTP chunk per piece, written with a
pause between them so that each is its own network read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

REPLY = "Hello from the fake API"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict  # lower-case names
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class Fault:
    kind: str  # status, slow, cut, bad_json, trickle, reset, error_field, bad_utf8, huge, redirect
    status: int = 500
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    seconds: float = 0.0
    times: int = 1


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def openai_json(text: str) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": len(text.split()),
            "total_tokens": 5 + len(text.split()),
            "prompt_tokens_details": {"cached_tokens": 2},
        },
    }


def openai_sse(text: str) -> bytes:
    out = []
    for word in _words(text):
        chunk = {
            "id": "chatcmpl-fake",
            "model": "fake-model",
            "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
        }
        out.append(f"data: {json.dumps(chunk)}\n\n")
    final = {
        "id": "chatcmpl-fake",
        "model": "fake-model",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    out.append(f"data: {json.dumps(final)}\n\n")
    usage = {
        "id": "chatcmpl-fake",
        "model": "fake-model",
        "choices": [],
        "usage": openai_json(text)["usage"],
    }
    out.append(f"data: {json.dumps(usage)}\n\n")
    out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def ollama_json(text: str) -> dict:
    return {
        "model": "fake-model",
        "message": {"role": "assistant", "content": text},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 5,
        "eval_count": len(text.split()),
    }


def ollama_ndjson(text: str) -> bytes:
    lines = [
        json.dumps(
            {"model": "fake-model", "message": {"role": "assistant", "content": w}, "done": False}
        )
        for w in _words(text)
    ]
    lines.append(
        json.dumps(
            {
                **ollama_json(""),
                "message": {"role": "assistant", "content": ""},
                "eval_count": len(text.split()),
            }
        )
    )
    return ("\n".join(lines) + "\n").encode()


def anthropic_json(text: str) -> dict:
    return {
        "id": "msg_fake",
        "type": "message",
        "model": "fake-claude",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": len(text.split())},
    }


def anthropic_sse(text: str) -> bytes:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake",
                    "model": "fake-claude",
                    "usage": {"input_tokens": 5, "output_tokens": 1},
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    events.append(
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
    )
    for word in _words(text):
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": word},
                },
            )
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": len(text.split())},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def openai_chunk(delta: dict | None = None, finish: str | None = None, **top) -> dict:
    """One Chat Completions stream chunk, as OpenAI documents it."""
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake-model"}
    return {**base, "choices": [choice], **top}


def sse_pieces(*payloads) -> list[bytes]:
    """One SSE event per payload (a dict as JSON, a str as it is)."""
    return [f"data: {p if isinstance(p, str) else json.dumps(p)}\n\n".encode() for p in payloads]


def openai_reasoning_sse(
    reasoning: list[str], text: list[str], field: str = "reasoning_content", usage=None
) -> list[bytes]:
    """A reasoning model's stream: the role, then reasoning deltas in
    ``field`` (DeepSeek, vLLM, SGLang: reasoning_content; OpenRouter, Groq,
    Ollama /v1, vLLM 0.11+: reasoning) with ``content`` null, then text
    deltas with ``field`` null, the finish, usage, [DONE]."""
    chunks = [openai_chunk({"role": "assistant", "content": None, field: ""})]
    chunks += [openai_chunk({"content": None, field: r}) for r in reasoning]
    chunks += [openai_chunk({"content": t, field: None}) for t in text]
    chunks.append(openai_chunk({}, "stop"))
    counts = {"prompt_tokens": 5, "completion_tokens": len(reasoning) + len(text)}
    chunks.append({**openai_chunk(), "choices": [], "usage": usage or counts})
    return sse_pieces(*chunks, "[DONE]")


class FakeAPI:
    """Start with ``with FakeAPI() as server:``; ``server.url`` is its base URL."""

    def __init__(
        self, reply: str = REPLY, fail_rate: float = 0.0, seed: int = 1, reasoning: str = ""
    ):
        self.reply = reply
        # streamed Chat Completions replies think first: these words as reasoning_content
        self.reasoning = reasoning
        self.fail_rate = fail_rate  # answer this share of requests with 503, at random
        self._random = random.Random(seed)
        self.failed = 0
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.open_connections = 0
        self.peak_connections = 0
        self.connections_made = 0
        self._cache: dict = {}
        self._queued: list[tuple[list[bytes], str, float]] = []
        self._tasks: dict = {}  # connection handler task -> its writer
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # -- control -----------------------------------------------------------------

    def __enter__(self) -> FakeAPI:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=512), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self._server.close()
            for writer in list(self._tasks.values()):
                writer.transport.abort()  # the handler sees EOF and returns
            await asyncio.wait(list(self._tasks), timeout=5) if self._tasks else None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, kind: str, **kwargs) -> None:
        self.faults.append(Fault(kind, **kwargs))

    def queue(self, pieces: list[bytes], kind: str = "text/event-stream", pause=0.005) -> None:
        """The next request's reply: these bytes, one chunk (and read) each."""
        self._queued.append((pieces, kind, pause))

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    # -- serving -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks[task] = writer
        self.open_connections += 1
        self.connections_made += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    return
                self.requests.append(request)
                if not await self._answer(request, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._tasks.pop(task, None)
            self.open_connections -= 1
            with contextlib.suppress(Exception):
                writer.close()

    async def _read(self, reader) -> Recorded | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        parts = urlsplit(target)
        return Recorded(method, parts.path, parse_qs(parts.query), headers, body)

    def _fault(self) -> Fault | None:
        if not self.faults:
            return None
        fault = self.faults[0]
        fault.times -= 1
        if fault.times <= 0:
            self.faults.pop(0)
        return fault

    async def _answer(self, request: Recorded, writer) -> bool:
        """Write the reply; False closes the connection."""
        fault = self._fault()
        if fault is None and self.fail_rate and self._random.random() < self.fail_rate:
            self.failed += 1
            fault = Fault("status", status=503)
        if fault and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
            fault = None
        if fault and fault.kind == "status":
            body = (
                fault.body
                or json.dumps({"error": {"message": f"fake failure {fault.status}"}}).encode()
            )
            self._write(writer, fault.status, body, "application/json", fault.headers)
            return True
        if fault and fault.kind == "reset":
            writer.transport.abort()
            return False
        if self._queued:
            await self._scripted(writer, *self._queued.pop(0))
            return True
        if request.path.endswith("/redirect"):
            target = request.query["to"][0]
            self._write(writer, 307, b"", "text/plain", {"Location": target})
            return True
        streaming, kind, body = self._reply(request)
        if fault:
            return await self._misbehave(fault, writer, streaming, kind, body)
        self._write(writer, 200, body, kind, chunked=streaming)
        return True

    def _reply(self, request: Recorded) -> tuple[bool, str, bytes]:
        data = json.loads(request.body) if request.body else {}
        streaming = bool(data.get("stream"))
        key = (request.path.rsplit("/", 2)[-2:].__str__(), streaming, self.reply)
        if key in self._cache:
            return self._cache[key]
        path, text = request.path, self.reply
        if path.endswith("/chat/completions"):
            reply = (
                (True, "text/event-stream", self._openai_stream(text))
                if streaming
                else (False, "application/json", json.dumps(openai_json(text)).encode())
            )
        elif path.endswith("/api/chat"):
            reply = (
                (True, "application/x-ndjson", ollama_ndjson(text))
                if streaming
                else (False, "application/json", json.dumps(ollama_json(text)).encode())
            )
        elif path.endswith("/messages"):
            reply = (
                (True, "text/event-stream", anthropic_sse(text))
                if streaming
                else (False, "application/json", json.dumps(anthropic_json(text)).encode())
            )
        else:
            body = {
                "output": {"text": text},
                "tokens": {"in": 3, "out": len(text.split())},
                "stop": "done",
            }
            reply = (False, "application/json", json.dumps(body).encode())
        self._cache[key] = reply
        return reply

    def _openai_stream(self, text: str) -> bytes:
        if not self.reasoning:
            return openai_sse(text)
        pieces = openai_reasoning_sse(_words(self.reasoning), _words(text))
        return b"".join(pieces)

    async def _misbehave(
        self, fault: Fault, writer, streaming: bool, kind: str, body: bytes
    ) -> bool:
        if fault.kind == "cut":
            head = self._head(
                200,
                kind,
                {"Transfer-Encoding": "chunked"}
                if streaming
                else {"Content-Length": str(len(body))},
            )
            part = body[: len(body) // 2]
            writer.write(
                head + (f"{len(part):x}\r\n".encode() + part + b"\r\n" if streaming else part)
            )
            await writer.drain()
            writer.transport.abort()
            return False
        if fault.kind == "bad_json":
            self._write(writer, 200, b"<html>not json</html>", "text/html")
            return True
        if fault.kind == "bad_sse":
            self._write(writer, 200, b"data: {not json\n\n", "text/event-stream", chunked=True)
            return True
        if fault.kind == "error_field":
            self._write(
                writer,
                200,
                json.dumps({"error": {"message": "model overloaded"}}).encode(),
                "application/json",
            )
            return True
        if fault.kind == "bad_utf8":
            self._write(
                writer,
                200,
                b'{"choices": [{"message": {"content": "\xff\xfe"}}]}',
                "application/json",
            )
            return True
        if fault.kind == "partial_ndjson":
            cut = body.rstrip(b"\n")
            self._write(writer, 200, cut[: len(cut) - 5], kind, chunked=True)
            return True
        if fault.kind == "huge":
            text = "x" * (10 * 1024 * 1024)
            self._write(writer, 200, json.dumps(openai_json(text)).encode(), "application/json")
            return True
        if fault.kind == "trickle":
            writer.write(self._head(200, kind, {"Content-Length": str(len(body))}))
            for i in range(len(body)):
                writer.write(body[i : i + 1])
                await writer.drain()
                await asyncio.sleep(fault.seconds or 1.0)
            return True
        raise ValueError(f"unknown fault {fault.kind}")

    async def _scripted(self, writer, pieces: list[bytes], kind: str, pause: float) -> None:
        writer.write(self._head(200, kind, {"Transfer-Encoding": "chunked"}))
        for piece in pieces:
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            await writer.drain()
            await asyncio.sleep(pause)
        writer.write(b"0\r\n\r\n")

    @staticmethod
    def _head(status: int, kind: str, extra: dict) -> bytes:
        lines = [f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}", f"Content-Type: {kind}"]
        lines += [f"{k}: {v}" for k, v in extra.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def _write(self, writer, status, body: bytes, kind: str, headers=None, chunked=False) -> None:
        extra = dict(headers or {})
        if chunked:
            extra["Transfer-Encoding"] = "chunked"
            payload = (
                f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
            )
        else:
            extra["Content-Length"] = str(len(body))
            payload = body
        writer.write(self._head(status, kind, extra) + payload)


def client_headers(server: FakeAPI) -> str:
    """The headers httpx2's client adds to every request, as the dry run shows them."""
    import httpx2

    return (
        f"Host: 127.0.0.1:{server.port}\n"
        "Accept: */*\n"
        "Accept-Encoding: gzip, deflate\n"
        "Connection: keep-alive\n"
        f"User-Agent: python-httpx2/{httpx2.__version__}\n"
    )

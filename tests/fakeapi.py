"""A real HTTP server on 127.0.0.1 that speaks each preset's wire format.

It runs an asyncio loop in a daemon thread, parses HTTP/1.1 itself (with
keep-alive) and writes precomputed replies, so it is cheap enough to
benchmark against. Tests make it misbehave on purpose with ``fail_next``.

Routes (any prefix before them is ignored, so base URLs may carry one):
  .../chat/completions   OpenAI Chat Completions (JSON, or SSE when stream)
  .../completions        OpenAI (legacy) Completions (JSON, or SSE when stream)
  .../api/chat           Ollama (JSON, or NDJSON when stream)
  .../messages           Anthropic Messages (JSON, or SSE with named events); Vertex's
                         ...:rawPredict and ...:streamRawPredict the same
  ...:generateContent    Gemini (JSON); ...:streamGenerateContent: SSE
  .../responses          OpenAI Responses (JSON, or SSE with named events)
  .../converse           Bedrock Converse (JSON); .../converse-stream: AWS event stream
  .../generic            {"output": {"text": ...}, "tokens": {...}}
  .../redirect?to=URL    307 to URL
  GET .../models         OpenAI's list of models (ids from ``models``)
  GET .../api/tags       Ollama's list of models (names from ``models``)
  GET .../model/info     A LiteLLM proxy's list of models (names from ``models``)
  GET PATH in ``bodies``   that body, as JSON
  POST .../api/show      Ollama's details of the model the body names: ``shows[name]`` (else 404)
  .../embeddings         OpenAI embeddings (float or base64, as asked)
  .../api/embed          Ollama embeddings
  .../v2/embed           Cohere embeddings (v2)
  .../embed              Hugging Face TEI embeddings
  Each embedding is ``fake_vector(text, dimensions)``: the same text gets the
  same vector from every route.
  /nodone/...            as without /nodone, but a stream never says [DONE]
Every request is recorded in ``requests``. ``queue(pieces)`` makes the next
request's reply exactly those bytes, one HTTP chunk per piece, written with a
pause between them so that each is its own network read. ``FakeAPI(tls=True)``
serves https with ``tests/tls/cert.pem``, which only ``tests/tls/ca.pem`` vouches for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
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


def completion_json(text: str) -> dict:
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": 1700000000,
        "model": "fake-model",
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": len(text.split()),
            "total_tokens": 5 + len(text.split()),
        },
    }


def completion_sse(text: str) -> bytes:
    head = {"id": "cmpl-fake", "object": "text_completion", "created": 1700000000}
    head["model"] = "fake-model"
    out = []
    for word in _words(text):
        choice = {"index": 0, "text": word, "logprobs": None, "finish_reason": None}
        out.append({**head, "choices": [choice]})
    out.append({**head, "choices": [{"index": 0, "text": "", "finish_reason": "stop"}]})
    out.append({**head, "choices": [], "usage": completion_json(text)["usage"]})
    events = [f"data: {json.dumps(chunk)}\n\n" for chunk in out]
    return ("".join(events) + "data: [DONE]\n\n").encode()


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
                "message": {  # as the API starts one (the SDK appends to its content)
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": "fake-claude",
                    "content": [],
                    "stop_reason": None,
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


def gemini_json(text: str) -> dict:
    candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP"}
    usage = {"promptTokenCount": 5, "candidatesTokenCount": len(text.split())}
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "fake-gemini"}


def gemini_sse(text: str) -> bytes:
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": w}], "role": "model"}}]}
        for w in _words(text)
    ]
    chunks.append(gemini_json(""))
    return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()


def anthropic_blocks_json(blocks: list, stop_reason: str = "end_turn") -> dict:
    """A whole Messages reply whose content is ``blocks`` (thinking,
    redacted_thinking, text, tool_use, as the API reference shows them)."""
    return {**anthropic_json(""), "content": blocks, "stop_reason": stop_reason}


def _block_events(index: int, block: dict) -> list:
    """The SSE events that stream one content block, as the API sends them:
    thinking as thinking_delta then signature_delta, a tool's input as
    input_json_delta pieces (the first one empty), redacted_thinking whole."""
    kind = block["type"]
    deltas = []
    if kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        words = _words(block["thinking"]) if block["thinking"] else []
        deltas = [{"type": "thinking_delta", "thinking": w} for w in words]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": w} for w in _words(block["text"])]
    elif kind == "tool_use":
        start = {**block, "input": {}}
        text = json.dumps(block["input"])
        pieces = ["", text[: len(text) // 2], text[len(text) // 2 :]]
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    else:  # redacted_thinking, and any block the test makes up, come whole
        start = block
    events = [("content_block_start", {"index": index, "content_block": start})]
    events += [("content_block_delta", {"index": index, "delta": d}) for d in deltas]
    events.append(("content_block_stop", {"index": index}))
    return events


def anthropic_blocks_sse(blocks: list, stop_reason: str = "end_turn") -> bytes:
    """``anthropic_blocks_json`` as a stream of named events."""
    message = {**anthropic_json(""), "content": [], "stop_reason": None}
    message["usage"] = {"input_tokens": 5}
    events = [("message_start", {"message": message})]
    for index, block in enumerate(blocks):
        events += _block_events(index, block)
    events.append(
        ("message_delta", {"delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": 7}})
    )
    events.append(("message_stop", {}))
    return "".join(
        f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n" for name, data in events
    ).encode()


def ollama_message_json(message: dict) -> dict:
    """A whole Ollama chat reply with this ``message`` (thinking, content, tool_calls)."""
    return {**ollama_json(""), "message": {"role": "assistant", "content": "", **message}}


def ollama_message_ndjson(message: dict) -> bytes:
    """The same as a stream: the thinking word by word, then the content,
    then the tool calls in one line (as Ollama sends them), then done.
    A value of the wrong type goes in one line as it is."""

    def line(**fields) -> str:
        body = {"role": "assistant", "content": "", **fields}
        return json.dumps({"model": "fake-model", "message": body, "done": False})

    def pieces(key: str) -> list[str]:
        value = message.get(key)
        if isinstance(value, str):
            return [line(**{key: w}) for w in _words(value) if w]
        return [] if value is None else [line(**{key: value})]  # a bad shape, as it is

    lines = pieces("thinking") + pieces("content") + pieces("tool_calls")
    lines.append(json.dumps(ollama_json("") | {"message": {"role": "assistant", "content": ""}}))
    return ("\n".join(lines) + "\n").encode()


# -- OpenAI Responses: one Response object, served whole or as the events
# that build it (the event names and payloads of OpenAI's API reference).


def responses_message(text: str, item_id: str = "msg_fake") -> dict:
    content = [{"type": "output_text", "text": text, "annotations": []}]
    return {
        "type": "message",
        "id": item_id,
        "status": "completed",
        "role": "assistant",
        "content": content,
    }


def responses_object(text: str = REPLY, output: list | None = None, **keys) -> dict:
    """A completed Response whose output is ``output`` (default: one message of ``text``)."""
    output = [responses_message(text)] if output is None else output
    words = sum(len(p.get("text", "").split()) for i in output for p in i.get("content", []))
    usage = {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 2},
        "output_tokens": words,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 5 + words,
    }
    return {
        "id": "resp_fake",
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "model": "fake-model",
        "output": output,
        "usage": usage,
        **keys,
    }


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def responses_events(response: dict) -> list[tuple[str, dict]]:
    """The streamed events of ``response``: created, each output item as it
    is added, its deltas, done; then completed (or incomplete, or failed)."""
    events: list[tuple[str, dict]] = []

    def emit(kind: str, **data) -> None:
        events.append((kind, {"type": kind, "sequence_number": len(events), **data}))

    shell = {**response, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=shell)
    emit("response.in_progress", response=shell)
    for i, item in enumerate(response["output"]):
        where = {"item_id": item.get("id"), "output_index": i}
        if item["type"] == "message":
            emit("response.output_item.added", output_index=i, item={**item, "content": []})
            for j, part in enumerate(item["content"]):
                emit(
                    "response.content_part.added",
                    **where,
                    content_index=j,
                    part={**part, "text": ""},
                )
                for word in _words(part["text"]):
                    emit(
                        "response.output_text.delta",
                        **where,
                        content_index=j,
                        delta=word,
                        logprobs=[],
                    )
                emit(
                    "response.output_text.done",
                    **where,
                    content_index=j,
                    text=part["text"],
                    logprobs=[],
                )
                emit("response.content_part.done", **where, content_index=j, part=part)
        elif item["type"] == "reasoning":
            emit(
                "response.output_item.added",
                output_index=i,
                item={"type": "reasoning", "id": item["id"], "summary": []},
            )
            for j, part in enumerate(item.get("summary") or []):
                emit(
                    "response.reasoning_summary_part.added",
                    **where,
                    summary_index=j,
                    part={**part, "text": ""},
                )
                for word in _words(part["text"]):
                    emit(
                        "response.reasoning_summary_text.delta",
                        **where,
                        summary_index=j,
                        delta=word,
                    )
                emit(
                    "response.reasoning_summary_text.done",
                    **where,
                    summary_index=j,
                    text=part["text"],
                )
                emit("response.reasoning_summary_part.done", **where, summary_index=j, part=part)
        elif item["type"] == "function_call":
            emit("response.output_item.added", output_index=i, item={**item, "arguments": ""})
            for piece in _pieces(item["arguments"]):
                emit("response.function_call_arguments.delta", **where, delta=piece)
            emit("response.function_call_arguments.done", **where, arguments=item["arguments"])
        emit("response.output_item.done", output_index=i, item=item)
    final = {"completed": "response.completed", "incomplete": "response.incomplete"}
    emit(final.get(response["status"], "response.failed"), response=response)
    return events


def sse_of(events: list[tuple[str, dict]]) -> bytes:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


EMBEDDING_DIMENSIONS = 8


def fake_vector(text, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A vector that depends only on the text: multiples of 1/256, so float32
    holds them exactly, whichever way they travel."""
    return list(_vector(text if isinstance(text, bytes) else str(text), dimensions))


@functools.lru_cache(maxsize=65536)  # the same texts again cost the server nothing
def _vector(text, dimensions: int) -> tuple[float, ...]:
    import hashlib

    data = text if isinstance(text, bytes) else text.encode("utf-8")
    digest = hashlib.blake2b(data, digest_size=64).digest()
    return tuple((digest[i % 64] - 128) / 256 for i in range(dimensions))


@functools.lru_cache(maxsize=65536)
def _base64_vector(text, dimensions: int) -> str:
    import base64
    import struct

    vector = _vector(text, dimensions)
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def embedding_reply(path: str, data: dict) -> dict | list | None:
    """The reply of an embedding route, shaped as its provider's API
    reference documents it; None for a path that is no embedding route."""
    size = data.get("dimensions") or data.get("output_dimension") or EMBEDDING_DIMENSIONS
    if path.endswith("/embeddings"):
        texts = data["input"] if isinstance(data["input"], list) else [data["input"]]
        encode = _base64_vector if data.get("encoding_format") == "base64" else fake_vector
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": encode(text, size)}
                for i, text in enumerate(texts)
            ],
            "model": data.get("model"),
            "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
        }
    if path.endswith("/api/embed"):
        texts = data["input"] if isinstance(data["input"], list) else [data["input"]]
        return {
            "model": data.get("model"),
            "embeddings": [fake_vector(text, size) for text in texts],
            "total_duration": 1000,
            "load_duration": 10,
            "prompt_eval_count": len(texts),
        }
    if path.endswith("/v2/embed"):
        return {
            "id": "embed-fake",
            "embeddings": {"float": [fake_vector(text, size) for text in data["texts"]]},
            "texts": data["texts"],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 3}},
            "response_type": "embeddings_by_type",
        }
    if path.endswith("/embed"):
        texts = data["inputs"] if isinstance(data["inputs"], list) else [data["inputs"]]
        return [fake_vector(text, size) for text in texts]
    return None


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


TLS_FILES = Path(__file__).parent / "tls"


def _server_tls():
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS_FILES / "cert.pem", TLS_FILES / "key.pem")
    return context


class FakeAPI:
    """Start with ``with FakeAPI() as server:``; ``server.url`` is its base URL.
    The ``fake_api`` fixture (conftest.py) is one of these for the whole
    session, ``reset()`` before each test that uses it."""

    def __init__(
        self,
        reply: str = REPLY,
        fail_rate: float = 0.0,
        seed: int = 1,
        reasoning: str = "",
        tls: bool = False,
    ):
        self.tls = tls  # https, with tests/tls/cert.pem (signed by tests/tls/ca.pem)
        self._settings = (reply, fail_rate, seed, reasoning)
        self._fresh()
        self._tasks: dict = {}  # connection handler task -> its writer
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _fresh(self) -> None:
        """Everything a test can change or count, as a new server has it."""
        reply, fail_rate, seed, reasoning = self._settings
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
        self.models = ["fake-chat", "fake-vision"]  # what GET .../models lists
        self.bodies: dict[str, bytes] = {}  # GET path -> reply body
        self.shows: dict[str, dict] = {}  # model -> what POST .../api/show says of it
        self._queued: list[tuple[list[bytes], str, float]] = []

    # -- control -----------------------------------------------------------------

    def __enter__(self) -> FakeAPI:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(
                self._serve, "127.0.0.1", 0, backlog=512, ssl=_server_tls() if self.tls else None
            ),
            self._loop,
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            self._server.close()
            await self._hang_up()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _hang_up(self) -> None:
        """Close every connection, even one a handler is pausing on."""
        for task, writer in list(self._tasks.items()):
            writer.transport.abort()  # a handler reading sees EOF and returns
            task.cancel()  # one sleeping in a fault stops there
        await asyncio.wait(list(self._tasks), timeout=5) if self._tasks else None

    def reset(self) -> None:
        """Make a running server as good as new for the next test: no
        connection open, nothing recorded, queued or counted."""
        asyncio.run_coroutine_threadsafe(self._hang_up(), self._loop).result(10)
        self._fresh()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

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
        listed = self._listing(request) if request.method == "GET" else None
        if listed is not None:
            self._write(writer, 200, listed, "application/json")
            return True
        if request.path.endswith("/api/show"):
            shown = self.shows.get(json.loads(request.body or b"{}").get("model"))
            self._write(
                writer, 200 if shown else 404, json.dumps(shown or {}).encode(), "application/json"
            )
            return True
        streaming, kind, body = self._reply(request)
        if request.path.startswith("/nodone/"):
            body = body.replace(b"data: [DONE]\n\n", b"")
        if fault:
            return await self._misbehave(fault, writer, streaming, kind, body)
        self._write(writer, 200, body, kind, chunked=streaming)
        return True

    def _listing(self, request: Recorded) -> bytes | None:
        if request.path in self.bodies:
            return self.bodies[request.path]
        if request.path.endswith("/models"):
            data = [{"id": name, "object": "model", "owned_by": "fake"} for name in self.models]
            return json.dumps({"object": "list", "data": data}).encode()
        if request.path.endswith("/api/tags"):
            return json.dumps({"models": [{"name": n, "model": n} for n in self.models]}).encode()
        if request.path.endswith("/model/info"):  # a LiteLLM proxy's: nothing set but the mode
            data = [{"model_name": n, "model_info": {"mode": "chat"}} for n in self.models]
            return json.dumps({"data": data}).encode()
        return None

    def _reply(self, request: Recorded) -> tuple[bool, str, bytes]:
        data = json.loads(request.body) if request.body else {}
        embedded = embedding_reply(request.path, data)
        if embedded is not None:
            return False, "application/json", json.dumps(embedded).encode()
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
        elif path.endswith("/completions"):
            reply = (
                (True, "text/event-stream", completion_sse(text))
                if streaming
                else (False, "application/json", json.dumps(completion_json(text)).encode())
            )
        elif path.endswith("/api/chat"):
            reply = (
                (True, "application/x-ndjson", ollama_ndjson(text))
                if streaming
                else (False, "application/json", json.dumps(ollama_json(text)).encode())
            )
        elif path.endswith(("/messages", ":rawPredict", ":streamRawPredict")):  # Vertex's too
            reply = (
                (True, "text/event-stream", anthropic_sse(text))
                if streaming
                else (False, "application/json", json.dumps(anthropic_json(text)).encode())
            )
        elif path.endswith(":streamGenerateContent"):  # Gemini streams from its own URL
            reply = (True, "text/event-stream", gemini_sse(text))
        elif path.endswith(":generateContent"):
            reply = (False, "application/json", json.dumps(gemini_json(text)).encode())
        elif path.endswith("/responses"):
            whole = responses_object(text)
            reply = (
                (True, "text/event-stream", sse_of(responses_events(whole)))
                if streaming
                else (False, "application/json", json.dumps(whole).encode())
            )
        elif path.endswith(("/converse", "/converse-stream")):
            from bedrockapi import converse_reply  # it builds on this module

            reply = converse_reply(path, text)
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


class ContentLengthAPI(FakeAPI):
    """FakeAPI whose every reply, streamed or not, is sent with a
    Content-Length header instead of chunked (as many servers stream)."""

    def _write(self, writer, status, body: bytes, kind: str, headers=None, chunked=False) -> None:
        super()._write(writer, status, body, kind, headers, chunked=False)

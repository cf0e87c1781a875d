"""Streams end on the spot (issue 21): once a stream says it is complete,
the sync backend asks the HTTP parser whether the body's end is here,
never waits on the socket for it, and works with any descriptor number."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import select
import socket
import threading

import llm
import pytest
import yaml
from fakeapi import REPLY, ContentLengthAPI, FakeAPI, openai_sse

from llm_yaml_models.backends.http import send


@pytest.fixture
def declare(write):
    def declare(url: str) -> None:
        spec = {"type": "http", "preset": "openai-chat", "base_url": url + "/v1", "retries": 0}
        write("m.yaml", yaml.safe_dump([{"model_id": "m", "backend": spec}]))

    return declare


@pytest.fixture
def no_socket_wait(monkeypatch):
    """The drain may not look at the socket (select(), which waited up to
    50 ms, or the look that follows when the parser does not know): the
    parser must know. (httpcore2's pool polls an idle connection itself.)"""

    def refused(*args, **kwargs):
        raise AssertionError("the socket was asked")

    monkeypatch.setattr(select, "select", refused)
    monkeypatch.setattr(send, "_arrived", refused, raising=False)


def prompts(count: int) -> list[str]:
    model = llm.get_model("m")
    return [model.prompt("hi").text() for _ in range(count)]


def test_a_content_length_stream_ends_without_asking_the_socket(declare, no_socket_wait):
    """The body's end was read with its last byte: the parser says so, the
    connection goes back to the pool, and nothing waits on the socket."""
    with ContentLengthAPI() as api:
        declare(api.url)
        assert prompts(3) == [REPLY] * 3
        assert api.connections_made == 1


def test_a_chunked_stream_whose_end_is_buffered_asks_no_socket(declare, no_socket_wait):
    with FakeAPI() as api:
        declare(api.url)
        assert prompts(3) == [REPLY] * 3
        assert api.connections_made == 1


class LateEnd:
    """A chunked stream whose final chunk comes 0.3 s after [DONE] (its
    end is not here when the stream says it is complete), one per connection."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.listener.accept()
                threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            body = openai_sse(REPLY)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            conn.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            conn.sendall(f"{len(body):x}\r\n".encode() + body + b"\r\n")
            threading.Event().wait(0.3)
            conn.sendall(b"0\r\n\r\n")

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def many_descriptors():
    """More than 1023 descriptors open, so every new socket's is above
    select()'s limit (FD_SETSIZE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        if hard != resource.RLIM_INFINITY and hard < 1200:
            pytest.skip(f"this process may open only {hard} descriptors")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("server", ["content-length", "chunked", "late-end"])
def test_a_process_holding_over_1023_descriptors_streams(declare, many_descriptors, server):
    """It was `filedescriptor out of range in select()`."""
    with contextlib.ExitStack() as stack:
        if server == "late-end":
            late = LateEnd()
            stack.callback(late.close)
            url = late.url
        else:
            api = ContentLengthAPI() if server == "content-length" else FakeAPI()
            url = stack.enter_context(api).url
        declare(url)
        assert prompts(2) == [REPLY] * 2


# -- text in the same read as an error ---------------------------------------------------


def sse_event(payload: dict, name: str | None = None) -> str:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(payload)}\n\n"


# Each family's text event, then its error event, in one network read: the
# shapes of each API reference (Anthropic's `error` event, OpenAI's error
# object, the Responses `error` event, Gemini's and Ollama's error bodies).
SAME_READ = {
    "openai-chat": (
        "/chat/completions",
        sse_event({"choices": [{"index": 0, "delta": {"content": "Reply #1."}}]})
        + sse_event({"error": {"message": "Rate limit reached", "type": "requests"}}),
        "Rate limit reached",
    ),
    "openai-completions": (
        "/completions",
        sse_event({"choices": [{"index": 0, "text": "Reply #1.", "finish_reason": None}]})
        + sse_event({"error": {"message": "Rate limit reached", "type": "requests"}}),
        "Rate limit reached",
    ),
    "openai-responses": (
        "/responses",
        sse_event(
            {
                "type": "response.output_text.delta",
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "Reply #1.",
                "sequence_number": 4,
            },
            "response.output_text.delta",
        )
        + sse_event(
            {
                "type": "error",
                "code": "server_error",
                "message": "Rate limit reached",
                "param": None,
                "sequence_number": 5,
            },
            "error",
        ),
        "Rate limit reached",
    ),
    "anthropic-messages": (
        "/messages",
        sse_event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Reply #1."},
            },
            "content_block_delta",
        )
        + sse_event(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "error",
        ),
        "Overloaded",
    ),
    "gemini": (
        "/models/m:streamGenerateContent",
        sse_event(
            {"candidates": [{"content": {"parts": [{"text": "Reply #1."}], "role": "model"}}]}
        )
        + sse_event(
            {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
        ),
        "The model is overloaded.",
    ),
    "ollama-chat": (
        "/api/chat",
        json.dumps(
            {"model": "m", "message": {"role": "assistant", "content": "Reply #1."}, "done": False}
        )
        + "\n"
        + json.dumps({"error": "an error was encountered while running the model"})
        + "\n",
        "an error was encountered while running the model",
    ),
}


def chunks_then_error(run: str) -> tuple[list[str], str]:
    """The text a streamed prompt gave before its error, and the error."""
    got: list[str] = []

    async def collect_async():
        async for chunk in llm.get_async_model("m").prompt("hi"):
            got.append(chunk)

    with pytest.raises(llm.ModelError) as caught:
        if run == "sync":
            got.extend(llm.get_model("m").prompt("hi"))
        else:
            asyncio.run(collect_async())
    return got, str(caught.value)


@pytest.mark.parametrize("run", ["sync", "async"])
@pytest.mark.parametrize("preset", SAME_READ)
def test_text_in_the_same_read_as_an_error_is_shown_first(write, preset, run):
    """The peers print `Reply #1.` and then the error; the text was lost."""
    path, body, message = SAME_READ[preset]
    kind = "application/x-ndjson" if preset == "ollama-chat" else "text/event-stream"
    with FakeAPI() as api:
        spec = {"type": "http", "preset": preset, "base_url": api.url, "retries": 0}
        write("m.yaml", yaml.safe_dump([{"model_id": "m", "backend": spec}]))
        api.queue([body.encode()], kind)
        got, error = chunks_then_error(run)
    assert ("".join(got), error) == ("Reply #1.", f"m: error from {api.url}{path}: {message}")


# -- Anthropic refusals ----------------------------------------------------------------

# As the API reference shows a refusal: HTTP 200, stop_reason "refusal" and
# its stop_details (RefusalStopDetails: category and explanation, each may be null).
DETAILS = {
    "type": "refusal",
    "category": "cyber",
    "explanation": "This request could enable malware development.",
}


def refusal_events(details) -> list[bytes]:
    """A stream the classifier stops mid-way: some text, then the refusal."""
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude"}
    events = [
        ("message_start", {"message": {**message, "content": [], "usage": {"input_tokens": 9}}}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Sure, "}}),
        ("content_block_stop", {"index": 0}),
        (
            "message_delta",
            {
                "delta": {"stop_reason": "refusal", "stop_sequence": None, "stop_details": details},
                "usage": {"output_tokens": 2},
            },
        ),
        ("message_stop", {}),
    ]
    return [sse_event({"type": name, **data}, name).encode() for name, data in events]


def refusal_json(details) -> bytes:
    reply = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [],
        "stop_reason": "refusal",
        "stop_sequence": None,
        "stop_details": details,
        "usage": {"input_tokens": 9, "output_tokens": 0},
    }
    return json.dumps(reply).encode()


@pytest.mark.parametrize(
    "details,said",
    [
        (DETAILS, " (cyber): This request could enable malware development."),
        ({"type": "refusal", "category": None, "explanation": None}, ""),
        (None, ""),
    ],
    ids=["category-and-explanation", "nulls", "no-details"],
)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_an_anthropic_refusal_is_the_models_error(write, run_llm, stream, details, said):
    """It was an empty line and exit 0; llm-anthropic raises ClaudeRefusal."""
    with FakeAPI() as api:
        spec = {"type": "http", "preset": "anthropic-messages", "base_url": api.url}
        write("m.yaml", yaml.safe_dump([{"model_id": "m", "backend": {**spec, "retries": 0}}]))
        if stream:
            api.queue(refusal_events(details))
        else:
            api.queue([refusal_json(details)], "application/json")
        result = run_llm("-m", "m", "hi", *([] if stream else ["--no-stream"]))
    error = f"Error: m: error from {api.url}/messages: the model refused this request{said}\n"
    assert (result.exit_code, result.output) == (1, ("Sure, " if stream else "") + error)

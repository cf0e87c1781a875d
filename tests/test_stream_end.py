"""Streams end on the spot (issue 21): once a stream says it is complete,
the sync backend asks the HTTP parser whether the body's end is here,
never waits on the socket for it, and works with any descriptor number."""

from __future__ import annotations

import contextlib
import os
import resource
import select
import socket
import threading

import llm
import pytest
import yaml
from fakeapi import REPLY, ContentLengthAPI, FakeAPI, openai_sse

from llm_yaml_models.backends.http import backend


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
    monkeypatch.setattr(backend, "_arrived", refused, raising=False)


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

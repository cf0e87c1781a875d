"""Every wait has a deadline, whatever the server does (issue 21), and
redirects and replies that are not what was asked for.

One deadline per phase (connect with its name lookup, head, body) is held
at every lookup, connect, read and write under httpcore2
(``backends/http/transport.py``), for prompts and discovery alike. The
servers here are real ones on 127.0.0.1: ``Hostile`` writes exactly the
bytes of its script, pausing where it says; a name server that never
answers is ``socket.getaddrinfo`` blocking, as the system's resolver blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import socketserver
import threading
import time
import zlib

import llm
import pytest
from conftest import model_ids
from fakeapi import TLS_FILES, FakeAPI

from llm_yaml_models.discovery import discovered as discovery


class Hostile:
    """Answers every request with ``script``: bytes are written as they are,
    a float is a pause in seconds. It stops when the script ends or the
    client goes away."""

    def __init__(self, script: list):
        self.script = script
        self.requests = 0
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                with contextlib.suppress(OSError):
                    outer._answer(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, conn: socket.socket) -> None:
        received = b""
        while b"\r\n\r\n" not in received and len(received) < 2**20:
            piece = conn.recv(65536)
            if not piece:
                return
            received += piece
        self.requests += 1
        for step in self.script:
            if isinstance(step, bytes):
                conn.sendall(step)
            else:
                time.sleep(step)


def dribbled(data: bytes, pause: float) -> list:
    """``data`` one byte at a time, ``pause`` seconds apart."""
    return [step for i in range(len(data)) for step in (data[i : i + 1], pause)]


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
ZIPPED = HEAD.replace(b"\r\n\r\n", b"\r\nContent-Encoding: gzip\r\n\r\n")


EMPTY_BLOCK = b"\x00\x00\x00\xff\xff"  # a stored block, not the last, of no bytes


def empty_deflate_blocks(count: int, pause: float) -> list:
    """A gzip body of ``count`` empty deflate blocks, each its own chunk:
    valid gzip, and nothing at all once decompressed."""
    zipper = zlib.compressobj(wbits=31)
    first = zipper.compress(b"") + zipper.flush(zlib.Z_SYNC_FLUSH)  # the header, a block
    steps: list = [ZIPPED, chunk(first)]
    for _ in range(count):
        steps += [pause, chunk(EMPTY_BLOCK)]
    return steps + [b"0\r\n\r\n"]


@pytest.fixture
def hostile():
    with contextlib.ExitStack() as stack:
        yield lambda script: stack.enter_context(Hostile(script))


def declare(write, url: str, extra: str = "") -> str:
    write(
        "m.yaml",
        f"""\
        - model_id: m
          backend:
            type: http
            preset: openai-chat
            base_url: "{url}/v1"
            timeout: 1
            retries: 0
            {extra}
        """,
    )
    return f"{url}/v1/chat/completions"


def answer(api: str, stream: bool = True) -> str:
    if api == "sync":
        return llm.get_model("m").prompt("hi", stream=stream).text()

    async def run():
        return await llm.get_async_model("m").prompt("hi", stream=stream).text()

    return asyncio.run(run())


def failure(api: str, stream: bool = True, within: float = 3.0) -> str:
    """The model's error, which must come within ``within`` seconds."""
    started = time.monotonic()
    with pytest.raises(llm.ModelError) as caught:
        answer(api, stream)
    assert time.monotonic() - started < within
    return str(caught.value)


both = pytest.mark.parametrize("api", ["sync", "async"])

SLOW = "the reply is arriving too slowly"


# -- a head one byte at a time -----------------------------------------------------------


@both
def test_a_head_sent_one_byte_at_a_time_ends_at_the_deadline(hostile, write, api):
    """Each byte well inside the read timeout: the head's deadline ends it
    (before: the prompt waited for the whole head, 20 s here, then answered)."""
    where = declare(write, hostile(dribbled(HEAD, 0.25)).url)
    assert failure(api) == f"m: timed out waiting for {where} after 1s: {SLOW}"


def test_a_dribbled_head_ends_model_loading_at_the_discovery_deadline(hostile, write, run_llm):
    server = hostile(dribbled(HEAD, 0.25))
    file = write(
        "lab.yaml",
        f"""\
        - model_id: lab
          discover: {{source: openai, prefix: lab/, timeout: 1}}
          backend: {{type: http, preset: openai-chat, base_url: "{server.url}/v1"}}
        """,
    )
    started = time.monotonic()
    result = run_llm("models", "list")
    assert time.monotonic() - started < 3
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): timed out waiting for "
        f"{server.url}/v1/models after 1s; no models registered from it\n"
    )


def test_the_whole_fetch_deadline_holds_for_a_head_too(hostile, write, run_llm):
    """Its own timeout (10 s) is longer than the deadline of a fetch while
    models load (3 s): the deadline ends it, and says so."""
    server = hostile(dribbled(HEAD, 0.25))
    file = write(
        "lab.yaml",
        f"""\
        - model_id: lab
          discover: {{source: openai, prefix: lab/}}
          backend: {{type: http, preset: openai-chat, base_url: "{server.url}/v1"}}
        """,
    )
    started = time.monotonic()
    result = run_llm("models", "list")
    assert time.monotonic() - started < discovery.LOAD_DEADLINE + 1.5
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): the list from {server.url}/v1/models "
        "took longer than 3s; not read; no models registered from it\n"
    )


# -- a gzip body of empty deflate blocks ------------------------------------------------------


@both
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_empty_deflate_blocks_end_at_the_deadline(hostile, write, api, stream):
    """Nothing ever decompresses, so no reader sees a byte: the deadline,
    held on the wire, still ends it (before: 10 s here, forever in general)."""
    where = declare(write, hostile(empty_deflate_blocks(40, 0.25)).url)
    assert failure(api, stream) == f"m: timed out waiting for {where} after 1s: {SLOW}"


@both
def test_empty_deflate_blocks_count_against_max_reply_bytes_on_the_wire(hostile, write, api):
    where = declare(
        write, hostile(empty_deflate_blocks(2000, 0)).url, extra="max_reply_bytes: 1000"
    )
    assert failure(api) == f"m: reply from {where} is larger than 1000 bytes (max_reply_bytes)"


# -- a name server that never answers --------------------------------------------------------------


@pytest.fixture
def unanswered_lookups(monkeypatch):
    """Looking up a name under ``.unanswered`` blocks, as a name server that
    never answers holds the system's resolver (up to 8 s here, then fails);
    every other lookup is the system's."""
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode("ascii") if isinstance(host, bytes) else str(host)  # anyio's: bytes
        if name.endswith(".unanswered"):
            release.wait(8)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield "http://models.unanswered:8080"
    release.set()


@both
def test_name_lookup_is_held_to_the_connect_deadline(unanswered_lookups, write, api):
    where = declare(write, unanswered_lookups)
    assert failure(api) == f"m: timed out connecting to {where} after 1s"


def test_name_lookup_in_discovery_is_held_to_its_connect_timeout(
    unanswered_lookups, write, run_llm
):
    file = write(
        "lab.yaml",
        f"""\
        - model_id: lab
          discover: {{source: openai, prefix: lab/}}
          backend: {{type: http, preset: openai-chat, base_url: "{unanswered_lookups}/v1"}}
        """,
    )
    started = time.monotonic()
    result = run_llm("models", "list")
    assert time.monotonic() - started < 2.5
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): timed out connecting to "
        f"{unanswered_lookups}/v1/models after 1s; no models registered from it\n"
    )


# -- discovery as prompts: certificates and proxies from the environment ----------------


def test_discovery_trusts_ssl_cert_file_as_prompts_do(write, run_llm, monkeypatch):
    with FakeAPI(tls=True) as server:
        file = write(
            "lab.yaml",
            f"""\
            - model_id: lab
              discover: {{source: openai, prefix: lab/}}
              backend: {{type: http, preset: openai-chat, base_url: "{server.url}/v1"}}
            """,
        )
        refused = run_llm("models", "list")
        assert refused.stderr == (
            f"llm-yaml-models: warning: lab ({file}:1): cannot connect to {server.url}/v1/models: "
            "TLS certificate not accepted: unable to get local issuer certificate; "
            "no models registered from it\n"
        )
        monkeypatch.setenv("SSL_CERT_FILE", str(TLS_FILES / "ca.pem"))
        assert run_llm("yaml-models", "refresh").exit_code == 0
        assert "lab/fake-chat" in model_ids()
        assert llm.get_model("lab/fake-chat").prompt("hi").text() == "Hello from the fake API"


@pytest.fixture
def through_a_proxy(monkeypatch):
    """HTTP_PROXY names a FakeAPI, which answers a proxied request itself;
    the URL the models name has nothing listening."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.create_server(("127.0.0.1", 0)) as closed:
        nothing = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with FakeAPI() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        yield proxy, nothing


@both
def test_prompts_go_through_the_environments_proxy(through_a_proxy, write, api):
    proxy, nothing = through_a_proxy
    declare(write, nothing)
    assert answer(api) == "Hello from the fake API"
    assert proxy.last.path == "/v1/chat/completions"


def test_discovery_goes_through_the_environments_proxy(through_a_proxy, write, run_llm):
    proxy, nothing = through_a_proxy
    write(
        "lab.yaml",
        f"""\
        - model_id: lab
          discover: {{source: openai, prefix: lab/}}
          backend: {{type: http, preset: openai-chat, base_url: "{nothing}/v1"}}
        """,
    )
    result = run_llm("models", "list")
    assert (result.exit_code, result.stderr) == (0, "")
    assert model_ids() == ["lab/fake-chat", "lab/fake-vision"]
    assert [r.path for r in proxy.requests] == ["/v1/models"]


# -- redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_would_drop_the_body_is_one_line(write, run_llm, status):
    with FakeAPI() as server:
        where = declare(write, server.url)
        moved = f"http://elsewhere.invalid:{server.port}/v2/chat/completions"
        location = moved.replace("//", "//user:hunter22@") + "?key=sk-in-the-query"
        server.fail_next("status", status=status, headers={"Location": location})
        result = run_llm("-m", "m", "hi", "--no-log")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: m: HTTP {status} from {where}: moved to "
        f"{moved.replace('//', '//user:***@')}; "
        "a POST is followed only through a 307 or 308, which keep its body\n"
    )
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [307, 308])
def test_a_307_or_308_is_followed_with_its_body(write, run_llm, status):
    with FakeAPI() as server:
        declare(write, server.url)
        location = f"{server.url}/moved/v1/chat/completions"
        server.fail_next("status", status=status, headers={"Location": location})
        result = run_llm("-m", "m", "hi", "--no-log")
    assert (result.exit_code, result.output) == (0, "Hello from the fake API\n")
    first, second = server.requests
    assert second.path == "/moved/v1/chat/completions"
    assert (second.method, second.body) == ("POST", first.body)


# -- a reply that is not a stream ---------------------------------------------------------------


@both
def test_a_plain_text_reply_to_a_streamed_request_is_quoted(write, api):
    with FakeAPI() as server:
        where = declare(write, server.url)
        text = b"upstream connect error or disconnect/reset before headers. " * 4
        server.queue([text], kind="text/plain; charset=utf-8")
        message = failure(api)
    quoted = repr(text.decode()[:80] + "...")
    assert message == f"m: reply from {where} is text/plain, not a stream: {quoted}"


# -- the mechanism, with cases no caller has seen ------------------------------------------------


@pytest.fixture
def slow_reader():
    """A loopback server that reads 2 MiB every 0.5 s (so that every write
    moves on inside a 1 s write timeout) for up to 10 s, and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))

    def read_slowly():
        with contextlib.suppress(OSError), listener.accept()[0] as conn:
            for _ in range(20):
                taken = 0
                while taken < 2 * 2**20:
                    piece = conn.recv(2 * 2**20 - taken)
                    if not piece:
                        return
                    taken += len(piece)
                time.sleep(0.5)

    threading.Thread(target=read_slowly, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@both
def test_a_server_that_reads_the_request_slowly_is_held_to_the_head_deadline(slow_reader, api):
    """50 MB sent to a server that reads it slowly: each write makes progress
    inside its own timeout, and the head's deadline ends them all."""
    import httpx2

    from llm_yaml_models.backends.http.transport import async_client, expiry, sync_client

    body = b"x" * (50 * 2**20)
    limits = httpx2.Limits(max_connections=1)
    started = time.monotonic()
    with pytest.raises(httpx2.TimeoutException) as caught:
        if api == "sync":
            with sync_client(limits=limits, timeout=1) as client:
                client.post(slow_reader, content=body)
        else:

            async def send():
                async with async_client(limits=limits, timeout=1) as client:
                    await client.post(slow_reader, content=body)

            asyncio.run(send())
    assert time.monotonic() - started < 3
    expired = expiry(caught.value)
    assert (expired.phase, expired.seconds, expired.whole) == ("head", 1, False)

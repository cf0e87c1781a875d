"""Streams and replies as real servers send them (issue 10, "Streams" and
"Errors"): line ends, reads cut anywhere, servers that hold the connection
open or only send keep-alives, bombs, HTML, repeated tool names, Anthropic
usage, replies the paths cannot read, provider messages that are not one
line, and usage values logs.db cannot hold.

``RawServer`` is a real server on 127.0.0.1 that writes exactly the bytes a
test gives it, one HTTP chunk (and so, in practice, one read) per piece,
pausing where the script says.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import json
import socket
import socketserver
import threading
import tracemalloc

import llm
import pytest
import yaml

from llm_yaml_models.backends.http import HttpConfig
from llm_yaml_models.errors import BackendError, printable

TEXT = "one\u2028two\u2029three\x85four\x1cfive\x1dsix\x1eseven\x0beight\x0cnine"


class RawServer:
    """Answers every request with ``script()``: bytes are written at once
    (as one chunk when ``chunked``), a float is a pause in seconds. With
    ``hold``, the body is left unfinished for up to that many seconds after
    the script, or until the client closes the connection."""

    def __init__(
        self, script, kind="text/event-stream", chunked=True, hold=0.0, headers=None, end=True
    ):
        self.script = script if callable(script) else (lambda: script)
        self.kind, self.chunked, self.hold, self.end = kind, chunked, hold, end
        self.headers = headers or {}
        self.status = 200
        self.requests: list[dict] = []
        self.closed_by_client: list[bool] = []
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                with contextlib.suppress(OSError):
                    outer._answer(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # shutdown() waits for the loop to look again: every 20 ms, not 0.5 s
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(65536)
        head, _, body = head.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length:
            body += conn.recv(65536)
        self.requests.append(json.loads(body or b"{}"))
        pieces = list(self.script()) if not self.chunked else self.script()
        fields = {"Content-Type": self.kind, "Connection": "close", **self.headers}
        if self.chunked:
            fields["Transfer-Encoding"] = "chunked"
        else:
            fields["Content-Length"] = str(sum(len(p) for p in pieces if isinstance(p, bytes)))
        lines = [f"HTTP/1.1 {self.status} OK", *(f"{k}: {v}" for k, v in fields.items())]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        for piece in pieces:
            if isinstance(piece, bytes):
                conn.sendall(
                    f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if self.chunked else piece
                )
            else:
                threading.Event().wait(piece)
        if self.hold:
            conn.settimeout(self.hold)
            try:
                self.closed_by_client.append(conn.recv(1) == b"")
            except TimeoutError:
                self.closed_by_client.append(False)
        if self.chunked and self.end:  # without end, the body breaks off: no final chunk
            conn.sendall(b"0\r\n\r\n")


@pytest.fixture
def raw():
    """``raw(script, **kwargs)``: a RawServer, stopped after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda *a, **k: stack.enter_context(RawServer(*a, **k))


PATHS = {
    "openai-chat": "/chat/completions",
    "ollama-chat": "/api/chat",
    "anthropic-messages": "/messages",
}


@pytest.fixture
def declare(write):
    """``declare(server, preset, **backend)``: model ``m`` against the server;
    returns the URL its errors name."""

    def declare(server, preset="openai-chat", model=None, **backend):
        spec = {"type": "http", "preset": preset, "base_url": server.url, "retries": 0, **backend}
        write("m.yaml", yaml.safe_dump([{"model_id": "m", "backend": spec, **(model or {})}]))
        return server.url + PATHS[preset]

    return declare


def sync_text(**kwargs) -> str:
    return llm.get_model("m").prompt("hi", **kwargs).text()


def async_text(**kwargs) -> str:
    async def run():
        return await llm.get_async_model("m").prompt("hi", **kwargs).text()

    return asyncio.run(run())


RUN = {"sync": sync_text, "async": async_text}
both = pytest.mark.parametrize("run", ["sync", "async"])


def failure(run: str, **kwargs) -> str:
    with pytest.raises(llm.ModelError) as caught:
        RUN[run](**kwargs)
    assert isinstance(caught.value, BackendError)
    return str(caught.value)


def sse(*payloads, end="\n") -> list[bytes]:
    """One SSE event per payload (a dict as JSON, raw characters kept)."""
    out = []
    for p in payloads:
        data = p if isinstance(p, str) else json.dumps(p, ensure_ascii=False)
        out.append(f"data: {data}{end}{end}".encode())
    return out


def delta(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


def words(text: str) -> list[str]:
    return [text[i : i + 7] for i in range(0, len(text), 7)]


def ndjson(*payloads, end="\n") -> list[bytes]:
    return [(json.dumps(p, ensure_ascii=False) + end).encode() for p in payloads]


def ollama(text: str, done=False) -> dict:
    return {"message": {"role": "assistant", "content": text}, "done": done}


def anthropic(events, end="\n") -> list[bytes]:
    return [
        f"event: {n}{end}data: {json.dumps(d, ensure_ascii=False)}{end}{end}".encode()
        for n, d in events
    ]


def anthropic_reply(text: str, start_usage=None, delta_usage=None) -> list[tuple]:
    message = {"id": "msg_1", "model": "claude", "usage": start_usage or {"input_tokens": 7}}
    return [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_delta", {"type": "content_block_delta", "delta": {"text": text}}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": delta_usage or {"output_tokens": 3},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


# -- line ends -------------------------------------------------------------------------

LINE_ENDS = {"lf": "\n", "cr": "\r", "crlf": "\r\n"}


@both
@pytest.mark.parametrize("end", LINE_ENDS)
def test_sse_lines_end_only_at_cr_lf_or_crlf(raw, declare, run, end):
    """U+2028, U+2029, U+0085, \\x1c-\\x1e, \\x0b and \\x0c are text, not line ends."""
    server = raw(sse(*map(delta, words(TEXT)), "[DONE]", end=LINE_ENDS[end]))
    declare(server)
    assert RUN[run]() == TEXT


@both
@pytest.mark.parametrize("end", LINE_ENDS)
def test_ndjson_lines_end_only_at_cr_lf_or_crlf(raw, declare, run, end):
    pieces = ndjson(*map(ollama, words(TEXT)), ollama("", done=True), end=LINE_ENDS[end])
    declare(raw(pieces, kind="application/x-ndjson"), "ollama-chat")
    assert RUN[run]() == TEXT


def cut_after_each_cr(pieces: list[bytes]) -> list:
    """The same bytes, a read ending after every CR, with a pause between."""
    whole = b"".join(pieces)
    out = []
    for part in whole.split(b"\r"):
        out += [part + b"\r", 0.02]
    out[-2] = out[-2][:-1]  # the last part had no CR after it
    return [p for p in out if p != b""]


@both
@pytest.mark.parametrize("preset", ["anthropic-messages", "openai-chat", "ollama-chat"])
def test_crlf_cut_between_the_cr_and_the_lf(raw, declare, run, preset):
    """Named events ("event: x" CR | LF "data: ...") were dispatched empty."""
    if preset == "anthropic-messages":
        pieces = anthropic(anthropic_reply(TEXT), end="\r\n")
    elif preset == "openai-chat":
        pieces = sse(*map(delta, words(TEXT)), "[DONE]", end="\r\n")
    else:
        pieces = ndjson(*map(ollama, words(TEXT)), ollama("", done=True), end="\r\n")
    declare(raw(cut_after_each_cr(pieces)), preset)
    assert RUN[run]() == TEXT


def test_the_line_splitter_with_every_cut(tmp_path):
    """The decoder itself, fed a CRLF stream cut at every byte."""
    from llm_yaml_models.backends.http.decode import Decoder

    config = HttpConfig.from_data(
        {"preset": "anthropic-messages", "base_url": "http://x"}, tmp_path
    )
    body = b"".join(anthropic(anthropic_reply(TEXT), end="\r\n"))
    for cut in range(len(body) + 1):
        decoder = Decoder(config, "URL")
        decoder.begin(200, "text/event-stream", True)
        pieces = (body[:cut], b"", body[cut:])  # an empty read changes nothing
        text = [t for piece in pieces for t in decoder.receive(piece)] + decoder.finish()
        assert "".join(text) == TEXT, cut


def test_same_text_as_llms_own_openai_client(raw, declare, monkeypatch):
    """A stream holding raw U+2028 and friends prints the same through llm's
    own OpenAI client (OPENAI_BASE_URL points it at the same server)."""
    server = raw(lambda: sse(*map(delta, words(TEXT)), "[DONE]"))
    declare(server)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    theirs = llm.get_model("gpt-4o-mini").prompt("hi").text()
    assert sync_text() == theirs == TEXT


# -- the end of a stream ----------------------------------------------------------------


@both
@pytest.mark.parametrize("preset", ["openai-chat", "ollama-chat", "anthropic-messages"])
def test_reading_stops_at_the_end_although_the_server_holds_on(raw, declare, run, preset):
    """[DONE], done_when and a done event end the reply: the client closes
    the connection at once, instead of waiting for the server (30 s here)."""
    pieces = {
        "openai-chat": sse(delta("all "), delta("done"), "[DONE]"),
        "ollama-chat": ndjson(ollama("all "), ollama("done"), ollama("", done=True)),
        "anthropic-messages": anthropic(anthropic_reply("all done")),
    }[preset]
    server = raw(pieces, hold=30)
    declare(server, preset, timeout=60)
    assert RUN[run]() == "all done"
    for _ in range(500):  # the server notices the close (bounded)
        if server.closed_by_client:
            break
        threading.Event().wait(0.01)
    assert server.closed_by_client == [True]


def test_a_complete_stream_keeps_its_connection(declare):
    """Stopping at the end still reads a body's end that is already there,
    so the connection goes back to the pool (sync and async)."""
    from fakeapi import FakeAPI

    with FakeAPI() as api:
        declare(api, base_url=api.url + "/v1")
        assert [sync_text() for _ in range(3)] == ["Hello from the fake API"] * 3

        async def batch():
            model = llm.get_async_model("m")
            return [await model.prompt("hi").text() for _ in range(3)]

        assert asyncio.run(batch()) == ["Hello from the fake API"] * 3
        assert api.connections_made == 2


# -- pace -------------------------------------------------------------------------------


def pings(comment: bytes, every=0.2, seconds=20.0):
    return lambda: [p for _ in range(int(seconds / every)) for p in (comment, every)]


@both
@pytest.mark.parametrize(
    "preset,ping",
    [
        ("openai-chat", b": ping\n\n"),
        ("anthropic-messages", b'event: ping\ndata: {"type": "ping"}\n\n'),
    ],
    ids=["comment", "ping-event"],
)
def test_keepalives_do_not_reset_the_pace(raw, declare, run, preset, ping):
    """Only keep-alives, each well inside the read timeout: a timeout after
    ``timeout`` seconds (before: until the server gave up, 20 s here)."""
    url = declare(raw(pings(ping)), preset, timeout=1)
    assert failure(run) == (
        f"m: timed out waiting for {url} after 1s: the reply is arriving too slowly"
    )


# -- size -------------------------------------------------------------------------------


@functools.cache
def bomb() -> bytes:
    return gzip.compress(b"\0" * (256 * 2**20))  # 256 MiB in about 260 KB


@both
def test_a_gzip_bomb_is_stopped_in_bounded_memory(raw, declare, run):
    url = declare(
        raw([bomb()], kind="application/json", chunked=False, headers={"Content-Encoding": "gzip"}),
        max_reply_bytes=2**20,
    )
    tracemalloc.start()
    try:
        message = failure(run, stream=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (
        message
        == f"m: reply from {url} is larger than 1048576 bytes (max_reply_bytes), decompressed"
    )
    assert peak < 24 * 2**20


@both
def test_data_lines_without_a_blank_line_are_bounded(raw, declare, run):
    line = b"data: " + b"x" * 1000 + b"\n"
    url = declare(raw(lambda: [line * 100] * 30), max_reply_bytes=2 * 10**6)
    assert failure(run) == (
        f"m: reply from {url} is larger than 2000000 bytes (max_reply_bytes), decompressed"
    )


def test_the_reply_limit_defaults_to_64_mib(tmp_path):
    config = HttpConfig.from_data({"preset": "openai-chat", "base_url": "http://x"}, tmp_path)
    assert config.max_reply_bytes == 64 * 2**20


@pytest.mark.parametrize(
    "line,message",
    [
        ("max_reply_bytes: 0", "0 is less than the minimum of 1"),
        ("max_reply_bytes: lots", "'lots' is not of type 'integer'"),
        ("timeout: 1.0e+10", "10000000000.0 is greater than the maximum of 86400"),
    ],
)
def test_limits_are_validated_at_their_line(write, run_llm, line, message):
    path = write(
        "m.yaml",
        f"""\
        - model_id: m
          backend:
            type: http
            preset: openai-chat
            base_url: http://127.0.0.1:9
            {line}
        """,
    )
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    key = line.split(":")[0]
    assert result.stdout.splitlines()[0] == f"{path}:6:{7 + len(key)}: [0].backend.{key}: {message}"


# -- HTML -------------------------------------------------------------------------------


@both
def test_an_html_page_to_a_streamed_request_says_so(raw, declare, run):
    page = b"<!doctype html><html><body>Please sign in to continue</body></html>"
    url = declare(raw([page], kind="text/html; charset=utf-8"))
    assert failure(run) == (
        f"m: reply from {url} is an HTML page, not a stream: "
        "'<!doctype html><html><body>Please sign in to continue</body></html>'"
    )


# -- tool calls -------------------------------------------------------------------------


def llm_version() -> str:
    """The version of llm."""
    return "0.36"


def tool_deltas(*fragments) -> list[bytes]:
    chunks = [{"choices": [{"index": 0, "delta": {"tool_calls": [f]}}]} for f in fragments]
    return sse(*chunks, "[DONE]")


@both
def test_a_tool_name_repeated_in_every_delta_is_taken_once(raw, declare, run):
    call = {"index": 0, "id": "call_1", "type": "function"}
    fragments = [
        {**call, "function": {"name": "llm_version", "arguments": ""}},
        {**call, "function": {"name": "llm_version", "arguments": "{"}},
        {**call, "function": {"name": "llm_version", "arguments": "}"}},
    ]
    declare(raw(tool_deltas(*fragments)), model={"supports_tools": True})

    async def arun():
        response = llm.get_async_model("m").prompt("hi", tools=[llm_version])
        await response.text()
        return await response.tool_calls()

    def srun():
        response = llm.get_model("m").prompt("hi", tools=[llm_version])
        response.text()
        return response.tool_calls()

    (found,) = srun() if run == "sync" else asyncio.run(arun())
    assert (found.name, found.arguments, found.tool_call_id) == ("llm_version", {}, "call_1")


MALFORMED_TOOL_CALLS = {
    "not-a-list": ("x", "tool calls in the reply from {url} are not a list"),
    "not-an-object": ([1], "a tool call in the reply from {url} is not an object"),
    "function-not-an-object": (
        [{"function": "llm_version"}],
        "a tool call in the reply from {url} is not an object",
    ),
    "index-not-an-integer": (
        [{"index": {}, "function": {"name": "x"}}],
        "a tool call in the reply from {url}: index is not an integer",
    ),
    "arguments-a-number": (
        [{"index": 0, "function": {"name": "x", "arguments": 5}}],
        "a tool call in the reply from {url}: function.arguments is not a string",
    ),
    "name-a-list": (
        [{"index": 0, "function": {"name": ["x"]}}],
        "a tool call in the reply from {url}: function.name is not a string",
    ),
}


@both
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
@pytest.mark.parametrize("case", MALFORMED_TOOL_CALLS)
def test_malformed_tool_calls_are_a_model_error(raw, declare, run, stream, case):
    calls, message = MALFORMED_TOOL_CALLS[case]
    if stream:
        server = raw(sse({"choices": [{"index": 0, "delta": {"tool_calls": calls}}]}, "[DONE]"))
    else:
        reply = {"choices": [{"message": {"content": None, "tool_calls": calls}}]}
        server = raw([json.dumps(reply).encode()], kind="application/json")
    url = declare(server, model={"supports_tools": True})
    assert failure(run, stream=stream) == "m: " + message.format(url=url)


# -- Anthropic usage --------------------------------------------------------------------


@both
@pytest.mark.parametrize(
    "start,delta_usage,expected",
    [
        ({"input_tokens": 0}, {"input_tokens": 7, "output_tokens": 3}, 7),  # LiteLLM
        ({"input_tokens": 7}, {"input_tokens": 0, "output_tokens": 3}, 7),
        ({"input_tokens": 7}, {"output_tokens": 3}, 7),  # Anthropic
        ({"input_tokens": 5}, {"input_tokens": 9, "output_tokens": 3}, 9),
    ],
)
def test_anthropic_input_tokens_the_last_non_zero_wins(
    raw, declare, run, start, delta_usage, expected
):
    declare(raw(anthropic(anthropic_reply("hello", start, delta_usage))), "anthropic-messages")

    async def arun():
        response = llm.get_async_model("m").prompt("hi")
        await response.text()
        return await response.usage()

    def srun():
        response = llm.get_model("m").prompt("hi")
        response.text()
        return response.usage()

    usage = srun() if run == "sync" else asyncio.run(arun())
    assert (usage.input, usage.output) == (expected, 3)


# -- replies the paths cannot read --------------------------------------------------------


@both
@pytest.mark.parametrize("content", [None, [{"type": "text", "text": 5}]], ids=["null", "number"])
def test_a_jmespath_type_error_is_a_model_error(raw, declare, run, content):
    reply = {"id": "msg_1", "content": content, "usage": {"input_tokens": 1, "output_tokens": 1}}
    url = declare(raw([json.dumps(reply).encode()], kind="application/json"), "anthropic-messages")
    if content is None:  # what is missing is named (issue 21)
        assert failure(run, stream=False) == f"m: nothing at 'content' in the reply from {url}"
        return
    assert failure(run, stream=False) == (
        f"m: cannot apply 'join('', content[?type=='text'].text)' to the reply from {url}: "
        "In function join(), invalid type for value: 5, "
        "expected one of: ['array-string'], received: \"int\""
    )


DEEP = b"[" * 100_000 + b"]" * 100_000


@both
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_json_nested_100000_deep_is_a_model_error(raw, declare, run, stream):
    pieces = [b"data: " + DEEP + b"\n\n"] if stream else [DEEP]
    url = declare(raw(pieces, kind="text/event-stream" if stream else "application/json"))
    assert failure(run, stream=stream) == f"m: reply from {url} is JSON nested too deeply to read"


def test_an_unforeseen_failure_is_a_model_error_naming_what_happened(raw, declare, monkeypatch):
    """Whatever escapes the decoder still ends as this model's one line."""
    from llm_yaml_models.backends.http import decode as http_wire

    url = declare(raw(sse(delta("hi"), "[DONE]")))
    monkeypatch.setattr(http_wire.Decoder, "event", lambda *a: (_ for _ in ()).throw(MemoryError()))
    assert failure("sync") == f"m: request to {url} failed: MemoryError"


# -- one line, safe for a terminal --------------------------------------------------------

HOSTILE = "litellm.BadRequestError: bad\nrequest\r\x1b[2J\x1b]52;c;aGk=\x07 \x9b31m\u202eevil\u200b"
ESCAPED = (
    r"litellm.BadRequestError: bad\nrequest\r\x1b[2J\x1b]52;c;aGk=\x07 \x9b31m\u202eevil\u200b"
)


def test_printable_escapes_every_control_and_invisible_character():
    assert printable(HOSTILE) == ESCAPED
    assert printable("tab\tstays, é and 日本 too") == "tab\tstays, é and 日本 too"
    assert str(BackendError("m", HOSTILE)) == "m: " + ESCAPED
    assert str(BackendError("m", "")) == "m: failed, saying nothing"


def test_a_provider_message_is_one_line_on_the_terminal(raw, declare, run_llm):
    server = raw([json.dumps({"error": {"message": HOSTILE}}).encode()], kind="application/json")
    server.status = 400
    url = declare(server)
    result = run_llm("-m", "m", "hi")
    assert result.exit_code == 1
    assert result.stderr == f"Error: m: HTTP 400 from {url}: {ESCAPED}\n"


@both
def test_an_error_event_is_one_line_through_the_python_api(raw, declare, run):
    url = declare(raw(sse({"error": {"message": HOSTILE}})))
    assert failure(run) == f"m: error from {url}: {ESCAPED}"


# -- usage values -------------------------------------------------------------------------


@both
def test_usage_values_logs_db_cannot_hold_are_dropped_with_a_warning(
    raw, declare, run, run_llm, user_dir, capsys
):
    usage = {"prompt_tokens": "lots", "completion_tokens": 10**30}
    url = declare(
        raw(lambda: sse(delta("hi"), {"id": "c1", "choices": [], "usage": usage}, "[DONE]"))
    )
    args = ["-m", "m", "hi"] + (["--async"] if run == "async" else [])
    result = run_llm(*args)
    assert (result.exit_code, result.stdout) == (0, "hi\n")
    assert result.stderr == (
        f"llm-yaml-models: warning: m: usage from {url} is not a token count, not logged: "
        "input 'lots', output 1000000000000000000000000000000\n"
    )
    logs = run_llm("logs", "--json", "-n", "1")
    (row,) = json.loads(logs.stdout)
    assert (row["input_tokens"], row["output_tokens"], row["response"]) == (None, None, "hi")
    assert row["response_json"] == {"id": "c1"}
    logs = run_llm("logs", "-u", "-n", "1")
    assert logs.exit_code == 0
    assert "hi" in logs.stdout


@pytest.mark.parametrize(
    "value,shown",
    [
        (-1, "-1"),
        (2.5, "2.5"),
        (True, "True"),
        (2**63, str(2**63)),
        ("x" * 100, "'" + "x" * 39 + "..."),
    ],
)
def test_only_counts_sqlite_can_hold_are_kept(raw, declare, value, shown, capsys):
    usage = {"prompt_tokens": value, "completion_tokens": 2**63 - 1}
    url = declare(raw(lambda: sse(delta("hi"), {"choices": [], "usage": usage}, "[DONE]")))
    response = llm.get_model("m").prompt("hi")
    assert response.text() == "hi"
    assert (response.usage().input, response.usage().output) == (None, 2**63 - 1)
    assert capsys.readouterr().err == (
        f"llm-yaml-models: warning: m: usage from {url} is not a token count, not logged: "
        f"input {shown}\n"
    )


# -- found in review ---------------------------------------------------------------------


@both
def test_a_body_that_breaks_off_after_done_fails_nothing(raw, declare, run):
    """Reading the body's end after [DONE] is best effort: the reply is whole."""
    declare(raw(sse(delta("hi"), "[DONE]"), end=False))
    assert RUN[run]() == "hi"


def test_the_usage_warning_stars_a_password_in_the_url(raw, declare, run_llm, monkeypatch):
    monkeypatch.setenv("PROXY_PASSWORD", "s3cret-pass")
    usage = {"prompt_tokens": "lots", "completion_tokens": 2}
    server = raw(lambda: sse(delta("hi"), {"choices": [], "usage": usage}, "[DONE]"))
    port = server.url.rpartition(":")[2]
    declare(server, base_url=f"http://alice:${{PROXY_PASSWORD}}@127.0.0.1:{port}")
    result = run_llm("-m", "m", "hi")
    assert (result.exit_code, result.stdout) == (0, "hi\n")
    assert "s3cret-pass" not in result.stderr
    assert result.stderr == (
        f"llm-yaml-models: warning: m: usage from http://alice:***@127.0.0.1:{port}"
        "/chat/completions is not a token count, not logged: input 'lots'\n"
    )


@both
def test_an_attachment_that_cannot_be_read_is_a_model_error(raw, declare, run):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    server = raw(b"{}", kind="application/json")
    declare(server, preset="ollama-chat", model={"attachment_types": ["image/png"]})
    picture = llm.Attachment(url=f"http://127.0.0.1:{port}/cat.png", type="image/png")
    assert failure(run, attachments=[picture]) == (
        "m: cannot build the request: ConnectError: [Errno 111] Connection refused"
    )
    assert server.requests == []


def test_execute_closes_the_backend_stream_when_llm_stops_reading(write):
    # Sync and async alike: a reader that stops early (a closed pipe, Ctrl-C)
    # lets go of the backend's stream, and with it the HTTP response, at once.
    backend = '{type: http, url: "http://127.0.0.1:9/x", response: {text: out}}'
    write("gen.yaml", f"- model_id: gen\n  backend: {backend}\n")
    closed = []

    class Backend:
        def close(self):
            pass

        def stream(self, request):
            try:
                yield from ("a", "b")
            finally:
                closed.append("sync")

        async def astream(self, request):
            try:
                for chunk in ("a", "b"):
                    yield chunk
            finally:
                closed.append("async")

    model = llm.get_model("gen")
    model._backends["backend"] = Backend()
    chunks = model.execute(llm.Prompt("hi", model=model), True, None, None)
    next(chunks)
    chunks.close()

    async def run_async():
        model = llm.get_async_model("gen")
        model._backends["backend"] = Backend()
        chunks = model.execute(llm.Prompt("hi", model=model), True, None, None)
        await chunks.__anext__()
        await chunks.aclose()
        return list(closed)  # before the event loop's shutdown closes leftovers

    assert closed == ["sync"]
    assert asyncio.run(run_async()) == ["sync", "async"]


def test_a_path_a_hundred_steps_deep_is_read_by_jmespath():
    # The compiled reader nests one block a step: past Python's limit, each
    # path is looked up on its own.
    from llm_yaml_models.backends.http.jmespaths import compile_path

    expr = ".".join(f"f{i}" for i in range(120))
    data = node = {}
    for i in range(119):
        node[f"f{i}"] = node = {}
    node["f119"] = "deep"
    assert compile_path(expr)(data) == "deep"


# -- what real servers send, on the families added since ---------------------------------


def _gemini_chunk(text: str, **extra) -> dict:
    candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    return {"candidates": [{**candidate, **extra}]}


def _responses_events(text: str) -> list[tuple[str, dict]]:
    deltas = [
        ("response.output_text.delta", {"type": "response.output_text.delta", "delta": w})
        for w in words(text)
    ]
    done = {
        "type": "response.completed",
        "response": {"id": "resp_1", "status": "completed", "usage": USAGE_LATE_RESPONSES},
    }
    return [*deltas, ("response.completed", done)]


USAGE_LATE_RESPONSES = {"input_tokens": 5, "output_tokens": 9}


def _odd(preset: str) -> tuple[list[bytes], dict]:
    """A stream of TEXT (raw U+2028 and friends) in the family's shape, CRLF
    line ends, a keep-alive comment between events, usage only in the last."""
    keep = b": keep-alive\r\n\r\n"
    if preset == "gemini":
        chunks = [_gemini_chunk(w) for w in words(TEXT)]
        usage = {"promptTokenCount": 5, "candidatesTokenCount": 9}
        chunks.append({**_gemini_chunk("", finishReason="STOP"), "usageMetadata": usage})
        events = sse(*chunks, end="\r\n")
    elif preset == "openai-responses":
        events = [
            f"event: {name}\r\ndata: {json.dumps(data, ensure_ascii=False)}\r\n\r\n".encode()
            for name, data in _responses_events(TEXT)
        ]
    elif preset == "openai-completions":
        chunks = [{"choices": [{"index": 0, "text": w}]} for w in words(TEXT)]
        late = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}}
        events = sse(*chunks, late, "[DONE]", end="\r\n")
    else:  # azure-openai: openai-chat's shapes
        late = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}}
        events = sse(*map(delta, words(TEXT)), late, "[DONE]", end="\r\n")
    pieces = [piece for event in events for piece in (event, keep)]
    extra = {"api_version": "2024-10-21"} if preset == "azure-openai" else {}
    return pieces, {**extra, "model_name": "served"}


@both
@pytest.mark.parametrize(
    "preset", ["gemini", "openai-responses", "openai-completions", "azure-openai"]
)
def test_the_new_families_read_what_real_servers_send(raw, write, run, preset):
    pieces, backend = _odd(preset)
    server = raw(cut_after_each_cr(pieces))
    spec = {"type": "http", "preset": preset, "base_url": server.url, "retries": 0, **backend}
    write("m.yaml", yaml.safe_dump([{"model_id": "m", "backend": spec}]))
    if run == "sync":
        response = llm.get_model("m").prompt("hi")
        assert response.text() == TEXT
        assert (response.input_tokens, response.output_tokens) == (5, 9)
    else:
        assert RUN[run]() == TEXT

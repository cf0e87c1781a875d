"""Reliability and security: servers that fail, load, secrets, hostile config.

What tests/test_http.py already checks (messages of most failures, retries,
redirects) is not repeated here; this file adds what it lacks: connect
timeouts, resets and stalls in the middle of a stream, trickling and huge
replies, that no failure leaks a file descriptor, a load test against a
server that fails at random, every place a key could leak to, and code named
by files that others can write. docs/reliability.md maps each case of the
issue to its test.

Every server is a real one on 127.0.0.1; nothing here times anything.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import sqlite3
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import llm
import pytest
from conftest import LLM_EXE
from fakeapi import REPLY, FakeAPI, openai_json, openai_sse

from llm_yaml_models import registry
from llm_yaml_models.backends.http import send as http

# -- helpers -------------------------------------------------------------------------


def open_fds() -> int:
    """How many file descriptors this process has open."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def settle(*servers: FakeAPI) -> None:
    """Wait (boundedly) until each server has seen every connection close:
    the server's own sockets are in this process too."""
    for _ in range(1000):
        if all(s.open_connections == 0 for s in servers):
            return
        time.sleep(0.01)


def released(*servers: FakeAPI, down_to: int) -> int:
    """Close every client the plugin holds, let the servers notice, and
    count the descriptors left open. A server counts a connection closed a
    moment before its loop closes the socket, so the count is given up to
    2 s to fall to ``down_to``: a real leak stays above it."""
    registry.forget()
    settle(*servers)
    for server in servers:
        assert server.open_connections == 0
    for _ in range(200):
        if (count := open_fds()) <= down_to:
            break
        time.sleep(0.01)
    return count


def closed_port() -> int:
    """A port nothing listens on: bound, then closed."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def sse_text(body: bytes) -> str:
    """The text of the complete OpenAI SSE events in ``body``."""
    text = ""
    for block in body.decode().split("\n\n")[:-1]:
        data = block.removeprefix("data: ")
        if data != "[DONE]":
            choices = json.loads(data)["choices"]
            text += (choices[0]["delta"].get("content") or "") if choices else ""
    return text


class RelAPI(FakeAPI):
    """FakeAPI with three more faults, and an ordered log of what it did:
    ("in", n) when request n arrived and ("out", n, status) once answered.

    - ``truncated``: a streamed reply that ends cleanly, without ``[DONE]``;
    - ``stall``: half the stream, then nothing for ``seconds``, then a close;
    - ``rst``: half the stream, then a TCP reset (SO_LINGER 0).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.events: list[tuple] = []
        self.arrived: list[float] = []  # time.monotonic() as each request came in
        self.status: int | None = None

    async def _answer(self, request, writer) -> bool:
        n = len(self.requests) - 1
        self.events.append(("in", n))
        self.arrived.append(time.monotonic())
        self.status = 200
        keep = await super()._answer(request, writer)
        self.events.append(("out", n, self.status))
        return keep

    def _write(self, writer, status, body, kind, headers=None, chunked=False) -> None:
        self.status = status
        super()._write(writer, status, body, kind, headers, chunked)

    async def _misbehave(self, fault, writer, streaming, kind, body) -> bool:
        half = body[: len(body) // 2]
        if fault.kind == "truncated":
            self._write(writer, 200, body.replace(b"data: [DONE]\n\n", b""), kind, chunked=True)
            return True
        if fault.kind in ("stall", "rst"):
            head = self._head(200, kind, {"Transfer-Encoding": "chunked"})
            writer.write(head + f"{len(half):x}\r\n".encode() + half + b"\r\n")
            await writer.drain()
            if fault.kind == "stall":
                await asyncio.sleep(fault.seconds)
            else:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        return await super()._misbehave(fault, writer, streaming, kind, body)


@pytest.fixture
def hung_port():
    """A port whose connections hang: it listens with a backlog of 0 and never
    accepts, and a few raw connections fill its queue, so the kernel drops the
    next SYN and a connect waits until its timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()


# -- servers that fail ----------------------------------------------------------------

RELIABILITY = """\
- model_id: rel
  backend:
    type: http
    preset: openai-chat
    base_url: ${FAKE_URL}/v1
    retries: 2
    timeout: 1
- model_id: rel-ol
  backend: {type: http, preset: ollama-chat, base_url: "${FAKE_URL}", retries: 2, timeout: 1}
- model_id: rel-dead
  backend:
    type: http
    preset: openai-chat
    base_url: http://127.0.0.1:${DEAD_PORT}/v1
    retries: 0
- model_id: rel-hung
  backend:
    type: http
    preset: openai-chat
    base_url: http://127.0.0.1:${HUNG_PORT}/v1
    retries: 0
    timeout: 0.5
"""


@pytest.fixture
def rel(write, monkeypatch, hung_port):
    with RelAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        monkeypatch.setenv("DEAD_PORT", str(closed_port()))
        monkeypatch.setenv("HUNG_PORT", str(hung_port))
        write("reliability.yaml", RELIABILITY)
        yield server


HALF_SSE = sse_text(openai_sse(REPLY)[: len(openai_sse(REPLY)) // 2])
HUGE = "x" * (10 * 1024 * 1024)
OA = "{url}/v1/chat/completions"
NO_STREAM = ("--no-stream",)

# id: (model, faults, extra llm arguments, requests the server gets,
#      stdout, stderr); "{url}" is the server's base URL, {dead}/{hung} the
#      dead and hung ports. An exit status of 1 goes with every "Error:".
FAILURES = {
    "500-then-success": ("rel", [{"kind": "status", "status": 500}], (), 2, REPLY + "\n", ""),
    "429-retry-after-then-success": (
        "rel",
        [{"kind": "status", "status": 429, "headers": {"Retry-After": "1"}}],
        (),
        2,
        REPLY + "\n",
        "",
    ),
    "503-forever": (
        "rel",
        [{"kind": "status", "status": 503, "times": 10}],
        (),
        3,  # retries: 2, plus the first try
        "",
        f"Error: rel: HTTP 503 from {OA}: fake failure 503\n",
    ),
    "connection-refused": (
        "rel-dead",
        [],
        (),
        0,
        "",
        "Error: rel-dead: cannot connect to http://127.0.0.1:{dead}/v1/chat/completions: "
        "connection refused\n",
    ),
    "connect-timeout": (
        "rel-hung",
        [],
        (),
        0,
        "",
        "Error: rel-hung: timed out connecting to http://127.0.0.1:{hung}/v1/chat/completions "
        "after 0.5s\n",
    ),
    "read-timeout-mid-stream": (
        "rel",
        [{"kind": "stall", "seconds": 2}],
        (),
        1,
        HALF_SSE,
        f"Error: rel: timed out waiting for {OA} after 1s\n",
    ),
    "reset-mid-stream": (
        "rel",
        [{"kind": "rst"}],
        (),
        1,
        HALF_SSE,
        f"Error: rel: connection to {OA} broke off: [Errno 104] Connection reset by peer\n",
    ),
    "reset-before-the-reply": (
        "rel",
        [{"kind": "reset"}],
        (),
        1,
        "",
        f"Error: rel: connection to {OA} broke off: "
        "Server disconnected without sending a response.\n",
    ),
    "cut-mid-stream": (
        "rel",
        [{"kind": "cut"}],
        (),
        1,
        HALF_SSE,
        f"Error: rel: connection to {OA} broke off: peer closed connection without sending "
        "complete message body (incomplete chunked read)\n",
    ),
    "truncated-sse": (
        "rel",
        [{"kind": "truncated"}],
        (),
        1,
        REPLY,
        f"Error: rel: stream from {OA} ended before it was complete\n",
    ),
    "sse-data-not-json": (
        "rel",
        [{"kind": "bad_sse"}],
        (),
        1,
        "",
        f"Error: rel: reply from {OA} is not JSON: '{{{{not json'\n",
    ),
    "ndjson-partial-last-line": (
        "rel-ol",
        [{"kind": "partial_ndjson"}],
        (),
        1,
        REPLY,
        "Error: rel-ol: stream from {url}/api/chat ended in the middle of a line\n",
    ),
    "200-with-error-field": (
        "rel",
        [{"kind": "error_field"}],
        NO_STREAM,
        1,
        "",
        f"Error: rel: error from {OA}: model overloaded\n",
    ),
    "invalid-utf8": (
        "rel",
        [{"kind": "bad_utf8"}],
        NO_STREAM,
        1,
        "",
        f"Error: rel: reply from {OA} is not valid UTF-8 (byte 38)\n",
    ),
    # --no-log: llm's own sync logging (condense_json) takes ~20 s over 10 MB
    "10-mb-reply": ("rel", [{"kind": "huge"}], (*NO_STREAM, "--no-log"), 1, HUGE + "\n", ""),
    "trickle": (
        "rel",
        [{"kind": "trickle", "seconds": 0.4}],
        (),
        1,
        "",
        f"Error: rel: timed out waiting for {OA} after 1s: the reply is arriving too slowly\n",
    ),
    "trickle-no-stream": (
        "rel",
        [{"kind": "trickle", "seconds": 0.4}],
        NO_STREAM,
        1,
        "",
        f"Error: rel: timed out waiting for {OA} after 1s: the reply is arriving too slowly\n",
    ),
}


@pytest.mark.parametrize("api", ["sync", "async"])
@pytest.mark.parametrize("case", FAILURES)
def test_a_failing_server_is_one_line_and_leaks_no_descriptor(rel, run_llm, case, api):
    model_id, faults, args, requests, stdout, stderr = FAILURES[case]
    for fault in faults:
        rel.fail_next(**fault)
    before = open_fds()
    result = run_llm("-m", model_id, "hi", *args, *(("--async",) if api == "async" else ()))
    after = released(rel, down_to=before)
    ports = {"url": rel.url, "dead": os.environ["DEAD_PORT"], "hung": os.environ["HUNG_PORT"]}
    expected = stderr.format(**ports)
    assert (result.exit_code, result.stderr) == (1 if expected else 0, expected)
    assert result.stdout == stdout
    assert "Traceback" not in result.output
    assert len(rel.requests) == requests
    assert after == before


@pytest.mark.parametrize("api", ["sync", "async"])
def test_429_the_retry_comes_after_the_answer(rel, api):
    rel.fail_next("status", status=429, headers={"Retry-After": "1"})
    if api == "sync":
        assert llm.get_model("rel").prompt("hi").text() == REPLY
    else:

        async def run():
            return await llm.get_async_model("rel").prompt("hi").text()

        assert asyncio.run(run()) == REPLY
    # The retry arrives only after the 429 went out. (The server notes its
    # last answer after writing it, so the client may finish first.)
    assert rel.events[:3] == [("in", 0), ("out", 0, 429), ("in", 1)]
    assert rel.requests[0].json == rel.requests[1].json
    # It waited as asked: a lower bound, which no slowness of the machine breaks.
    waited = rel.arrived[1] - rel.arrived[0]
    assert waited >= 0.95, f"retried after {waited:.3f} s"


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_connect_timeout_through_the_python_api(rel, api):
    url = f"http://127.0.0.1:{os.environ['HUNG_PORT']}/v1/chat/completions"
    before = open_fds()
    with pytest.raises(llm.ModelError) as caught:
        if api == "sync":
            llm.get_model("rel-hung").prompt("hi").text()
        else:

            async def run():
                return await llm.get_async_model("rel-hung").prompt("hi").text()

            asyncio.run(run())
    assert str(caught.value) == f"rel-hung: timed out connecting to {url} after 0.5s"
    assert released(rel, down_to=before) == before


# -- under load -------------------------------------------------------------------------

LOAD = """\
- model_id: load
  backend:
    type: http
    preset: openai-chat
    base_url: ${FAKE_URL}/v1
    retries: 2
    max_connections: 100
"""
PROMPTS, IN_FLIGHT = 1000, 100


async def prompt_all(model, count: int, in_flight: int) -> list:
    """Each prompt's text, or the llm.ModelError it raised (anything else
    escapes and fails the test)."""
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int):
        async with gate:
            try:
                return await model.prompt(f"prompt {i}").text()
            except llm.ModelError as exc:
                return exc

    return await asyncio.gather(*(one(i) for i in range(count)))


def test_1000_async_prompts_against_a_server_failing_10_percent(write, monkeypatch):
    with FakeAPI(fail_rate=0.1, seed=7) as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        write("load.yaml", LOAD)
        model = llm.get_async_model("load")
        before = open_fds()
        outcomes = asyncio.run(prompt_all(model, PROMPTS, IN_FLIGHT))
        after = released(server, down_to=before)
    succeeded = [o for o in outcomes if o == REPLY]
    failed = [o for o in outcomes if isinstance(o, llm.ModelError)]
    print(
        f"\n{len(succeeded)} succeeded, {len(failed)} failed cleanly; "
        f"{len(server.requests)} requests, {server.failed} answered 503, "
        f"peak {server.peak_connections} connections"
    )
    assert len(succeeded) + len(failed) == PROMPTS
    url = f"{server.url}/v1/chat/completions"
    assert {str(e) for e in failed} <= {f"load: HTTP 503 from {url}: fake failure 503"}
    # every 503 was retried, unless it was a prompt's third: 1000 first tries,
    # plus one retry per 503, less the last 503 of each prompt that gave up
    assert len(server.requests) == PROMPTS + server.failed - len(failed)
    assert server.failed > 0
    assert {r.json["messages"][0]["content"] for r in server.requests} == {
        f"prompt {i}" for i in range(PROMPTS)
    }
    assert server.peak_connections <= IN_FLIGHT
    assert after == before


# -- secrets ------------------------------------------------------------------------------

KEY = "sk-SENTINEL-0123456789"
OPENAI_SENTINEL = "sk-OPENAI-SENTINEL-9876543210"

SECRETS = """\
- model_id: sec
  key: {name: sec, env: SEC_KEY}
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1", retries: 0}
- model_id: sec-an
  key: {name: sec-an, env: SEC_KEY}
  backend: {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1", retries: 0}
- model_id: sec-everywhere
  key: {name: sec-everywhere, env: SEC_KEY}
  backend:
    type: http
    url: "${FAKE_URL}/k/{{ key }}/generic"
    params: {api_key: "{{ key }}"}
    headers: {X-Token: "tok-{{ key }}"}
    body: {input: "{{ prompt }}", auth: "{{ key }}"}
    response: {text: output.text, finish_reason: stop, usage: {input: tokens."in"}}
    retries: 0
- model_id: sec-py
  key: {name: sec-py, env: SEC_KEY}
  backend: {type: python, callable: ./secret.py:echo}
- model_id: sec-py-reject
  key: {name: sec-py-reject, env: SEC_KEY}
  backend: {type: python, callable: ./secret.py:reject}
- model_id: sec-clear
  key: {name: sec-clear, env: SEC_KEY}
  backend: {type: http, preset: openai-chat, base_url: "http://models.example.com/v1"}
- model_id: sec-env
  key: {name: sec-env, env: SEC_KEY}
  backend:
    type: http
    preset: openai-chat
    base_url: "${FAKE_URL}/v1"
    headers: {X-Extra: "{{ env.SEC_KEY }}"}
"""
SECRET_PY = """\
def echo(request):
    return f"a key of {len(request.key)} characters"


def reject(request):
    raise ValueError(f"rejected key {request.key}")
"""


@pytest.fixture
def secrets(write, monkeypatch):
    monkeypatch.setenv("SEC_KEY", KEY)
    monkeypatch.setattr(http, "_WARNED_CLEAR", set())
    with FakeAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        write("secret.py", SECRET_PY)
        write("secrets.yaml", SECRETS)
        yield server


def database_text(path: Path) -> str:
    """Every value of every column of every table in an SQLite file."""
    db = sqlite3.connect(path)
    try:
        tables = [
            row[0] for row in db.execute("select name from sqlite_master where type = 'table'")
        ]
        values = []
        for table in tables:
            for row in db.execute(f'select * from "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    values.append(str(value))
    finally:
        db.close()
    return "\n".join(values)


def test_the_key_is_nowhere_in_output_errors_warnings_or_logs_db(
    secrets, run_llm, llm_exe, user_dir
):
    url = secrets.url
    outputs = []

    def run(*args, exit_code=0, stderr=None):
        result = run_llm(*args)
        outputs.append(result.output)
        assert result.exit_code == exit_code, result.output
        if stderr is not None:
            assert result.stderr == stderr
        return result

    for model_id in ("sec", "sec-an", "sec-everywhere", "sec-py"):
        for flags in ((), ("--no-stream",), ("--async",)):
            run("-m", model_id, "hi", *flags)
    run("-m", "sec", "hi", "--key", KEY)
    echoed = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}."}})
    secrets.fail_next("status", status=401, body=echoed.encode())
    run(
        "-m",
        "sec",
        "hi",
        exit_code=1,
        stderr=f"Error: sec: HTTP 401 from {url}/v1/chat/completions: "
        "Incorrect API key provided: ***.\n",
    )
    secrets.fail_next("status", status=403, body=f"<html>forbidden: {KEY}</html>".encode())
    run(
        "-m",
        "sec-an",
        "hi",
        "--async",
        exit_code=1,
        stderr=f"Error: sec-an: HTTP 403 from {url}/v1/messages: <html>forbidden: ***</html>\n",
    )
    secrets.fail_next("status", status=200, body=f"<html>{KEY}</html>".encode())
    run(
        "-m",
        "sec-everywhere",
        "hi",
        exit_code=1,
        stderr=f"Error: sec-everywhere: reply from {url}/k/***/generic is not JSON: "
        "'<html>***</html>'\n",
    )
    for model_id in ("sec", "sec-an", "sec-everywhere", "sec-clear", "sec-env"):
        run("yaml-models", "request", model_id, "hi")
        run("yaml-models", "show", model_id)
    for args in (
        ("logs", "-n", "0"),
        ("logs", "-n", "0", "--json"),
        ("models", "list", "--options"),
        ("yaml-models", "list", "--json"),
        ("yaml-models", "validate"),
    ):
        run(*args)
    # and a real process: its whole stderr, warnings included
    (user_dir / "yaml-models").mkdir()
    (user_dir / "yaml-models" / "broken.yaml").write_text("- model_id: [\n")
    for args in (
        ("-m", "sec", "hi"),
        ("models", "list"),
        ("yaml-models", "request", "sec-clear", "hi"),
    ):
        result = llm_exe(*args)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    assert "llm-yaml-models: skipped" in outputs[-2]
    stored = database_text(user_dir / "logs.db")
    assert REPLY in stored and "a key of 22 characters" in stored  # the scan reads the log
    for text in [*outputs, stored]:
        assert KEY not in text
    assert secrets.last.headers["authorization"] == f"Bearer {KEY}"  # the server did get it


def test_a_key_cut_in_two_by_the_length_limit_leaves_no_piece(secrets, run_llm):
    """Error messages quote at most 200 characters of an error reply (80 of a
    reply that is not JSON): the key must be starred before the cut, or its
    first characters are shown."""
    url = f"{secrets.url}/v1/chat/completions"
    secrets.fail_next("status", status=401, body=("x" * 190 + KEY + "y" * 20).encode())
    result = run_llm("-m", "sec", "hi")
    assert result.stderr == f"Error: sec: HTTP 401 from {url}: {'x' * 190}***{'y' * 7}\n"
    secrets.fail_next("status", status=200, body=("<" + "x" * 70 + KEY).encode())
    result = run_llm("-m", "sec", "hi", "--no-stream")
    assert result.stderr == f"Error: sec: reply from {url} is not JSON: '<{'x' * 70}***'\n"


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_a_python_callables_error_that_echoes_the_key_shows_stars(secrets, run_llm, flags):
    """SDKs put the key in their exceptions ("Incorrect API key provided: ...")."""
    result = run_llm("-m", "sec-py-reject", "hi", *flags)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "Error: sec-py-reject: ValueError: rejected key ***\n"


@pytest.mark.parametrize("model_id", ["sec", "sec-an", "sec-everywhere", "sec-py"])
def test_response_json_holds_no_key(secrets, model_id):
    response = llm.get_model(model_id).prompt("hi")
    response.text()

    async def run():
        streamed = llm.get_async_model(model_id).prompt("hi")
        await streamed.text()
        return streamed.response_json

    for found in (response.response_json, asyncio.run(run())):
        assert KEY not in json.dumps(found)


def test_the_dry_run_hides_the_key_a_template_reads_from_the_environment(secrets, run_llm):
    result = run_llm("yaml-models", "request", "sec-env", "hi")
    assert result.exit_code == 0, result.output
    assert "X-Extra: ***\n" in result.stdout
    assert KEY not in result.stdout


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_a_key_the_server_echoes_is_not_logged(secrets, run_llm, user_dir, flags):
    """A server may put the key it was sent into the reply's id or model."""
    reply = openai_json(REPLY)
    reply.update(id=f"chatcmpl-{KEY}", model=f"m-{KEY}")
    secrets.fail_next("status", status=200, body=json.dumps(reply).encode())
    result = run_llm("-m", "sec", "hi", "--no-stream", *flags)
    assert (result.exit_code, result.stdout) == (0, REPLY + "\n")
    logged = json.loads(run_llm("logs", "-n", "1", "--json").stdout)[0]["response_json"]
    assert (logged["id"], logged["model"]) == ("chatcmpl-***", "m-***")
    assert KEY not in database_text(user_dir / "logs.db")


REDIRECTING = """\
- model_id: hop-everywhere
  key: {name: hop, env: SEC_KEY}
  backend:
    type: http
    url: "${FAKE_URL}/k/{{ key }}/redirect"
    params: {to: "${TARGET_URL}/generic", api_key: "{{ key }}"}
    headers:
      Authorization: "Bearer {{ key }}"
      X-Api-Key: "{{ key }}"
      X-Token: "tok-{{ key }}"
      X-Plain: plain
    response: {text: output.text}
- model_id: hop-body
  key: {name: hop, env: SEC_KEY}
  backend:
    type: http
    url: "${FAKE_URL}/redirect?to=${TARGET_URL}/generic"
    body: {input: "{{ prompt }}", auth: "{{ key }}"}
    response: {text: output.text}
"""


@pytest.fixture
def hops(write, monkeypatch):
    monkeypatch.setenv("SEC_KEY", KEY)
    with FakeAPI() as first, FakeAPI() as target:
        monkeypatch.setenv("FAKE_URL", first.url)
        monkeypatch.setenv("TARGET_URL", target.url)
        write("hops.yaml", REDIRECTING)
        yield first, target


def everything_received(server: FakeAPI) -> str:
    return json.dumps(
        [[r.method, r.path, r.query, r.headers, r.body.decode("latin-1")] for r in server.requests]
    )


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_redirect_to_another_origin_carries_no_key_in_any_header(hops, api):
    first, target = hops
    if api == "sync":
        assert llm.get_model("hop-everywhere").prompt("hi").text() == REPLY
    else:

        async def run():
            return await llm.get_async_model("hop-everywhere").prompt("hi").text()

        assert asyncio.run(run()) == REPLY
    (sent,) = first.requests
    assert sent.headers["x-api-key"] == KEY  # the declared origin gets it
    (arrived,) = target.requests
    assert "authorization" not in arrived.headers
    assert "x-api-key" not in arrived.headers
    assert not [value for value in arrived.headers.values() if KEY in value]
    assert arrived.headers["x-plain"] == "plain"
    assert KEY not in everything_received(target)


def test_a_redirect_to_another_origin_never_delivers_a_key_in_the_body(hops):
    """A 307 resends the body; a body holding the key must not go to
    another origin (the prompt may fail, but cleanly)."""
    first, target = hops
    try:
        llm.get_model("hop-body").prompt("hi").text()
    except llm.ModelError as exc:
        assert str(exc).startswith("hop-body: ") and "\n" not in str(exc)
    assert KEY in first.requests[0].body.decode()
    assert KEY not in everything_received(target)


NO_DECLARED_KEY = """\
- model_id: plain-openai
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1"}
- model_id: plain-ollama
  backend: {type: http, preset: ollama-chat, base_url: "${FAKE_URL}"}
- model_id: plain-anthropic
  backend: {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1"}
- model_id: plain-generic
  backend:
    type: http
    url: "${FAKE_URL}/generic"
    body: {input: "{{ prompt }}"}
    response: {text: output.text}
- model_id: other-key
  key: {name: other, env: OTHER_KEY}
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1"}
- model_id: names-openai
  key: {name: openai, env: OPENAI_API_KEY}
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1"}
"""


def test_no_model_sends_openai_api_key_unless_it_names_it(write, monkeypatch, run_llm):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SENTINEL)
    monkeypatch.setenv("OTHER_KEY", KEY)
    assert run_llm("keys", "set", "openai", "--value", OPENAI_SENTINEL).exit_code == 0
    with FakeAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        write("plain.yaml", NO_DECLARED_KEY)
        names = ["plain-openai", "plain-ollama", "plain-anthropic", "plain-generic", "other-key"]
        for model_id in names:
            for flags in ((), ("--no-stream",), ("--async",)):
                result = run_llm("-m", model_id, "hi", *flags)
                assert (result.exit_code, result.stdout) == (0, REPLY + "\n"), result.output
        assert len(server.requests) == 3 * len(names)
        assert OPENAI_SENTINEL not in everything_received(server)
        other = [r for r in server.requests if "authorization" in r.headers]
        assert [r.headers["authorization"] for r in other] == [f"Bearer {KEY}"] * 3
        # the one model that names it does send it: the check above can see it
        assert run_llm("-m", "names-openai", "hi").exit_code == 0
        assert server.last.headers["authorization"] == f"Bearer {OPENAI_SENTINEL}"


CLEAR_URLS = {
    "loopback": ("http://127.0.0.1:8080/v1", False),
    "loopback-range": ("http://127.45.6.7/v1", False),
    "localhost": ("http://localhost:11434", False),
    "localhost-upper-case": ("http://LOCALHOST/v1", False),
    "ipv6-loopback": ("http://[::1]:8000/v1", False),
    "https-name": ("https://models.example.com/v1", False),
    "https-address": ("https://10.0.0.5/v1", False),
    "http-name": ("http://models.example.com/v1", True),
    "http-private-address": ("http://10.0.0.5:9000/generate", True),
    "http-lan-address": ("http://192.168.1.20/v1", True),
    "http-ipv6": ("http://[2001:db8::1]/v1", True),
    "http-name-starting-localhost": ("http://localhost.example.com/v1", True),
}


@pytest.mark.parametrize("case", CLEAR_URLS)
def test_in_the_clear_is_plain_http_to_another_machine(case):
    """A pure function of the URL: no name is looked up, nothing is sent."""
    url, clear = CLEAR_URLS[case]
    assert http._in_the_clear(url) is clear


CLEAR = """\
- model_id: clear-text
  key: {name: clear-text, env: SEC_KEY}
  backend: {type: http, preset: openai-chat, base_url: "http://models.example.com/v1"}
- model_id: clear-loopback
  key: {name: clear-loopback, env: SEC_KEY}
  backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:9/v1"}
- model_id: clear-https
  key: {name: clear-https, env: SEC_KEY}
  backend: {type: http, preset: openai-chat, base_url: "https://models.example.com/v1"}
- model_id: clear-keyless
  backend: {type: http, preset: openai-chat, base_url: "http://models.example.com/v1"}
"""


def rendered_twice(model_id: str, key: str | None) -> None:
    """Render (never send) two requests, as a prompt would."""
    model = llm.get_model(model_id)
    for _ in range(2):
        request = model.request(model.prompt("hi").prompt, True, key)
        model.backend.sender.call(request)


def test_a_key_over_plain_http_to_another_host_is_warned_about_once(write, monkeypatch, capsys):
    monkeypatch.setattr(http, "_WARNED_CLEAR", set())
    write("clear.yaml", CLEAR)
    rendered_twice("clear-text", KEY)
    assert capsys.readouterr().err == (
        "llm-yaml-models: warning: clear-text sends its key to models.example.com "
        "over plain http, unencrypted\n"
    )
    for model_id in ("clear-loopback", "clear-https"):
        rendered_twice(model_id, KEY)
    rendered_twice("clear-keyless", None)
    assert capsys.readouterr().err == ""


# -- config that is hostile ------------------------------------------------------------------

LOOSE = """\
- model_id: loose-file
  backend: {type: python, callable: ./loose.py:fn}
- model_id: loose-module
  backend: {type: python, callable: reliability_loose_module:fn}
"""
CALLABLE = "def fn(request):\n    return 'ran ' + request.prompt\n"


@pytest.fixture
def loose(write, tmp_path, monkeypatch):
    package = tmp_path / "importable"
    package.mkdir()
    (package / "reliability_loose_module.py").write_text(CALLABLE)
    monkeypatch.syspath_prepend(str(package))
    files = {"yaml": write("loose.yaml", LOOSE), "py": write("loose.py", CALLABLE)}
    for path in files.values():
        path.chmod(0o644)
    if os.geteuid() == 0:  # a group others are in: its write bit lets them in
        for path in (*files.values(), files["yaml"].parent):
            os.chown(path, -1, SHARED_GID)
    return files


def callable_at(path: Path, model_id: str) -> str:
    """FILE:LINE:COL of the callable value in model_id's declaration."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith(f"model_id: {model_id}"))
    line = lines[start + 1]
    col = line.index("callable: ") + len("callable: ") + 1
    return f"{path}:{start + 2}:{col}"


NOBODY = 65534
SHARED_GID = 65534  # nogroup (or nobody): the primary group of several users
# A group the owner alone is in may write (see trust.py); only root can give
# a file to a group of several that it is not in.
SHARED_GROUP = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chgrp")


def who_can_write(mode: int) -> str:
    from llm_yaml_models.trust import _group

    return "any user" if mode & stat.S_IWOTH else f"group {_group(SHARED_GID)}"


def assert_refused(run_llm, yaml_path: Path, model_ids: list[str], why: str, at_load: bool) -> None:
    """A loose YAML file skips its declarations as it loads; a loose
    ./file.py is refused when the model runs. ``validate`` reports both."""
    references = {"loose-file": "./loose.py:fn", "loose-module": "reliability_loose_module:fn"}
    refusal = f"{yaml_path}:1:1: refusing the whole file: {why}\n"  # a loose YAML file is unread
    warning = f"llm-yaml-models: {refusal}"
    for n, model_id in enumerate(model_ids):
        for flags in ((), ("--async",)):
            result = run_llm("-m", model_id, "hi", *flags)
            if at_load:  # the warning comes once a process, and this is one process
                first = n == 0 and not flags
                expected = (warning if first else "") + f"Error: 'Unknown model: {model_id}'\n"
            else:
                expected = f"Error: {model_id}: refusing to run {references[model_id]}: {why}\n"
            assert (result.exit_code, result.stdout, result.stderr) == (1, "", expected)
    validate = run_llm("yaml-models", "validate")
    assert validate.exit_code == 1
    at_run = "".join(
        f"{callable_at(yaml_path, m)}: [{i}].backend.callable: "
        f"refusing to run {references[m]}: {why}\n"
        for i, m in enumerate(["loose-file", "loose-module"])
        if m in model_ids
    )
    assert validate.stdout == (refusal if at_load else at_run)


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(0o664, marks=SHARED_GROUP),
        0o646,
        0o666,
        pytest.param(0o620, marks=SHARED_GROUP),
    ],
    ids=oct,
)
@pytest.mark.parametrize(
    "which,model_ids",
    [("yaml", ["loose-file", "loose-module"]), ("py", ["loose-file"])],
    ids=["the-yaml-file", "the-py-file"],
)
def test_code_named_by_a_file_others_can_write_is_refused(loose, run_llm, which, model_ids, mode):
    yaml_path, path = loose["yaml"], loose[which]
    path.chmod(mode)
    why = f"{who_can_write(mode)} can write to {path}; fix it with: chmod go-w {path}"
    assert_refused(run_llm, yaml_path, model_ids, why, at_load=which == "yaml")
    path.chmod(0o644)
    for model_id in ("loose-file", "loose-module"):
        for flags in ((), ("--async",)):
            result = run_llm("-m", model_id, "hi", *flags)
            assert (result.exit_code, result.stdout, result.stderr) == (0, "ran hi\n", "")
    fixed = run_llm("yaml-models", "validate")
    assert (fixed.exit_code, fixed.stdout) == (0, "OK: 2 models in 1 file, no problems\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
@pytest.mark.parametrize(
    "which,model_ids",
    [("yaml", ["loose-file", "loose-module"]), ("py", ["loose-file"])],
    ids=["the-yaml-file", "the-py-file"],
)
def test_code_named_by_a_file_another_user_owns_is_refused(loose, run_llm, which, model_ids):
    """Mode 644, but someone else's: they can change it (ssh refuses this too)."""
    yaml_path, path = loose["yaml"], loose[which]
    os.chown(path, NOBODY, -1)
    try:
        why = f"{path} belongs to user nobody; fix it with: chown root {path}"
        assert_refused(run_llm, yaml_path, model_ids, why, at_load=which == "yaml")
    finally:
        os.chown(path, 0, -1)
    assert run_llm("-m", model_ids[0], "hi").stdout == "ran hi\n"


@pytest.mark.parametrize("mode", [0o777, pytest.param(0o775, marks=SHARED_GROUP), 0o757], ids=oct)
def test_code_in_a_directory_others_can_write_is_refused(loose, run_llm, mode):
    """Others could replace the 644 file with their own."""
    folder = loose["yaml"].parent
    folder.chmod(mode)
    try:
        why = f"{who_can_write(mode)} can write to {folder}; fix it with: chmod go-w {folder}"
        assert_refused(run_llm, loose["yaml"], ["loose-file", "loose-module"], why, at_load=True)
        folder.chmod(mode | stat.S_ISVTX)  # sticky, as /tmp: others cannot replace it
        assert run_llm("-m", "loose-file", "hi").stdout == "ran hi\n"
    finally:
        folder.chmod(0o755)


def test_owner_only_modes_are_not_refused(loose, run_llm):
    loose["yaml"].chmod(0o600)
    loose["py"].chmod(0o755)
    result = run_llm("-m", "loose-file", "hi")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ran hi\n", "")


# Run as root, a process still obeys file permissions once CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH leave its bounding set: drop them, then exec llm. (For
# any other user prctl fails, harmlessly, and the permissions apply anyway.)
DROP_FILE_PRIVILEGES_AND_EXEC = """\
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
    libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP
os.execvp(sys.argv[1], sys.argv[1:])
"""


def llm_unprivileged(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", DROP_FILE_PRIVILEGES_AND_EXEC, LLM_EXE, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )


GOOD = "- model_id: good\n  backend: {type: markov}\n"


@pytest.fixture
def locked(models_dir, write):
    """Chmod 000 what ``locked`` is given; restore it afterwards, so that
    pytest can remove it."""
    write("good.yaml", GOOD)
    paths = []

    def lock(path: Path) -> Path:
        path.chmod(0)
        paths.append(path)
        return path

    yield lock
    for path in paths:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_an_unreadable_file_is_reported_and_skipped(locked, write):
    path = locked(write("locked.yaml", GOOD.replace("good", "locked")))
    validate = llm_unprivileged("yaml-models", "validate")
    assert validate.returncode == 1
    assert validate.stdout == f"{path}:1:1: cannot read: Permission denied\n"
    assert validate.stderr == "Error: 1 problem (1 model in 2 files usable)\n"
    listed = llm_unprivileged("models", "list")
    assert listed.returncode == 0
    assert "YAML markov: good\n" in listed.stdout
    assert listed.stderr == (
        f"llm-yaml-models: skipped {path}:1; run 'llm yaml-models validate' for details\n"
    )


def test_an_unreadable_file_or_directory_named_to_validate(locked, write, tmp_path):
    """Named on the command line, not found on the search path: the same
    located line and exit status 1, not click's usage error (exit 2)."""
    path = locked(write("locked.yaml", GOOD.replace("good", "locked")))
    closed = tmp_path / "closed"
    closed.mkdir()
    locked(closed)
    validate = llm_unprivileged("yaml-models", "validate", str(path), str(closed))
    assert validate.returncode == 1
    assert validate.stdout == (
        f"{path}:1:1: cannot read: Permission denied\n"
        f"{closed}:1:1: cannot read: Permission denied\n"
    )
    assert validate.stderr == "Error: 2 problems (0 models in 2 files usable)\n"


def test_an_unreadable_directory_on_the_path_is_reported_as_unreadable(
    locked, models_dir, tmp_path, monkeypatch
):
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "inside.yaml").write_text(GOOD.replace("good", "inside"))
    locked(closed)
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", f"{models_dir}{os.pathsep}{closed}")
    validate = llm_unprivileged("yaml-models", "validate")
    assert validate.returncode == 1
    assert validate.stdout == f"{closed}:1:1: cannot read: Permission denied\n"
    listed = llm_unprivileged("models", "list")
    assert listed.returncode == 0
    assert "YAML markov: good\n" in listed.stdout

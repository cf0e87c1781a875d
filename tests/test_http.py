"""The HTTP backend against a real loopback server (tests/fakeapi.py).

Each preset's wire format (SSE, NDJSON, SSE with named events), what the
server receives (model name, messages, history, attachments, options),
templating, the generic form, keys, the ``request`` dry run, connection
reuse, errors, redirects, tools and schemas, the examples, and the async API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import json
import os
import socket
import struct
import time
import warnings
import wave
import zlib

import llm
import pytest
import yaml
from conftest import EXAMPLES
from fakeapi import REPLY, FakeAPI, anthropic_sse, client_headers, openai_sse

OA_KEY = "sk-oa-secret-1234"
AN_KEY = "sk-an-secret-5678"

# One model per preset. ${FAKE_URL} is the server's base URL.
PRESETS = """\
- model_id: oa
  key: {name: oa, env: OA_TEST_KEY}
  backend:
    type: http
    preset: openai-chat
    base_url: ${FAKE_URL}/v1
    model_name: served-oa
    retries: 0
  options:
    temperature: {type: number, minimum: 0, maximum: 2}
    max_tokens: {type: integer, minimum: 1}
    user_tag: {type: string, send: false}
  attachment_types: [image/png, audio/wav]
  supports_tools: true
  supports_schema: true
- model_id: ol
  backend:
    type: http
    preset: ollama-chat
    base_url: ${FAKE_URL}
    retries: 0
  options:
    temperature: {type: number}
    num_ctx: {type: integer}
  attachment_types: [image/png]
  supports_schema: true
- model_id: an
  key: {name: an, env: AN_TEST_KEY}
  backend:
    type: http
    preset: anthropic-messages
    base_url: ${FAKE_URL}/v1
    model_name: served-an
    retries: 0
  options:
    temperature: {type: number}
  attachment_types: [image/png]
"""

# What each preset's reply puts in response.usage() and response_json.
USAGE = {
    "oa": llm.models.Usage(
        input=5, output=5, details={"prompt_tokens_details": {"cached_tokens": 2}}
    ),
    "ol": llm.models.Usage(input=5, output=5, details=None),
    "an": llm.models.Usage(input=5, output=5, details=None),
}
RESPONSE_JSON = {
    "oa": {
        "id": "chatcmpl-fake",
        "model": "fake-model",
        "finish_reason": "stop",
        "usage": {
            "input": 5,
            "output": 5,
            "details": {"prompt_tokens_details": {"cached_tokens": 2}},
        },
    },
    "ol": {"model": "fake-model", "finish_reason": "stop", "usage": {"input": 5, "output": 5}},
    "an": {
        "id": "msg_fake",
        "model": "fake-claude",
        "finish_reason": "end_turn",
        "usage": {"input": 5, "output": 5},
    },
}
PATHS = {"oa": "/v1/chat/completions", "ol": "/api/chat", "an": "/v1/messages"}
WIRE_NAMES = {"oa": "served-oa", "ol": "ol", "an": "served-an"}


@contextlib.contextmanager
def serving(api_class=FakeAPI):
    with api_class() as api:
        yield api


def arun(coro):
    return asyncio.run(coro)


@pytest.fixture
def server(monkeypatch, fake_api):
    monkeypatch.setenv("FAKE_URL", fake_api.url)
    return fake_api


@pytest.fixture
def other():
    """A second server: another origin."""
    with serving() as s:
        yield s


@pytest.fixture
def presets(server, write, monkeypatch):
    monkeypatch.setenv("OA_TEST_KEY", OA_KEY)
    monkeypatch.setenv("AN_TEST_KEY", AN_KEY)
    write("presets.yaml", PRESETS)
    return server


def body_of(server, i: int = -1) -> dict:
    return server.requests[i].json


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def wav_file(path) -> bytes:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 8)
    return path.read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sse_text(body: bytes) -> str:
    """The text of the complete OpenAI SSE events in ``body``."""
    text = ""
    for block in body.decode().split("\n\n")[:-1]:
        data = block.removeprefix("data: ")
        if data != "[DONE]":
            choices = json.loads(data)["choices"]
            text += (choices[0]["delta"].get("content") or "") if choices else ""
    return text


def closed_port() -> int:
    """A port nothing listens on: bound, then closed."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# -- presets: text, usage, response_json -------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_openai_chat(presets, stream):
    response = llm.get_model("oa").prompt("hi", system="be brief", stream=stream)
    assert response.text() == REPLY
    assert response.usage() == USAGE["oa"]
    assert response.response_json == RESPONSE_JSON["oa"]
    request = presets.last
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {OA_KEY}"
    expected = {
        "model": "served-oa",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ],
        "stream": stream,
    }
    if stream:
        expected["stream_options"] = {"include_usage": True}
    assert request.json == expected


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_ollama_chat(presets, stream):
    response = llm.get_model("ol").prompt("hi", system="be brief", stream=stream)
    assert response.text() == REPLY
    assert response.usage() == USAGE["ol"]
    assert response.response_json == RESPONSE_JSON["ol"]
    request = presets.last
    assert (request.method, request.path) == ("POST", "/api/chat")
    assert "authorization" not in request.headers
    body = request.json
    assert body.pop("options", {}) == {}  # no option given: nothing in it
    assert body == {
        "model": "ol",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ],
        "stream": stream,
    }


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_anthropic_messages(presets, stream):
    response = llm.get_model("an").prompt("hi", system="be brief", stream=stream)
    assert response.text() == REPLY
    assert response.usage() == USAGE["an"]
    assert response.response_json == RESPONSE_JSON["an"]
    request = presets.last
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["x-api-key"] == AN_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert request.json == {
        "model": "served-an",
        "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 4096,
        "stream": stream,
    }


class PingAPI(FakeAPI):
    """Anthropic SSE with a ping event that carries text: it must be skipped."""

    def _reply(self, request):
        events = anthropic_sse(self.reply).decode()
        ping = 'event: ping\ndata: {"type": "ping", "delta": {"text": "PING"}}\n\n'
        marker = "event: content_block_start"
        events = events.replace(marker, ping + marker, 1)
        return True, "text/event-stream", events.encode()


def test_anthropic_ping_events_are_skipped(write, monkeypatch):
    with serving(PingAPI) as ping:
        monkeypatch.setenv("FAKE_URL", ping.url)
        monkeypatch.setenv("AN_TEST_KEY", AN_KEY)
        write("presets.yaml", PRESETS)
        response = llm.get_model("an").prompt("hi")
        assert response.text() == REPLY
        assert response.usage() == USAGE["an"]


@pytest.mark.parametrize(
    "model_id,args",
    [("oa", []), ("oa", ["--no-stream"]), ("ol", []), ("an", []), ("an", ["--no-stream"])],
    ids=["openai", "openai-no-stream", "ollama", "anthropic", "anthropic-no-stream"],
)
def test_usage_and_response_json_in_logs(presets, run_llm, model_id, args):
    result = run_llm("-m", model_id, "hi", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    logs = run_llm("logs", "--json", "-n", "1")
    assert logs.exit_code == 0
    (row,) = json.loads(logs.stdout)
    assert row["model"] == model_id
    assert row["response"] == REPLY
    assert (row["input_tokens"], row["output_tokens"]) == (5, 5)
    details = USAGE[model_id].details
    assert row["token_details"] == (json.dumps(details) if details else None)
    assert row["response_json"] == RESPONSE_JSON[model_id]
    assert OA_KEY not in logs.stdout and AN_KEY not in logs.stdout


def test_openai_token_details_carry_cached_tokens(presets, run_llm):
    assert run_llm("-m", "oa", "hi").exit_code == 0
    (row,) = json.loads(run_llm("logs", "--json", "-n", "1").stdout)
    assert json.loads(row["token_details"]) == {"prompt_tokens_details": {"cached_tokens": 2}}


@pytest.mark.parametrize("model_id", ["oa", "ol", "an"])
def test_response_json_holds_no_headers_or_keys(presets, model_id):
    response = llm.get_model(model_id).prompt("hi")
    response.text()
    assert set(response.response_json) <= {"id", "model", "finish_reason", "usage"}
    dumped = json.dumps(response.response_json).lower()
    for secret in (OA_KEY, AN_KEY, "authorization", "x-api-key", "headers"):
        assert secret.lower() not in dumped


# -- what the server receives --------------------------------------------------


@pytest.mark.parametrize("model_id", ["oa", "ol", "an"])
def test_model_name_is_model_name_or_model_id(presets, model_id):
    llm.get_model(model_id).prompt("hi").text()
    assert body_of(presets)["model"] == WIRE_NAMES[model_id]
    assert presets.last.path == PATHS[model_id]


HISTORY = {
    "oa": [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "two"},
    ],
    "ol": [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "two"},
    ],
    "an": [
        {"role": "user", "content": [{"type": "text", "text": "one"}]},
        {"role": "assistant", "content": [{"type": "text", "text": REPLY}]},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
    ],
}


@pytest.mark.parametrize("model_id", ["oa", "ol", "an"])
def test_conversation_history_python_api(presets, model_id):
    conversation = llm.get_model(model_id).conversation()
    assert conversation.prompt("one", system="S").text() == REPLY
    assert conversation.prompt("two").text() == REPLY
    body = body_of(presets)
    assert body["messages"] == HISTORY[model_id]
    if model_id == "an":
        assert body["system"] == "S"


@pytest.mark.parametrize("model_id", ["oa", "ol", "an"])
def test_conversation_history_cli_continue(presets, run_llm, model_id):
    first = run_llm("-m", model_id, "one", "-s", "S")
    assert (first.exit_code, first.stdout) == (0, REPLY + "\n")
    second = run_llm("-c", "two")
    assert (second.exit_code, second.stdout, second.stderr) == (0, REPLY + "\n", "")
    body = body_of(presets)
    assert body["messages"] == HISTORY[model_id]
    if model_id == "an":
        assert body["system"] == "S"
    assert len(presets.requests) == 2


def test_openai_attachments_image_and_audio(presets, run_llm, tmp_path):
    image = tmp_path / "dot.png"
    image.write_bytes(png_bytes())
    audio = wav_file(tmp_path / "beep.wav")
    result = run_llm("-m", "oa", "look", "-a", str(image), "-a", str(tmp_path / "beep.wav"))
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    assert body_of(presets)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/png;base64,{b64(png_bytes())}"},
                },
                {"type": "input_audio", "input_audio": {"data": b64(audio), "format": "wav"}},
            ],
        }
    ]


def test_openai_attachment_with_a_url_is_sent_as_the_url(presets):
    picture = llm.Attachment(type="image/png", url="https://example.com/cat.png")
    llm.get_model("oa").prompt("what is this", attachments=[picture]).text()
    assert body_of(presets)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ]


def test_ollama_and_anthropic_attachments(presets, run_llm, tmp_path):
    image = tmp_path / "dot.png"
    image.write_bytes(png_bytes())
    assert run_llm("-m", "ol", "look", "-a", str(image)).exit_code == 0
    assert body_of(presets)["messages"] == [
        {"role": "user", "content": "look", "images": [b64(png_bytes())]}
    ]
    assert run_llm("-m", "an", "look", "-a", str(image)).exit_code == 0
    assert body_of(presets)["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": b64(png_bytes()),
                    },
                },
                {"type": "text", "text": "look"},
            ],
        }
    ]


def test_declared_options_go_to_the_body_top_level(presets, run_llm):
    result = run_llm(
        "-m", "oa", "hi", "--no-stream", "-o", "temperature", "0.5", "-o", "user_tag", "mine"
    )
    assert result.exit_code == 0, result.output
    body = body_of(presets)
    # set: at the top level; unset (max_tokens): dropped; send: false (user_tag): never sent
    assert body == {
        "model": "served-oa",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": False,
        "temperature": 0.5,
    }
    (row,) = json.loads(run_llm("logs", "--json", "-n", "1").stdout)
    assert row["options_json"] == {"temperature": 0.5, "user_tag": "mine"}


def test_options_placed_in_the_template_are_not_repeated(server, write, run_llm):
    write(
        "placed.yaml",
        """\
        - model_id: placed
          backend:
            type: http
            preset: openai-chat
            base_url: ${FAKE_URL}/v1
            body:
              metadata: {tag: "{{ options.tag }}"}
          options:
            tag: {type: string}
            level: {type: integer, default: 3}
        """,
    )
    assert run_llm("-m", "placed", "hi", "-o", "tag", "blue").exit_code == 0
    body = body_of(server)
    assert body["metadata"] == {"tag": "blue"}
    assert "tag" not in body
    assert body["level"] == 3  # a default counts as set
    assert run_llm("-m", "placed", "hi").exit_code == 0
    assert "metadata" not in body_of(server)  # a mapping left empty by unset options


def test_ollama_puts_options_under_options(presets, run_llm):
    assert run_llm("-m", "ol", "hi", "-o", "temperature", "0.25").exit_code == 0
    body = body_of(presets)
    assert body["options"] == {"temperature": 0.25}
    assert "temperature" not in body and "num_ctx" not in body
    assert (
        run_llm("-m", "ol", "hi", "-o", "num_ctx", "2048", "-o", "temperature", "1").exit_code == 0
    )
    assert body_of(presets)["options"] == {"num_ctx": 2048, "temperature": 1.0}


# -- templating ----------------------------------------------------------------

TYPED = """\
- model_id: typed
  backend:
    type: http
    url: ${FAKE_URL}/generic
    body:
      input: "{{ prompt }}"
      wrapped: "<{{ prompt }}>"
      instructions: "{{ system }}"
      n: "{{ options.n }}"
      i: "{{ options.i }}"
      b: "{{ options.b }}"
      l: "{{ options.l }}"
      o: "{{ options.o }}"
      streaming: "{{ stream }}"
      messages: "{{ messages }}"
      model: "{{ model }}"
      text: "n={{ options.n }} l={{ options.l }} o={{ options.o }} b={{ options.b }}"
      missing: "{{ options.unset }}"
      listed: ["{{ options.i }}", "{{ options.unset }}", fixed]
    response:
      text: output.text
  options:
    n: {type: number}
    i: {type: integer}
    b: {type: boolean}
    l: {type: array, items: {type: string}}
    o: {type: object}
    unset: {type: string}
"""


def test_whole_placeholders_keep_their_json_type(server, write, run_llm):
    write("typed.yaml", TYPED)
    result = run_llm(
        "-m", "typed", "hi",
        "-o", "n", "0.5", "-o", "i", "3", "-o", "b", "true",
        "-o", "l", '["x", "é"]', "-o", "o", '{"k": [1, 2], "s": "v"}',
    )  # fmt: skip
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    assert body_of(server) == {
        "input": "hi",
        "wrapped": "<hi>",
        "n": 0.5,
        "i": 3,
        "b": True,
        "l": ["x", "é"],
        "o": {"k": [1, 2], "s": "v"},
        "streaming": False,
        "messages": [{"role": "user", "content": "hi"}],
        "model": "typed",
        "text": 'n=0.5 l=["x", "é"] o={"k": [1, 2], "s": "v"} b=true',
        "listed": [3, "fixed"],
    }


SPECIAL = 'He said "hi"\n{x} \\ é 漢字 {{ system }} ${HOME} \t\x00end'


def test_prompt_arrives_exactly_as_typed(server, write, run_llm):
    write("typed.yaml", TYPED)
    llm.get_model("typed").prompt(SPECIAL, system='sys\n"q" 漢').text()
    body = body_of(server)
    assert body["input"] == SPECIAL
    assert body["wrapped"] == f"<{SPECIAL}>"
    assert body["instructions"] == 'sys\n"q" 漢'
    assert body["messages"] == [
        {"role": "system", "content": 'sys\n"q" 漢'},
        {"role": "user", "content": SPECIAL},
    ]
    typed = 'He said "hi"\n{x} \\ é 漢字 {{ prompt }}'
    assert run_llm("-m", "typed", typed).exit_code == 0
    assert body_of(server)["input"] == typed
    assert body_of(server)["wrapped"] == f"<{typed}>"


ENVIRON = """\
- model_id: environ
  backend:
    type: http
    url: ${FAKE_URL}/generic
    headers:
      X-Team: "${TEAM_NAME:-research}"
      X-Env: "{{ env.RUNTIME_VALUE }}"
      X-Both: "team=${TEAM_NAME:-research} run={{ env.RUNTIME_VALUE }}"
    body:
      input: "{{ prompt }}"
      runtime: "{{ env.RUNTIME_VALUE }}"
      label: "run-{{ env.RUNTIME_VALUE }}"
    response:
      text: output.text
"""


def test_env_placeholders_are_read_when_the_request_is_made(server, write, monkeypatch):
    write("environ.yaml", ENVIRON)
    monkeypatch.delenv("TEAM_NAME", raising=False)
    monkeypatch.delenv("RUNTIME_VALUE", raising=False)
    model = llm.get_model("environ")
    model.prompt("one").text()
    headers = server.last.headers
    assert headers["x-team"] == "research"  # ${VAR:-default}
    assert "x-env" not in headers  # an unset env.VAR drops a whole placeholder
    assert headers["x-both"] == "team=research run="
    assert body_of(server) == {"input": "one", "label": "run-"}
    monkeypatch.setenv("RUNTIME_VALUE", "42")
    model.prompt("two").text()
    assert server.last.headers["x-env"] == "42"
    assert server.last.headers["x-both"] == "team=research run=42"
    assert body_of(server) == {"input": "two", "runtime": "42", "label": "run-42"}
    odd = '"q" {x} \\ ${y}'
    monkeypatch.setenv("RUNTIME_VALUE", odd)
    model.prompt("three").text()
    assert server.last.headers["x-env"] == odd
    assert body_of(server) == {"input": "three", "runtime": odd, "label": f"run-{odd}"}


def test_dollar_variables_expand_from_the_environment(server, write, monkeypatch):
    monkeypatch.setenv("TEAM_NAME", "platform")
    write("environ.yaml", ENVIRON)
    llm.get_model("environ").prompt("one").text()
    assert server.last.headers["x-team"] == "platform"
    assert server.last.path == "/generic"


def test_dollar_variable_set_but_empty_takes_the_default(server, write, monkeypatch):
    monkeypatch.setenv("TEAM_NAME", "")
    write("environ.yaml", ENVIRON)
    llm.get_model("environ").prompt("one").text()
    assert server.last.headers["x-team"] == "research"


def test_dollar_variable_not_set_is_an_error(server, write, run_llm, monkeypatch):
    monkeypatch.delenv("NO_SUCH_BASE_URL", raising=False)
    write(
        "unset.yaml",
        """\
        - model_id: unset-env
          backend:
            type: http
            url: ${NO_SUCH_BASE_URL}/generic
            body: {input: "{{ prompt }}"}
            response: {text: output.text}
        """,
    )
    result = run_llm("-m", "unset-env", "hi")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: unset-env: environment variable NO_SUCH_BASE_URL is not set (backend.url)\n"
    )
    assert server.requests == []
    # Listing the model and its options needs no environment.
    listed = run_llm("models", "list", "--options", "-m", "unset-env")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.startswith("YAML http: unset-env\n")


def test_unknown_template_name_is_a_located_validate_error(write, run_llm):
    path = write(
        "bad.yaml",
        """\
        models:
          - model_id: bad-template
            backend:
              type: http
              url: http://127.0.0.1:9/generic
              body:
                input: "{{ prompt }}"
                other: "say {{ promt }}"
              response: {text: output.text}
        """,
    )
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}:8:16: models[0].backend.body.other: unknown template name 'promt'; "
        "names are: prompt, system, messages, model, stream, options, key, env, region, "
        "project, location, vertex_host\n"
    )
    assert result.stderr == "Error: 1 problem (0 models in 1 file usable)\n"


# -- the generic form ------------------------------------------------------------

GENERIC = """\
- model_id: gen-post
  backend:
    type: http
    url: ${FAKE_URL}/generic
    method: POST
    headers:
      X-Team: research
    timeout: 5
    retries: 0
    body:
      input: "{{ prompt }}"
      instructions: "{{ system }}"
      settings: {creativity: "{{ options.creativity }}"}
      caller: "llm ({{ model }})"
    response:
      text: output.text
      finish_reason: stop
      error: error.message
      usage: {input: tokens."in", output: tokens.out}
    stream:
      format: none
  options:
    creativity: {type: number, minimum: 0, maximum: 1}
    style: {type: string, enum: [brief, detailed]}
- model_id: gen-get
  backend:
    type: http
    base_url: ${FAKE_URL}/api/
    path: /generic
    method: GET
    params:
      q: "{{ prompt }}"
      n: 3
    response:
      text: output.text
      usage: {input: tokens."in", output: tokens.out}
  options:
    level: {type: integer}
    tags: {type: array}
- model_id: gen-missing
  backend:
    type: http
    url: ${FAKE_URL}/generic
    body: {input: "{{ prompt }}"}
    response:
      text: output.reply.text
"""


def test_generic_post(server, write, run_llm):
    write("generic.yaml", GENERIC)
    result = run_llm("-m", "gen-post", "summarise", "-s", "briefly", "-o", "creativity", "0.2")
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    request = server.last
    assert (request.method, request.path) == ("POST", "/generic")
    assert request.headers["x-team"] == "research"
    assert request.json == {
        "input": "summarise",
        "instructions": "briefly",
        "settings": {"creativity": 0.2},
        "caller": "llm (gen-post)",
    }
    response = llm.get_model("gen-post").prompt("x", style="brief")
    assert response.text() == REPLY
    assert response.usage() == llm.models.Usage(input=3, output=5, details=None)
    assert response.response_json == {"finish_reason": "done", "usage": {"input": 3, "output": 5}}
    # style has no place in the template: a top-level key; creativity unset: dropped,
    # and settings, which it left empty
    assert body_of(server) == {
        "input": "x",
        "caller": "llm (gen-post)",
        "style": "brief",
    }


def test_generic_get_with_base_url_path_and_params(server, write, run_llm):
    write("generic.yaml", GENERIC)
    result = run_llm("-m", "gen-get", "a b&c", "-o", "level", "2", "-o", "tags", '["x"]')
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    request = server.last
    assert (request.method, request.path, request.body) == ("GET", "/api/generic", b"")
    # GET: options go to the query string
    assert request.query == {"q": ["a b&c"], "n": ["3"], "level": ["2"], "tags": ['["x"]']}


def test_generic_stream_format_none_never_streams(server, write):
    write("generic.yaml", GENERIC)
    response = llm.get_model("gen-post").prompt("x", stream=True)
    assert list(response) == [REPLY]
    assert response.usage() == llm.models.Usage(input=3, output=5, details=None)


def test_jmespath_that_finds_nothing_is_a_one_line_error(server, write, run_llm):
    write("generic.yaml", GENERIC)
    result = run_llm("-m", "gen-missing", "hi")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: gen-missing: nothing at 'output.reply.text' "
        f"in the reply from {server.url}/generic\n"
    )


# -- keys ------------------------------------------------------------------------


def test_key_from_the_environment_variable(presets, run_llm):
    assert run_llm("-m", "oa", "hi").exit_code == 0
    assert presets.last.headers["authorization"] == f"Bearer {OA_KEY}"


def test_key_from_llm_keys_set(presets, run_llm, user_dir, monkeypatch):
    monkeypatch.delenv("OA_TEST_KEY")
    result = run_llm("keys", "set", "oa", "--value", "stored-key-1")
    assert result.exit_code == 0
    assert json.loads((user_dir / "keys.json").read_text())["oa"] == "stored-key-1"
    assert run_llm("-m", "oa", "hi").exit_code == 0
    assert presets.last.headers["authorization"] == "Bearer stored-key-1"


def test_key_from_the_key_option(presets, run_llm):
    assert run_llm("-m", "oa", "hi", "--key", "cli-key-1").exit_code == 0
    assert presets.last.headers["authorization"] == "Bearer cli-key-1"


def test_no_key_found_is_an_error(presets, run_llm, monkeypatch):
    monkeypatch.delenv("OA_TEST_KEY")
    result = run_llm("-m", "oa", "hi")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: oa: No key found - add one using 'llm keys set oa' "
        "or set the OA_TEST_KEY environment variable\n"
    )
    assert presets.requests == []


def test_no_key_declared_sends_no_authorization(server, write, run_llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    write(
        "nokey.yaml",
        """\
        - model_id: keyless
          backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1"}
        """,
    )
    assert run_llm("-m", "keyless", "hi").exit_code == 0
    assert llm.get_model("keyless").prompt("hi", stream=False).text() == REPLY
    assert len(server.requests) == 2
    for request in server.requests:
        assert "authorization" not in request.headers
        assert "sk-from-the-environment" not in json.dumps(request.headers)


# -- the dry run: llm yaml-models request --------------------------------------------


def compact(body) -> bytes:
    """A JSON body as it goes on the wire."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def test_request_dry_run(presets, run_llm):
    result = run_llm(
        "yaml-models", "request", "oa", "hi",
        "-s", "sys", "-o", "temperature", "0.5", "-o", "user_tag", "mine",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = {
        "model": "served-oa",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.5,
    }
    sent = compact(body)
    assert result.stdout == (
        f"POST {presets.url}/v1/chat/completions\n"
        f"{client_headers(presets)}"
        "Authorization: Bearer ***\n"
        f"Content-Length: {len(sent)}\n"
        "Content-Type: application/json\n\n"
        f"{sent.decode()}\n"
    )
    assert result.stderr == ""
    assert OA_KEY not in result.stdout
    assert presets.requests == [] and presets.connections_made == 0


def test_request_dry_run_no_stream_and_anthropic(presets, run_llm):
    result = run_llm("yaml-models", "request", "an", "é", "--no-stream")
    assert result.exit_code == 0, result.output
    body = {
        "model": "served-an",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "é"}]}],
        "max_tokens": 4096,
        "stream": False,
    }
    sent = compact(body)
    assert result.stdout == (
        f"POST {presets.url}/v1/messages\n"
        f"{client_headers(presets)}"
        "x-api-key: ***\n"
        "anthropic-version: 2023-06-01\n"
        f"Content-Length: {len(sent)}\n"
        "Content-Type: application/json\n\n"
        f"{sent.decode()}\n"
    )
    assert AN_KEY not in result.stdout
    assert presets.requests == [] and presets.connections_made == 0


def test_request_dry_run_redacts_the_key_wherever_it_is(server, write, run_llm, monkeypatch):
    monkeypatch.setenv("SVC_KEY", "svc-secret-999")
    write(
        "svc.yaml",
        """\
        - model_id: svc
          key: {name: svc, env: SVC_KEY}
          backend:
            type: http
            url: ${FAKE_URL}/generic
            method: GET
            headers:
              X-Token: "tok-{{ key }}"
            params: {api_key: "{{ key }}", q: "{{ prompt }}"}
            response: {text: output.text}
        """,
    )
    result = run_llm("yaml-models", "request", "svc", "hello")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"GET {server.url}/generic?api_key=***&q=hello\n{client_headers(server)}X-Token: tok-***\n"
    )
    assert server.requests == []
    assert llm.get_model("svc").prompt("hello").text() == REPLY
    assert server.last.query == {"api_key": ["svc-secret-999"], "q": ["hello"]}
    assert server.last.headers["x-token"] == "tok-svc-secret-999"


def test_request_dry_run_invalid_option(presets, run_llm):
    result = run_llm("yaml-models", "request", "oa", "hi", "-o", "temperature", "5")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "Error: temperature\n  Input should be less than or equal to 2\n"
    same = run_llm("-m", "oa", "hi", "-o", "temperature", "5")
    assert (same.exit_code, same.stderr) == (1, result.stderr)
    unknown = run_llm("yaml-models", "request", "oa", "hi", "-o", "nope", "1")
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "Error: nope\n  Extra inputs are not permitted\n",
    )
    assert presets.requests == [] and presets.connections_made == 0


def test_request_dry_run_of_a_model_that_is_not_http(write, run_llm):
    write("markov.yaml", "- model_id: chain-model\n  backend: {type: markov}\n")
    result = run_llm("yaml-models", "request", "chain-model", "hi")
    assert result.exit_code == 1
    assert result.stderr == "Error: chain-model is not a model declared with backend type http\n"


# -- connection reuse ---------------------------------------------------------------


def test_sequential_prompts_share_one_connection(presets):
    model = llm.get_model("oa")
    for i in range(6):
        assert model.prompt(f"p{i}", stream=i % 2 == 0).text() == REPLY
    assert len(presets.requests) == 6
    assert presets.connections_made == 1


def test_sequential_async_prompts_share_one_connection(presets):
    model = llm.get_async_model("ol")

    async def run():
        return [await model.prompt(f"p{i}").text() for i in range(6)]

    assert arun(run()) == [REPLY] * 6
    assert presets.connections_made == 1


def test_async_batch_stays_within_max_connections(server, write):
    write(
        "pool.yaml",
        """\
        - model_id: pooled
          backend:
            type: http
            preset: openai-chat
            base_url: ${FAKE_URL}/v1
            max_connections: 10
        """,
    )
    model = llm.get_async_model("pooled")

    async def run():
        return await asyncio.gather(*(model.prompt(f"p{i}").text() for i in range(60)))

    assert arun(run()) == [REPLY] * 60
    assert len(server.requests) == 60
    assert sorted(r.json["messages"][0]["content"] for r in server.requests) == sorted(
        f"p{i}" for i in range(60)
    )
    assert server.peak_connections <= 10


# -- errors ---------------------------------------------------------------------------

FLAKY = """\
- model_id: flaky
  key: {name: flaky, env: OA_TEST_KEY}
  backend:
    type: http
    preset: openai-chat
    base_url: ${FAKE_URL}/v1
    retries: 1
    timeout: 0.5
- model_id: dead
  backend:
    type: http
    preset: openai-chat
    base_url: http://127.0.0.1:${DEAD_PORT}/v1
    retries: 0
"""


@pytest.fixture
def flaky(server, write, monkeypatch):
    monkeypatch.setenv("OA_TEST_KEY", OA_KEY)
    monkeypatch.setenv("DEAD_PORT", str(closed_port()))
    write("presets.yaml", PRESETS)
    write("flaky.yaml", FLAKY)
    return server


def oa_url(server) -> str:
    return f"{server.url}/v1/chat/completions"


def test_http_401_with_the_provider_message_and_no_key(flaky, llm_exe):
    message = {"error": {"message": f"Incorrect API key provided: {OA_KEY}."}}
    flaky.fail_next("status", status=401, body=json.dumps(message).encode())
    result = llm_exe("-m", "flaky", "hi")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: flaky: HTTP 401 from {oa_url(flaky)}: Incorrect API key provided: ***.\n"
    )
    assert len(flaky.requests) == 1  # a 4xx is not retried


def test_connection_refused(flaky, llm_exe):
    result = llm_exe("-m", "dead", "hi")
    assert result.returncode == 1
    assert result.stdout == ""
    port = os.environ["DEAD_PORT"]
    assert result.stderr == (
        f"Error: dead: cannot connect to http://127.0.0.1:{port}/v1/chat/completions: "
        "connection refused\n"
    )


def test_sse_cut_midway(flaky, llm_exe):
    flaky.fail_next("cut")
    result = llm_exe("-m", "flaky", "hi")
    assert result.returncode == 1
    body = openai_sse(REPLY)
    assert result.stdout == sse_text(body[: len(body) // 2])
    assert result.stdout and result.stdout != REPLY
    assert result.stderr == (
        f"Error: flaky: connection to {oa_url(flaky)} broke off: peer closed connection "
        "without sending complete message body (incomplete chunked read)\n"
    )
    assert "Traceback" not in result.stderr


def test_500_then_success_is_retried(flaky, run_llm):
    flaky.fail_next("status", status=500)
    result = run_llm("-m", "flaky", "hi")
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    assert len(flaky.requests) == 2
    assert flaky.requests[0].json == flaky.requests[1].json


def test_503_forever_stops_after_the_retries(flaky, run_llm):
    flaky.fail_next("status", status=503, times=10)
    result = run_llm("-m", "flaky", "hi")
    assert result.exit_code == 1
    assert result.stderr == f"Error: flaky: HTTP 503 from {oa_url(flaky)}: fake failure 503\n"
    assert len(flaky.requests) == 2  # one try and retries: 1


def test_429_with_retry_after_then_success(flaky, run_llm):
    flaky.fail_next("status", status=429, headers={"Retry-After": "1"})
    result = run_llm("-m", "flaky", "hi", "--no-stream")
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    assert len(flaky.requests) == 2


def test_429_asking_for_too_long_a_wait_fails_at_once(flaky, run_llm):
    flaky.fail_next("status", status=429, headers={"Retry-After": "3600"}, times=2)
    result = run_llm("-m", "flaky", "hi")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: flaky: HTTP 429 from {oa_url(flaky)}: fake failure 429 "
        "(the server asked to retry after 3600s)\n"
    )
    assert len(flaky.requests) == 1


def test_read_timeout(flaky, run_llm):
    flaky.fail_next("slow", seconds=1.5)
    result = run_llm("-m", "flaky", "hi")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: flaky: timed out waiting for {oa_url(flaky)} after 0.5s\n")


BAD_UTF8_SSE = b'data: {"choices": [{"index": 0, "delta": {"content": "\xff\xfe"}}]}\n\n'
ERROR_SSE = b'data: {"error": {"message": "model overloaded"}}\n\n'
NO_STREAM = ["--no-stream"]

# id: (model, fault, extra llm arguments, the message after "Error: MODEL: ")
BAD_REPLIES = {
    "not-json": (
        "oa",
        {"kind": "bad_json"},
        NO_STREAM,
        "reply from {url} is not JSON: '<html>not json</html>'",
    ),
    "sse-data-not-json": (
        "oa",
        {"kind": "bad_sse"},
        [],
        "reply from {url} is not JSON: '{{not json'",
    ),
    "error-field": ("oa", {"kind": "error_field"}, NO_STREAM, "error from {url}: model overloaded"),
    # a JSON error reply to a streaming request: the provider's message still shows
    "error-field-streaming": (
        "oa",
        {"kind": "error_field"},
        [],
        "error from {url}: model overloaded",
    ),
    "sse-error-event": (
        "oa",
        {"kind": "status", "status": 200, "body": ERROR_SSE},
        [],
        "error from {url}: model overloaded",
    ),
    "anthropic-error-field": (
        "an",
        {"kind": "error_field"},
        NO_STREAM,
        "error from {url}: model overloaded",
    ),
    "ollama-error-field": (
        "ol",
        {"kind": "error_field"},
        [],
        'error from {url}: {{"message": "model overloaded"}}',
    ),
    "bad-utf8": (
        "oa",
        {"kind": "bad_utf8"},
        NO_STREAM,
        "reply from {url} is not valid UTF-8 (byte 38)",
    ),
    "bad-utf8-stream": (
        "oa",
        {"kind": "status", "status": 200, "body": BAD_UTF8_SSE},
        [],
        "stream from {url} is not valid UTF-8",
    ),
    "status-body-not-json": (
        "oa",
        {"kind": "status", "status": 400, "body": b"<html>bad request</html>"},
        [],
        "HTTP 400 from {url}: <html>bad request</html>",
    ),
    "reset": (
        "oa",
        {"kind": "reset"},
        NO_STREAM,
        "connection to {url} broke off: Server disconnected without sending a response.",
    ),
}


@pytest.mark.parametrize("case", BAD_REPLIES)
def test_bad_replies(presets, run_llm, case):
    model_id, fault, args, message = BAD_REPLIES[case]
    presets.fail_next(**fault)
    result = run_llm("-m", model_id, "hi", *args)
    assert result.exit_code == 1
    url = presets.url + PATHS[model_id]
    assert result.stderr == f"Error: {model_id}: {message.format(url=url)}\n"
    assert "Traceback" not in result.output
    assert len(presets.requests) == 1


def test_ndjson_partial_last_line(presets, run_llm):
    presets.fail_next("partial_ndjson")
    result = run_llm("-m", "ol", "hi")
    assert result.exit_code == 1
    assert result.stdout == REPLY
    assert result.stderr == (
        f"Error: ol: stream from {presets.url}/api/chat ended in the middle of a line\n"
    )


def test_errors_from_the_python_api(flaky):
    flaky.fail_next("status", status=502, times=2)
    with pytest.raises(llm.ModelError) as caught:
        llm.get_model("flaky").prompt("hi").text()
    assert str(caught.value) == f"flaky: HTTP 502 from {oa_url(flaky)}: fake failure 502"

    async def run():
        flaky.fail_next("error_field")
        return await llm.get_async_model("flaky").prompt("hi", stream=False).text()

    with pytest.raises(llm.ModelError) as caught:
        arun(run())
    assert str(caught.value) == f"flaky: error from {oa_url(flaky)}: model overloaded"


def test_async_500_then_success_is_retried(flaky):
    flaky.fail_next("status", status=500)

    async def run():
        return await llm.get_async_model("flaky").prompt("hi").text()

    assert arun(run()) == REPLY
    assert len(flaky.requests) == 2


# -- redirects -----------------------------------------------------------------------------

REDIRECTS = """\
- model_id: hop-oa
  key: {name: oa, env: OA_TEST_KEY}
  backend:
    type: http
    preset: openai-chat
    url: ${FAKE_URL}/redirect?to=${TARGET_URL}/v1/chat/completions
- model_id: hop-an
  key: {name: an, env: AN_TEST_KEY}
  backend:
    type: http
    preset: anthropic-messages
    url: ${FAKE_URL}/redirect?to=${TARGET_URL}/v1/messages
    headers:
      X-Custom-Auth: "token={{ key }}"
"""


@pytest.fixture
def redirects(server, write, monkeypatch):
    monkeypatch.setenv("OA_TEST_KEY", OA_KEY)
    monkeypatch.setenv("AN_TEST_KEY", AN_KEY)
    write("redirects.yaml", REDIRECTS)
    return server


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("model_id", ["hop-oa", "hop-an"])
def test_redirect_to_another_origin_drops_the_key(
    redirects, other, monkeypatch, model_id, use_async
):
    monkeypatch.setenv("TARGET_URL", other.url)
    if use_async:

        async def run():
            return await llm.get_async_model(model_id).prompt("hi").text()

        assert arun(run()) == REPLY
    else:
        assert llm.get_model(model_id).prompt("hi").text() == REPLY
    (first,) = redirects.requests
    (second,) = other.requests
    assert first.path == "/redirect"
    assert "authorization" in first.headers or "x-api-key" in first.headers
    for name in ("authorization", "x-api-key", "x-custom-auth"):
        assert name not in second.headers
    assert OA_KEY not in json.dumps(second.headers) and AN_KEY not in json.dumps(second.headers)
    assert second.json == first.json  # a 307 keeps the method and body
    assert second.method == "POST"


def test_redirect_to_the_same_origin_keeps_the_key(redirects, monkeypatch):
    monkeypatch.setenv("TARGET_URL", redirects.url)
    assert llm.get_model("hop-oa").prompt("hi").text() == REPLY
    assert llm.get_model("hop-an").prompt("hi").text() == REPLY
    paths = [r.path for r in redirects.requests]
    assert paths == ["/redirect", "/v1/chat/completions", "/redirect", "/v1/messages"]
    assert redirects.requests[1].headers["authorization"] == f"Bearer {OA_KEY}"
    assert redirects.requests[3].headers["x-api-key"] == AN_KEY
    assert redirects.requests[3].headers["x-custom-auth"] == f"token={AN_KEY}"


# -- tools and schemas ----------------------------------------------------------------------

TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "add", "arguments": json.dumps({"a": 2, "b": 3})},
}


class ToolAPI(FakeAPI):
    """OpenAI chat that asks for the add tool until it sees a tool result."""

    def _reply(self, request):
        data = json.loads(request.body) if request.body else {}
        if any(m.get("role") == "tool" for m in data.get("messages", [])):
            return super()._reply(request)
        if not data.get("stream"):
            message = {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
            reply = {
                "id": "chatcmpl-tool",
                "model": "fake-model",
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            }
            return False, "application/json", json.dumps(reply).encode()
        first = {"index": 0, "id": "call_1", "type": "function"}
        deltas = [
            {"tool_calls": [{**first, "function": {"name": "add", "arguments": ""}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 2,'}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": ' "b": 3}'}}]},
        ]
        chunks = [{"id": "chatcmpl-tool", "choices": [{"index": 0, "delta": d}]} for d in deltas]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        events = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return True, "text/event-stream", events.encode()


@pytest.fixture
def tool_server(write, monkeypatch):
    with serving(ToolAPI) as s:
        monkeypatch.setenv("FAKE_URL", s.url)
        monkeypatch.setenv("OA_TEST_KEY", OA_KEY)
        write("presets.yaml", PRESETS)
        yield s


def make_add(calls: list):
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        calls.append((a, b))
        return a + b

    return add


ADD_SPEC = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


@pytest.mark.parametrize("stream", [False, True], ids=["no-stream", "stream"])
def test_tool_call_runs_the_tool(tool_server, stream):
    calls = []
    chain = llm.get_model("oa").chain("what is 2+3?", tools=[make_add(calls)], stream=stream)
    assert chain.text() == REPLY
    assert calls == [(2, 3)]
    first, second = (r.json for r in tool_server.requests)
    assert first["tools"] == [ADD_SPEC]
    assert first["messages"] == [{"role": "user", "content": "what is 2+3?"}]
    assert second["tools"] == [ADD_SPEC]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
    assert second["messages"][-1]["content"] == "5"


@pytest.mark.parametrize("stream", [False, True], ids=["no-stream", "stream"])
def test_tool_calls_are_reported_to_llm(tool_server, stream):
    response = llm.get_model("oa").prompt("what is 2+3?", tools=[make_add([])], stream=stream)
    response.text()
    (call,) = response.tool_calls()
    assert (call.name, call.arguments, call.tool_call_id) == ("add", {"a": 2, "b": 3}, "call_1")
    assert response.response_json["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("stream", [False, True], ids=["no-stream", "stream"])
def test_tool_result_goes_back_answering_its_call(tool_server, stream):
    llm.get_model("oa").chain("what is 2+3?", tools=[make_add([])], stream=stream).text()
    second = tool_server.requests[1].json
    user, assistant, tool = second["messages"]
    assert user == {"role": "user", "content": "what is 2+3?"}
    assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "5"}
    (call,) = assistant["tool_calls"]
    assert (call["id"], call["type"], call["function"]["name"]) == ("call_1", "function", "add")
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def test_schema_goes_in_as_response_format(presets, run_llm):
    llm.get_model("oa").prompt("a dog", schema=SCHEMA).text()
    assert body_of(presets)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SCHEMA},
    }
    result = run_llm("-m", "oa", "a dog", "--schema", "name, age int")
    assert result.exit_code == 0, result.output
    assert body_of(presets)["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": llm.utils.schema_dsl("name, age int")},
    }


def test_ollama_schema_goes_in_as_format(presets):
    llm.get_model("ol").prompt("a dog", schema=SCHEMA).text()
    assert body_of(presets)["format"] == SCHEMA


# -- the examples ------------------------------------------------------------------------


def http_example_models() -> dict[str, str]:
    """model_id -> example file name, for every http model in examples/."""
    found = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text("utf-8"))
        defaults = data.get("defaults", {}) if isinstance(data, dict) else {}
        models = data.get("models", []) if isinstance(data, dict) else data
        for model in models:  # chat models: embedding models are in test_embeddings
            backend = {**defaults.get("backend", {}), **model.get("backend", {})}
            # A discovery template is no model (tests/test_examples.py runs it).
            if backend.get("type") == "http" and "discover" not in model:
                found[model["model_id"]] = path.name
    return found


EXAMPLE_CALLS = {
    "fast": {  # examples/fallbacks.yaml: it answers itself, so no fallback is asked
        "path": "/v1/chat/completions",
        "args": ["-o", "temperature", "0.5", "-o", "length", "5"],
        "body": {
            "model": "local-model",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.5,
        },
        "headers": {},
    },
    "steady": {
        "path": "/hosted/v1/chat/completions",
        "args": [],
        "body": {
            "model": "steady-model",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "headers": {},
    },
    "local-chat": {
        "path": "/v1/chat/completions",
        "args": ["-o", "temperature", "0.5"],
        "body": {
            "model": "local-model",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.5,
        },
        "headers": {},
    },
    "hosted-chat": {
        "path": "/hosted/v1/chat/completions",
        "args": ["-o", "seed", "7", "-o", "user_tag", "kept"],
        "body": {
            "model": "meta-llama/llama-3.3-70b-instruct",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "seed": 7,
        },
        "headers": {"authorization": "Bearer hosted-secret"},
    },
    "llama3.2-native": {
        "path": "/api/chat",
        "args": ["-o", "num_ctx", "4096"],
        "body": {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "options": {"num_ctx": 4096},
        },
        "headers": {},
    },
    "claude-yaml": {
        "path": "/v1/messages",
        "args": ["-o", "temperature", "0.3"],
        "body": {
            "model": "claude-sonnet-4-5",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "max_tokens": 1024,
            "stream": True,
            "temperature": 0.3,
        },
        "headers": {"x-api-key": "anthropic-secret", "anthropic-version": "2023-06-01"},
    },
    "gemini-flash-yaml": {
        "path": "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        "args": ["-s", "be brief"],
        "body": {
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}},
        },
        "headers": {"x-goog-api-key": "gemini-secret"},
    },
    "gpt-4.1-yaml": {
        "path": "/v1/responses",
        "args": ["-o", "temperature", "0.5"],
        "body": {
            "model": "gpt-4.1",
            "input": [{"role": "user", "content": "hi"}],
            "stream": True,
            "store": False,
            "temperature": 0.5,
        },
        "headers": {"authorization": "Bearer openai-secret"},
    },
    "o4-mini-yaml": {
        "path": "/v1/responses",
        "args": ["-o", "reasoning_effort", "low"],
        "body": {
            "model": "o4-mini",
            "input": [{"role": "user", "content": "hi"}],
            "stream": True,
            "store": False,
            "reasoning": {"effort": "low", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
        },
        "headers": {"authorization": "Bearer openai-secret"},
    },
    "in-house": {
        "path": "/generic",
        "args": ["-o", "creativity", "0.4", "-o", "style", "brief"],
        "body": {
            "input": "hi",
            "settings": {"creativity": 0.4},
            "caller": "llm (in-house)",
            "style": "brief",
        },
        "headers": {"x-team": "research"},
    },
    "local-base": {
        "path": "/v1/completions",
        "args": ["-o", "temperature", "0.7"],
        "body": {
            "model": "meta-llama/Llama-3.1-8B",
            "prompt": "hi",
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 64,
            "temperature": 0.7,
        },
        "headers": {},
    },
    "azure-gpt": {
        "path": "/openai/deployments/my-gpt-4o-deployment/chat/completions",
        "args": ["-o", "seed", "2"],
        "body": {
            "model": "my-gpt-4o-deployment",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "seed": 2,
        },
        "headers": {"api-key": "azure-secret"},
    },
    "in-house-thinker": {
        "path": "/generic",
        "args": [],
        "body": {"input": "hi", "stream": True},
        "headers": {},
    },
    "deepseek": {
        "path": "/deepseek/chat/completions",
        "args": [],
        "body": {
            "model": "deepseek-reasoner",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        "headers": {"authorization": "Bearer deepseek-secret"},
    },
    "claude-bedrock": {
        "path": "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream",
        "args": ["-o", "max_tokens", "100"],
        "body": {
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {"maxTokens": 100},
        },
        "headers": {},
        "signed": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/",
    },
    "nova-bedrock-key": {
        "path": "/model/amazon.nova-lite-v1%3A0/converse-stream",
        "args": ["-s", "be brief"],
        "body": {
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "system": [{"text": "be brief"}],
        },
        "headers": {"authorization": "Bearer bedrock-secret"},
    },
    "gemini-vertex": {
        "path": "/v1/projects/my-project-123/locations/global/publishers/google/models"
        "/gemini-2.5-flash:streamGenerateContent",
        "args": ["-o", "temperature", "0.5"],
        "body": {
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"temperature": 0.5},
        },
        "headers": {"authorization": "Bearer vertex-token"},
    },
    "claude-vertex": {
        "path": "/v1/projects/my-project-123/locations/us-east5/publishers/anthropic/models"
        "/claude-sonnet-4%4020250514:streamRawPredict",
        "args": [],
        "body": {
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "max_tokens": 4096,
            "stream": True,
            "anthropic_version": "vertex-2023-10-16",
        },
        "headers": {"authorization": "Bearer vertex-token"},
    },
}


def test_every_http_example_is_covered():
    # examples/credentials.yaml needs a key command and token endpoints: test_credentials.py runs it
    found = {m for m, file in http_example_models().items() if file != "credentials.yaml"}
    assert found == set(EXAMPLE_CALLS)


@pytest.mark.parametrize("model_id", sorted(EXAMPLE_CALLS))
def test_http_example_runs_against_the_fake_server(server, run_llm, monkeypatch, model_id):
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(EXAMPLES / http_example_models()[model_id]))
    monkeypatch.setenv("LLM_EXAMPLE_OPENAI_URL", f"{server.url}/v1")
    monkeypatch.setenv("LLM_EXAMPLE_HOSTED_URL", f"{server.url}/hosted/v1")
    monkeypatch.setenv("LLM_EXAMPLE_OLLAMA_URL", server.url)
    monkeypatch.setenv("LLM_EXAMPLE_ANTHROPIC_URL", f"{server.url}/v1")
    monkeypatch.setenv("LLM_EXAMPLE_GENERIC_URL", server.url)
    monkeypatch.setenv("LLM_EXAMPLE_DEEPSEEK_URL", f"{server.url}/deepseek")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "deepseek-secret")
    monkeypatch.setenv("HOSTED_API_KEY", "hosted-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-secret")
    monkeypatch.setenv("LLM_EXAMPLE_GEMINI_URL", f"{server.url}/v1beta")
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-secret")
    monkeypatch.setenv("LLM_EXAMPLE_RESPONSES_URL", f"{server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "openai-secret")
    monkeypatch.setenv("LLM_EXAMPLE_COMPLETIONS_URL", f"{server.url}/v1")
    monkeypatch.setenv("LLM_EXAMPLE_AZURE_URL", server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-secret")
    monkeypatch.setenv("LLM_EXAMPLE_BEDROCK_URL", server.url)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-secret")
    monkeypatch.setenv("LLM_EXAMPLE_VERTEX_URL", f"{server.url}/v1")
    monkeypatch.setenv("VERTEX_ACCESS_TOKEN", "vertex-token")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    expected = EXAMPLE_CALLS[model_id]
    result = run_llm("-m", model_id, "hi", *expected["args"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    (request,) = server.requests
    assert request.path == expected["path"]
    assert request.json == expected["body"]
    for name, value in expected["headers"].items():
        assert request.headers[name] == value
    if "signed" in expected:  # SigV4: the signature changes with the time
        assert request.headers["authorization"].startswith(expected["signed"])
    elif "authorization" not in expected["headers"]:
        assert "authorization" not in request.headers
    response = llm.get_model(model_id).prompt("again", stream=False)
    assert response.text() == REPLY
    assert response.usage().input in (3, 5)


# -- the async API -------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", ["oa", "ol", "an"])
def test_async_api(presets, model_id):
    model = llm.get_async_model(model_id)

    async def run():
        whole = model.prompt("hi", system="S", stream=False)
        text = await whole.text()
        usage = await whole.usage()
        streamed = model.prompt("hi", system="S")
        chunks = [chunk async for chunk in streamed]
        return text, usage, whole.response_json, chunks, await streamed.usage()

    text, usage, response_json, chunks, streamed_usage = arun(run())
    assert text == REPLY
    assert "".join(chunks) == REPLY
    assert usage == streamed_usage == USAGE[model_id]
    assert response_json == RESPONSE_JSON[model_id]
    first, second = presets.requests
    assert (first.json["stream"], second.json["stream"]) == (False, True)
    assert first.path == second.path == PATHS[model_id]
    assert first.json["model"] == WIRE_NAMES[model_id]


def test_async_conversation_history(presets):
    model = llm.get_async_model("oa")

    async def run():
        conversation = model.conversation()
        await conversation.prompt("one", system="S").text()
        return await conversation.prompt("two").text()

    assert arun(run()) == REPLY
    assert body_of(presets)["messages"] == HISTORY["oa"]


def test_async_connections_end_with_their_event_loop(presets):
    """Each asyncio.run() gets its own client; when that loop is done, its
    connections must not stay open for the rest of the process."""
    model = llm.get_async_model("ol")

    async def run():
        return await model.prompt("hi").text()

    for _ in range(3):
        assert asyncio.run(run()) == REPLY
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    for _ in range(100):  # the server notices a close a little later
        if presets.open_connections == 0:
            break
        time.sleep(0.02)
    assert presets.connections_made == 3
    assert presets.open_connections == 0
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []

"""The gemini preset against a loopback server that answers in the shapes
of Google's Gemini API reference (generateContent, streamGenerateContent
with alt=sse), as llm-gemini reads them."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import llm
import pytest
from fakeapi import client_headers

from llm_yaml_models.templates import render

KEY = "AIzaGeminiTestKey-0123456789"
MODEL = "gemini-2.5-flash"
# A signature as Gemini sends one: base64, with + / and = that must come back unchanged.
SIGNATURE = "CiQBjz1rX+/aB3Ld0KZQ==" + "Zm9v/Kw+" * 40
USAGE = {
    "promptTokenCount": 7,
    "candidatesTokenCount": 3,
    "thoughtsTokenCount": 11,
    "totalTokenCount": 21,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7}],
}


def reply(*parts: dict, finish: str | None = "STOP", usage: dict | None = USAGE) -> dict:
    """One GenerateContentResponse (a whole reply, or one streamed chunk)."""
    candidate: dict = {"content": {"parts": list(parts), "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    out: dict = {"candidates": [candidate]}
    if usage:
        out["usageMetadata"] = usage
    return {**out, "modelVersion": MODEL, "responseId": "resp-1"}


def sse(*chunks: dict) -> bytes:
    # Google's server ends each event with CRLF CRLF.
    return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    headers: dict
    body: dict


class Gemini:
    """Answers each request with the next queued (status, content type,
    bytes), or a plain "Hello there" in the shape the URL asks for."""

    def __init__(self):
        self.requests: list[Seen] = []
        self.queue: list[tuple[int, str, bytes]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                parts = urlsplit(self.path)
                headers = {k.lower(): v for k, v in self.headers.items()}
                api.requests.append(
                    Seen("POST", parts.path, parse_qs(parts.query), headers, json.loads(body))
                )
                status, kind, data = api.queue.pop(0) if api.queue else api.default(parts.path)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # shutdown() waits for the loop to look again: every 20 ms, not 0.5 s
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def default(self, path: str) -> tuple[int, str, bytes]:
        if path.endswith(":streamGenerateContent"):
            chunks = [reply({"text": "Hello"}, finish=None, usage=None), reply({"text": " there"})]
            return 200, "text/event-stream", sse(*chunks)
        return 200, "application/json", json.dumps(reply({"text": "Hello there"})).encode()

    def answer(self, data, status: int = 200) -> None:
        """Queue a whole JSON reply."""
        self.queue.append((status, "application/json", json.dumps(data).encode()))

    def stream(self, *chunks: dict) -> None:
        self.queue.append((200, "text/event-stream", sse(*chunks)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1beta"

    @property
    def last(self) -> Seen:
        return self.requests[-1]


@pytest.fixture
def gemini(write, monkeypatch):
    api = Gemini()
    api.thread.start()
    monkeypatch.setenv("GEMINI_TEST_URL", api.url)
    monkeypatch.setenv("GEMINI_TEST_KEY", KEY)
    write("gemini.yaml", MODELS)
    try:
        yield api
    finally:
        api.server.shutdown()
        api.server.server_close()


# Until the options branch reads a preset's options, the model declares them.
OPTIONS = """\
  options:
    temperature: {type: number, minimum: 0, maximum: 2}
    top_p: {type: number, minimum: 0, maximum: 1}
    top_k: {type: integer, minimum: 1}
    max_output_tokens: {type: integer, minimum: 1}
    stop_sequences: {type: array, items: {type: string}}
    thinking_budget: {type: integer, minimum: -1}
    include_thoughts: {type: boolean}
"""
MODELS = f"""\
- model_id: gem
  key: {{name: gemini-test, env: GEMINI_TEST_KEY}}
  backend: {{type: http, preset: gemini, base_url: "${{GEMINI_TEST_URL}}", model_name: {MODEL}}}
  attachment_types: [image/png, audio/wav, application/pdf]
  supports_tools: true
  supports_schema: true
{OPTIONS}"""

WHOLE = f"/v1beta/models/{MODEL}:generateContent"
STREAMED = f"/v1beta/models/{MODEL}:streamGenerateContent"
USER_HI = {"role": "user", "parts": [{"text": "hi"}]}


def logged(run_llm) -> dict:
    result = run_llm("logs", "--json", "-n", "1")
    assert result.exit_code == 0
    assert KEY not in result.stdout
    return json.loads(result.stdout)[0]


# -- requests -----------------------------------------------------------------------


def test_a_whole_reply_from_generate_content(gemini, run_llm):
    result = run_llm("-m", "gem", "hi", "--no-stream")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "Hello there\n", "")
    seen = gemini.last
    assert (seen.path, seen.query) == (WHOLE, {})
    assert seen.headers["x-goog-api-key"] == KEY
    assert seen.body == {"contents": [USER_HI]}


def test_a_stream_from_stream_generate_content_with_alt_sse(gemini, run_llm):
    result = run_llm("-m", "gem", "hi")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "Hello there\n", "")
    seen = gemini.last
    assert (seen.path, seen.query) == (STREAMED, {"alt": ["sse"]})
    assert seen.headers["x-goog-api-key"] == KEY
    assert seen.body == {"contents": [USER_HI]}


@pytest.mark.parametrize("args", [[], ["--no-stream"]], ids=["stream", "no-stream"])
def test_usage_metadata_in_the_logs(gemini, run_llm, args):
    assert run_llm("-m", "gem", "hi", *args).exit_code == 0
    row = logged(run_llm)
    # thoughts are output, as llm-gemini counts them
    assert (row["input_tokens"], row["output_tokens"]) == (7, 14)
    assert json.loads(row["token_details"]) == {
        "candidatesTokenCount": 3,
        "thoughtsTokenCount": 11,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7}],
    }
    assert row["response_json"] == {
        "id": "resp-1",
        "model": MODEL,
        "finish_reason": "STOP",
        "usage": {
            "input": 7,
            "output": 14,
            "details": json.loads(row["token_details"]),
        },
    }


def test_system_prompt_and_history_under_llm_c(gemini, run_llm):
    assert run_llm("-m", "gem", "hi", "-s", "be brief").exit_code == 0
    assert gemini.last.body["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert run_llm("-c", "and again").exit_code == 0
    assert gemini.last.body == {
        "contents": [
            USER_HI,
            {"role": "model", "parts": [{"text": "Hello there"}]},
            {"role": "user", "parts": [{"text": "and again"}]},
        ],
        "systemInstruction": {"parts": [{"text": "be brief"}]},
    }


def test_attachments_go_as_inline_data(gemini, run_llm, tmp_path):
    files = {"a.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 16, "b.wav": b"RIFF" + b"\0" * 40}
    files["c.pdf"] = b"%PDF-1.4\n%%EOF\n"
    args = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        args += ["-a", str(tmp_path / name)]
    result = run_llm("-m", "gem", "what are these", *args, "--no-stream")
    assert result.exit_code == 0, result.output
    kinds = ["image/png", "audio/wav", "application/pdf"]
    inline = [
        {"inline_data": {"mime_type": kind, "data": base64.b64encode(data).decode()}}
        for kind, data in zip(kinds, files.values(), strict=True)
    ]
    parts = [{"text": "what are these"}, *inline]
    assert gemini.last.body == {"contents": [{"role": "user", "parts": parts}]}
    # and again, as history
    assert run_llm("-c", "thanks", "--no-stream").exit_code == 0
    assert gemini.last.body["contents"][0] == {"role": "user", "parts": parts}


def test_options_go_in_generation_config(gemini, run_llm):
    options = [
        *("-o", "temperature", "0.5", "-o", "top_p", "0.9", "-o", "top_k", "40"),
        *("-o", "max_output_tokens", "256", "-o", "stop_sequences", '["END"]'),
        *("-o", "thinking_budget", "1024", "-o", "include_thoughts", "true"),
    ]
    assert run_llm("-m", "gem", "hi", *options).exit_code == 0
    assert gemini.last.body == {
        "contents": [USER_HI],
        "generationConfig": {
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 40,
            "maxOutputTokens": 256,
            "stopSequences": ["END"],
            "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
        },
    }
    # A budget of 0 turns thinking off: it is sent, not taken for unset.
    assert run_llm("-m", "gem", "hi", "-o", "thinking_budget", "0").exit_code == 0
    assert gemini.last.body["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}


def test_schema_goes_in_generation_config_beside_the_options(gemini, run_llm):
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Dog",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "title": {"type": "string"},  # a property called title stays
            "owner": {"$ref": "#/$defs/Person"},
        },
        "$defs": {"Person": {"title": "Person", "type": "object", "properties": {}}},
    }
    gemini.answer(reply({"text": '{"title": "Rex"}'}))
    args = ("--schema", json.dumps(schema), "-o", "temperature", "0", "--no-stream")
    result = run_llm("-m", "gem", "a dog", *args)
    assert (result.exit_code, result.stdout) == (0, '{"title": "Rex"}\n')
    assert gemini.last.body["generationConfig"] == {
        "temperature": 0,
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "owner": {"type": "object", "properties": {}},
            },
        },
    }


def test_a_schema_that_refers_to_itself_is_one_line(gemini, run_llm):
    schema = {
        "$ref": "#/$defs/Node",
        "$defs": {"Node": {"properties": {"next": {"$ref": "#/$defs/Node"}}}},
    }
    result = run_llm("-m", "gem", "x", "--schema", json.dumps(schema))
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: gem: --schema refers to itself: #/$defs/Node "
        "(Gemini's responseSchema cannot say that)\n"
    )
    assert gemini.requests == []


# -- thoughts and their signatures ------------------------------------------------------


def thinking_stream(gemini) -> None:
    gemini.stream(
        reply({"text": "Weighing it", "thought": True}, finish=None, usage=None),
        reply({"text": " up.", "thought": True}, finish=None, usage=None),
        reply({"text": "Forty"}, finish=None, usage=None),
        reply({"text": "-two", "thoughtSignature": SIGNATURE}),
    )


def test_thoughts_are_reasoning_and_their_signature_goes_back(gemini, run_llm):
    thinking_stream(gemini)
    result = run_llm("-m", "gem", "the answer?", "-o", "include_thoughts", "true")
    assert (result.exit_code, result.stdout) == (0, "Forty-two\n")
    response = llm.get_model("gem").prompt("the answer?")
    thinking_stream(gemini)
    assert response.text() == "Forty-two"
    reasoning, text = response.messages()[0].parts
    assert (type(reasoning).__name__, reasoning.text) == ("ReasoningPart", "Weighing it up.")
    assert text.provider_metadata == {"gemini": {"thoughtSignature": SIGNATURE}}
    # Through logs.db, as `llm -c` reads it: the signature, byte for byte.
    assert run_llm("-c", "why?", "--no-stream").exit_code == 0
    model_turn = {"role": "model", "parts": [{"text": "Forty-two", "thoughtSignature": SIGNATURE}]}
    assert gemini.last.body["contents"] == [
        {"role": "user", "parts": [{"text": "the answer?"}]},
        model_turn,
        {"role": "user", "parts": [{"text": "why?"}]},
    ]


def test_a_signed_thought_goes_back_as_a_thought(gemini, run_llm):
    thought = {"text": "Plan.", "thought": True, "thoughtSignature": SIGNATURE}
    gemini.answer(reply(thought, {"text": "Done."}))
    assert run_llm("-m", "gem", "go", "--no-stream").exit_code == 0
    assert run_llm("-c", "more", "--no-stream").exit_code == 0
    assert gemini.last.body["contents"][1] == {
        "role": "model",
        "parts": [thought, {"text": "Done."}],
    }


# -- tools ---------------------------------------------------------------------------------


def make_add(calls: list):
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        calls.append((a, b))
        return a + b

    return add


ADD = {
    "name": "add",
    "description": "Add two numbers.",
    "parameters": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
}


def call_part(a: int, b: int, **extra) -> dict:
    return {"functionCall": {"name": "add", "args": {"a": a, "b": b}, **extra}}


@pytest.mark.parametrize("stream", [False, True], ids=["no-stream", "stream"])
def test_a_tool_chain_sends_the_signature_back_with_the_call(gemini, stream):
    signed = {**call_part(2, 3), "thoughtSignature": SIGNATURE}
    first = reply(signed, finish="STOP")
    gemini.stream(first) if stream else gemini.answer(first)
    calls: list = []
    chain = llm.get_model("gem").chain("2+3?", tools=[make_add(calls)], stream=stream)
    assert chain.text() == "Hello there"
    assert calls == [(2, 3)]
    one, two = (r.body for r in gemini.requests)
    assert one == {
        "contents": [{"role": "user", "parts": [{"text": "2+3?"}]}],
        "tools": [{"functionDeclarations": [ADD]}],
    }
    made_up = two["contents"][1]["parts"][0]["functionCall"]["id"]  # Gemini gave none
    assert made_up.startswith("call_")
    assert two["contents"] == [
        {"role": "user", "parts": [{"text": "2+3?"}]},
        {
            "role": "model",
            "parts": [{**call_part(2, 3, id=made_up), "thoughtSignature": SIGNATURE}],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "add", "response": {"output": "5"}, "id": made_up}}
            ],
        },
    ]


def test_parallel_calls_are_answered_in_one_turn(gemini):
    gemini.answer(reply({"text": "Both."}, call_part(1, 2, id="c1"), call_part(3, 4, id="c2")))
    calls: list = []
    response = llm.get_model("gem").prompt("sums", tools=[make_add(calls)])
    assert [(c.name, c.arguments, c.tool_call_id) for c in response.tool_calls()] == [
        ("add", {"a": 1, "b": 2}, "c1"),
        ("add", {"a": 3, "b": 4}, "c2"),
    ]
    chain = llm.get_model("gem").chain("sums", tools=[make_add(calls)], stream=False)
    gemini.answer(reply({"text": "Both."}, call_part(1, 2, id="c1"), call_part(3, 4, id="c2")))
    assert chain.text() == "Both. Hello there"
    results = gemini.last.body["contents"][2]
    assert results == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "add", "response": {"output": "3"}, "id": "c1"}},
            {"functionResponse": {"name": "add", "response": {"output": "7"}, "id": "c2"}},
        ],
    }
    assert gemini.last.body["contents"][1]["parts"] == [
        {"text": "Both."},
        call_part(1, 2, id="c1"),
        call_part(3, 4, id="c2"),
    ]


def test_a_tool_without_arguments_has_no_parameters(gemini):
    def now() -> str:
        """The time."""
        return "noon"

    llm.get_model("gem").prompt("time?", tools=[now], stream=False).text()
    assert gemini.last.body["tools"] == [
        {"functionDeclarations": [{"name": "now", "description": "The time."}]}
    ]


def test_a_malformed_function_call_is_one_line(gemini, run_llm):
    gemini.answer(reply({"functionCall": {"name": "add", "args": [1, 2]}}))
    result = run_llm("-m", "gem", "hi", "--no-stream")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: gem: a function call in the reply from {gemini.url}/models/{MODEL}"
        ":generateContent: args is not an object\n"
    )


# -- errors ----------------------------------------------------------------------------------


GOOGLE_ERROR = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        ],
    }
}


@pytest.mark.parametrize(
    "args,url", [([], STREAMED), (["--no-stream"], WHOLE)], ids=["stream", "no-stream"]
)
def test_an_error_status_is_google_s_message_in_one_line(gemini, run_llm, args, url):
    gemini.answer(GOOGLE_ERROR, status=400)
    result = run_llm("-m", "gem", "hi", *args)
    assert result.exit_code == 1
    where = gemini.url.removesuffix("/v1beta") + url
    assert result.stderr == (
        f"Error: gem: HTTP 400 from {where}: API key not valid. Please pass a valid API key.\n"
    )


def test_an_error_in_the_stream_and_a_blocked_prompt(gemini, run_llm):
    where = gemini.url.removesuffix("/v1beta")
    gemini.stream(
        reply({"text": "Hel"}, finish=None), {"error": {"code": 500, "message": "Internal error"}}
    )
    result = run_llm("-m", "gem", "hi")
    assert result.exit_code == 1
    assert result.stderr.endswith(f"Error: gem: error from {where}{STREAMED}: Internal error\n")
    gemini.answer({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": USAGE})
    result = run_llm("-m", "gem", "hi", "--no-stream")
    assert result.stderr == (
        f"Error: gem: error from {where}{WHOLE}: the prompt was blocked: PROHIBITED_CONTENT\n"
    )


def test_the_key_is_never_in_the_url_the_logs_or_an_error(gemini, run_llm, llm_exe):
    echoed = {"error": {"code": 400, "message": f"API key {KEY} not valid"}}
    gemini.answer(echoed, status=400)
    result = llm_exe("-m", "gem", "hi")
    assert result.returncode == 1
    assert KEY not in result.stderr and "API key *** not valid" in result.stderr
    assert run_llm("-m", "gem", "hi").exit_code == 0
    for seen in gemini.requests:
        assert "key" not in seen.query and KEY not in seen.path
        assert seen.headers["x-goog-api-key"] == KEY
    logged(run_llm)


# -- the dry run, a subprocess, async ---------------------------------------------------------


class _Port:
    def __init__(self, url: str):
        self.port = int(url.split(":")[2].split("/")[0])


def test_the_dry_run_shows_the_preset_request(gemini, run_llm):
    result = run_llm("yaml-models", "request", "gem", "hi", "-s", "be brief", "-o", "top_k", "3")
    assert result.exit_code == 0, result.output
    body = (
        '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],'
        '"systemInstruction":{"parts":[{"text":"be brief"}]},"generationConfig":{"topK":3}}'
    )
    assert result.stdout == (
        f"POST {gemini.url}/models/{MODEL}:streamGenerateContent?alt=sse\n"
        + client_headers(_Port(gemini.url))
        + "x-goog-api-key: ***\n"
        + f"Content-Length: {len(body)}\n"
        + "Content-Type: application/json\n"
        + "\n"
        + body
        + "\n"
    )
    assert gemini.requests == []


def test_llm_in_a_subprocess_streams(gemini, llm_exe):
    thinking_stream(gemini)
    result = llm_exe("-m", "gem", "the answer?")
    # llm shows reasoning on stderr
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "Forty-two\n",
        "Weighing it up.\n",
    )


def test_the_async_model(gemini):
    async def run():
        response = llm.get_async_model("gem").prompt("hi")
        return [chunk async for chunk in response], await response.usage()

    chunks, usage = asyncio.run(run())
    assert "".join(chunks) == "Hello there"
    assert (usage.input, usage.output) == (7, 14)


# -- the mechanisms the preset needs -------------------------------------------------------


def test_a_mapping_or_list_emptied_by_unset_values_is_dropped():
    template = {
        "config": {"topK": "{{ options.top_k }}", "inner": {"x": "{{ options.x }}"}},
        "system": {"parts": [{"text": "{{ system }}"}]},
        "kept": {},
        "list": [],
        "set": {"a": "{{ options.a }}", "b": "{{ options.b }}"},
    }
    context = {"options": {"a": 1}}
    assert render(template, context) == {"kept": {}, "list": [], "set": {"a": 1}}


def test_a_declared_url_is_used_for_streaming_too(gemini, write, run_llm):
    write(
        "proxy.yaml",
        f"""\
        - model_id: proxied
          backend:
            type: http
            preset: gemini
            url: "${{GEMINI_TEST_URL}}/models/{MODEL}:generateContent"
        """,
    )
    assert run_llm("-m", "proxied", "hi").exit_code == 0
    # The preset's stream.path is not joined to its own base_url: a proxy gets it all.
    assert (gemini.last.path, gemini.last.query) == (WHOLE, {"alt": ["sse"]})
    assert "x-goog-api-key" not in gemini.last.headers  # no key declared


def test_validate_checks_the_stream_path_template(write, run_llm):
    path = write(
        "bad.yaml",
        """\
        - model_id: bad
          backend:
            type: http
            preset: gemini
            stream: {path: "/models/{{ modle }}:streamGenerateContent"}
        """,
    )
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}:5:20: [0].backend.stream.path: unknown template name 'modle'; "
        "names are: prompt, system, messages, model, stream, options, key, env, region, "
        "project, location, vertex_host\n"
    )


def test_a_cli_tool_chain_and_llm_c_keep_the_call_s_signature(gemini, run_llm):
    signed = {**call_part(2, 3, id="fc-1"), "thoughtSignature": SIGNATURE}
    gemini.stream(reply(signed))
    add = "def add(a: int, b: int) -> int:\n    'Add two numbers.'\n    return a + b\n"
    result = run_llm("-m", "gem", "2+3?", "--functions", add)
    assert (result.exit_code, result.stdout) == (0, "Hello there\n"), result.output
    # Read back from logs.db: the call, its signature and its result.
    assert run_llm("-c", "and now?", "--no-stream").exit_code == 0
    assert gemini.last.body["contents"] == [
        {"role": "user", "parts": [{"text": "2+3?"}]},
        {"role": "model", "parts": [signed]},
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "add", "response": {"output": "5"}, "id": "fc-1"}}
            ],
        },
        {"role": "model", "parts": [{"text": "Hello there"}]},
        {"role": "user", "parts": [{"text": "and now?"}]},
    ]


def test_a_stream_cut_off_before_its_finish_reason_is_an_error(gemini, run_llm):
    where = gemini.url.removesuffix("/v1beta")
    gemini.stream(reply({"text": "The answer is"}, finish=None))
    result = run_llm("-m", "gem", "hi")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"Error: gem: stream from {where}{STREAMED} ended before it was complete\n"
    )


@pytest.mark.parametrize(
    "data",
    [{}, {"unexpected": "shape"}, {"candidates": [{"finishReason": "SAFETY"}]}],
    ids=["empty", "unknown", "no-content"],
)
def test_a_whole_reply_with_no_parts_is_an_error_not_empty_text(gemini, run_llm, data):
    where = gemini.url.removesuffix("/v1beta")
    gemini.answer(data)
    result = run_llm("-m", "gem", "hi", "--no-stream")
    assert result.exit_code == 1
    path = "candidates[0].content.parts && join('', candidates[0].content.parts[?!thought].text)"
    assert result.stderr == f"Error: gem: nothing at '{path}' in the reply from {where}{WHOLE}\n"


def test_a_token_count_that_is_not_a_number_is_not_counted(gemini):
    usage = {**USAGE, "promptTokenCount": "7"}
    gemini.answer(reply({"text": "ok"}, usage=usage))
    response = llm.get_model("gem").prompt("hi", stream=False)
    assert response.text() == "ok"
    # The count that is no number is left out of the sum, not a failed reply.
    assert (response.input_tokens, response.output_tokens) == (0, 3 + 11)  # thoughts count

"""anthropic-messages and ollama-chat: reasoning and tools, against a real
loopback server speaking each API's shapes (tests/fakeapi.py), streamed and
whole, through llm's Python API and the llm executable."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json

import llm
import pytest
from fakeapi import (
    FakeAPI,
    anthropic_blocks_json,
    anthropic_blocks_sse,
    ollama_message_json,
    ollama_message_ndjson,
)
from llm.parts import ReasoningPart, TextPart, ToolCallPart

# Thinking and a signature with what JSON escapes: quotes, a newline, non-ASCII.
THINKING = 'The user wants 2+3.\nI should call "add" \u2013 carefully.'
SIGNATURE = "EqQBCkYIBRgCKkBa+/sig==\u00e9"
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
THINK = {"type": "thinking", "thinking": THINKING, "signature": SIGNATURE}
HIDDEN = {"type": "redacted_thinking", "data": REDACTED}
ADD = {"type": "tool_use", "id": "toolu_01A", "name": "add", "input": {"a": 2, "b": 3}}

MODELS = """\
- model_id: claude
  key: {name: an, env: AN_TEST_KEY}
  backend:
    type: http
    preset: anthropic-messages
    base_url: ${FAKE_URL}/v1
    retries: 0
    body: {thinking: {type: enabled, budget_tokens: "{{ options.budget }}"}}
  options:
    budget: {type: integer, minimum: 1024, default: 2048}
  supports_tools: true
- model_id: olla
  backend:
    type: http
    preset: ollama-chat
    base_url: ${FAKE_URL}
    retries: 0
  supports_tools: true
"""


class ScriptedAPI(FakeAPI):
    """Answers the n-th request with the n-th turn (the last one again after
    that): Anthropic content blocks and a stop reason, or an Ollama message;
    streamed when the request asks for a stream."""

    def __init__(self):
        super().__init__()
        self.turns: list = []

    def _reply(self, request):
        stream = bool(json.loads(request.body).get("stream"))
        turn = self.turns[min(len(self.requests), len(self.turns)) - 1]
        if request.path.endswith("/messages"):
            blocks, stop = turn
            if stream:
                return True, "text/event-stream", anthropic_blocks_sse(blocks, stop)
            return (
                False,
                "application/json",
                json.dumps(anthropic_blocks_json(blocks, stop)).encode(),
            )
        if stream:
            return True, "application/x-ndjson", ollama_message_ndjson(turn)
        return False, "application/json", json.dumps(ollama_message_json(turn)).encode()


@pytest.fixture
def api(write, monkeypatch):
    with ScriptedAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        monkeypatch.setenv("AN_TEST_KEY", "sk-an-test")
        write("models.yaml", MODELS)
        yield server


def make_add(calls: list):
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        calls.append((a, b))
        return a + b

    return add


def where(api, model="claude") -> str:
    return f"{api.url}/v1/messages" if model == "claude" else f"{api.url}/api/chat"


STREAM = pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])


# -- anthropic-messages: reasoning ----------------------------------------------------------


@STREAM
def test_anthropic_thinking_is_reasoning_with_its_signature(api, stream):
    api.turns = [([THINK, HIDDEN, {"type": "text", "text": "Five."}], "end_turn")]
    response = llm.get_model("claude").prompt("2+3?", stream=stream)
    assert response.text() == "Five."
    (message,) = response.messages()
    assert message.parts == [
        ReasoningPart(THINKING, provider_metadata={"anthropic": {"signature": SIGNATURE}}),
        ReasoningPart(
            "", provider_metadata={"anthropic": {"type": "redacted_thinking", "data": REDACTED}}
        ),
        TextPart("Five."),
    ]
    assert api.last.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}


@STREAM
def test_anthropic_thinking_blocks_in_a_row_stay_apart(api, stream):
    second = {"type": "thinking", "thinking": "More.", "signature": "sig2"}
    api.turns = [([THINK, second, HIDDEN, HIDDEN, {"type": "text", "text": "ok"}], "end_turn")]
    response = llm.get_model("claude").prompt("hi", stream=stream)
    response.text()
    assert [p.provider_metadata for p in response.messages()[0].parts[:4]] == [
        {"anthropic": {"signature": SIGNATURE}},
        {"anthropic": {"signature": "sig2"}},
        {"anthropic": {"type": "redacted_thinking", "data": REDACTED}},
        {"anthropic": {"type": "redacted_thinking", "data": REDACTED}},
    ]


@STREAM
def test_anthropic_thinking_blocks_around_text_go_back_in_their_order(api, stream):
    # Whole or streamed, [thinking, text, thinking, tool_use] goes back as it
    # came: joining the two thinking blocks would break their signatures.
    second = {"type": "thinking", "thinking": "Then add.", "signature": "sig2"}
    api.turns = [([THINK, {"type": "text", "text": "Let me add."}, second, ADD], "tool_use")]
    api.turns.append(([{"type": "text", "text": "5."}], "end_turn"))
    chain = llm.get_model("claude").chain("2+3?", tools=[make_add([])], stream=stream)
    assert chain.text() == "Let me add. 5."
    assistant = api.last.json["messages"][1]
    assert assistant == {
        "role": "assistant",
        "content": [THINK, {"type": "text", "text": "Let me add."}, second, ADD],
    }


@STREAM
def test_anthropic_thinking_blocks_around_a_tool_use_stay_apart(api, stream):
    # [thinking, tool_use, thinking, tool_use]: each thinking block goes back
    # with its own signature, in its place.
    second = {"type": "thinking", "thinking": "Then add.", "signature": "sig2"}
    other = {**ADD, "id": "toolu_02B", "input": {"a": 1, "b": 1}}
    api.turns = [([THINK, ADD, second, other], "tool_use")]
    api.turns.append(([{"type": "text", "text": "Done."}], "end_turn"))
    chain = llm.get_model("claude").chain("2+3?", tools=[make_add([])], stream=stream)
    assert chain.text() == "Done."
    assert api.last.json["messages"][1]["content"] == [THINK, ADD, second, other]


@STREAM
def test_anthropic_tool_use_with_an_empty_id_is_one_call(api, stream):
    # A proxy's "id": "": the call gets one made-up id, for its name and input.
    api.turns = [([{**ADD, "id": ""}], "tool_use"), ([{"type": "text", "text": "5."}], "end_turn")]
    chain = llm.get_model("claude").chain("2+3?", tools=[make_add([])], stream=stream)
    assert chain.text() == "5."
    (sent,) = api.last.json["messages"][1]["content"]
    assert sent["type"] == "tool_use" and sent["input"] == {"a": 2, "b": 3}
    assert sent["id"].startswith("toolu_") and len(sent["id"]) == 30


@STREAM
def test_anthropic_next_turn_carries_the_thinking_back(api, stream):
    api.turns = [([THINK, HIDDEN, {"type": "text", "text": "Five."}], "end_turn")]
    conversation = llm.get_model("claude").conversation()
    conversation.prompt("2+3?", stream=stream).text()
    conversation.prompt("and 3+4?", stream=stream).text()
    assert api.last.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "2+3?"}]},
        {"role": "assistant", "content": [THINK, HIDDEN, {"type": "text", "text": "Five."}]},
        {"role": "user", "content": [{"type": "text", "text": "and 3+4?"}]},
    ]


# -- anthropic-messages: tools ------------------------------------------------------------

ADD_SPEC = {
    "name": "add",
    "description": "Add two numbers.",
    "input_schema": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
}
TOOL_TURNS = [
    ([THINK, {"type": "text", "text": "Adding."}, ADD], "tool_use"),
    ([{"type": "text", "text": "It is 5."}], "end_turn"),
]


@STREAM
def test_anthropic_tool_chain_sends_the_signed_thinking_back_byte_for_byte(api, stream):
    api.turns = TOOL_TURNS
    calls = []
    chain = llm.get_model("claude").chain("2+3?", tools=[make_add(calls)], stream=stream)
    assert chain.text() == "Adding. It is 5."
    assert calls == [(2, 3)]
    first, second = api.requests
    assert first.json["tools"] == [ADD_SPEC]
    assert second.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "2+3?"}]},
        {"role": "assistant", "content": [THINK, {"type": "text", "text": "Adding."}, ADD]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "5"}],
        },
    ]
    # The thinking block as the server sent it, the same bytes once encoded.
    assert json.dumps(THINK, ensure_ascii=False, separators=(",", ":")).encode() in second.body


@STREAM
def test_anthropic_tool_call_reaches_llm_once_in_order(api, stream):
    api.turns = TOOL_TURNS
    response = llm.get_model("claude").prompt("2+3?", tools=[make_add([])], stream=stream)
    response.text()
    (call,) = response.tool_calls()
    assert (call.name, call.arguments, call.tool_call_id) == ("add", {"a": 2, "b": 3}, "toolu_01A")
    assert [type(p) for p in response.messages()[0].parts] == [
        ReasoningPart,
        TextPart,
        ToolCallPart,
    ]
    assert response.response_json["finish_reason"] == "tool_use"


def test_anthropic_tool_calls_stream_as_events_in_order(api):
    api.turns = TOOL_TURNS
    response = llm.get_model("claude").prompt("2+3?", tools=[make_add([])])
    events = [(e.type, e.chunk, e.tool_call_id) for e in response.stream_events() if e.chunk]
    # The name where the block began; the input once whole, as the request holds it.
    # (Reasoning deltas that arrive in one network read come as one event.)
    assert events[-4][0] == "reasoning" and events[-4][1].endswith("carefully.")
    assert events[-4:] == [
        ("reasoning", events[-4][1], None),
        ("text", "Adding.", None),
        ("tool_call_name", "add", "toolu_01A"),
        ("tool_call_args", '{"a": 2, "b": 3}', "toolu_01A"),
    ]


def test_anthropic_async_tool_chain(api):
    api.turns = TOOL_TURNS
    calls = []

    async def run():
        model = llm.get_async_model("claude")
        return await model.chain("2+3?", tools=[make_add(calls)]).text()

    assert asyncio.run(run()) == "Adding. It is 5."
    assert calls == [(2, 3)]
    assert api.last.json["messages"][1]["content"] == [
        THINK,
        {"type": "text", "text": "Adding."},
        ADD,
    ]


def test_anthropic_unknown_blocks_are_ignored(api):
    server_tool = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    api.turns = [
        ([server_tool, {"type": "mystery", "x": 1}, {"type": "text", "text": "ok"}], "end_turn")
    ]
    for stream in (True, False):
        response = llm.get_model("claude").prompt("hi", stream=stream)
        assert response.text() == "ok"
        assert response.tool_calls() == []


BAD_BLOCKS = {
    "tool_use input not an object": (
        {**ADD, "input": [1, 2]},
        "a tool_use block in the reply from {where}: input is not a JSON object",
    ),
    "tool_use id not a string": (
        {**ADD, "id": 7},
        "a tool_use block in the reply from {where}: id is not a string",
    ),
    "tool_use name missing": (
        {k: v for k, v in ADD.items() if k != "name"},
        "a tool_use block in the reply from {where}: name is not a string",
    ),
    "redacted_thinking data not a string": (
        {"type": "redacted_thinking", "data": None},
        "a redacted_thinking block in the reply from {where}: data is not a string",
    ),
}


@STREAM
@pytest.mark.parametrize("case", list(BAD_BLOCKS))
def test_anthropic_bad_blocks(api, case, stream):
    block, message = BAD_BLOCKS[case]
    api.turns = [([block], "tool_use")]
    with pytest.raises(llm.ModelError) as caught:
        llm.get_model("claude").prompt("hi", tools=[make_add([])], stream=stream).text()
    assert str(caught.value) == "claude: " + message.format(where=where(api))


def test_a_bad_block_on_the_command_line_is_one_line(api, run_llm):
    api.turns = [([{**ADD, "input": "2+3"}], "tool_use")]
    result = run_llm("-m", "claude", "hi")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: claude: a tool_use block in the reply from {where(api)}: "
        "input is not a JSON object\n"
    )


class RawAPI(FakeAPI):
    """Anthropic SSE exactly as given."""

    events: list = []

    def _reply(self, request):
        body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in self.events)
        return True, "text/event-stream", body.encode()


BAD_EVENTS = {
    "thinking_delta without text": (
        [{"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta"}}],
        "a thinking_delta in the reply from {where}: thinking is not a string",
    ),
    "signature_delta not a string": (
        [
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": 5},
            }
        ],
        "a signature_delta in the reply from {where}: signature is not a string",
    ),
    "partial_json not JSON": (
        [
            {"type": "content_block_start", "index": 0, "content_block": {**ADD, "input": {}}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"a": '},
            },
            {"type": "content_block_stop", "index": 0},
        ],
        "a tool_use block in the reply from {where}: input is not a JSON object",
    ),
    "index not an integer": (
        [{"type": "content_block_start", "index": [0], "content_block": {**ADD, "input": {}}}],
        "a content_block_start event in the reply from {where}: index is not an integer",
    ),
    "partial_json not a string": (
        [
            {"type": "content_block_start", "index": 0, "content_block": {**ADD, "input": {}}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": {"a": 1}},
            },
        ],
        "an input_json_delta in the reply from {where}: partial_json is not a string",
    ),
}


@pytest.mark.parametrize("case", list(BAD_EVENTS))
def test_anthropic_bad_stream_events(write, monkeypatch, case):
    events, message = BAD_EVENTS[case]
    RawAPI.events = [*events, {"type": "message_stop"}]
    with RawAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        monkeypatch.setenv("AN_TEST_KEY", "sk-an-test")
        write("models.yaml", MODELS)
        with pytest.raises(llm.ModelError) as caught:
            llm.get_model("claude").prompt("hi").text()
    assert str(caught.value) == "claude: " + message.format(where=f"{server.url}/v1/messages")


# -- anthropic-messages through the llm executable -------------------------------------------


def test_anthropic_reasoning_on_the_command_line(api, llm_exe):
    api.turns = [([THINK, HIDDEN, {"type": "text", "text": "Five."}], "end_turn")]
    first = llm_exe("-m", "claude", "2+3?")
    assert (first.returncode, first.stdout) == (0, "Five.\n")
    assert THINKING in first.stderr
    hidden = llm_exe("-c", "-R", "and 3+4?")
    assert (hidden.returncode, hidden.stdout, hidden.stderr) == (0, "Five.\n", "")
    assert api.last.json["messages"][1] == {
        "role": "assistant",
        "content": [THINK, HIDDEN, {"type": "text", "text": "Five."}],
    }
    logs = llm_exe("logs", "--json", "-n", "0")
    assert [(e["response"], e["reasoning"]) for e in json.loads(logs.stdout)] == [
        ("Five.", THINKING)
    ] * 2


def test_tools_validate_on_both_presets(api, llm_exe):
    result = llm_exe("yaml-models", "validate")
    assert (result.returncode, result.stderr) == (0, "")


# -- ollama-chat ---------------------------------------------------------------------------

OLLAMA_CALL = {"function": {"name": "add", "arguments": {"a": 2, "b": 3}}}


@STREAM
def test_ollama_thinking_is_reasoning(api, stream):
    api.turns = [{"thinking": "Two plus three.", "content": "Five."}]
    response = llm.get_model("olla").prompt("2+3?", stream=stream)
    assert response.text() == "Five."
    assert response.messages()[0].parts == [ReasoningPart("Two plus three."), TextPart("Five.")]


@STREAM
def test_ollama_tool_chain(api, stream):
    api.turns = [
        {"thinking": "Use add.", "tool_calls": [OLLAMA_CALL]},
        {"content": "It is 5."},
    ]
    calls = []
    chain = llm.get_model("olla").chain("2+3?", tools=[make_add(calls)], stream=stream)
    assert chain.text() == "It is 5."
    assert calls == [(2, 3)]
    first, second = api.requests
    assert first.json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "add",
                "description": "Add two numbers.",
                "parameters": ADD_SPEC["input_schema"],
            },
        }
    ]
    assert second.json["messages"] == [
        {"role": "user", "content": "2+3?"},
        {"role": "assistant", "content": "", "thinking": "Use add.", "tool_calls": [OLLAMA_CALL]},
        {"role": "tool", "content": "5", "tool_name": "add"},
    ]


@STREAM
def test_ollama_tool_call_reaches_llm_once(api, stream):
    api.turns = [{"content": "Adding.", "tool_calls": [OLLAMA_CALL, OLLAMA_CALL]}]
    response = llm.get_model("olla").prompt("2+3?", tools=[make_add([])], stream=stream)
    response.text()
    assert [(c.name, c.arguments) for c in response.tool_calls()] == [("add", {"a": 2, "b": 3})] * 2
    parts = response.messages()[0].parts
    assert [type(p) for p in parts] == [TextPart, ToolCallPart, ToolCallPart]
    assert len({p.tool_call_id for p in parts[1:]}) == 2


BAD_OLLAMA = {
    "arguments not an object": (
        {"tool_calls": [{"function": {"name": "add", "arguments": "[1]"}}]},
        "a tool call in the reply from {where}: function.arguments is not an object",
    ),
    "no name": (
        {"tool_calls": [{"function": {"arguments": {}}}]},
        "a tool call in the reply from {where}: function.name is not a string",
    ),
    "call not an object": (
        {"tool_calls": ["add"]},
        "a tool call in the reply from {where} is not an object",
    ),
    "tool_calls not a list": (
        {"tool_calls": {"function": {}}},
        "message.tool_calls in the reply from {where} is not a list",
    ),
    "thinking not a string": (
        {"thinking": ["a"]},
        "message.thinking in the reply from {where} is not a string",
    ),
}


@STREAM
@pytest.mark.parametrize("case", list(BAD_OLLAMA))
def test_ollama_bad_shapes(api, case, stream):
    message, error = BAD_OLLAMA[case]
    api.turns = [message]
    with pytest.raises(llm.ModelError) as caught:
        llm.get_model("olla").prompt("hi", tools=[make_add([])], stream=stream).text()
    assert str(caught.value) == "olla: " + error.format(where=where(api, "olla"))


def test_tools_on_a_family_without_them_name_the_ones_with(write, run_llm):
    path = write(
        "generic.yaml",
        """\
        - model_id: gen
          backend: {type: http, url: "http://127.0.0.1:1/x", response: {text: out}}
          supports_tools: true
        """,
    )
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    assert result.stdout + result.stderr == (
        f"{path}:3:19: [0].supports_tools: supports_tools needs backend.tools, one of: "
        "openai, anthropic, ollama, gemini, openai-responses, bedrock-converse (the presets "
        "anthropic-messages, azure-openai, bedrock-converse, gemini, ollama-chat, openai-chat, "
        "openai-responses, vertex-anthropic, vertex-gemini set it)\n"
        "Error: 1 problem (0 models in 1 file usable)\n"
    )


def test_anthropic_tool_chain_on_the_command_line(api, llm_exe):
    version = {**ADD, "name": "llm_version", "input": {}}
    api.turns = [
        ([THINK, version], "tool_use"),
        ([{"type": "text", "text": "That is the version."}], "end_turn"),
    ]
    result = llm_exe("-m", "claude", "-T", "llm_version", "which version?", "-R")
    assert (result.returncode, result.stdout, result.stderr) == (0, "That is the version.\n", "")
    _, assistant, user = api.last.json["messages"]
    assert assistant == {"role": "assistant", "content": [THINK, version]}
    (answer,) = user["content"]
    assert answer == {
        "type": "tool_result",
        "tool_use_id": "toolu_01A",
        "content": importlib.metadata.version("llm"),
    }


def test_ollama_async_thinking_and_tool_chain(api):
    api.turns = [
        {"thinking": "Use add.", "tool_calls": [OLLAMA_CALL]},
        {"thinking": "Done.", "content": "It is 5."},
    ]
    calls = []

    async def run():
        return await llm.get_async_model("olla").chain("2+3?", tools=[make_add(calls)]).text()

    assert (asyncio.run(run()), calls) == ("It is 5.", [(2, 3)])
    assert api.last.json["messages"][1]["thinking"] == "Use add."


def test_anthropic_blocks_sent_whole_in_content_block_start(write, monkeypatch):
    """A proxy may put a block's content in content_block_start, with no deltas."""
    blocks = [THINK, {"type": "text", "text": "Adding."}, ADD]
    RawAPI.events = [
        {"type": "content_block_start", "index": i, "content_block": block}
        for i, block in enumerate(blocks)
    ] + [{"type": "message_stop"}]
    with RawAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        monkeypatch.setenv("AN_TEST_KEY", "sk-an-test")
        write("models.yaml", MODELS)
        response = llm.get_model("claude").prompt("hi", tools=[make_add([])])
        assert response.text() == "Adding."
    assert response.messages()[0].parts == [
        ReasoningPart(THINKING, provider_metadata={"anthropic": {"signature": SIGNATURE}}),
        TextPart("Adding."),
        ToolCallPart("add", {"a": 2, "b": 3}, "toolu_01A"),
    ]

"""llm's server-side tools (issue 25): declared in ``server_tools``, shipped
by the anthropic-messages, openai-responses and gemini presets, offered with
``llm -T NAME``, and recorded as llm records them (the server's calls and
results with ``server_executed``, citations in the text part), against a
loopback server speaking each API's shapes, streamed and whole, sync and
async. The reply shapes are the API references' examples (Anthropic's web
search tool, the SDK's ``ServerToolUseBlock``, ``WebSearchToolResultBlock``
and ``CitationsDelta``)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import llm
import pytest
from fakeapi import FakeAPI, anthropic_json, responses_events, responses_object, sse_of
from llm.parts import TextPart, ToolCallPart, ToolResultPart

MODELS = """\
- model_id: claude
  key: {name: an, env: AN_TEST_KEY}
  backend: {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1", retries: 0}
- model_id: searcher
  backend: {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1", retries: 0}
  supports_tools: true
  server_tools:
    WebSearch: {type: web_search_20250305, name: web_search, max_uses: 5}
    CodeExecution: null
    Weather: {type: weather_20260101, name: weather, units: metric}
"""

STREAM = pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])

# Anthropic's web search, as its API reference shows a reply.
SEARCH_ID = "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE"
CALL = {
    "type": "server_tool_use",
    "id": SEARCH_ID,
    "name": "web_search",
    "input": {"query": "claude shannon birth date"},
}
RESULTS = [
    {
        "type": "web_search_result",
        "url": "https://en.wikipedia.org/wiki/Claude_Shannon",
        "title": "Claude Shannon - Wikipedia",
        "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5LTQ1NGUtODgxNC1kNjNjNTk1ZWI3Y",
        "page_age": "April 30, 2025",
    }
]
RESULT = {"type": "web_search_tool_result", "tool_use_id": SEARCH_ID, "content": RESULTS}
CITATION = {
    "type": "web_search_result_location",
    "url": "https://en.wikipedia.org/wiki/Claude_Shannon",
    "title": "Claude Shannon - Wikipedia",
    "encrypted_index": "Eo8BCioIAhgBIiQyYjQ0OWJmZi1lM2M1LTQyNWEtYWVkMy0yZjgyOTFiZjE1YjkSDMcm3oSt",
    "cited_text": "Claude Elwood Shannon (April 30, 1916 \u2013 February 24, 2001) was an American",
}
SAID = "Claude Shannon was born on April 30, 1916, in Petoskey, Michigan"
BLOCKS = [
    {"type": "text", "text": "I'll search for when Claude Shannon was born."},
    CALL,
    RESULT,
    {"type": "text", "text": "Based on the search results, "},
    {"type": "text", "text": SAID, "citations": [CITATION]},
]
# As the API reference shows a web search's usage.
USAGE = {
    "input_tokens": 6039,
    "output_tokens": 931,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "server_tool_use": {"web_search_requests": 1},
}
SHOWN = "I'll search for when Claude Shannon was born.Based on the search results, " + SAID


def blocks_sse(blocks: list) -> bytes:
    """``blocks`` streamed as the API streams them: a server tool's input as
    input_json_delta after an empty start, its result whole, a thinking
    block's text and signature as deltas, a text block's
    citations as citations_delta before its text."""
    message = {
        **anthropic_json(""),
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }
    events = [("message_start", {"message": message})]
    for index, block in enumerate(blocks):
        events += _block_events(index, block)
    events.append(("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": USAGE}))
    events.append(("message_stop", {}))
    return "".join(
        f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n" for name, data in events
    ).encode()


def _block_events(index: int, block: dict) -> list:
    deltas: list[dict] = []
    start = block
    if block["type"] == "server_tool_use":
        start = {**block, "input": {}}
        text = json.dumps(block["input"])
        pieces = ["", text[:7], text[7:]]
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    elif block["type"] == "thinking":  # as the API streams it: the text, then the signature
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": block["thinking"]},
            {"type": "signature_delta", "signature": block["signature"]},
        ]
    elif block["type"] == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "citations_delta", "citation": c} for c in block.get("citations", [])]
        deltas.append({"type": "text_delta", "text": block["text"]})
    events = [("content_block_start", {"index": index, "content_block": start})]
    events += [("content_block_delta", {"index": index, "delta": d}) for d in deltas]
    return events + [("content_block_stop", {"index": index})]


class Scripted(FakeAPI):
    """Answers the n-th request with the n-th turn (the last one again after
    that), streamed when the request asks for it: Anthropic content blocks,
    a Responses output list, or Gemini parts (one streamed chunk each) and
    the candidate's groundingMetadata."""

    def __init__(self):
        super().__init__()
        self.turns: list = []

    def _reply(self, request):
        if not self.turns or "/converse" in request.path:
            return super()._reply(request)
        turn = self.turns[min(len(self.requests), len(self.turns)) - 1]
        stream = bool(json.loads(request.body).get("stream"))
        if request.path.endswith("/messages"):
            whole = {**anthropic_json(""), "content": turn, "usage": USAGE}
            return _served(stream, blocks_sse(turn), whole)
        if request.path.endswith("/responses"):
            whole = responses_object(output=turn)
            return _served(stream, sse_of(responses_events(whole)), whole)
        parts, grounding = turn
        whole = gemini_reply(parts, grounding)
        return _served(request.path.endswith(":streamGenerateContent"), gemini_chunks(whole), whole)


def _served(stream: bool, events: bytes, whole: dict) -> tuple:
    if stream:
        return True, "text/event-stream", events
    return False, "application/json", json.dumps(whole).encode()


def gemini_reply(parts: list, grounding: dict | None) -> dict:
    candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP"}
    if grounding:
        candidate["groundingMetadata"] = grounding
    usage = {"promptTokenCount": 5, "candidatesTokenCount": 9}
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "g"}


def gemini_chunks(whole: dict) -> bytes:
    """One part a chunk; the last chunk says why it stopped, with the sources."""
    (candidate,) = whole["candidates"]
    chunks = [
        {"candidates": [{"content": {"parts": [part], "role": "model"}}]}
        for part in candidate["content"]["parts"]
    ]
    last = {k: v for k, v in candidate.items() if k != "content"}
    chunks.append({"candidates": [last], "usageMetadata": whole["usageMetadata"]})
    return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()


@pytest.fixture
def api(write, monkeypatch):
    with Scripted() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        monkeypatch.setenv("AN_TEST_KEY", "sk-an-test")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-oa-test")
        write("models.yaml", MODELS)
        yield server


def tool(model: str, class_name: str, **changes) -> llm.ServerSideTool:
    tools = llm.get_model(model).supported_server_side_tools
    (cls,) = [c for c in tools if c.__name__ == class_name]
    return cls(**changes)


# -- declared, and shipped by the presets ------------------------------------------------


def test_each_preset_ships_its_providers_tools_under_the_peers_names(api, write):
    write(
        "more.yaml",
        """\
        - model_id: gem
          backend: {type: http, preset: gemini, base_url: "${FAKE_URL}/v1beta", model_name: g}
        - model_id: resp
          backend: {type: http, preset: openai-responses, base_url: "${FAKE_URL}/v1"}
        """,
    )
    shipped = {
        model: {c.__name__: (c.name, c().tool_spec(None)) for c in tools}
        for model in ("claude", "gem", "resp")
        for tools in [llm.get_model(model).supported_server_side_tools]
    }
    assert shipped == {
        "claude": {
            "WebSearch": ("web_search", {"type": "web_search_20250305", "name": "web_search"}),
            "WebFetch": ("web_fetch", {"type": "web_fetch_20250910", "name": "web_fetch"}),
            "CodeExecution": (
                "code_execution",
                {"type": "code_execution_20260521", "name": "code_execution"},
            ),
        },
        "gem": {
            "GoogleSearch": ("google_search", {"googleSearch": {}}),
            "URLContext": ("url_context", {"urlContext": {}}),
            "CodeExecution": ("code_execution", {"codeExecution": {}}),
        },
        "resp": {
            "WebSearch": ("web_search", {"type": "web_search"}),
            "CodeInterpreter": (
                "code_interpreter",
                {"type": "code_interpreter", "container": {"type": "auto"}},
            ),
        },
    }


def test_a_declaration_changes_adds_and_removes_the_presets_tools(api):
    tools = llm.get_model("searcher").supported_server_side_tools
    assert [c.__name__ for c in tools] == ["WebSearch", "WebFetch", "Weather"]
    assert tools[0]().tool_spec(None) == {
        "type": "web_search_20250305",
        "name": "web_search",
        "max_uses": 5,
    }
    # One class for the sync and the async model: llm checks isinstance.
    assert llm.get_async_model("searcher").supported_server_side_tools == tools


def test_the_cache_keeps_them(api):
    from llm_yaml_models.declarations import Declaration

    declaration = llm.get_model("searcher").declaration
    assert Declaration.from_json(json.loads(json.dumps(declaration.to_json()))) == declaration
    assert dict(declaration.server_tools)["Weather"] == {
        "type": "weather_20260101",
        "name": "weather",
        "units": "metric",
    }


def test_llm_tools_lists_them_with_what_a_prompt_may_change(api, run_llm):
    result = run_llm("tools", "list", "-m", "searcher", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)["server_side_tools"]
    assert listed[0] == {
        "name": "WebSearch",
        "description": 'Runs on the provider\'s servers; sent as {"type": "web_search_20250305",'
        ' "name": "web_search", "max_uses": 5}',
        "signature": "(*, type='web_search_20250305', name='web_search', max_uses=5, **more)",
        "server_side": True,
    }
    assert [t["name"] for t in listed] == ["WebSearch", "WebFetch", "Weather"]


def test_a_prompt_changes_adds_and_removes_keys_of_a_spec(api):
    spec = tool("searcher", "WebSearch", max_uses=2, allowed_domains=["a.example"], name=None)
    assert spec.tool_spec(None) == {
        "type": "web_search_20250305",
        "max_uses": 2,
        "allowed_domains": ["a.example"],
    }
    # What llm logs, to build the same tool again under -c.
    assert spec._config == {"max_uses": 2, "allowed_domains": ["a.example"], "name": None}


# -- sent -------------------------------------------------------------------------------------


def test_dash_t_sends_the_spec_beside_llms_own_tools(api, run_llm):
    args = ["-m", "searcher", "-T", "WebSearch(max_uses=2)", "-T", "llm_version", "hi"]
    result = run_llm(*args)
    assert result.exit_code == 0, result.output
    assert api.last.json["tools"] == [
        {
            "name": "llm_version",
            "description": "Return the installed version of llm",
            "input_schema": {"properties": {}, "type": "object"},
        },
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
    ]


def test_a_tool_the_model_does_not_have_is_llms_error(api, run_llm):
    result = run_llm("-m", "searcher", "-T", "CodeExecution", "hi")
    assert result.exit_code == 1
    assert "Tool(s) CodeExecution not found. Available tools:" in result.output
    assert api.requests == []


# -- what comes back ------------------------------------------------------------------------


def recorded_parts() -> list:
    return [
        TextPart("I'll search for when Claude Shannon was born."),
        ToolCallPart(
            "web_search",
            CALL["input"],
            tool_call_id=SEARCH_ID,
            server_executed=True,
        ),
        ToolResultPart(
            "web_search", json.dumps(RESULTS), tool_call_id=SEARCH_ID, server_executed=True
        ),
        TextPart(
            "Based on the search results, " + SAID,
            provider_metadata={"anthropic": {"citations": [CITATION]}},
        ),
    ]


@STREAM
def test_the_servers_call_result_and_citations_are_recorded_in_order(api, stream):
    api.turns = [BLOCKS]
    response = llm.get_model("claude").prompt("When?", tools=[tool("claude", "WebSearch")])
    response.stream = stream
    assert response.text() == SHOWN
    (message,) = response.messages()
    assert message.parts == recorded_parts()
    assert response.tool_calls() == []  # nothing for llm to run
    assert api.last.json["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]
    # The searches are counted, as llm-anthropic records them.
    assert response.token_details == {"server_tool_use": {"web_search_requests": 1}}
    assert (response.input_tokens, response.output_tokens) == (6039, 931)


@STREAM
def test_the_async_model_records_the_same(api, stream):
    api.turns = [BLOCKS]

    async def run():
        model = llm.get_async_model("claude")
        response = model.prompt("When?", tools=[tool("claude", "WebSearch")], stream=stream)
        return await response.text(), await response.messages()

    text, messages = asyncio.run(run())
    assert text == SHOWN
    assert messages[0].parts == recorded_parts()


@STREAM
def test_dash_c_sends_the_server_blocks_back_as_the_api_requires(api, run_llm, stream):
    api.turns = [BLOCKS, [{"type": "text", "text": "Petoskey."}]]
    no_stream = [] if stream else ["--no-stream"]
    result = run_llm("-m", "claude", "-T", "WebSearch(max_uses=3)", *no_stream, "When?")
    assert result.exit_code == 0, result.output
    assert result.output == SHOWN + "\n"
    result = run_llm("-c", *no_stream, "Where?")
    assert result.exit_code == 0, result.output
    sent = api.last.json
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": [
            BLOCKS[0],
            CALL,
            RESULT,
            {"type": "text", "text": "Based on the search results, " + SAID},
        ],
    }
    assert sent["messages"][2] == {"role": "user", "content": [{"type": "text", "text": "Where?"}]}
    # The tool is offered again, as llm rebuilds it from its log.
    assert sent["tools"] == [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}]


# llm-anthropic 0.30 (anthropic SDK 1.17.0, llm 0.36, in a venv of its own),
# observed outside this suite against this file's server and BLOCKS: its
# `-T WebSearch` on claude-opus-4.6, then a second prompt of the conversation.
# It sends web_search_20260318 to a Claude 4.6 model (the preset ships the
# version every model with web search takes), keeps each text block a part
# of its own (here, one text part holds a run of them, with their
# citations, which it drops), and records a result's content through the
# SDK's model (its keys sorted).
PEER_TOOLS = [{"type": "web_search_20260318", "name": "web_search"}]
PEER_SENT_BACK = [
    {"type": "text", "text": "I'll search for when Claude Shannon was born."},
    CALL,
    {**RESULT, "content": [dict(sorted(r.items())) for r in RESULTS]},
    {"type": "text", "text": "Based on the search results, "},
    {"type": "text", "text": SAID},
]


@STREAM
def test_under_c_the_blocks_go_back_as_llm_anthropic_sends_them(api, write, stream):
    write("models.yaml", MODELS.replace("web_search_20250305", "web_search_20260318"))
    api.turns = [BLOCKS, [{"type": "text", "text": "Petoskey."}]]
    conversation = llm.get_model("searcher").conversation()
    web_search = tool("searcher", "WebSearch", max_uses=None)
    conversation.prompt("When?", tools=[web_search], stream=stream).text()
    assert api.last.json["tools"] == PEER_TOOLS
    conversation.prompt("Where?", stream=stream).text()
    ours = api.last.json["messages"][1]["content"]
    theirs = PEER_SENT_BACK[:3] + [{"type": "text", "text": "Based on the search results, " + SAID}]
    assert ours == theirs


def test_llm_logs_show_the_servers_tool_calls_and_results(api, run_llm):
    api.turns = [BLOCKS]
    assert run_llm("-m", "claude", "-T", "WebSearch", "When?").exit_code == 0
    (row,) = json.loads(run_llm("logs", "--json").output)
    assert [(c["name"], c["arguments"]) for c in row["tool_calls"]] == [
        ("web_search", CALL["input"])
    ]
    (result,) = row["tool_results"]
    assert (result["name"], result["output"], result["server_executed"]) == (
        "web_search",
        json.dumps(RESULTS),
        True,
    )


def test_a_model_of_another_api_is_not_sent_the_servers_calls(api, write):
    write(
        "br.yaml",
        """\
        - model_id: br
          key: {name: bedrock, env: BR_TEST_KEY}
          backend: {type: http, preset: bedrock-converse, model_name: m, base_url: "${FAKE_URL}"}
        """,
    )
    api.turns = [BLOCKS]
    conversation = llm.get_model("claude").conversation()
    conversation.prompt("When?", tools=[tool("claude", "WebSearch")]).text()
    conversation.model = llm.get_model("br")  # (llm -c -m br would offer br the tool again)
    conversation.prompt("Where?", key="br-key").text()
    # Bedrock's toolUse would need a toolResult the server never sent.
    assert api.last.json["messages"][1] == {
        "role": "assistant",
        "content": [
            {"text": "I'll search for when Claude Shannon was born."},
            {"text": "Based on the search results, " + SAID},
        ],
    }


@STREAM
def test_an_mcp_connectors_call_goes_back_with_its_server(api, stream):
    call = {
        "type": "mcp_tool_use",
        "id": "mcptoolu_014Q35RayjACSWkSj4X2yov1",
        "name": "echo",
        "server_name": "example-mcp",
        "input": {"param1": "value1"},
    }
    result = {
        "type": "mcp_tool_result",
        "tool_use_id": call["id"],
        "is_error": False,
        "content": [{"type": "text", "text": "Hello"}],
    }
    api.turns = [[call, result, {"type": "text", "text": "It said Hello."}]]
    conversation = llm.get_model("claude").conversation()
    assert conversation.prompt("Echo", stream=stream).text() == "It said Hello."
    conversation.prompt("Again", stream=stream).text()
    sent = api.last.json["messages"][1]["content"]
    assert sent[:2] == [call, {k: v for k, v in result.items() if k != "is_error"}]


@STREAM
def test_a_server_call_whose_input_is_not_an_object_is_one_line(api, stream):
    api.turns = [[{**CALL, "input": ["q"]}]]
    response = llm.get_model("claude").prompt("When?", stream=stream)
    with pytest.raises(llm.ModelError) as caught:
        response.text()
    assert str(caught.value) == (
        f"claude: a server_tool_use block in the reply from {api.url}/v1/messages:"
        " input is not a JSON object"
    )


# -- validated ---------------------------------------------------------------------------


def test_mistakes_in_server_tools_are_named_where_they_are(write, run_llm, models_dir):
    path = write(
        "bad.yaml",
        """\
        - model_id: b1
          backend: {type: markov}
          server_tools: {WebSearch: {type: x}}
        - model_id: b2
          backend: {type: http, preset: gemini, base_url: "http://127.0.0.1:9", model_name: x}
          server_tools: {GoogleSerch: null, webSearch: {type: x}, Empty: {}, Bad: 3}
        """,
    )
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert result.output.splitlines()[:5] == [
        f"{path}:3:17: [0].server_tools: server_tools needs an http backend"
        " (they run on an API's servers), not markov",
        f"{path}:6:31: [1].server_tools.GoogleSerch: null removes a server tool of the gemini"
        " preset, which has no 'GoogleSerch'; did you mean 'GoogleSearch'?",
        f"{path}:6:37: [1].server_tools.webSearch: 'webSearch' is not a valid server tool name:"
        " use a capital letter, then letters, digits or '_' (llm -T takes a capitalized name"
        " as a class)",
        f"{path}:6:66: [1].server_tools.Empty: {{}} should be non-empty",
        f"{path}:6:75: [1].server_tools.Bad: 3 is not of type 'object'",
    ]


# -- openai-responses, beside llm's own Responses model ------------------------------------

RESPONSES = """\
- model_id: ours
  backend: {type: http, preset: openai-responses, base_url: "${FAKE_URL}/v1", model_name: served}
"""
REFERENCE = """\
- model_id: theirs
  model_name: served
  api_base: {url}/v1
  responses: true
"""
# OpenAI's web search, as its API reference shows the output items.
WEB_SEARCH_CALL = {
    "type": "web_search_call",
    "id": "ws_67c9fa0502748190b7dd390736892e100be649c1a5ff9609",
    "status": "completed",
    "action": {"type": "search", "query": "positive news story today"},
}
ANNOTATION = {
    "type": "url_citation",
    "start_index": 24,
    "end_index": 56,
    "url": "https://www.example.com/good-news?utm_source=openai",
    "title": "Good news story",
}
NEWS = "On March 6, 2025, a river was cleaned by volunteers."
NEWS_ITEM = {
    "type": "message",
    "id": "msg_67c9fa077e288190af08fdffda2e34f20be649c1a5ff9609",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_text", "text": NEWS, "annotations": [ANNOTATION]}],
}
CODE_CALL = {
    "type": "code_interpreter_call",
    "id": "ci_68a1",
    "status": "completed",
    "code": "print(2 ** 10)",
    "container_id": "cntr_68a1",
    "outputs": [{"type": "logs", "logs": "1024\n"}],
}


@pytest.fixture
def both(api, write, user_dir):
    write("responses.yaml", RESPONSES)
    user_dir.mkdir(parents=True, exist_ok=True)
    (user_dir / "extra-openai-models.yaml").write_text(REFERENCE.format(url=api.url))
    return api


@STREAM
def test_responses_records_hosted_tools_as_llms_own_client(both, stream):
    both.turns = [[WEB_SEARCH_CALL, CODE_CALL, NEWS_ITEM]]
    recorded, sent = {}, {}
    for model in ("ours", "theirs"):
        tools = [cls() for cls in llm.get_model(model).supported_server_side_tools]
        named = {t.__class__.__name__: t for t in tools}
        prompt = llm.get_model(model).prompt("News?", tools=[named["WebSearch"]], stream=stream)
        assert prompt.text() == NEWS
        recorded[model] = prompt.messages()[0].parts
        sent[model] = both.last.json["tools"]
    assert sent["ours"] == sent["theirs"] == [{"type": "web_search"}]
    calls = [
        ToolCallPart("web_search", WEB_SEARCH_CALL["action"], WEB_SEARCH_CALL["id"], True),
        ToolResultPart("web_search", "completed", WEB_SEARCH_CALL["id"], True),
        ToolCallPart("code_interpreter", {"code": "print(2 ** 10)"}, "ci_68a1", True),
        ToolResultPart("code_interpreter", "1024\n", "ci_68a1", True),
    ]
    # llm's client records the SDK's model of an action, with its unset keys as nulls.
    theirs = [
        replace(p, arguments={k: v for k, v in p.arguments.items() if v is not None})
        if isinstance(p, ToolCallPart)
        else p
        for p in recorded["theirs"]
    ]
    assert theirs == [*calls, TextPart(NEWS)]
    # The citations are kept here; llm's client drops them.
    cited = TextPart(NEWS, provider_metadata={"openai": {"annotations": [ANNOTATION]}})
    assert recorded["ours"] == [*calls, cited]


@STREAM
def test_responses_text_between_hosted_calls_stays_in_its_place(both, stream):
    first = {
        **NEWS_ITEM,
        "id": "msg_1",
        "content": [{"type": "output_text", "text": "Let me look. "}],
    }
    both.turns = [[first, WEB_SEARCH_CALL, NEWS_ITEM]]
    response = llm.get_model("ours").prompt("News?", stream=stream)
    assert response.text() == "Let me look. " + NEWS
    kinds = [type(p).__name__ for p in response.messages()[0].parts]
    assert kinds == ["TextPart", "ToolCallPart", "ToolResultPart", "TextPart"]


def test_responses_hosted_calls_are_not_sent_back_as_llms_client_does(both, run_llm):
    both.turns = [[WEB_SEARCH_CALL, NEWS_ITEM]]
    for model in ("ours", "theirs"):
        assert run_llm("-m", model, "-T", "WebSearch", "News?").exit_code == 0
        assert run_llm("-c", "More?").exit_code == 0
        assert both.last.json["input"] == [
            {"role": "user", "content": "News?"},
            {"role": "assistant", "content": NEWS},
            {"role": "user", "content": "More?"},
        ]
        assert both.last.json["tools"] == [{"type": "web_search"}]


# -- gemini -------------------------------------------------------------------------------

GEMINI = """\
- model_id: gem
  backend: {type: http, preset: gemini, base_url: "${FAKE_URL}/v1beta", model_name: g, retries: 0}
"""
# Gemini's code execution and grounding, as its API reference shows them.
CODE = {"language": "PYTHON", "code": "print(sum(range(1, 51)))"}
OUTCOME = {"outcome": "OUTCOME_OK", "output": "1275\n"}
GEM_PARTS = [
    {"text": "I'll add them up. "},
    {"executableCode": CODE},
    {"codeExecutionResult": OUTCOME},
    {"text": "The sum is 1275.", "thoughtSignature": "c2lnbmVk"},
]
GROUNDING = {
    "webSearchQueries": ["sum of 1 to 50"],
    "groundingChunks": [
        {"web": {"uri": "https://vertexaisearch.cloud.google.com/x", "title": "a"}}
    ],
    "groundingSupports": [
        {
            "segment": {"startIndex": 0, "endIndex": 16, "text": "The sum is 1275."},
            "groundingChunkIndices": [0],
        }
    ],
}


# The events are those llm-gemini 0.35's process_candidates made of these
# parts, observed outside this suite (its URL is fixed), and its
# build_request_body sent the same tools for CodeExecution.
@STREAM
def test_gemini_code_execution_and_sources_are_recorded_as_llm_gemini_does(api, write, stream):
    write("gem.yaml", GEMINI)
    api.turns = [(GEM_PARTS, GROUNDING)]
    conversation = llm.get_model("gem").conversation()
    code_execution = tool("gem", "CodeExecution")
    response = conversation.prompt("Sum 1..50", tools=[code_execution], stream=stream)
    assert response.text() == "I'll add them up. The sum is 1275."
    assert api.last.json["tools"] == [{"codeExecution": {}}]
    parts = response.messages()[0].parts
    call_id = parts[1].tool_call_id
    assert call_id.startswith("code_") and parts[2].tool_call_id == call_id
    assert parts == [
        TextPart("I'll add them up. "),
        ToolCallPart(
            "code_execution",
            CODE,
            call_id,
            True,
            provider_metadata={"gemini": {"part": GEM_PARTS[1]}},
        ),
        ToolResultPart(
            "code_execution",
            json.dumps(OUTCOME),
            call_id,
            True,
            provider_metadata={"gemini": {"part": GEM_PARTS[2]}},
        ),
        TextPart(
            "The sum is 1275.",
            provider_metadata={
                "gemini": {"thoughtSignature": "c2lnbmVk", "groundingMetadata": GROUNDING}
            },
        ),
    ]
    # -c: the server's parts go back as they came, the text with its signature.
    conversation.prompt("Thanks", stream=stream).text()
    assert api.last.json["contents"][1] == {"role": "model", "parts": GEM_PARTS}

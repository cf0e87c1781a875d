"""Server-side tools through llm's async API, for the families whose sync
side tests/test_server_tools.py covers (Gemini, openai-responses): the same
server's calls and results recorded, and under a conversation the same
request sent back, as the sync model does."""

from __future__ import annotations

import asyncio
import json
import re

import llm
import pytest
import test_server_tools
from llm.parts import TextPart, ToolCallPart, ToolResultPart
from test_server_tools import (
    ANNOTATION,
    CODE,
    CODE_CALL,
    GEM_PARTS,
    GEMINI,
    GROUNDING,
    NEWS,
    NEWS_ITEM,
    OUTCOME,
    WEB_SEARCH_CALL,
    tool,
)

# The sync tests' servers and models.
api = test_server_tools.api
both = test_server_tools.both

STREAM = pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])


async def _two_turns(model_id: str, tools: list, stream: bool) -> tuple:
    """A prompt with ``tools``, then a second one in its conversation: what
    each said, and the first one's recorded parts."""
    conversation = llm.get_async_model(model_id).conversation()
    first = conversation.prompt("First", tools=tools, stream=stream)
    text = await first.text()
    parts = (await first.messages())[0].parts
    second = await conversation.prompt("Second", stream=stream).text()
    return text, parts, second


# -- gemini -------------------------------------------------------------------------------


@STREAM
def test_async_gemini_records_code_execution_and_sends_its_parts_back(api, write, stream):
    write("gem.yaml", GEMINI)
    api.turns = [(GEM_PARTS, GROUNDING), ([{"text": "You're welcome."}], None)]
    tools = [tool("gem", "CodeExecution")]
    text, parts, second = asyncio.run(_two_turns("gem", tools, stream))
    assert (text, second) == ("I'll add them up. The sum is 1275.", "You're welcome.")
    assert api.requests[0].json["tools"] == [{"codeExecution": {}}]
    call_id = parts[1].tool_call_id
    assert call_id.startswith("code_")
    assert parts == [
        TextPart("I'll add them up. "),
        ToolCallPart(
            "code_execution", CODE, call_id, True, provider_metadata={"gemini": {"part": CODE_PART}}
        ),
        ToolResultPart(
            "code_execution",
            '{"outcome": "OUTCOME_OK", "output": "1275\\n"}',
            call_id,
            True,
            provider_metadata={"gemini": {"part": RESULT_PART}},
        ),
        TextPart(
            "The sum is 1275.",
            provider_metadata={
                "gemini": {"thoughtSignature": "c2lnbmVk", "groundingMetadata": GROUNDING}
            },
        ),
    ]
    # The conversation's second request: the server's parts as they came.
    assert api.last.json["contents"] == [
        {"role": "user", "parts": [{"text": "First"}]},
        {"role": "model", "parts": GEM_PARTS},
        {"role": "user", "parts": [{"text": "Second"}]},
    ]


CODE_PART = {"executableCode": CODE}
RESULT_PART = {"codeExecutionResult": OUTCOME}


@STREAM
def test_async_gemini_grounded_search_is_recorded_as_the_sync_model_records_it(api, write, stream):
    write("gem.yaml", GEMINI)
    api.turns = [([{"text": "The sum is 1275."}], GROUNDING)]
    search = tool("gem", "GoogleSearch")
    response = llm.get_model("gem").prompt("Sum?", tools=[search], stream=stream)
    response.text()
    sync = (response.messages()[0].parts, api.last.json)
    parts = asyncio.run(_async_parts_of("gem", [search], stream))
    assert (parts, api.last.json) == sync
    assert api.last.json["tools"] == [{"googleSearch": {}}]


async def _async_parts_of(model_id: str, tools: list, stream: bool) -> list:
    response = llm.get_async_model(model_id).prompt("Sum?", tools=tools, stream=stream)
    await response.text()
    return (await response.messages())[0].parts


# -- openai-responses ---------------------------------------------------------------------


@STREAM
def test_async_responses_records_hosted_tools_as_the_sync_model(both, stream):
    both.turns = [[WEB_SEARCH_CALL, CODE_CALL, NEWS_ITEM]]
    search = tool("ours", "WebSearch")
    parts = asyncio.run(_async_parts_of("ours", [search], stream))
    assert both.last.json["tools"] == [{"type": "web_search"}]
    assert parts == [
        ToolCallPart("web_search", WEB_SEARCH_CALL["action"], WEB_SEARCH_CALL["id"], True),
        ToolResultPart("web_search", "completed", WEB_SEARCH_CALL["id"], True),
        ToolCallPart("code_interpreter", {"code": "print(2 ** 10)"}, "ci_68a1", True),
        ToolResultPart("code_interpreter", "1024\n", "ci_68a1", True),
        TextPart(NEWS, provider_metadata={"openai": {"annotations": [ANNOTATION]}}),
    ]


@STREAM
def test_async_responses_hosted_calls_are_not_sent_back(both, stream):
    both.turns = [[WEB_SEARCH_CALL, NEWS_ITEM]]
    text, _, _ = asyncio.run(_two_turns("ours", [tool("ours", "WebSearch")], stream))
    assert text == NEWS
    assert both.last.json["input"] == [
        {"role": "user", "content": "First"},
        {"role": "assistant", "content": NEWS},
        {"role": "user", "content": "Second"},
    ]


@STREAM
def test_async_responses_text_between_hosted_calls_stays_in_its_place(both, stream):
    first = {**NEWS_ITEM, "id": "msg_1", "content": [{"type": "output_text", "text": "Look. "}]}
    both.turns = [[first, WEB_SEARCH_CALL, NEWS_ITEM]]
    parts = asyncio.run(_async_parts_of("ours", [], stream))
    kinds = [type(p).__name__ for p in parts]
    assert kinds == ["TextPart", "ToolCallPart", "ToolResultPart", "TextPart"]
    assert (parts[0].text, parts[3].text) == ("Look. ", NEWS)


# -- nothing for llm to run ---------------------------------------------------------------


async def _chained(model_id: str, tools: list, stream: bool) -> list:
    """Each response of a chain (one request each): its text, and the calls
    it left for llm to run."""
    chain = llm.get_async_model(model_id).chain("First", tools=tools, stream=stream)
    return [(await r.text(), await r.tool_calls()) async for r in chain.responses()]


@STREAM
@pytest.mark.parametrize("family", ["gem", "ours"])
def test_an_async_chain_runs_none_of_the_servers_calls(both, write, family, stream):
    write("gem.yaml", GEMINI)
    both.turns = [(GEM_PARTS, None)] if family == "gem" else [[WEB_SEARCH_CALL, NEWS_ITEM]]
    search = tool(family, "GoogleSearch" if family == "gem" else "WebSearch")
    said = "I'll add them up. The sum is 1275." if family == "gem" else NEWS
    assert asyncio.run(_chained(family, [search], stream)) == [(said, [])]
    assert len(both.requests) == 1


# -- llm --async, and -c from the log -----------------------------------------------------


@STREAM
def test_async_dash_c_sends_geminis_parts_back_from_the_log(api, write, run_llm, stream):
    write("gem.yaml", GEMINI)
    api.turns = [(GEM_PARTS, GROUNDING), ([{"text": "You're welcome."}], None)]
    no_stream = [] if stream else ["--no-stream"]
    first = run_llm("-m", "gem", "-T", "CodeExecution", "--async", *no_stream, "Sum 1..50")
    assert first.exit_code == 0, first.output
    assert first.output == "I'll add them up. The sum is 1275.\n"
    (row,) = json.loads(run_llm("logs", "--json").output)
    (call,), (result,) = row["tool_calls"], row["tool_results"]
    assert (call["name"], call["arguments"], call["server_executed"]) == (
        "code_execution",
        CODE,
        True,
    )
    assert (result["output"], result["tool_call_id"]) == (json.dumps(OUTCOME), call["tool_call_id"])
    again = run_llm("-c", "--async", *no_stream, "Thanks")
    assert (again.exit_code, again.output) == (0, "You're welcome.\n")
    assert api.last.json["contents"][1:] == [
        {"role": "model", "parts": GEM_PARTS},
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ]
    assert api.last.json["tools"] == [{"codeExecution": {}}]


@STREAM
def test_async_dash_c_does_not_send_responses_hosted_calls_back(both, run_llm, stream):
    both.turns = [[WEB_SEARCH_CALL, NEWS_ITEM]]
    no_stream = [] if stream else ["--no-stream"]
    first = run_llm("-m", "ours", "-T", "WebSearch", "--async", *no_stream, "News?")
    assert (first.exit_code, first.output) == (0, NEWS + "\n")
    assert run_llm("-c", "--async", *no_stream, "More?").exit_code == 0
    assert both.last.json["input"] == [
        {"role": "user", "content": "News?"},
        {"role": "assistant", "content": NEWS},
        {"role": "user", "content": "More?"},
    ]
    assert both.last.json["tools"] == [{"type": "web_search"}]


# -- beside a tool llm runs ------------------------------------------------------------


def double(n: int) -> int:
    "Double n"
    return 2 * n


FUNCTION_CALL = {
    "type": "function_call",
    "id": "fc_1",
    "call_id": "call_1",
    "name": "double",
    "arguments": '{"n": 4}',
    "status": "completed",
}
EIGHT = {**NEWS_ITEM, "id": "msg_2", "content": [{"type": "output_text", "text": "8"}]}
GEM_CALL = {"functionCall": {"name": "double", "args": {"n": 4}}}
TOOLED = """\
- model_id: gem-tools
  supports_tools: true
  backend: {type: http, preset: gemini, base_url: "${FAKE_URL}/v1beta", model_name: g, retries: 0}
- model_id: resp-tools
  supports_tools: true
  backend: {type: http, preset: openai-responses, base_url: "${FAKE_URL}/v1", model_name: served}
"""


def _requests_of_chains(server, model_id: str, tools: list, stream: bool) -> dict:
    """What a sync chain and an async one sent, each answered by the same turns
    (the ids llm makes for a call the server gave none made alike)."""
    sent, turns = {}, list(server.turns)
    for kind in ("sync", "async"):
        server.requests.clear()
        server.turns = list(turns)
        if kind == "sync":
            text = llm.get_model(model_id).chain("First", tools=tools, stream=stream).text()
        else:
            chain = llm.get_async_model(model_id).chain("First", tools=tools, stream=stream)
            text = asyncio.run(chain.text())
        bodies = json.dumps([r.json for r in server.requests])
        sent[kind] = (text, re.sub(r"call_[0-9a-f]{24,32}", "ID", bodies))
    return sent


@STREAM
def test_async_gemini_chain_sends_the_servers_parts_back_with_llms_call(both, write, stream):
    write("tooled.yaml", TOOLED)
    both.turns = [(GEM_PARTS[:3] + [GEM_CALL], None), ([{"text": "8"}], None)]
    sent = _requests_of_chains(
        both, "gem-tools", [tool("gem-tools", "CodeExecution"), double], stream
    )
    assert sent["async"] == sent["sync"]
    text, bodies = sent["async"]
    assert text.endswith("8")
    second = json.loads(bodies)[1]["contents"]
    assert second[1] == {
        "role": "model",
        "parts": [*GEM_PARTS[:3], {"functionCall": {**GEM_CALL["functionCall"], "id": "ID"}}],
    }
    assert second[2]["parts"][0]["functionResponse"]["response"] == {"output": "8"}


@STREAM
def test_async_responses_chain_sends_llms_call_back_without_the_hosted_one(both, write, stream):
    write("tooled.yaml", TOOLED)
    both.turns = [[WEB_SEARCH_CALL, FUNCTION_CALL], [EIGHT]]
    sent = _requests_of_chains(
        both, "resp-tools", [tool("resp-tools", "WebSearch"), double], stream
    )
    assert sent["async"] == sent["sync"]
    text, bodies = sent["async"]
    assert text == "8"
    assert json.loads(bodies)[1]["input"] == [
        {"role": "user", "content": "First"},
        {"type": "function_call", "call_id": "call_1", "name": "double", "arguments": '{"n": 4}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "8"},
    ]

"""Cost on every response (issue 23): a priced model's ``response_json``
records ``cost``, computed from the usage its server reported, each part at
its own rate and no token twice; the server's own figure as ``server_usd``;
nothing for an unpriced model. And ``resolved_model``: the model the server
says answered.

Each family is tried against a real server on 127.0.0.1 that replies in its
provider's published usage shape, streamed and whole, sync and async."""

from __future__ import annotations

import asyncio
import json

import llm
import pytest
import yaml
from bedrockapi import BedrockAPI, converse_json, converse_stream
from fakeapi import openai_chunk, responses_events, responses_object, sse_of, sse_pieces

from llm_yaml_models.backends.base import Usage
from llm_yaml_models.cost import cost, server_usd, tokens
from llm_yaml_models.declarations import Pricing

PRICING = {"input": 3, "output": 15, "cached_input": 0.3, "cache_write": 3.75, "reasoning": 20}
PRICES = Pricing(**PRICING)

# What each part costs at PRICING: 500 fresh input, 400 read from the cache,
# 100 written to it, 300 visible output, 200 reasoning; 600 where the API
# counts cache writes in with fresh input and does not break them out.
INPUT_500, INPUT_600 = 0.0015, 0.0018
CACHED, WRITE, REASONING = 0.00012, 0.000375, 0.004
OUTPUT_300, OUTPUT_500 = 0.0045, 0.0075

WAYS = pytest.mark.parametrize(
    "stream, use_async",
    [(True, False), (False, False), (True, True), (False, True)],
    ids=["stream", "whole", "async-stream", "async-whole"],
)


def declare(write, url: str, preset: str, pricing=PRICING, **model) -> None:
    backend = {"type": "http", "preset": preset, "base_url": url, "retries": 0}
    backend["model_name"] = "served-name"
    declared = {"model_id": "m", "backend": backend, **model}
    if pricing is not None:
        declared["pricing"] = pricing
    write("m.yaml", yaml.safe_dump([declared]))


def ask(stream: bool, use_async: bool, model_id: str = "m"):
    """The model's response, done, and its response_json."""
    if not use_async:
        response = llm.get_model(model_id).prompt("hi", stream=stream)
        response.text()
        return response, response.response_json

    async def run():
        response = llm.get_async_model(model_id).prompt("hi", stream=stream)
        await response.text()
        return response, response.response_json

    return asyncio.run(run())


# -- each family, as its provider reports usage --------------------------------------------

OPENAI_USAGE = {  # OpenRouter's: cache writes and its own cost too
    "prompt_tokens": 1000,
    "prompt_tokens_details": {"cached_tokens": 400, "cache_write_tokens": 100, "audio_tokens": 0},
    "completion_tokens": 500,
    "completion_tokens_details": {"reasoning_tokens": 200},
    "total_tokens": 1500,
    "cost": 0.0105,
    "cost_details": {"upstream_inference_cost": None},
}


def openai_chat(stream: bool) -> tuple[list[bytes], str]:
    if stream:
        return sse_pieces(
            openai_chunk({"role": "assistant", "content": "Hi"}, model="openai/gpt-5"),
            openai_chunk(finish="stop", model="openai/gpt-5"),
            {**openai_chunk(model="openai/gpt-5"), "choices": [], "usage": OPENAI_USAGE},
            "[DONE]",
        ), "text/event-stream"
    reply = {
        "id": "gen-1",
        "object": "chat.completion",
        "model": "openai/gpt-5",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
        "usage": OPENAI_USAGE,
    }
    return [json.dumps(reply).encode()], "application/json"


def openai_responses(stream: bool) -> tuple[list[bytes], str]:
    usage = {
        "input_tokens": 1000,
        "input_tokens_details": {"cached_tokens": 400},
        "output_tokens": 500,
        "output_tokens_details": {"reasoning_tokens": 200},
        "total_tokens": 1500,
    }
    reply = responses_object("Hi", usage=usage, model="gpt-5-2025-08-07")
    if stream:
        return [sse_of(responses_events(reply))], "text/event-stream"
    return [json.dumps(reply).encode()], "application/json"


ANTHROPIC_USAGE = {
    "input_tokens": 500,
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 400,
    "output_tokens": 500,
}


def anthropic(stream: bool) -> tuple[list[bytes], str]:
    model = "claude-sonnet-4-5-20250929"
    if not stream:
        reply = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn",
            "usage": ANTHROPIC_USAGE,
        }
        return [json.dumps(reply).encode()], "application/json"
    start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1}
    block = {"type": "text", "text": ""}
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "model": model,
                                                                "usage": start_usage}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": block}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 500}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return [sse_of(events)], "text/event-stream"


def gemini(stream: bool) -> tuple[list[bytes], str]:
    usage = {
        "promptTokenCount": 900,
        "cachedContentTokenCount": 400,
        "candidatesTokenCount": 300,
        "thoughtsTokenCount": 200,
        "totalTokenCount": 1400,
    }
    text = {"content": {"parts": [{"text": "Hi"}], "role": "model"}}
    last = {
        "candidates": [{**text, "finishReason": "STOP"}],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-pro",
    }
    if not stream:
        return [json.dumps(last).encode()], "application/json"
    last["candidates"][0]["content"]["parts"][0]["text"] = ""
    return sse_pieces({"candidates": [text]}, last), "text/event-stream"


def ollama(stream: bool) -> tuple[list[bytes], str]:
    last = {
        "model": "llama3.2:latest",
        "message": {"role": "assistant", "content": "" if stream else "Hi"},
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 500,
        "eval_count": 500,
    }
    lines = [last]
    if stream:
        first = {"model": "llama3.2:latest", "message": {"role": "assistant", "content": "Hi"}}
        lines.insert(0, {**first, "done": False})
    kind = "application/x-ndjson" if stream else "application/json"
    return [("\n".join(map(json.dumps, lines)) + "\n").encode()], kind


FAMILIES = {
    "openai-chat": (
        openai_chat,
        "openai/gpt-5",
        {
            "usd": 0.010495,
            "input": INPUT_500,
            "output": OUTPUT_300,
            "cached_input": CACHED,
            "cache_write": WRITE,
            "reasoning": REASONING,
            "server_usd": 0.0105,
        },
    ),
    "openai-responses": (
        openai_responses,
        "gpt-5-2025-08-07",
        {
            "usd": 0.01042,
            "input": INPUT_600,
            "output": OUTPUT_300,
            "cached_input": CACHED,
            "reasoning": REASONING,
        },
    ),
    "anthropic-messages": (
        anthropic,
        "claude-sonnet-4-5-20250929",
        {
            "usd": 0.009495,
            "input": INPUT_500,
            "output": OUTPUT_500,
            "cached_input": CACHED,
            "cache_write": WRITE,
        },
    ),
    "gemini": (
        gemini,
        "gemini-2.5-pro",
        {
            "usd": 0.01012,
            "input": INPUT_500,
            "output": OUTPUT_300,
            "cached_input": CACHED,
            "reasoning": REASONING,
        },
    ),
    "ollama-chat": (
        ollama,
        "llama3.2:latest",
        {"usd": 0.009, "input": INPUT_500, "output": OUTPUT_500},
    ),
}


@WAYS
@pytest.mark.parametrize("preset", list(FAMILIES))
def test_each_family_is_priced_part_by_part(fake_api, write, preset, stream, use_async):
    reply, resolved, expected = FAMILIES[preset]
    declare(write, fake_api.url, preset)
    fake_api.queue(*reply(stream))
    response, logged = ask(stream, use_async)
    assert logged["cost"] == expected
    assert response.resolved_model == resolved


@WAYS
def test_bedrock_is_priced_part_by_part(write, monkeypatch, stream, use_async):
    usage = {
        "inputTokens": 500,
        "outputTokens": 500,
        "totalTokens": 1500,
        "cacheReadInputTokens": 400,
        "cacheWriteInputTokens": 100,
    }
    with BedrockAPI() as server:
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-0123456789")
        declare(write, server.url, "bedrock-converse", key={"name": "bedrock",
                "env": "AWS_BEARER_TOKEN_BEDROCK"})  # fmt: skip
        blocks = [{"text": "Hi"}]
        if stream:
            server.queue(converse_stream(blocks, usage=usage), "application/vnd.amazon.eventstream")
        else:
            server.queue(
                [json.dumps(converse_json(blocks, usage=usage)).encode()], "application/json"
            )
        response, logged = ask(stream, use_async)
    assert logged["cost"] == {
        "usd": 0.009495,
        "input": INPUT_500,
        "output": OUTPUT_500,
        "cached_input": CACHED,
        "cache_write": WRITE,
    }
    assert response.resolved_model is None  # Converse names no model


# -- what is recorded, and where ------------------------------------------------------------


def test_an_unpriced_model_records_no_cost(fake_api, write):
    declare(write, fake_api.url, "openai-chat", pricing=None)
    fake_api.queue(*openai_chat(False))
    _, logged = ask(False, False)
    assert "cost" not in logged
    assert logged["model"] == "openai/gpt-5"


def test_the_cost_is_logged_with_the_resolved_model(fake_api, write, run_llm, user_dir):
    declare(write, fake_api.url, "openai-chat")
    fake_api.queue(*openai_chat(False))
    assert run_llm("-m", "m", "--no-stream", "hi").output == "Hi\n"
    logged = json.loads(run_llm("logs", "--json").output)[0]
    assert logged["resolved_model"] == "openai/gpt-5"
    assert logged["response_json"]["cost"]["usd"] == 0.010495
    assert "(resolved: **openai/gpt-5**)" in run_llm("logs").output


def test_a_server_naming_the_model_as_declared_resolves_nothing(fake_api, write):
    declare(write, fake_api.url, "openai-chat", pricing=None)
    reply = {"model": "m", "choices": [{"message": {"content": "Hi"}, "finish_reason": "stop"}]}
    fake_api.queue([json.dumps(reply).encode()], "application/json")
    response, _ = ask(False, False)
    assert response.resolved_model is None


@pytest.mark.parametrize(
    "model, resolved",
    [
        ("gpt\x1b[31m-5\n", "gpt\\x1b[31m-5"),  # escaped, one line: llm logs prints it as it is
        ("x" * 300, "x" * 200),
        (42, None),
        ({"name": "gpt"}, None),
        ("   ", None),
        ("key-sk-secret-0123456789", "key-***"),
    ],
)
def test_a_resolved_model_is_one_printable_line_without_secrets(
    fake_api, write, monkeypatch, model, resolved
):
    monkeypatch.setenv("FAKE_KEY", "sk-secret-0123456789")
    declare(write, fake_api.url, "openai-chat", pricing=None, key={"name": "k", "env": "FAKE_KEY"})
    reply = {"model": model, "choices": [{"message": {"content": "Hi"}, "finish_reason": "stop"}]}
    fake_api.queue([json.dumps(reply).encode()], "application/json")
    response, _ = ask(False, False)
    assert response.resolved_model == resolved


def test_a_priced_model_whose_server_reports_no_usage_records_no_cost(fake_api, write):
    declare(write, fake_api.url, "openai-chat")
    reply = {"model": "gpt", "choices": [{"message": {"content": "Hi"}, "finish_reason": "stop"}]}
    fake_api.queue([json.dumps(reply).encode()], "application/json")
    _, logged = ask(False, False)
    assert logged == {"model": "gpt", "finish_reason": "stop"}


def test_a_markov_model_is_priced_on_its_word_counts(write):
    write(
        "m.yaml",
        """\
        - model_id: chain
          backend: {type: markov}
          pricing: {input: 1000, output: 500}
        """,
    )
    response = llm.get_model("chain").prompt("one two three four five six")
    response.text()
    usage = response.usage()
    assert (usage.input, usage.output) == (6, 20)  # words: the prompt's, and the 20 it made
    assert response.response_json["cost"] == {"usd": 0.016, "input": 0.006, "output": 0.01}


def test_a_python_callable_reports_no_usage_so_no_cost(write, models_dir):
    (models_dir / "echo.py").write_text("def echo(request):\n    return request.prompt.upper()\n")
    write(
        "m.yaml",
        """\
        - model_id: echo
          backend: {type: python, callable: "./echo.py:echo"}
          pricing: {input: 1, output: 1}
        """,
    )
    response = llm.get_model("echo").prompt("hi")
    assert response.text() == "HI"
    assert "cost" not in (response.response_json or {})


def test_a_fallback_is_priced_at_its_own_rates_and_says_it_answered(fake_api, write):
    down = "http://127.0.0.1:9"  # nothing listens: the first model is unavailable
    write(
        "m.yaml",
        yaml.safe_dump(
            [
                {
                    "model_id": "first",
                    "backend": {
                        "type": "http",
                        "preset": "openai-chat",
                        "base_url": down,
                        "model_name": "a",
                        "retries": 0,
                    },
                    "pricing": {"input": 100, "output": 100},
                    "fallbacks": ["second"],
                },
                {
                    "model_id": "second",
                    "backend": {
                        "type": "http",
                        "preset": "openai-chat",
                        "base_url": fake_api.url,
                        "model_name": "b",
                        "retries": 0,
                    },
                    "pricing": PRICING,
                },
            ]
        ),  # fmt: skip
    )
    fake_api.queue(*openai_chat(False))
    response, logged = ask(False, False, "first")
    assert logged["answered_by"] == "second"
    assert logged["cost"] == FAMILIES["openai-chat"][2]
    assert response.resolved_model == "openai/gpt-5"


# -- the function itself, with usages no server of ours sends --------------------------------


def usage(input=1000, output=500, details=None) -> Usage:
    return Usage(input, output, details)


def test_no_price_no_usage_or_a_missing_count_is_no_cost():
    assert cost(None, usage()) is None
    assert cost(PRICES, None) is None
    assert cost(PRICES, usage(input=None)) is None
    assert cost(PRICES, usage(output=None)) is None


def test_a_used_part_without_a_price_is_no_cost():
    assert cost(Pricing(output=15), usage()) is None
    assert cost(Pricing(input=3), usage()) is None
    assert cost(Pricing(input=3), usage(output=0)) == {"usd": 0.003, "input": 0.003, "output": 0.0}


def test_cached_and_reasoning_tokens_without_their_own_price_take_input_and_output():
    details = {
        "prompt_tokens_details": {"cached_tokens": 400, "cache_write_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 200},
    }
    assert cost(Pricing(input=3, output=15), usage(details=details)) == {
        "usd": 0.0105,
        "input": 0.0015,
        "output": 0.0045,
        "cached_input": 0.0012,
        "cache_write": 0.0003,
        "reasoning": 0.003,
    }


def test_a_cache_count_larger_than_the_count_holding_it_is_priced_once():
    details = {"prompt_tokens_details": {"cached_tokens": 5000}}
    assert tokens(1000, 500, details) == {"input": 0, "output": 500, "cached_input": 1000}


@pytest.mark.parametrize("bad", [-1, 1.5, True, "400", None, [400], {"n": 400}])
def test_a_breakdown_that_is_not_a_count_is_not_read(bad):
    details = {"prompt_tokens_details": {"cached_tokens": bad}, "cache_read_input_tokens": bad}
    assert tokens(1000, 500, details) == {"input": 1000, "output": 500}


def test_a_usage_reporting_cache_reads_twice_is_read_in_its_first_shape():
    # LiteLLM's OpenAI shape carries Anthropic's counts too: prompt_tokens holds them.
    details = {
        "prompt_tokens_details": {"cached_tokens": 400},
        "cache_read_input_tokens": 400,
        "cache_creation_input_tokens": 100,
    }
    assert tokens(1000, 500, details) == {"input": 600, "output": 500, "cached_input": 400}


def test_details_that_are_not_a_mapping_break_nothing_out():
    for details in (None, [], "usage", 7):
        assert tokens(10, 5, details) == {"input": 10, "output": 5}


@pytest.mark.parametrize(
    "details, expected",
    [
        ({"cost": 0.5}, 0.5),
        ({"cost": 2}, 2),
        ({"cost": -1}, None),
        ({"cost": float("nan")}, None),
        ({"cost": float("inf")}, None),
        ({"cost": True}, None),
        ({"cost": "0.5"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_only_a_finite_non_negative_number_is_the_servers_cost(details, expected):
    assert server_usd(details) == expected


def test_a_python_callable_that_reports_usage_is_priced(write, models_dir):
    (models_dir / "count.py").write_text(
        "def count(request):\n    request.set_usage(input=1000, output=500)\n    return 'OK'\n"
    )
    write(
        "m.yaml",
        """\
        - model_id: counted
          backend: {type: python, callable: "./count.py:count"}
          pricing: {input: 3, output: 15}
        """,
    )
    response = llm.get_model("counted").prompt("hi")
    assert response.text() == "OK"
    assert response.response_json == {"cost": {"usd": 0.0105, "input": 0.003, "output": 0.0075}}


# -- llm yaml-models check ----------------------------------------------------------------


def test_check_shows_what_its_prompts_cost(fake_api, write, run_llm):
    write(
        "m.yaml",
        f"""\
        - model_id: priced
          backend: {{type: http, preset: openai-chat, base_url: "{fake_api.url}/v1", retries: 0}}
          pricing: {{input: 100, output: 200, cached_input: 10}}
        - model_id: free
          backend: {{type: http, preset: openai-chat, base_url: "{fake_api.url}/v1", retries: 0}}
        """,
    )
    # Each reply: 5 prompt tokens (2 of them cached) and 5 completion tokens;
    # streamed and whole, 2 x (3 x $100 + 2 x $10 + 5 x $200) per million.
    result = run_llm("yaml-models", "check", "--json")
    assert [(r["model"], r["cost"]) for r in json.loads(result.stdout)] == [
        ("priced", 0.00264),
        ("free", None),
    ]
    lines = run_llm("yaml-models", "check").stdout.splitlines()
    assert lines[0].split()[:6] == ["MODEL", "TTFT", "TOTAL", "STREAM", "USAGE", "COST"]
    assert [line.split()[5] for line in lines[1:]] == ["$0.002640", "-"]

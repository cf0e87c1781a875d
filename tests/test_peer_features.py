"""What the providers' own llm plugins send, sent by the presets too.

Each expected body is what the peer plugin sent for the same ``llm``
command, recorded (these tests check the preset without the peer;
tests/test_peers_live.py runs the peers themselves beside it):
llm-anthropic 0.30 (anthropic SDK 1.17.0) and llm-ollama 0.19.1, each with
llm 0.36 in a venv of its own, pointed at FakeAPI on 127.0.0.1
(ANTHROPIC_BASE_URL, OLLAMA_HOST); llm-gemini 0.35, whose URL is fixed,
through its ``build_request_body``. llm's own Responses model is the peer
of openai-responses, run here side by side. llm-anthropic always streams
and sends its own defaults (``temperature: 1.0``, ``max_tokens: 64000``):
the keys compared are the ones each feature adds.
"""

from __future__ import annotations

import asyncio
import json

import llm
import pytest
from fakeapi import FakeAPI

MODELS = """\
- model_id: claude
  key: {name: an, env: AN_TEST_KEY}
  supports_schema: true
  supports_tools: true
  backend:
    type: http
    preset: anthropic-messages
    base_url: ${FAKE_URL}/v1
    retries: 0
"""

STREAM = pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])


@pytest.fixture
def api(write, monkeypatch):
    with FakeAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        monkeypatch.setenv("AN_TEST_KEY", "sk-an-test")
        write("models.yaml", MODELS)
        yield server


# -- anthropic-messages: --schema ------------------------------------------------------------

# llm-anthropic 0.30, `llm -m claude-sonnet-4.5 --schema 'name, age int' hi`: no beta header.
PEER_SCHEMA_BODY = {
    "output_config": {
        "format": {
            "type": "json_schema",
            "schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                "additionalProperties": False,
                "required": ["name", "age"],
            },
        }
    }
}


@STREAM
def test_anthropic_schema_is_sent_as_output_config_format(api, run_llm, stream):
    result = run_llm(
        "-m", "claude", "--schema", "name, age int", "hi", *([] if stream else ["--no-stream"])
    )
    assert result.exit_code == 0, result.output
    body = api.requests[-1].json
    assert body["output_config"] == PEER_SCHEMA_BODY["output_config"]
    assert not [h for h in api.requests[-1].headers if h == "anthropic-beta"]


def test_anthropic_strict_schema_closes_objects_and_describes_what_it_cannot_send():
    from llm_yaml_models.backends.http.wire.anthropic import strict_schema

    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1, "description": "A number"},
            "tags": {
                "type": "array",
                "items": {"type": "string", "format": "email"},
                "minItems": 2,
            },
            "pick": {"oneOf": [{"type": "string"}, {"type": "null"}]},
            "inner": {"type": "object", "properties": {}, "additionalProperties": True},
        },
    }
    # Each value as the official SDK's transform_schema makes it (anthropic 1.17.0).
    assert strict_schema(schema) == {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "description": "A number\n\n{minimum: 1}"},
            "tags": {
                "type": "array",
                "items": {"type": "string", "format": "email"},
                "description": "{minItems: 2}",
            },
            "pick": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "inner": {"type": "object", "properties": {}, "additionalProperties": False},
        },
        "additionalProperties": False,
        "description": "{$schema: http://json-schema.org/draft-07/schema#}",
    }


def test_validate_accepts_supports_schema_on_anthropic_messages(api, run_llm, models_dir):
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 0, result.output
    assert "supports_schema" not in result.output


# -- anthropic-messages: cache, user_id, prefill ----------------------------------------------

# llm-anthropic 0.30, `llm -m claude-sonnet-4.5 -o cache 1 -s 'be brief' hi`: one breakpoint,
# on the last block of the last message; the system prompt stays a string.
PEER_CACHE_MESSAGES = [
    {
        "role": "user",
        "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
    }
]
# llm-anthropic 0.30, `llm -m claude-sonnet-4.5 -o user_id u-42 -o prefill '{' -o hide_prefill 1 hi`
PEER_PREFILL_BODY = {
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "{"}]},
    ],
    "metadata": {"user_id": "u-42"},
}


def test_anthropic_cache_puts_one_breakpoint_on_the_last_user_block(api, run_llm):
    result = run_llm("-m", "claude", "-o", "cache", "1", "-s", "be brief", "hi")
    assert result.exit_code == 0, result.output
    body = api.last.json
    assert body["messages"] == PEER_CACHE_MESSAGES
    assert body["system"] == "be brief"
    assert "cache" not in body


def test_anthropic_cache_breakpoint_is_on_the_user_turn_before_a_prefill(api):
    model = llm.get_model("claude")
    response = model.prompt("hi", cache=True, prefill="Sure")
    response.text()
    body = api.last.json
    assert body["messages"][-2]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Sure"}],
    }


def test_anthropic_without_cache_sends_no_breakpoint(api, run_llm):
    assert run_llm("-m", "claude", "hi").exit_code == 0
    assert "cache_control" not in json.dumps(api.last.json)


def test_anthropic_user_id_and_prefill_as_llm_anthropic_sends_them(api, run_llm):
    args = ("-o", "user_id", "u-42", "-o", "prefill", "{", "-o", "hide_prefill", "1", "hi")
    result = run_llm("-m", "claude", *args)
    assert result.exit_code == 0, result.output
    body = api.last.json
    assert {k: body[k] for k in PEER_PREFILL_BODY} == PEER_PREFILL_BODY
    assert not {"prefill", "hide_prefill", "user_id"} & set(body)
    assert result.output == "Hello from the fake API\n"


@STREAM
def test_anthropic_prefill_is_the_start_of_the_reply_unless_hidden(api, stream):
    model = llm.get_model("claude")
    shown = model.prompt("hi", prefill="Well: ", stream=stream)
    assert shown.text() == "Well: Hello from the fake API"
    hidden = model.prompt("hi", prefill="Well: ", hide_prefill=True, stream=stream)
    assert hidden.text() == "Hello from the fake API"


def test_anthropic_prefill_goes_back_as_part_of_the_reply_under_continue(api, run_llm):
    assert run_llm("-m", "claude", "-o", "prefill", "Well: ", "hi").exit_code == 0
    assert run_llm("-c", "again").exit_code == 0
    assert api.last.json["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Well: Hello from the fake API"}],
    }


def _cached_usage(**counts) -> dict:
    return {"input_tokens": 5, "output_tokens": 3, **counts}


def _sse(events: list[tuple[str, dict]]) -> bytes:
    return "".join(f"event: {n}\ndata: {json.dumps(d)}\n\n" for n, d in events).encode()


def _cached_reply(stream: bool, usage: dict, again: bool = True) -> tuple[list[bytes], str]:
    if not stream:
        reply = {
            "id": "msg_1",
            "type": "message",
            "model": "fake-claude",
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "usage": usage,
        }
        return [json.dumps(reply).encode()], "application/json"
    start = {"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": usage}}
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "ok"},
    }
    # message_delta as the API sends it today: the counts again, cumulative;
    # or (a proxy, the API before) the output count only.
    counts = usage if again else {"output_tokens": usage["output_tokens"]}
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": counts}
    events = [("message_start", start), ("content_block_start", block)]
    events += [("content_block_delta", delta), ("message_delta", end)]
    events += [("message_stop", {"type": "message_stop"})]
    return [_sse(events)], "text/event-stream"


@STREAM
def test_anthropic_cache_reads_and_writes_are_token_details(api, stream):
    usage = _cached_usage(
        cache_creation_input_tokens=1200,
        cache_read_input_tokens=0,
        cache_creation={"ephemeral_5m_input_tokens": 1200},
        service_tier="standard",
    )
    api.queue(*_cached_reply(stream, usage))
    response = llm.get_model("claude").prompt("hi", cache=True, stream=stream)
    assert response.text() == "ok"
    assert (response.input_tokens, response.output_tokens) == (5, 3)
    assert response.token_details == {"cache_creation_input_tokens": 1200}
    api.queue(*_cached_reply(stream, _cached_usage(cache_read_input_tokens=1200)))
    again = llm.get_model("claude").prompt("hi", cache=True, stream=stream)
    again.text()
    assert again.token_details == {"cache_read_input_tokens": 1200}


@STREAM
def test_anthropic_usage_without_cache_counts_has_no_details(api, stream):
    api.queue(*_cached_reply(stream, _cached_usage(cache_read_input_tokens=0)))
    response = llm.get_model("claude").prompt("hi", stream=stream)
    response.text()
    assert response.token_details is None


# -- -R (prompt.hide_reasoning): no visible thinking asked for --------------------------------

THINKING_MODEL = """\
- model_id: thinker
  key: {name: an, env: AN_TEST_KEY}
  backend:
    type: http
    preset: anthropic-messages
    base_url: ${FAKE_URL}/v1
    retries: 0
  options:
    thinking_budget: {type: integer, minimum: 1024, default: 1024,
      body: {thinking: {type: enabled, budget_tokens: "{{ options.thinking_budget }}"}}}
"""


def test_anthropic_hide_reasoning_asks_for_thinking_not_displayed(api, run_llm, write):
    write("thinker.yaml", THINKING_MODEL)
    assert run_llm("-m", "thinker", "-R", "hi").exit_code == 0
    # llm-anthropic 0.30, `llm -m claude-sonnet-4.5 -o thinking 1 -R hi`
    assert api.last.json["thinking"] == {
        "type": "enabled",
        "budget_tokens": 1024,
        "display": "omitted",
    }
    assert run_llm("-m", "thinker", "hi").exit_code == 0
    # ... and without -R: no display key
    assert api.last.json["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_anthropic_hide_reasoning_without_thinking_adds_nothing(api, run_llm):
    assert run_llm("-m", "claude", "-R", "hi").exit_code == 0
    assert "thinking" not in api.last.json


def test_anthropic_cache_counts_of_message_start_stay_when_message_delta_has_none(api):
    usage = _cached_usage(cache_read_input_tokens=900)
    api.queue(*_cached_reply(True, usage, again=False))
    response = llm.get_model("claude").prompt("hi", cache=True)
    response.text()
    assert response.token_details == {"cache_read_input_tokens": 900}


RESPONSES = """\
- model_id: oursr
  backend:
    type: http
    preset: openai-responses
    base_url: ${FAKE_URL}/v1
    model_name: served
    retries: 0
    body: {include: [reasoning.encrypted_content]}
  options:
    reasoning_summary: {type: string, default: auto}
"""
# llm's own Responses model, the peer here, on the same server.
RESPONSES_REFERENCE = """\
- model_id: refr
  model_name: served
  api_base: {url}/v1
  responses: true
  reasoning: true
"""


@pytest.mark.parametrize("effort", [[], ["-o", "reasoning_effort", "low"]], ids=["", "effort"])
def test_responses_hide_reasoning_asks_for_no_summary_as_llms_client(
    api, run_llm, write, user_dir, effort
):
    write("responses.yaml", RESPONSES)
    (user_dir / "extra-openai-models.yaml").write_text(RESPONSES_REFERENCE.format(url=api.url))
    sent = {}
    for model in ("oursr", "refr"):
        for hidden in (["-R"], []):
            assert run_llm("-m", model, *effort, *hidden, "hi").exit_code == 0
            sent[model, bool(hidden)] = api.last.json.get("reasoning")
    assert sent["oursr", True] == sent["refr", True] == ({"effort": "low"} if effort else None)
    shown = {"summary": "auto", **({"effort": "low"} if effort else {})}
    assert sent["oursr", False] == sent["refr", False] == shown


# -- gemini ----------------------------------------------------------------------------------

GEMINI = """\
- model_id: gem
  key: {name: gm, env: GM_TEST_KEY}
  attachment_types: [video/youtube, video/mp4, application/pdf, image/png]
  backend: {type: http, preset: gemini, base_url: "${FAKE_URL}/v1beta", model_name: g, retries: 0}
"""
SAFE = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]


@pytest.fixture
def gem(api, write, monkeypatch):
    monkeypatch.setenv("GM_TEST_KEY", "gm-test")
    write("gem.yaml", GEMINI)
    return api


def test_gemini_options_of_llm_gemini_go_where_it_sends_them(gem, run_llm):
    args = ["-o", "json_object", "1", "-o", "media_resolution", "low"]
    args += ["-o", "thinking_level", "high", "-o", "temperature", "0.5"]
    result = run_llm("-m", "gem", *args, "-o", "safety_settings", json.dumps(SAFE), "hi")
    assert result.exit_code == 0, result.output
    body = gem.last.json
    # llm-gemini 0.35's build_request_body for the same options (thinking_level
    # on a gemini-3 model; it sends response_mime_type, the API's other spelling).
    assert body["generationConfig"] == {
        "temperature": 0.5,
        "mediaResolution": "MEDIA_RESOLUTION_LOW",
        "thinkingConfig": {"thinkingLevel": "high"},
        "responseMimeType": "application/json",
    }
    assert body["safetySettings"] == SAFE


def test_gemini_sends_no_safety_settings_unless_a_model_sets_a_default(gem, run_llm, write):
    assert run_llm("-m", "gem", "hi").exit_code == 0
    assert "safetySettings" not in gem.last.json
    block_none = [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]
    write(
        "gem2.yaml",
        GEMINI.replace("model_id: gem", "model_id: gem2")
        + "  options:\n    safety_settings: {type: array, items: {type: object}, default: "
        + json.dumps(block_none)
        + "}\n",
    )
    assert run_llm("-m", "gem2", "hi").exit_code == 0
    assert gem.last.json["safetySettings"] == block_none


def test_gemini_hide_reasoning_asks_for_no_thoughts(gem, run_llm):
    args = ("-o", "include_thoughts", "1", "-o", "thinking_budget", "512", "hi")
    assert run_llm("-m", "gem", "-R", *args).exit_code == 0
    assert gem.last.json["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 512}}
    assert run_llm("-m", "gem", *args).exit_code == 0
    thinking = {"thinkingBudget": 512, "includeThoughts": True}
    assert gem.last.json["generationConfig"] == {"thinkingConfig": thinking}


URLS = {
    # llm-gemini 0.35 sends a YouTube URL as fileData with mimeType video/youtube.
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ": "video/youtube",
    "https://youtu.be/dQw4w9WgXcQ": "video/youtube",
    "gs://bucket/talk.mp4": "video/mp4",
    "https://generativelanguage.googleapis.com/v1beta/files/abc123": "application/pdf",
}


def test_gemini_attachments_by_url_it_fetches_go_as_file_data(gem, run_llm):
    for url, kind in URLS.items():
        result = run_llm("-m", "gem", "--at", url, "video/mp4" if "youtu" in url else kind, "hi")
        assert result.exit_code == 0, result.output
        parts = gem.last.json["contents"][0]["parts"]
        assert parts[1] == {"fileData": {"mimeType": kind, "fileUri": url}}
    assert len(gem.requests) == len(URLS)  # nothing fetched, from here or elsewhere


def test_gemini_other_url_attachments_are_downloaded_and_inline(gem, run_llm):
    url = f"{gem.url}/v1beta/models"  # any URL of the loopback server
    result = run_llm("-m", "gem", "--at", url, "image/png", "hi")
    assert result.exit_code == 0, result.output
    assert [r.method for r in gem.requests] == ["GET", "POST"]
    part = gem.last.json["contents"][0]["parts"][1]
    assert list(part) == ["inline_data"] and part["inline_data"]["mime_type"] == "image/png"


def test_an_option_body_merges_into_the_mappings_the_templates_made(api, run_llm, write):
    write(
        "generic.yaml",
        """\
        - model_id: gen
          backend:
            type: http
            url: ${FAKE_URL}/generic
            body: {input: "{{ prompt }}", config: {a: 1, deep: {b: 2}}}
            response: {text: output.text}
            retries: 0
          options:
            flag: {type: boolean, body: {config: {deep: {c: 3}, d: [4]}}}
        """,
    )
    assert run_llm("-m", "gen", "-o", "flag", "1", "hi").exit_code == 0
    assert api.last.json["config"] == {"a": 1, "deep": {"b": 2, "c": 3}, "d": [4]}


# -- ollama-chat -----------------------------------------------------------------------------

OLLAMA = """\
- model_id: olla
  backend:
    type: http
    preset: ollama-chat
    base_url: ${FAKE_URL}
    model_name: "llama3.2:latest"
    retries: 0
"""
# llm-ollama 0.19.1, `llm -m ollama/llama3.2:latest --no-stream -o json_object 1
# -o min_p 0.05 -o repeat_last_n 32 hi` (OLLAMA_HOST at the loopback server).
PEER_OLLAMA_BODY = {
    "model": "llama3.2:latest",
    "stream": False,
    "options": {"repeat_last_n": 32, "min_p": 0.05},
    "format": "json",
    "messages": [{"role": "user", "content": "hi"}],
    "tools": [],
}


def test_ollama_json_object_min_p_and_repeat_last_n_as_llm_ollama_sends_them(api, run_llm, write):
    write("olla.yaml", OLLAMA)
    args = ("-o", "json_object", "1", "-o", "min_p", "0.05", "-o", "repeat_last_n", "32", "hi")
    result = run_llm("-m", "olla", "--no-stream", *args)
    assert result.exit_code == 0, result.output
    # llm-ollama sends an empty tools list; the preset sends no tools key without tools.
    expected = {k: v for k, v in PEER_OLLAMA_BODY.items() if k != "tools"}
    assert api.last.json == expected


# -- supports_conversation -------------------------------------------------------------------

ONE_SHOT = """\
- model_id: oneshot
  backend:
    type: http
    url: ${FAKE_URL}/generic
    body:
      input: "{{ prompt }}"
    response: {text: output.text}
    retries: 0
"""
WITH_TURNS = """\
- model_id: turns
  backend:
    type: http
    url: ${FAKE_URL}/generic
    messages: openai
    body: {input: "{{ prompt }}", history: "{{ messages }}"}
    response: {text: output.text}
    retries: 0
"""


def test_a_model_that_places_only_the_prompt_refuses_continue(api, run_llm, write):
    write("oneshot.yaml", ONE_SHOT)
    assert llm.get_model("oneshot").supports_conversation is False
    assert llm.get_async_model("oneshot").supports_conversation is False
    assert run_llm("-m", "oneshot", "hi").exit_code == 0
    sent = len(api.requests)
    result = run_llm("-c", "again")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: YAML http: oneshot does not support conversations\n",
    )
    assert len(api.requests) == sent
    chat = run_llm("chat", "-m", "oneshot", input="hi\nquit\n")
    assert (chat.exit_code, chat.stderr) == (
        1,
        "Error: YAML http: oneshot does not support conversations\n",
    )


def test_a_model_that_places_the_messages_converses(api, run_llm, write):
    write("turns.yaml", WITH_TURNS)
    assert llm.get_model("turns").supports_conversation is True
    assert llm.get_model("claude").supports_conversation is True  # a preset's body places them
    assert run_llm("-m", "turns", "hi").exit_code == 0
    assert run_llm("-c", "again").exit_code == 0
    assert [m["role"] for m in api.last.json["history"]] == ["user", "assistant", "user"]


def test_an_option_body_that_places_the_messages_counts(api, write):
    write(
        "opt.yaml",
        ONE_SHOT.replace("oneshot", "optturns")
        + "  options:\n    turns: {type: boolean, body: {history: '{{ messages }}'}}\n",
    )
    assert llm.get_model("optturns").supports_conversation is True


def test_validate_warns_the_author_of_a_model_that_drops_the_conversation(
    api, run_llm, write, models_dir
):
    write("oneshot.yaml", ONE_SHOT)
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 0, result.output
    file = models_dir / "oneshot.yaml"
    assert result.stderr == (
        f"{file}:6:7: [0].backend.body: warning: no template places {{{{ messages }}}}, "
        "so the model cannot be sent earlier turns: llm -c and llm chat refuse it\n"
    )


def test_validate_says_nothing_of_the_conversation_of_a_model_it_refuses(api, run_llm, write):
    write("oneshot.yaml", ONE_SHOT.replace('"{{ prompt }}"', '"{{ promt }}"'))
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert "no template places" not in result.output


@STREAM
def test_anthropic_prefill_starts_the_async_reply_too(api, stream):
    async def run():
        response = llm.get_async_model("claude").prompt("hi", prefill="Well: ", stream=stream)
        return await response.text()

    assert asyncio.run(run()) == "Well: Hello from the fake API"
    assert api.last.json["messages"][-1]["role"] == "assistant"

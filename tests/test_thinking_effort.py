"""anthropic-messages: adaptive thinking (``thinking``) and ``thinking_effort``
(issue 25), as llm-anthropic sends them.

Each expected body is what llm-anthropic 0.30 built for the same options on
claude-opus-4.6 (a model that takes adaptive thinking and an effort),
observed outside this suite through its ``build_kwargs`` with llm 0.36 in a
venv of its own: the keys compared are the ones these options add
(tests/test_peers_live.py runs llm-anthropic itself beside the preset)."""

from __future__ import annotations

import json

import llm
import pytest

MODELS = """\
- model_id: claude
  key: {name: an, env: AN_TEST_KEY}
  supports_schema: true
  backend: {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1", retries: 0}
- model_id: budgeted
  key: {name: an, env: AN_TEST_KEY}
  backend: {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1", retries: 0}
  options:
    thinking_budget: {type: integer, minimum: 1024, default: 2048,
      body: {thinking: {type: enabled, budget_tokens: "{{ options.thinking_budget }}"}}}
- model_id: quiet
  key: {name: an, env: AN_TEST_KEY}
  backend:
    type: http
    preset: anthropic-messages
    base_url: "${FAKE_URL}/v1"
    retries: 0
    body: {thinking: {type: adaptive, display: omitted}}
- model_id: older
  key: {name: an, env: AN_TEST_KEY}
  backend: {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1", retries: 0}
  options: {thinking: null, thinking_effort: null}
"""

ADAPTIVE = {"type": "adaptive", "display": "summarized"}


@pytest.fixture
def api(fake_api, write, monkeypatch):
    monkeypatch.setenv("FAKE_URL", fake_api.url)
    monkeypatch.setenv("AN_TEST_KEY", "sk-an-test")
    write("models.yaml", MODELS)
    return fake_api


def sent(api, run_llm, *args: str) -> dict:
    result = run_llm("-m", "claude", *args, "hi")
    assert result.exit_code == 0, result.output
    body = api.last.json
    return {key: body[key] for key in ("thinking", "output_config") if key in body}


@pytest.mark.parametrize(
    "args,expected",
    [
        (
            ["-o", "thinking_effort", "high"],
            {"thinking": ADAPTIVE, "output_config": {"effort": "high"}},
        ),
        (
            ["-o", "thinking_effort", "low", "-R"],
            {
                "thinking": {"type": "adaptive", "display": "omitted"},
                "output_config": {"effort": "low"},
            },
        ),
        (["-o", "thinking", "1"], {"thinking": ADAPTIVE}),
        (["-o", "thinking", "0"], {"thinking": {"type": "disabled"}}),
        ([], {}),
    ],
    ids=["effort", "effort-R", "adaptive", "off", "none"],
)
def test_thinking_options_send_what_llm_anthropic_sends(api, run_llm, args, expected):
    assert sent(api, run_llm, *args) == expected
    assert not {"thinking_effort"} & set(api.last.json)


def test_effort_joins_a_schemas_output_config(api, run_llm):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = sent(api, run_llm, "-o", "thinking_effort", "max", "--schema", json.dumps(schema))
    assert body == {
        "thinking": ADAPTIVE,
        "output_config": {
            "effort": "max",
            "format": {
                "type": "json_schema",
                "schema": {**schema, "additionalProperties": False},
            },
        },
    }


def test_an_effort_keeps_a_budget_the_model_asked_for(api):
    # llm-anthropic has no budget option with an effort; a declared budget is kept.
    llm.get_model("budgeted").prompt("hi", thinking_effort="medium").text()
    assert api.last.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert api.last.json["output_config"] == {"effort": "medium"}


def test_an_effort_that_is_not_one_of_the_levels_is_refused(api, run_llm):
    result = run_llm("-m", "claude", "-o", "thinking_effort", "extreme", "hi")
    assert result.exit_code == 1
    assert result.output == (
        "Error: thinking_effort\n  Input should be 'low', 'medium', 'high', 'xhigh' or 'max'\n"
    )
    assert api.requests == []


def test_a_model_that_does_not_take_them_removes_them(api, run_llm):
    result = run_llm("-m", "older", "-o", "thinking_effort", "high", "hi")
    assert result.exit_code == 1
    assert result.output == "Error: thinking_effort\n  Extra inputs are not permitted\n"
    assert api.requests == []


def test_the_async_model_sends_the_same(api):
    import asyncio

    async def run():
        model = llm.get_async_model("claude")
        return await model.prompt("hi", thinking_effort="xhigh").text()

    asyncio.run(run())
    assert api.last.json["thinking"] == ADAPTIVE
    assert api.last.json["output_config"] == {"effort": "xhigh"}


def test_a_display_the_model_asks_for_is_kept(api):
    llm.get_model("quiet").prompt("hi", thinking_effort="low").text()
    assert api.last.json["thinking"] == {"type": "adaptive", "display": "omitted"}

"""What the providers' own llm plugins send, sent by the presets too.

Each expected body is what the peer plugin sent for the same ``llm``
command against FakeAPI on 127.0.0.1: llm-anthropic 0.30 (with llm 0.36
and the anthropic SDK 1.17.0, in a venv of its own, ANTHROPIC_BASE_URL at
the loopback server). The peer always streams and sends its own defaults
(``temperature: 1.0``, ``max_tokens: 64000``); the keys compared here are
the ones each feature adds.
"""

from __future__ import annotations

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

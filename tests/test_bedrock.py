"""bedrock-converse: Bedrock's Converse and ConverseStream APIs against a
loopback server speaking their shapes (tests/bedrockapi.py), streamed (AWS's
event-stream framing) and whole, through llm's Python API and CLI."""

from __future__ import annotations

import asyncio
import json

import llm
import pytest
from bedrockapi import USAGE, BedrockAPI, converse_stream, event, exception
from llm.parts import ReasoningPart, TextPart

MODEL_NAME = "anthropic.claude-sonnet-4-20250514-v1:0"
PATH = "/model/anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
THINKING = 'The user wants 2+3.\nI should call "add" \u2013 carefully.'
SIGNATURE = "EqQBCkYIBRgCKkBa+/sig==\u00e9"
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
THINK = {"reasoningContent": {"reasoningText": {"text": THINKING, "signature": SIGNATURE}}}
HIDDEN = {"reasoningContent": {"redactedContent": REDACTED}}
ADD = {"toolUse": {"toolUseId": "tooluse_01A", "name": "add", "input": {"a": 2, "b": 3}}}

MODELS = """\
- model_id: br
  key: {name: bedrock, env: AWS_BEARER_TOKEN_BEDROCK}
  backend:
    type: http
    preset: bedrock-converse
    model_name: "anthropic.claude-sonnet-4-20250514-v1:0"
    base_url: ${FAKE_URL}
    retries: 1
  supports_tools: true
  attachment_types: [image/png, application/pdf, audio/wav]
"""

STREAM = pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])


@pytest.fixture
def api(write, monkeypatch):
    with BedrockAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-0123456789")
        write("models.yaml", MODELS)
        yield server


def make_add(calls: list):
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        calls.append((a, b))
        return a + b

    return add


# -- the request ---------------------------------------------------------------------------------


@STREAM
def test_the_request_in_converse_shapes(api, stream):
    api.turns = [([{"text": "Hi!"}], "end_turn")]
    model = llm.get_model("br")
    options = {"max_tokens": 50, "temperature": 0.5, "top_p": 0.9, "stop_sequences": ["END"]}
    response = model.prompt("Hello", system="Be brief.", stream=stream, **options)
    assert response.text() == "Hi!"
    sent = api.last
    assert sent.path == PATH + ("-stream" if stream else "")
    assert sent.headers["authorization"] == "Bearer bedrock-api-key-0123456789"
    assert sent.json == {
        "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {
            "maxTokens": 50,
            "temperature": 0.5,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
    }


@STREAM
def test_usage_with_cache_tokens(api, stream):
    response = llm.get_model("br").prompt("Hello", stream=stream)
    assert response.text() == "Hello from Bedrock"
    usage = response.usage()
    assert (usage.input, usage.output) == (USAGE["inputTokens"], USAGE["outputTokens"])
    assert usage.details == {"cacheReadInputTokens": 5, "cacheWriteInputTokens": 3}
    assert response.response_json["finish_reason"] == "end_turn"


def test_images_and_documents_go_as_bytes(api, tmp_path):
    png = tmp_path / "dot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    attachments = [llm.Attachment(path=str(png)), llm.Attachment(path=str(pdf))]
    llm.get_model("br").prompt("Describe", attachments=attachments, stream=False).text()
    (message,) = api.last.json["messages"]
    image, document, text = message["content"]
    assert image == {
        "image": {"format": "png", "source": {"bytes": attachments[0].base64_content()}}
    }
    assert document == {
        "document": {
            "format": "pdf",
            "name": "document-2",
            "source": {"bytes": attachments[1].base64_content()},
        }
    }
    assert text == {"text": "Describe"}


def test_an_attachment_converse_cannot_take_is_one_line(api, tmp_path, run_llm):
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    result = run_llm("-m", "br", "hi", "--at", str(audio), "audio/wav")
    assert (result.exit_code, result.output) == (
        1,
        "Error: br: Bedrock's Converse API takes no attachment of type audio/wav\n",
    )
    assert not api.requests


# -- history and reasoning -------------------------------------------------------------------


@STREAM
def test_reasoning_with_its_signature(api, stream):
    api.turns = [([THINK, HIDDEN, {"text": "Five."}], "end_turn")]
    response = llm.get_model("br").prompt("2+3?", stream=stream)
    assert response.text() == "Five."
    (message,) = response.messages()
    assert message.parts == [
        ReasoningPart(THINKING, provider_metadata={"bedrock": {"signature": SIGNATURE}}),
        ReasoningPart("", provider_metadata={"bedrock": {"redacted": REDACTED}}),
        TextPart("Five."),
    ]


@STREAM
def test_the_next_turn_carries_the_history_and_reasoning_back(api, stream):
    api.turns = [([THINK, HIDDEN, {"text": "Five."}], "end_turn")]
    conversation = llm.get_model("br").conversation()
    conversation.prompt("2+3?", system="Be brief.", stream=stream).text()
    conversation.prompt("and 3+4?", system="Be brief.", stream=stream).text()
    assert api.last.json["messages"] == [
        {"role": "user", "content": [{"text": "2+3?"}]},
        {"role": "assistant", "content": [THINK, HIDDEN, {"text": "Five."}]},
        {"role": "user", "content": [{"text": "and 3+4?"}]},
    ]
    assert api.last.json["system"] == [{"text": "Be brief."}]


def test_thinking_budget_goes_in_additional_model_request_fields(api):
    llm.get_model("br").prompt("hi", thinking_budget=2048, max_tokens=4096).text()
    assert api.last.json["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    }


# -- tools --------------------------------------------------------------------------------------


@STREAM
def test_tool_config_tool_use_and_tool_result(api, stream):
    api.turns = [([THINK, {"text": "Adding."}, ADD], "tool_use"), ([{"text": "5."}], "end_turn")]
    calls: list = []
    chain = llm.get_model("br").chain("2+3?", tools=[make_add(calls)], stream=stream)
    assert chain.text() == "Adding. 5."
    assert calls == [(2, 3)]
    first, second = (json.loads(r.body) for r in api.requests)
    assert first["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "add",
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                            "required": ["a", "b"],
                        }
                    },
                    "description": "Add two numbers.",
                }
            }
        ]
    }
    assert second["messages"][1:] == [
        {"role": "assistant", "content": [THINK, {"text": "Adding."}, ADD]},
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": "tooluse_01A", "content": [{"text": "5"}]}}],
        },
    ]


# -- the stream's framing, as the model sees it -------------------------------------------------


def queue_stream(api, pieces: list[bytes]) -> None:
    api.queue(pieces, kind="application/vnd.amazon.eventstream", pause=0.001)


def test_a_stream_split_anywhere_reads_the_same(api, run_llm):
    whole = b"".join(converse_stream([THINK, {"text": "Split text."}]))
    cuts = [1, 7, 12, 13, 40, len(whole) // 2, len(whole) - 5]
    queue_stream(api, [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)])
    response = llm.get_model("br").prompt("hi")
    assert response.text() == "Split text."
    assert response.messages()[0].parts[0] == ReasoningPart(
        THINKING, provider_metadata={"bedrock": {"signature": SIGNATURE}}
    )


def test_an_exception_frame_is_the_models_one_line_error(api, run_llm):
    pieces = converse_stream([{"text": "Partial"}])[:3]
    pieces.append(exception("validationException", "The model returned\nan invalid response."))
    queue_stream(api, pieces)
    result = run_llm("-m", "br", "hi")
    assert result.exit_code == 1
    assert result.output.endswith(
        f"Error: br: error from {api.url}{PATH}-stream: validationException: "
        "The model returned an invalid response.\n"
    )
    assert len(api.requests) == 1  # not retried: text was shown


def test_throttling_before_any_event_is_retried(api, run_llm):
    queue_stream(api, [exception("throttlingException", "Too many requests, please wait.")])
    result = run_llm("-m", "br", "hi")
    assert (result.exit_code, result.output) == (0, "Hello from Bedrock\n")
    assert len(api.requests) == 2


def test_a_bad_crc_is_one_line(api, run_llm):
    damaged = bytearray(
        event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}})
    )
    damaged[-5] ^= 0xFF
    queue_stream(api, [bytes(damaged)])
    result = run_llm("-m", "br", "hi")
    assert (result.exit_code, result.output) == (
        1,
        f"Error: br: event stream from {api.url}{PATH}-stream is damaged: "
        "the message CRC of a message does not match\n",
    )


def test_a_stream_that_ends_mid_message(api, run_llm):
    pieces = converse_stream([{"text": "Hello"}])
    queue_stream(api, pieces[:-1] + [pieces[-1][:20]])
    result = run_llm("-m", "br", "hi")
    assert result.exit_code == 1
    assert result.output.endswith(
        f"Error: br: stream from {api.url}{PATH}-stream ended in the middle of a message\n"
    )


def test_an_error_status_is_the_providers_message(api, run_llm):
    body = json.dumps({"message": "The provided model identifier is invalid."}).encode()
    api.fail_next("status", status=400, body=body)
    result = run_llm("-m", "br", "hi")
    assert (result.exit_code, result.output) == (
        1,
        f"Error: br: HTTP 400 from {api.url}{PATH}-stream: "
        "The provided model identifier is invalid.\n",
    )


def test_async_stream(api):
    api.turns = [([THINK, {"text": "Async."}], "end_turn")]

    async def run():
        response = llm.get_async_model("br").prompt("hi")
        return await response.text(), await response.messages()

    text, (message,) = asyncio.run(run())
    assert text == "Async."
    assert message.parts[0].provider_metadata == {"bedrock": {"signature": SIGNATURE}}

"""The wire families beside the providers' own llm plugins (issue 21):
what they store and send the same way (llm-anthropic's redacted thinking,
llm-ollama's key, llm-gemini's cache token details), errors that help
(JMESPath failures cut, empty replies named), streamed tool-call arguments
gathered in linear time, and the module floors of the HTTP backend."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import llm
import pytest
import yaml
from fakeapi import FakeAPI, responses_object, sse_of

REPO = Path(__file__).resolve().parents[1]
HTTP = "llm_yaml_models.backends.http"


@pytest.fixture
def declare(write):
    """``declare(api, preset, **backend)``: model ``m`` against the server."""

    def declare(api, preset="openai-chat", model=None, **backend):
        spec = {"type": "http", "preset": preset, "base_url": api.url, "retries": 0, **backend}
        write("m.yaml", yaml.safe_dump([{"model_id": "m", "backend": spec, **(model or {})}]))

    return declare


def add(a: int, b: str) -> int:
    """Add."""
    return a


# -- streamed tool-call arguments, gathered in linear time ---------------------------------

# 32,000 deltas of 512 bytes: 16 MB of arguments. Joined with += on a str,
# each delta copied all before it (about 256 GB copied: minutes); gathered
# as pieces and joined once, the stream is read in a second or two.
DELTAS = 32_000
PIECE = "x" * 512


def chat_argument_pieces() -> list[bytes]:
    def chunk(call: dict) -> bytes:
        delta = {"index": 0, **call}
        choice = {"index": 0, "delta": {"tool_calls": [delta]}, "finish_reason": None}
        return f"data: {json.dumps({'choices': [choice]})}\n\n".encode()

    head = chunk({"id": "call_1", "type": "function", "function": {"name": "add", "arguments": ""}})
    body = [chunk({"function": {"arguments": '{"a": 1, "b": "'}})]
    body += [chunk({"function": {"arguments": PIECE}}) for _ in range(DELTAS)]
    body.append(chunk({"function": {"arguments": '"}'}}))
    done = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}\n\n'
    return [head, b"".join(body), done + b"data: [DONE]\n\n"]


def responses_argument_pieces() -> list[bytes]:
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "add"}
    item = {**call, "arguments": "", "status": "in_progress"}
    added = {"type": "response.output_item.added", "output_index": 0, "item": item}
    delta = {"type": "response.function_call_arguments.delta", "output_index": 0}
    events = [("response.output_item.added", added)]
    events.append(("response.function_call_arguments.delta", {**delta, "delta": '{"a": 1, "b": "'}))
    events += [("response.function_call_arguments.delta", {**delta, "delta": PIECE})] * DELTAS
    events.append(("response.function_call_arguments.delta", {**delta, "delta": '"}'}))
    whole = responses_object(output=[])
    events.append(("response.completed", {"type": "response.completed", "response": whole}))
    return [sse_of(events)]


@pytest.mark.parametrize(
    "preset,pieces",
    [("openai-chat", chat_argument_pieces), ("openai-responses", responses_argument_pieces)],
)
def test_megabytes_of_argument_deltas_are_read_in_linear_time(declare, preset, pieces):
    """Bounded by a watchdog, not timed: quadratic joining takes minutes."""
    with FakeAPI() as api:
        declare(api, preset, model={"supports_tools": True})
        api.queue(pieces())
        found: list = []
        model = llm.get_model("m")
        reader = threading.Thread(
            target=lambda: found.append(model.prompt("hi", tools=[add]).tool_calls()),
            daemon=True,
        )
        reader.start()
        reader.join(30)
        assert not reader.is_alive(), "the argument deltas are joined in quadratic time"
    (call,) = found[0]
    assert (call.name, call.arguments) == ("add", {"a": 1, "b": PIECE * DELTAS})


# -- errors that help ------------------------------------------------------------------------


def failure(**kwargs) -> str:
    with pytest.raises(llm.ModelError) as caught:
        llm.get_model("m").prompt("hi", **kwargs).text()
    return str(caught.value)


def jmespath_failure(declare, value, **model) -> tuple[str, str]:
    """The error for ``join()`` of a list holding ``value``, and its start."""
    with FakeAPI() as api:
        declare(api, response={"text": "join('', content)"}, model=model)
        api.queue([json.dumps({"content": [value]}).encode()], "application/json")
        message = failure(stream=False)
    head = f"m: cannot apply 'join('', content)' to the reply from {api.url}/chat/completions: "
    return message, head


def jmespaths_own(value) -> str:
    """jmespath's own message for ``join()`` of a list holding ``value``."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    with pytest.raises(JMESPathError) as caught:
        jmespath.search("join('', content)", {"content": [value]})
    return str(caught.value)


def test_a_jmespath_type_error_quotes_the_value_cut(declare):
    """jmespath quotes the whole value it met: a 5 MB object was a 5 MB line."""
    big = {"k": "v" * 5_000_000}
    message, head = jmespath_failure(declare, big)
    assert message == head + jmespaths_own(big)[:200]


def test_a_cut_type_error_stars_a_secret_before_cutting(declare, monkeypatch):
    """Starred first: a key cut in half would otherwise show its start."""
    key = "sk-secret-value-0123456789"
    monkeypatch.setenv("M_KEY", key)
    value = {"k": "v" * 143 + key}  # the key straddles the 200th character
    message, head = jmespath_failure(declare, value, key={"name": "mk", "env": "M_KEY"})
    own = jmespaths_own(value)
    assert "sk-sec" in own[:200] and key not in own[:200]
    assert message == head + own.replace(key, "***")[:200]


@pytest.mark.parametrize(
    "preset,reply,missing,path",
    [
        ("anthropic-messages", {}, "content", "/messages"),
        ("anthropic-messages", {"id": "msg_1", "content": None}, "content", "/messages"),
        ("openai-responses", {}, "output", "/responses"),
        ("openai-responses", {"id": "resp_1", "output": None}, "output", "/responses"),
    ],
)
def test_an_empty_reply_says_what_is_missing(declare, preset, reply, missing, path):
    """It showed jmespath's `In function join(), invalid type for value: None...`."""
    with FakeAPI() as api:
        declare(api, preset)
        api.queue([json.dumps(reply).encode()], "application/json")
        assert (
            failure(stream=False) == f"m: nothing at '{missing}' in the reply from {api.url}{path}"
        )


# -- interoperability with the providers' own plugins ------------------------------------

THINK = {"type": "thinking", "thinking": "Hmm.", "signature": "EqQBCkYIBRgCKkBa+/sig=="}
DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
HIDDEN = {"type": "redacted_thinking", "data": DATA}
# What llm-anthropic 0.30 stores for a redacted_thinking block (its
# provider_metadata), and what this plugin stored before.
THEIRS = {"anthropic": {"type": "redacted_thinking", "data": DATA}}
OURS_BEFORE = {"anthropic": {"redacted_data": DATA}}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_redacted_block_is_stored_as_llm_anthropic_stores_it(declare, stream):
    from fakeapi import anthropic_blocks_json, anthropic_blocks_sse

    blocks = [THINK, HIDDEN, {"type": "text", "text": "Five."}]
    with FakeAPI() as api:
        declare(api, "anthropic-messages")
        if stream:
            api.queue([anthropic_blocks_sse(blocks)])
        else:
            api.queue([json.dumps(anthropic_blocks_json(blocks)).encode()], "application/json")
        response = llm.get_model("m").prompt("hi", stream=stream)
        assert response.text() == "Five."
    metadata = [p.provider_metadata for p in response.messages()[0].parts]
    assert metadata == [{"anthropic": {"signature": THINK["signature"]}}, THEIRS, None]


@pytest.mark.parametrize("stored", [THEIRS, OURS_BEFORE], ids=["llm-anthropic", "ours-before"])
def test_a_conversation_another_plugin_began_keeps_its_redacted_block(declare, stored):
    """`llm -c -m other`: the block goes back as it came, in its place."""
    from fakeapi import anthropic_blocks_sse
    from llm.parts import ReasoningPart, TextPart, assistant, user

    earlier = assistant(
        ReasoningPart(THINK["thinking"], provider_metadata={"anthropic": {"signature": "s1"}}),
        ReasoningPart("", provider_metadata=stored),
        TextPart("Five."),
    )
    with FakeAPI() as api:
        declare(api, "anthropic-messages")
        api.queue([anthropic_blocks_sse([{"type": "text", "text": "Six."}])])
        messages = [user("2+3?"), earlier, user("and 3+3?")]
        assert llm.get_model("m").prompt(messages=messages).text() == "Six."
    assert api.last.json["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "s1"},
            HIDDEN,
            {"type": "text", "text": "Five."},
        ],
    }


def test_a_thinking_block_then_a_redacted_one_prints_no_blank_line(declare, run_llm):
    """llm's CLI writes a newline to stderr at each turn from reasoning to
    text: the empty text that kept the blocks apart was a blank line."""
    from fakeapi import anthropic_blocks_sse

    second = {"type": "thinking", "thinking": "More.", "signature": "s2"}
    with FakeAPI() as api:
        declare(api, "anthropic-messages")
        api.queue([anthropic_blocks_sse([THINK, HIDDEN, {"type": "text", "text": "Five."}])])
        shown = run_llm("-m", "m", "hi")
        api.queue([anthropic_blocks_sse([THINK, second, HIDDEN, {"type": "text", "text": "Ok"}])])
        two = run_llm("-m", "m", "hi")
    assert (shown.exit_code, shown.stdout, shown.stderr) == (0, "Five.\n", "Hmm.\n")
    assert (two.exit_code, two.stdout, two.stderr) == (0, "Ok\n", "Hmm.More.\n")


@pytest.mark.parametrize("key", ["ollama-cloud-key", None], ids=["key", "no-key"])
def test_an_ollama_key_is_sent_as_llm_ollama_sends_it(declare, monkeypatch, key):
    """Ollama's cloud and authenticating proxies need it; it was never sent."""
    if key:
        monkeypatch.setenv("OLLAMA_TEST_KEY", key)
    model = {"key": {"name": "ollama", "env": "OLLAMA_TEST_KEY"}} if key else None
    with FakeAPI() as api:
        declare(api, "ollama-chat", model=model)
        assert llm.get_model("m").prompt("hi").text() == "Hello from the fake API"
    sent = api.last.headers.get("authorization")
    assert sent == (f"Bearer {key}" if key else None)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_gemini_cache_token_details_are_kept_as_llm_gemini_keeps_them(declare, stream):
    """usageMetadata as the API reference gives it, with cached tokens."""
    from fakeapi import gemini_json

    usage = {
        "promptTokenCount": 1200,
        "candidatesTokenCount": 3,
        "totalTokenCount": 1203,
        "cachedContentTokenCount": 1024,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1024}],
    }
    reply = {**gemini_json("Hi."), "usageMetadata": usage}
    with FakeAPI() as api:
        declare(api, "gemini", model_name="gemini-2.5-flash")
        if stream:
            api.queue([f"data: {json.dumps(reply)}\r\n\r\n".encode()])
        else:
            api.queue([json.dumps(reply).encode()], "application/json")
        response = llm.get_model("m").prompt("hi", stream=stream)
        assert response.text() == "Hi."
    assert response.usage().details == {
        "candidatesTokenCount": 3,
        "cachedContentTokenCount": 1024,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1024}],
    }


# -- floors ----------------------------------------------------------------------------------


def imported_modules(path) -> set[str]:
    """Every module a file imports, anywhere in it (functions and
    ``TYPE_CHECKING`` blocks too), as absolute names."""
    import ast

    package = "llm_yaml_models." + ".".join(path.relative_to(REPO / "llm_yaml_models").parts)
    package = package.removesuffix(".py").removesuffix(".__init__")
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_no_wire_family_imports_the_decoder_or_the_backend():
    """A lower floor never imports a higher one: a Reader is given a
    ReplyState; it no longer reaches into the Decoder (decode <-> wire)."""
    higher = {f"{HTTP}.decode", f"{HTTP}.backend", f"{HTTP}.decode.Decoder"}
    for path in sorted((REPO / "llm_yaml_models/backends/http/wire").glob("*.py")):
        assert not imported_modules(path) & higher, path.name
    assert f"{HTTP}.wire" in imported_modules(REPO / "llm_yaml_models/backends/http/decode.py")

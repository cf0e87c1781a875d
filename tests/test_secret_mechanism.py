"""A secret is bound to its origin, wherever it sits (issue 21).

One set, ``Secrets`` (``backends/base.py``), holds the secrets in play for a
request: the key, URL passwords, header and param values read from the
environment, credential headers written in the file, and body values read
from the environment. Every place that prints, logs, stores or re-sends asks
it: the dry run, errors, ``show``, what llm records (``Request.recorded``,
``Request.logged``) and what a redirect may carry (``call.carried_to``).
A secret of 8 characters or more is starred wherever it appears; a shorter
one only where it stands whole, so that starring never garbles text.
Every server here is a real one on 127.0.0.1.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import llm
import pytest
from fakeapi import REPLY, FakeAPI, client_headers
from llm.parts import StreamEvent

from llm_yaml_models.backends.base import OptionValues, Request, Secrets
from llm_yaml_models.backends.http.call import Call
from llm_yaml_models.backends.http.outcome import WireError

KEY = "sk-ant-SENTINEL-4242"
TOKEN = "tok-body-SENTINEL-77"
LITERAL = "sk-literal-SENTINEL-31"


def database_text(path: Path) -> str:
    """Every value of every column of every table in an SQLite file."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table'")]
        values = [str(v) for t in tables for row in db.execute(f'select * from "{t}"') for v in row]
    finally:
        db.close()
    return "\n".join(values)


def request(key: str | None = KEY) -> Request:
    return Request("m", "hi", "", [], [], OptionValues({}), key, stream=True)


# -- the mechanism, with cases no caller has seen ---------------------------------------------


def test_a_short_secret_is_starred_only_where_it_stands_whole():
    """Ollama's documented dummy key: ``http://ollama:11434`` stays itself."""
    secrets = Secrets("ollama")
    assert secrets.hide("http://ollama:11434/v1") == "http://ollama:11434/v1"
    assert secrets.hide("ollama") == "***"
    assert secrets.hide(" ollama\r\n") == "***"
    assert secrets.hide('{"key": "ollama", "host": "ollama:11434"}') == (
        '{"key": "***", "host": "ollama:11434"}'
    )
    assert secrets.hide({"id": "ollama", "note": "ask ollama"}) == {
        "id": "***",
        "note": "ask ollama",
    }
    assert secrets.found_in('{"key":"ollama"}') and not secrets.found_in("http://ollama:11434")


def test_a_one_character_secret_stars_no_letter():
    secrets = Secrets("a")
    text = "POST http://127.0.0.1:9/chat {'content': 'a banana'}"
    assert secrets.hide(text) == text
    assert secrets.hide(["a", "ab"]) == ["***", "ab"]


def test_a_short_url_password_is_starred_in_its_place_only():
    secrets = Secrets()
    secrets.add_url("http://bob:pw@127.0.0.1:9/v1")
    assert (
        secrets.hide("http://bob:pw@127.0.0.1:9/v1 pwned") == "http://bob:***@127.0.0.1:9/v1 pwned"
    )


def test_a_secret_of_eight_characters_is_starred_anywhere_a_shorter_one_is_not():
    assert Secrets("12345678").hide("id-12345678-x") == "id-***-x"
    assert Secrets("1234567").hide("id-1234567-x") == "id-1234567-x"


def test_a_credential_header_is_a_secret_after_its_scheme():
    secrets = Secrets()
    secrets.add_header("Authorization", f"Bearer {LITERAL}")
    secrets.add_header("X-Plain", "plain-value-not-secret")
    assert secrets.hide(f"bad token {LITERAL}; plain-value-not-secret") == (
        "bad token ***; plain-value-not-secret"
    )


def test_reasoning_text_is_the_answer_and_its_signature_is_starred():
    """Reasoning events as llm records them: the text, cut anywhere, is the
    model's; the signature is data that goes back to the server."""
    req = request()
    first, second = KEY[:7], KEY[7:]
    events = [
        StreamEvent("reasoning", f"thinking about {first}"),
        StreamEvent("reasoning", second),
        StreamEvent("reasoning", "", provider_metadata={"anthropic": {"signature": f"Eq{KEY}=="}}),
    ]
    recorded = [req.recorded(e) for e in events]
    assert recorded[:2] == events[:2]  # the model's text is its answer, shown as it came
    assert recorded[2].provider_metadata == {"anthropic": {"signature": "Eq***=="}}
    assert events[2].provider_metadata == {"anthropic": {"signature": f"Eq{KEY}=="}}


def test_a_secret_in_a_nested_provider_metadata_list_and_a_tool_call_id():
    req = request()
    req.secrets.add("ключ-секрет-42")  # unicode: as given and JSON-escaped
    escaped = json.dumps("ключ-секрет-42")[1:-1]
    meta = {"openai": {"items": [{"encrypted_content": [f"a{KEY}b", f"x{escaped}y"]}, 3, None]}}
    event = StreamEvent("tool_call_name", "add", tool_call_id=f"call_{KEY}", provider_metadata=meta)
    recorded = req.recorded(event)
    assert recorded.provider_metadata == {
        "openai": {"items": [{"encrypted_content": ["a***b", "x***y"]}, 3, None]}
    }
    assert recorded.tool_call_id == "call_***"
    req.add_tool_call("add", {"a": 1}, f"call_{KEY}", {"gemini": {"thoughtSignature": [KEY]}})
    assert req.tool_call_metadata == {"call_***": {"gemini": {"thoughtSignature": ["***"]}}}
    req.response_json = {"echo": [{"deep": f"key={KEY}"}]}
    assert req.logged() == {"echo": [{"deep": "key=***"}]}


def test_a_plain_chunk_is_passed_through_untouched():
    req = request()
    plain = StreamEvent("reasoning", KEY)
    assert req.recorded(plain) is plain and req.recorded(KEY) == KEY


def call(body, headers=None, short="k1") -> Call:
    secrets = Secrets(KEY, short)
    headers = headers or {"x-api-key": KEY, "X-Short": short, "X-Plain": "plain"}
    return Call("POST", "http://127.0.0.1:1/v1", headers, {}, body, False, KEY, "none", secrets)


def test_the_origin_check_keeps_everything_on_the_same_origin():
    from llm_yaml_models.backends.http.call import carried_to

    same = call({"auth": "k1"})
    assert carried_to(same, "http://127.0.0.1:1/elsewhere") == same.headers


def test_the_origin_check_drops_every_secret_on_another_origin():
    from llm_yaml_models.backends.http.call import carried_to

    other = "http://127.0.0.1:2/v1"
    assert carried_to(call({"input": "k1 is short"}), other) == {"X-Plain": "plain"}
    for body in ({"auth": "k1"}, {"deep": [{"auth": f"Bearer {KEY}"}]}):
        with pytest.raises(WireError) as raised:
            carried_to(call(body), "http://user:pw@127.0.0.1:2/v1")
        assert str(raised.value) == (
            "http://127.0.0.1:1/v1 redirects to another origin, http://127.0.0.1:2, "
            "and the request body holds a secret: not followed"
        )


# -- 1. a body value from the environment ------------------------------------------------------

BODIED = """\
- model_id: bodied
  backend:
    type: http
    url: "${FAKE_URL}/generic"
    body: {input: "{{ prompt }}", token: "{{ env.BODY_TOKEN_TEST }}", other: "${BODY_OTHER_TEST}"}
    response: {text: output.text}
    retries: 0
  options:
    tier: {type: string, body: {tier: "{{ env.BODY_TIER_TEST }}"}}
"""


@pytest.fixture
def bodied(write, monkeypatch):
    monkeypatch.setenv("BODY_TOKEN_TEST", TOKEN)
    monkeypatch.setenv("BODY_OTHER_TEST", "other-SENTINEL-55")
    monkeypatch.setenv("BODY_TIER_TEST", "tier-SENTINEL-66")
    with FakeAPI() as first, FakeAPI() as other:
        monkeypatch.setenv("FAKE_URL", first.url)
        write("bodied.yaml", BODIED)
        yield first, other


def test_a_body_value_from_the_environment_is_starred_in_the_dry_run(bodied, run_llm):
    first, _ = bodied
    shown = run_llm("yaml-models", "request", "bodied", "hi", "-o", "tier", "x")
    assert (shown.exit_code, shown.stderr) == (0, "")
    sent = {"input": "hi", "token": TOKEN, "other": "other-SENTINEL-55", "tier": "tier-SENTINEL-66"}
    length = len(json.dumps(sent, separators=(",", ":")))
    assert shown.stdout == (
        f"POST {first.url}/generic\n"
        f"{client_headers(first)}"
        f"Content-Length: {length}\n"
        "Content-Type: application/json\n"
        "\n"
        '{"input":"hi","token":"***","other":"***","tier":"***"}\n'
    )
    assert first.requests == []


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_a_body_value_from_the_environment_is_starred_in_errors(bodied, run_llm, flags):
    first, _ = bodied
    first.fail_next("status", status=400, body=f"bad token {TOKEN}".encode())
    result = run_llm("-m", "bodied", "hi", *flags)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: bodied: HTTP 400 from {first.url}/generic: bad token ***\n"
    assert first.last.json["token"] == TOKEN


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_a_body_value_from_the_environment_is_never_resent_to_another_origin(
    bodied, run_llm, flags
):
    first, other = bodied
    first.fail_next("status", status=307, headers={"Location": f"{other.url}/generic"})
    result = run_llm("-m", "bodied", "hi", *flags)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: bodied: {first.url}/generic redirects to another origin, {other.url}, "
        "and the request body holds a secret: not followed\n"
    )
    assert other.requests == []
    first.fail_next("status", status=308, headers={"Location": "/again/generic"})
    assert run_llm("-m", "bodied", "hi", *flags).stdout == REPLY + "\n"  # its own origin: sent
    assert (first.last.path, first.last.json["token"]) == ("/again/generic", TOKEN)


# -- 2. a key the server echoes, in what llm stores and sends back --------------------------------

CLAUDE = """\
- model_id: claude
  key: {name: an, env: AN_SECRET_TEST_KEY}
  backend: {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1", retries: 0}
"""


def echoing_sse(signature: str) -> bytes:
    """A streamed reply: thinking with ``signature``, then text."""
    thinking = {"type": "thinking", "thinking": "", "signature": ""}
    deltas = [
        (0, "thinking_delta", "thinking", "Hm."),
        (0, "signature_delta", "signature", signature),
    ]
    deltas += [(1, "text_delta", "text", "Five.")]
    events = [("message_start", {"message": {"id": "msg_1", "usage": {"input_tokens": 5}}})]
    events += [("content_block_start", {"index": 0, "content_block": thinking})]
    events += [("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}})]
    events += [
        ("content_block_delta", {"index": i, "delta": {"type": kind, field: value}})
        for i, kind, field, value in deltas
    ]
    events += [("content_block_stop", {"index": 0}), ("content_block_stop", {"index": 1})]
    events += [("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {}})]
    events += [("message_stop", {})]
    return "".join(
        f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n" for name, data in events
    ).encode()


def test_an_echoed_key_in_a_thinking_signature_is_neither_logged_nor_sent_back(
    write, run_llm, user_dir, monkeypatch
):
    """Two network reads cut the key in the signature; llm records the
    signature starred, and the next turn (``-c``) sends it starred."""
    monkeypatch.setenv("AN_SECRET_TEST_KEY", KEY)
    with FakeAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        write("claude.yaml", CLAUDE)
        reply = echoing_sse(f"EqQB{KEY}sig==")
        cut = reply.index(KEY.encode()) + 6
        server.queue([reply[:cut], reply[cut:]])
        first = run_llm("-m", "claude", "2+3?")
        assert (first.exit_code, first.stdout, first.stderr) == (0, "Five.\n", "Hm.\n")
        assert KEY not in database_text(user_dir / "logs.db")
        again = run_llm("-c", "and 3+4?")
        assert again.exit_code == 0, again.output
        sent_back = server.last.json["messages"][1]["content"][0]
        assert sent_back == {"type": "thinking", "thinking": "Hm.", "signature": "EqQB***sig=="}
        assert server.last.headers["x-api-key"] == KEY
        assert KEY not in server.last.body.decode()


# -- 3. starring never garbles text ---------------------------------------------------------------

DUMMY = """\
- model_id: local
  key: {name: local, env: LOCAL_TEST_KEY}
  backend: {type: http, preset: openai-chat, base_url: "http://ollama:11434/v1", model_name: llama3}
- model_id: tiny
  key: {name: tiny, env: TINY_TEST_KEY}
  backend:
    type: http
    url: "${FAKE_URL}/generic"
    params: {k: "{{ key }}"}
    body: {input: "{{ prompt }}", auth: "{{ key }}"}
    response: {text: output.text}
    retries: 0
"""


def test_ollamas_dummy_key_does_not_garble_the_url(write, run_llm, monkeypatch):
    monkeypatch.setenv("LOCAL_TEST_KEY", "ollama")
    write("dummy.yaml", DUMMY)
    shown = run_llm("yaml-models", "request", "local", "ask ollama", "--no-stream")
    warning = "llm-yaml-models: warning: local sends its key to ollama over plain http, unencrypted"
    assert (shown.exit_code, shown.stderr) == (0, warning + "\n")
    lines = shown.stdout.splitlines()
    assert lines[0] == "POST http://ollama:11434/v1/chat/completions"
    assert "Host: ollama:11434" in lines and "Authorization: Bearer ***" in lines
    assert json.loads(lines[-1])["messages"] == [{"role": "user", "content": "ask ollama"}]


def test_a_one_character_key_stars_only_where_it_stands_whole(write, run_llm, monkeypatch):
    monkeypatch.setenv("TINY_TEST_KEY", "a")
    with FakeAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        write("dummy.yaml", DUMMY)
        shown = run_llm("yaml-models", "request", "tiny", "a banana")
        assert (shown.exit_code, shown.stderr) == (0, "")
        lines = shown.stdout.splitlines()
        assert lines[0] == f"POST {server.url}/generic?k=***"
        assert lines[-1] == '{"input":"a banana","auth":"***"}'
        server.fail_next("status", status=500, body=b"a bad day at a server")
        result = run_llm("-m", "tiny", "a banana")
        assert result.stderr == (
            f"Error: tiny: HTTP 500 from {server.url}/generic: a bad day at a server\n"
        )


# -- 4 and 6. no key: the dry run says what llm -m says, naming the model ------------------------

KEYED = """\
- model_id: keyed
  key: {name: keyed, env: KEYED_SECRET_TEST_KEY}
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1", retries: 0}
"""
NO_KEY = (
    "Error: keyed: No key found - add one using 'llm keys set keyed' "
    "or set the KEYED_SECRET_TEST_KEY environment variable\n"
)


def test_without_a_key_the_dry_run_fails_as_llm_m_does(write, run_llm, monkeypatch):
    monkeypatch.delenv("KEYED_SECRET_TEST_KEY", raising=False)
    with FakeAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        write("keyed.yaml", KEYED)
        for args in (("-m", "keyed", "hi"), ("-m", "keyed", "hi", "--async")):
            prompted = run_llm(*args)
            assert (prompted.exit_code, prompted.stdout, prompted.stderr) == (1, "", NO_KEY)
        shown = run_llm("yaml-models", "request", "keyed", "hi")
        assert (shown.exit_code, shown.stdout, shown.stderr) == (1, "", NO_KEY)
        assert server.requests == []


def test_a_missing_key_through_the_python_api_names_the_model(write, monkeypatch):
    monkeypatch.delenv("KEYED_SECRET_TEST_KEY", raising=False)
    monkeypatch.setenv("FAKE_URL", "http://127.0.0.1:9")
    write("keyed.yaml", KEYED)
    with pytest.raises(llm.NeedsKeyException) as raised:
        llm.get_model("keyed").prompt("hi").text()
    assert f"Error: {raised.value}\n" == NO_KEY


# -- 5. a credential header written in the file ------------------------------------------------

LITERAL_YAML = f"""\
- model_id: literal
  backend:
    type: http
    url: "${{FAKE_URL}}/generic"
    headers: {{Authorization: "Bearer {LITERAL}"}}
    body: {{input: "{{{{ prompt }}}}"}}
    response: {{text: output.text}}
    retries: 0
"""


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_a_literal_credential_header_is_starred_in_errors(write, run_llm, monkeypatch, flags):
    with FakeAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        write("literal.yaml", LITERAL_YAML)
        server.fail_next("status", status=401, body=f"invalid token Bearer {LITERAL}".encode())
        result = run_llm("-m", "literal", "hi", *flags)
        assert result.stderr == (
            f"Error: literal: HTTP 401 from {server.url}/generic: invalid token Bearer ***\n"
        )
        assert server.last.headers["authorization"] == f"Bearer {LITERAL}"


def test_show_stars_a_literal_credential_header(write, run_llm, monkeypatch):
    monkeypatch.setenv("FAKE_URL", "http://127.0.0.1:9")
    path = write("literal.yaml", LITERAL_YAML)
    shown = run_llm("yaml-models", "show", "literal")
    assert shown.exit_code == 0, shown.output
    assert f"    Authorization: Bearer ***  # {path}:5\n" in shown.stdout
    assert LITERAL not in shown.stdout
    monkeypatch.delenv("FAKE_URL")  # the configuration cannot be built: as written
    shown = run_llm("yaml-models", "show", "literal")
    assert f"    Authorization: Bearer ***  # {path}:5\n" in shown.stdout
    assert LITERAL not in shown.stdout

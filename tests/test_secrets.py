"""Secrets in every form and place, options in URLs and headers, and a dry
run that shows the exact request (issue 10).

The one mechanism is ``Secrets`` (``backends/base.py``): the key, passwords
in URLs and values headers read from the environment, each starred in every
form a message may quote it. Every server here is a real one on 127.0.0.1;
a second server on another port is the other origin of a redirect.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import textwrap
from pathlib import Path

import llm
import pytest
from fakeapi import REPLY, FakeAPI, client_headers, openai_json

from llm_yaml_models.backends.base import Secrets

KEY = "sk-SENTINEL-0123456789"
GEMINI = "gem-SENTINEL-4455"
TOKEN = "tok-SENTINEL-7788"
PASSWORD = "pw-SENTINEL-99"


def database_text(path: Path) -> str:
    """Every value of every column of every table in an SQLite file."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table'")]
        values = [str(v) for t in tables for row in db.execute(f'select * from "{t}"') for v in row]
    finally:
        db.close()
    return "\n".join(values)


# -- the mechanism: every form of every secret ------------------------------------------


@pytest.mark.parametrize(
    "quoted",
    [
        "sk-a/b c\"d'é\r\n",  # as given
        "sk-a/b c\"d'é",  # trimmed
        "sk-a%2Fb%20c%22d%27%C3%A9",  # percent-encoded, as in a path or query
        "sk-a/b%20c%22d%27%C3%A9",  # percent-encoded, slashes kept
        "sk-a%2Fb+c%22d%27%C3%A9",  # form-encoded
        "sk-a/b c\\\"d'\\u00e9",  # JSON-escaped
        "sk-a/b c\\\"d'é",  # JSON-escaped, non-ASCII kept
        "sk-a/b c\"d\\'é\\r\\n",  # as repr() escapes it
        "sk-a/b c\"d\\'\\xc3\\xa9\\r\\n",  # as repr() escapes its bytes
    ],
    ids=["raw", "trimmed", "quoted", "quoted-path", "form", "json", "json-utf8", "repr", "bytes"],
)
def test_a_secret_is_starred_in_every_form(quoted):
    secrets = Secrets("sk-a/b c\"d'é\r\n")
    assert secrets.hide(f"error: {quoted}!") == "error: ***!"
    assert secrets.hide({"id": [f"x{quoted}"]}) == {"id": ["x***"]}
    assert secrets.found_in(f"<{quoted}>")


def test_a_url_password_is_a_secret_as_written_decoded_and_as_basic_credentials():
    secrets = Secrets()
    secrets.add_url("http://alice:p%40ssw0rd@example.com/v1")  # 8 characters: starred anywhere
    basic = "YWxpY2U6cEBzc3cwcmQ="  # base64 of alice:p@ssw0rd
    assert secrets.hide(f"p%40ssw0rd p@ssw0rd Basic {basic} alice") == "*** *** Basic *** alice"


def test_blank_values_are_no_secret():
    secrets = Secrets(None, "", " \r\n")
    assert not secrets
    assert secrets.hide("a b\r\n") == "a b\r\n"


# -- the key in any form -------------------------------------------------------------------

KEYED = """\
- model_id: keyed
  key: {name: keyed, env: KEYED_KEY}
  supports_tools: true
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1", retries: 0}
- model_id: keyed-query
  key: {name: keyed, env: KEYED_KEY}
  backend:
    type: http
    url: "${FAKE_URL}/generic"
    params: {key: "{{ key }}"}
    body: {input: "{{ prompt }}"}
    response: {text: output.text}
    retries: 0
"""


@pytest.fixture
def keyed(write, monkeypatch, fake_api):
    monkeypatch.setenv("FAKE_URL", fake_api.url)
    write("keyed.yaml", KEYED)
    return fake_api


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_a_key_with_a_trailing_cr_is_sent_trimmed(keyed, run_llm, flags):
    """A key from a CRLF .env file: h11 refused it, quoting it whole
    (``Illegal header value b'Bearer sk-...\\r'``)."""
    assert run_llm("keys", "set", "keyed", "--value", f"  {KEY}\r").exit_code == 0
    result = run_llm("-m", "keyed", "hi", *flags)
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    assert keyed.last.headers["authorization"] == f"Bearer {KEY}"


def test_an_error_quoting_the_key_percent_encoded_or_escaped_stars_it(keyed, run_llm, monkeypatch):
    key = 'sk-A/B+C="D"'
    monkeypatch.setenv("KEYED_KEY", key)
    echoed = f"bad key=sk-A%2FB%2BC%3D%22D%22 in {json.dumps({'key': key})}"
    keyed.fail_next("status", status=400, body=echoed.encode())
    result = run_llm("-m", "keyed-query", "hi")
    url = f"{keyed.url}/generic"
    message = 'bad key=*** in {"key": "***"}'
    assert result.stderr == f"Error: keyed-query: HTTP 400 from {url}: {message}\n"
    assert keyed.last.query == {"key": [key]}


# -- echoes go nowhere ------------------------------------------------------------------------

ECHO = """\
def note(text: str) -> str:
    "Take a note."
    return "noted"
"""


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_a_key_echoed_in_tool_calls_and_usage_is_not_logged(
    keyed, run_llm, user_dir, monkeypatch, flags
):
    monkeypatch.setenv("KEYED_KEY", KEY)
    call = {
        "id": f"call_{KEY}",
        "type": "function",
        "function": {"name": "note", "arguments": json.dumps({"text": f"the key is {KEY}"})},
    }
    reply = openai_json("")
    reply["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
    reply["usage"]["prompt_tokens_details"] = {"cached_tokens": 2, "echo": KEY}
    keyed.fail_next("status", status=200, body=json.dumps(reply).encode())
    (user_dir / "keys.json").unlink(missing_ok=True)
    with_tools = ("--functions", ECHO, "--no-stream", *flags)
    result = run_llm("-m", "keyed", "take a note", *with_tools)
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    # the tool ran with the starred arguments, and its result answers the starred id
    answered = keyed.last.json["messages"]
    assert answered[-1] == {"role": "tool", "tool_call_id": "call_***", "content": "noted"}
    assert json.loads(answered[-2]["tool_calls"][0]["function"]["arguments"]) == {
        "text": "the key is ***"
    }
    stored = database_text(user_dir / "logs.db")
    assert "call_***" in stored and "the key is ***" in stored
    assert KEY not in stored


# -- secrets outside key: ------------------------------------------------------------------

OUTSIDE = """\
- model_id: proxied
  backend:
    type: http
    url: "http://alice:${PROXY_PASSWORD}@127.0.0.1:${FAKE_PORT}/generic"
    body: {input: "{{ prompt }}"}
    response: {text: output.text}
    retries: 0
- model_id: literal-password
  backend:
    type: http
    url: "http://alice:pw-SENTINEL-99@127.0.0.1:${FAKE_PORT}/generic"
    body: {input: "{{ prompt }}"}
    response: {text: output.text}
    retries: 0
- model_id: gem
  backend:
    type: http
    url: "${FAKE_URL}/generic"
    headers:
      x-goog-api-key: "${GEMINI_TEST_KEY}"
      X-Token: "t={{ env.TOKEN_TEST }}"
      X-Plain: plain
    body: {input: "{{ prompt }}"}
    response: {text: output.text}
    retries: 0
- model_id: queried
  backend:
    type: http
    url: "${FAKE_URL}/generic?token=${TOKEN_TEST}"
    body: {input: "{{ prompt }}"}
    response: {text: output.text}
    retries: 0
"""


@pytest.fixture
def outside(write, monkeypatch):
    monkeypatch.setenv("PROXY_PASSWORD", PASSWORD)
    monkeypatch.setenv("GEMINI_TEST_KEY", GEMINI)
    monkeypatch.setenv("TOKEN_TEST", TOKEN)
    with FakeAPI() as first, FakeAPI() as other:
        monkeypatch.setenv("FAKE_URL", first.url)
        monkeypatch.setenv("FAKE_PORT", str(first.port))
        write("outside.yaml", OUTSIDE)
        yield first, other


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_a_url_password_is_starred_in_errors(outside, run_llm, flags):
    first, _ = outside
    where = f"http://alice:***@127.0.0.1:{first.port}/generic"
    for model_id in ("proxied", "literal-password"):
        first.fail_next("status", status=500, body=b"server down")
        result = run_llm("-m", model_id, "hi", *flags)
        assert (result.exit_code, result.stdout) == (1, "")
        assert result.stderr == f"Error: {model_id}: HTTP 500 from {where}: server down\n"
    assert first.last.headers["authorization"] == "Basic YWxpY2U6cHctU0VOVElORUwtOTk="


def test_a_url_password_is_starred_in_the_dry_run_and_show(outside, run_llm):
    first, _ = outside
    result = run_llm("yaml-models", "request", "proxied", "hi")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"POST http://alice:***@127.0.0.1:{first.port}/generic\n"
        f"{client_headers(first)}"
        "Content-Length: 14\n"
        "Content-Type: application/json\n"
        "Authorization: Basic ***\n"
        "\n"
        '{"input":"hi"}\n'
    )
    shown = run_llm("yaml-models", "show", "literal-password")
    assert shown.exit_code == 0, shown.output
    assert "  url: http://alice:***@127.0.0.1:${FAKE_PORT}/generic  # " in shown.stdout
    assert PASSWORD not in shown.stdout
    assert first.requests == []


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_a_header_from_the_environment_is_starred_in_errors(outside, run_llm, flags):
    first, _ = outside
    echoed = f"bad credentials {GEMINI} and t={TOKEN}"
    first.fail_next("status", status=403, body=echoed.encode())
    result = run_llm("-m", "gem", "hi", *flags)
    assert result.stderr == (
        f"Error: gem: HTTP 403 from {first.url}/generic: bad credentials *** and t=***\n"
    )


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_a_variable_in_the_url_s_query_string_is_starred_in_errors(outside, run_llm, flags):
    first, _ = outside
    first.fail_next("status", status=401, body=f"bad token {TOKEN}".encode())
    result = run_llm("-m", "queried", "hi", *flags)
    assert result.stderr == f"Error: queried: HTTP 401 from {first.url}/generic: bad token ***\n"


def test_an_illegal_header_value_from_the_environment_is_starred(outside, run_llm, monkeypatch):
    """h11 quotes the whole header value, escaped as bytes' repr()."""
    first, _ = outside
    monkeypatch.setenv("GEMINI_TEST_KEY", GEMINI + "\r")
    result = run_llm("-m", "gem", "hi")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: gem: request to {first.url}/generic failed: "
        "LocalProtocolError: Illegal header value b'***'\n"
    )


def test_a_header_from_the_environment_is_starred_in_the_dry_run(outside, run_llm):
    first, _ = outside
    result = run_llm("yaml-models", "request", "gem", "hi")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"POST {first.url}/generic\n"
        f"{client_headers(first)}"
        "x-goog-api-key: ***\n"
        "X-Token: t=***\n"
        "X-Plain: plain\n"
        "Content-Length: 14\n"
        "Content-Type: application/json\n"
        "\n"
        '{"input":"hi"}\n'
    )
    shown = run_llm("yaml-models", "show", "gem").stdout
    assert "x-goog-api-key: ${GEMINI_TEST_KEY}  # " in shown
    assert GEMINI not in shown and TOKEN not in shown


def everything_received(server: FakeAPI) -> str:
    return json.dumps(
        [[r.method, r.path, r.query, r.headers, r.body.decode("latin-1")] for r in server.requests]
    )


# A 302 to a POST is no longer followed (tests/test_deadlines.py): 308 is the other kind.
@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("api", ["sync", "async"])
def test_no_secret_outside_key_is_carried_to_another_origin(outside, api, status):
    first, other = outside
    for model_id in ("gem", "proxied"):
        first.fail_next("status", status=status, headers={"Location": f"{other.url}/generic"})
        if api == "sync":
            assert llm.get_model(model_id).prompt("hi").text() == REPLY
        else:

            async def run(model_id=model_id):
                return await llm.get_async_model(model_id).prompt("hi").text()

            assert asyncio.run(run()) == REPLY
    gem, proxied = first.requests
    assert (gem.headers["x-goog-api-key"], gem.headers["x-token"]) == (GEMINI, f"t={TOKEN}")
    assert proxied.headers["authorization"].startswith("Basic ")
    arrived, _ = other.requests
    assert arrived.headers["x-plain"] == "plain"
    assert "x-goog-api-key" not in arrived.headers and "x-token" not in arrived.headers
    assert [r.headers.get("authorization") for r in other.requests] == [None, None]
    text = everything_received(other)
    assert GEMINI not in text and TOKEN not in text and PASSWORD not in text


def test_a_redirect_to_the_same_origin_keeps_the_secrets(outside):
    first, _ = outside
    first.fail_next("status", status=307, headers={"Location": "/again/generic"})
    assert llm.get_model("gem").prompt("hi").text() == REPLY
    redirected, followed = first.requests
    assert followed.path == "/again/generic"
    assert followed.headers["x-goog-api-key"] == GEMINI


# -- options in URLs and headers ------------------------------------------------------------

PLACED = """\
- model_id: placed
  key: {name: placed, env: KEYED_KEY}
  backend:
    type: http
    url: "${FAKE_URL}/deployments/{{ options.deployment }}/generic?v={{ options.version }}"
    headers: {X-Region: "{{ options.region }}", X-Key: "{{ key }}"}
    params: {tier: "{{ options.tier }}"}
    body: {input: "{{ prompt }}"}
    response: {text: output.text}
    retries: 0
  options:
    deployment: {type: string}
    version: {type: string}
    region: {type: string}
    tier: {type: string}
    temperature: {type: number}
"""


@pytest.fixture
def placed(keyed, write, monkeypatch):
    monkeypatch.setenv("KEYED_KEY", KEY)
    write("placed.yaml", PLACED)
    return keyed


def test_an_option_placed_in_the_url_a_header_or_a_param_is_not_also_in_the_body(placed, run_llm):
    args = ["-o", "deployment", "d1", "-o", "version", "3", "-o", "region", "eu"]
    result = run_llm("-m", "placed", "hi", *args, "-o", "tier", "gold", "-o", "temperature", "1")
    assert result.exit_code == 0, result.output
    sent = placed.last
    assert (sent.path, sent.query) == ("/deployments/d1/generic", {"v": ["3"], "tier": ["gold"]})
    assert sent.headers["x-region"] == "eu"
    assert sent.json == {"input": "hi", "temperature": 1.0}


@pytest.mark.parametrize(
    ("deployment", "path", "query"),
    [
        (
            "../../../ok/admin?delete=all#",
            "/deployments/..%2F..%2F..%2Fok%2Fadmin%3Fdelete%3Dall%23/generic",
            {"v": ["1"]},
        ),  # noqa: E501
        ("..", "/deployments/%2E%2E/generic", {"v": ["1"]}),
        ("a b&c", "/deployments/a%20b%26c/generic", {"v": ["1"]}),
    ],
    ids=["climbing", "dot-dot", "space-and-ampersand"],
)
def test_a_value_in_a_path_segment_is_percent_encoded(placed, run_llm, deployment, path, query):
    args = ("-o", "deployment", deployment, "-o", "version", "1")
    shown = run_llm("yaml-models", "request", "placed", "hi", *args)
    assert shown.exit_code == 0, shown.output
    result = run_llm("-m", "placed", "hi", *args)
    assert result.exit_code == 0, result.output
    sent = placed.last
    assert (sent.path, sent.query) == (path, query)
    assert sent.headers["x-key"] == KEY  # the key went where it was meant to
    assert shown.stdout.splitlines()[0] == f"POST {placed.url}{path}?v=1"


def test_a_value_in_the_query_cannot_add_a_parameter(placed, run_llm):
    result = run_llm("-m", "placed", "hi", "-o", "deployment", "d", "-o", "version", "1&admin=1")
    assert result.exit_code == 0, result.output
    assert placed.last.query == {"v": ["1&admin=1"]}


# -- the dry run shows the exact request ----------------------------------------------------

WIRE = """\
- model_id: wire
  supports_tools: true
  supports_schema: true
  attachment_types: [image/png]
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1", retries: 0}
- model_id: wire-keyed
  key: {name: wire, env: WIRE_KEY}
  backend:
    type: http
    url: "${FAKE_URL}/generic"
    headers: {Authorization: "Bearer {{ key }}"}
    body: {input: "{{ prompt }}", auth: "{{ key }}"}
    response: {text: output.text}
    retries: 0
"""


@pytest.fixture
def wire(write, monkeypatch):
    monkeypatch.delenv("WIRE_KEY", raising=False)
    with FakeAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        write("wire.yaml", WIRE)
        yield server


def assert_shown_as_sent(shown: str, sent) -> None:
    """The dry run's request line, headers and body are what the server got."""
    head, _, body = shown.removesuffix("\n").partition("\n\n")
    line, *headers = head.split("\n")
    method, url = line.split(" ", 1)
    received = f"{sent.path}?{'&'.join(f'{k}={v[0]}' for k, v in sent.query.items())}"
    assert (method, url.removeprefix(f"http://{sent.headers['host']}")) == (
        sent.method,
        received.removesuffix("?"),
    )
    assert {h.split(": ", 1)[0].lower(): h.split(": ", 1)[1] for h in headers} == sent.headers
    assert body.encode() == sent.body


def png(tmp_path) -> Path:
    from test_http import png_bytes

    path = tmp_path / "dot.png"
    path.write_bytes(png_bytes())
    return path


@pytest.mark.parametrize(
    "case", ["plain", "attachment", "tool", "functions", "schema", "no-stream", "system"]
)
def test_the_dry_run_shows_the_request_byte_for_byte(wire, run_llm, tmp_path, case):
    args = {
        "plain": (),
        "attachment": ("-a", str(png(tmp_path))),
        "tool": ("-T", "llm_version"),
        "functions": ("--functions", ECHO),
        "schema": ("--schema", "name, age int"),
        "no-stream": ("--no-stream",),
        "system": ("-s", 'say "é"\n\u2028'),
    }[case]
    shown = run_llm("yaml-models", "request", "wire", "hi ☃", *args)
    assert (shown.exit_code, shown.stderr) == (0, ""), shown.output
    assert wire.requests == []
    result = run_llm("-m", "wire", "hi ☃", *args)
    assert result.exit_code == 0, result.output
    assert_shown_as_sent(shown.stdout, wire.requests[0])
    assert "\n\n{" in shown.stdout and '"stream":' in shown.stdout  # compact, as on the wire


def test_the_dry_run_continues_a_conversation(wire, run_llm):
    assert run_llm("-m", "wire", "first").exit_code == 0
    cid = json.loads(run_llm("logs", "-n", "1", "--json").stdout)[0]["conversation_id"]
    for flags in (("-c",), ("--cid", cid)):
        shown = run_llm("yaml-models", "request", "wire", "second", *flags)
        assert shown.exit_code == 0, shown.output
        sent = json.loads(shown.stdout.rsplit("\n\n", 1)[1])
        assert [m["content"] for m in sent["messages"]] == ["first", REPLY, "second"]
    assert run_llm("-m", "wire", "second", "-c").exit_code == 0
    assert_shown_as_sent(shown.stdout, wire.last)


def test_the_dry_run_takes_the_key_as_llm_prompt_does(wire, run_llm):
    assert run_llm("keys", "set", "stored-alias", "--value", KEY).exit_code == 0
    for key in (KEY, "stored-alias"):
        shown = run_llm("yaml-models", "request", "wire-keyed", "hi", "--key", key)
        assert shown.exit_code == 0, shown.output
        length = len(json.dumps({"input": "hi", "auth": KEY}, separators=(",", ":")))
        assert shown.stdout == (
            f"POST {wire.url}/generic\n"
            f"{client_headers(wire)}"
            "Authorization: Bearer ***\n"
            f"Content-Length: {length}\n"
            "Content-Type: application/json\n"
            "\n"
            '{"input":"hi","auth":"***"}\n'
        )
        assert run_llm("-m", "wire-keyed", "hi", "--key", key).exit_code == 0
        assert wire.last.json["auth"] == KEY
        assert str(len(wire.last.body)) == wire.last.headers["content-length"] == str(length)


def test_the_dry_run_refuses_what_llm_prompt_refuses(wire, run_llm, tmp_path):
    cases = {
        ("wire-keyed", "-a", str(png(tmp_path))): "This model does not support attachments",
        ("wire-keyed", "--schema", "a, b int"): "YAML http: wire-keyed does not support schemas",
        ("wire", "-T", "nope"): "Tool(s) nope not found. Available tools: llm_version, llm_time",
    }
    for args, message in cases.items():
        shown = run_llm("yaml-models", "request", args[0], "hi", *args[1:])
        assert (shown.exit_code, shown.stdout, shown.stderr) == (1, "", f"Error: {message}\n")
        same = run_llm("-m", args[0], "hi", *args[1:])
        assert (same.exit_code, same.stderr) == (1, f"Error: {message}\n")
    assert wire.requests == []


def test_the_dry_run_of_a_header_that_cannot_be_sent_is_one_line(wire, write, run_llm):
    write(
        "bad.yaml",
        textwrap.dedent("""\
        - model_id: bad-header
          backend:
            type: http
            url: "${FAKE_URL}/generic"
            headers: {X-Name: "{{ prompt }}"}
            response: {text: output.text}
        """),
    )
    shown = run_llm("yaml-models", "request", "bad-header", "é")
    assert (shown.exit_code, shown.stdout) == (1, "")
    expected = "Error: bad-header: header 'X-Name' is not ASCII once its template is filled in\n"
    assert shown.stderr == expected


def test_show_stars_a_written_password_when_another_variable_is_unset(write, run_llm):
    """``show`` stars what the built configuration holds; when it cannot be
    built (a variable unset), the URL's password as written."""
    write(
        "unset.yaml",
        """\
        - model_id: half-set
          backend:
            type: http
            url: "http://bob:pw-SENTINEL-99@127.0.0.1:9/generic"
            headers: {X-A: "${UNSET_SENTINEL_VARIABLE}"}
            response: {text: output.text}
        """,
    )
    shown = run_llm("yaml-models", "show", "half-set")
    assert shown.exit_code == 0, shown.output
    assert "  url: http://bob:***@127.0.0.1:9/generic  # " in shown.stdout
    assert PASSWORD not in shown.stdout


def test_a_short_value_from_the_environment_is_not_starred(write, run_llm, monkeypatch):
    """``X-Version: ${API_VERSION}`` with API_VERSION=1 is no credential:
    starring it would star every 1 of every message."""
    monkeypatch.setenv("API_VERSION", "1")
    with FakeAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        write(
            "short.yaml",
            """\
            - model_id: versioned
              backend:
                type: http
                url: "${FAKE_URL}/v1/generic"
                headers: {X-Version: "${API_VERSION}"}
                response: {text: output.text}
                retries: 0
            """,
        )
        server.fail_next("status", status=500, body=b"down 1")
        result = run_llm("-m", "versioned", "hi")
        assert result.stderr == f"Error: versioned: HTTP 500 from {server.url}/v1/generic: down 1\n"
        assert server.last.headers["x-version"] == "1"


def test_the_dry_run_uses_the_default_options_llm_prompt_uses(placed, run_llm):
    """``llm models options set``: the defaults llm prompt adds, -o wins."""
    assert run_llm("models", "options", "set", "placed", "tier", "gold").exit_code == 0
    args = ("-o", "deployment", "d", "-o", "version", "1")
    for extra, tier in (((), "gold"), (("-o", "tier", "silver"), "silver")):
        shown = run_llm("yaml-models", "request", "placed", "hi", *args, *extra)
        assert shown.exit_code == 0, shown.output
        assert shown.stdout.splitlines()[0] == (
            f"POST {placed.url}/deployments/d/generic?v=1&tier={tier}"
        )
        assert run_llm("-m", "placed", "hi", *args, *extra).exit_code == 0
        assert placed.last.query == {"v": ["1"], "tier": [tier]}

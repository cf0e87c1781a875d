"""``llm yaml-models check``: real prompts to each model, against real
loopback servers and a declared callable that takes tools and schemas."""

from __future__ import annotations

import json

from fakeapi import FakeAPI
from test_fleet import chat, dead_url

CALLABLE = """\
import json


def answer(request):
    if request.tools:
        request.add_tool_call(request.tools[0].name, {})
    elif request.schema:
        yield json.dumps({"ok": True})
    else:
        request.set_usage(input=3, output=1)
        yield "O"
        yield "K"
"""

CAPABLE = """\
- model_id: capable
  backend: {type: python, callable: ./capable.py:answer}
  supports_tools: true
  supports_schema: true
"""


def rows(result) -> list[dict]:
    out = json.loads(result.stdout)
    for row in out:
        assert row.pop("total") >= 0
        ttft = row.pop("ttft")
        assert ttft is None or ttft >= 0
    return out


def test_check_asks_each_model_and_reports_what_worked(write, run_llm):
    write("capable.py", CALLABLE)
    with FakeAPI() as server:
        write("m.yaml", chat("chat", server.url) + CAPABLE)
        result = run_llm("yaml-models", "check", "--json")
        sent = [(r.path, r.json["stream"]) for r in server.requests]
    assert result.exit_code == 0, result.output
    assert rows(result) == [
        {
            "model": "chat",
            "deployment": None,
            "streaming": True,
            "usage": True,
            "cost": None,
            "tools": None,
            "schema": None,
            "error": None,
            "ok": True,
        },
        {
            "model": "capable",
            "deployment": None,
            "streaming": True,
            "usage": True,
            "cost": None,
            "tools": True,
            "schema": True,
            "error": None,
            "ok": True,
        },
    ]
    assert sent == [("/v1/chat/completions", True), ("/v1/chat/completions", False)]


def test_a_failed_check_is_in_the_table_and_exits_1(write, run_llm):
    url = dead_url()
    write("m.yaml", chat("down", url, "  fallbacks: [up]\n") + chat("up", url))
    result = run_llm("yaml-models", "check", "down")
    assert result.exit_code == 1
    error = f"down: cannot connect to {url}/v1/chat/completions: connection refused"
    assert result.stdout == (
        "MODEL  TTFT  TOTAL  STREAM  USAGE  COST  TOOLS  SCHEMA  ERROR\n"
        f"down   -     -      no      -      -     -      -       {error}\n"
    )
    assert result.stderr == "Error: 1 of 1 check failed\n"  # the fallback was not asked


def test_check_names_a_model_it_cannot_check(write, run_llm):
    write("m.yaml", chat("chat", "http://127.0.0.1:1"))
    assert run_llm("yaml-models", "check", "nope").stderr == "Error: Unknown model: nope\n"
    other = run_llm("yaml-models", "check", "gpt-4o")
    assert other.stderr == "Error: gpt-4o is not a model declared in YAML\n"


def test_check_stars_the_password_in_a_deployments_url(write, run_llm):
    with FakeAPI() as a, FakeAPI() as b:
        secret = a.url.replace("http://", "http://admin:hunter2secret@")
        write("m.yaml", fleet_of([secret, b.url]))
        result = run_llm("yaml-models", "check", "--json")
        table = run_llm("yaml-models", "check")
    assert result.exit_code == 0, result.output
    starred = a.url.replace("http://", "http://admin:***@") + "/v1"
    assert [r["deployment"] for r in rows(result)] == [starred, f"{b.url}/v1"]
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[1].startswith(f"fleet @ {starred}  ")
    assert "hunter2secret" not in result.stdout + table.stdout


def fleet_of(urls) -> str:
    deployments = "".join(f"      - base_url: {url}/v1\n" for url in urls)
    return (
        "- model_id: fleet\n"
        "  backend:\n"
        "    type: http\n"
        "    preset: openai-chat\n"
        "    retries: 0\n"
        f"    deployments:\n{deployments}"
    )


def test_two_deployments_on_one_url_are_each_checked(write, run_llm):
    with FakeAPI() as server:
        write(
            "m.yaml",
            "- model_id: fleet\n"
            "  backend:\n"
            "    type: http\n"
            "    preset: openai-chat\n"
            "    deployments:\n"
            f"      - {{base_url: {server.url}/v1, model_name: small}}\n"
            f"      - {{base_url: {server.url}/v1, model_name: big}}\n",
        )
        result = run_llm("yaml-models", "check", "--json")
        names = [r.json["model"] for r in server.requests]
    assert result.exit_code == 0, result.output
    assert [r["deployment"] for r in rows(result)] == [f"{server.url}/v1"] * 2
    assert names == ["small", "small", "big", "big"]  # streamed and not, each

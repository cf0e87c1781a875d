"""Server text is data, never a template: an id a discovery server lists is
the model's id and the name sent back, as the server wrote it, whatever
``${VAR}`` or ``{{ env.NAME }}`` it holds; only what a trusted model file
wrote in ``backend:`` expands, and only at use.

Every server is a real one on 127.0.0.1 (tests/fakeapi.py)."""

from __future__ import annotations

import json

import llm
import pytest
from conftest import model_ids, reset_plugin_state
from fakeapi import FakeAPI

SECRET = "sk-very-secret-value-0123456789"
# Ids a hostile (or careless) server may list: each is what a model file
# would write to read the environment.
HOSTILE = ["${HOME}", "${SECRET}", "${SECRET:-x}", "{{env.SECRET}}", "a${SECRET}b"]


@pytest.fixture
def server():
    with FakeAPI() as running:
        yield running


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("SECRET", SECRET)


def template(url: str, extra: str = "") -> str:
    return f"""\
- model_id: lab
  discover: {{source: openai, prefix: lab/}}
  backend: {{type: http, preset: openai-chat, base_url: "{url}/v1"}}
{extra}"""


def sent_models(server) -> list[str]:
    """The model name of every prompt the server was sent, in order."""
    return [r.json["model"] for r in server.requests if r.method == "POST"]


def assert_never_sent(server, secret: str = SECRET) -> None:
    for request in server.requests:
        seen = request.path + json.dumps(request.query) + json.dumps(request.headers)
        assert secret not in seen + request.body.decode("utf-8", "replace")


def test_a_listed_id_is_sent_back_as_written_by_llm_m(server, write, run_llm):
    server.models = HOSTILE
    write("lab.yaml", template(server.url))
    assert run_llm("models", "list").exit_code == 0
    assert model_ids() == [f"lab/{name}" for name in HOSTILE]
    for name in HOSTILE:
        result = run_llm("-m", f"lab/{name}", "hi", "--no-log")
        assert result.exit_code == 0, result.output
    assert sent_models(server) == HOSTILE
    assert_never_sent(server)


def test_check_sends_each_listed_id_as_written(server, write, run_llm):
    server.models = HOSTILE
    write("lab.yaml", template(server.url))
    result = run_llm("yaml-models", "check", "--json")
    assert result.exit_code == 0, result.output
    assert [row["model"] for row in json.loads(result.stdout)] == [f"lab/{n}" for n in HOSTILE]
    # check asks each model streamed and whole
    assert sent_models(server) == [name for name in HOSTILE for _ in range(2)]
    assert_never_sent(server)


def test_a_warm_start_from_the_caches_sends_the_ids_as_written(server, write, run_llm, user_dir):
    server.models = HOSTILE
    write("lab.yaml", template(server.url))
    assert run_llm("models", "list").exit_code == 0
    assert (user_dir / "yaml-models-cache.json").exists()
    server.requests.clear()
    reset_plugin_state()  # a new process: the model file and the list from their caches
    result = run_llm("yaml-models", "check", "--json")
    assert result.exit_code == 0, result.output
    assert [r.method for r in server.requests if r.method == "GET"] == []  # the list was cached
    assert sent_models(server) == [name for name in HOSTILE for _ in range(2)]
    assert_never_sent(server)


def test_a_real_llm_process_sends_a_cached_id_as_written(server, write, run_llm, llm_exe):
    server.models = ["${SECRET}"]
    write("lab.yaml", template(server.url))
    assert run_llm("models", "list").exit_code == 0  # fetches and caches the list
    result = llm_exe("-m", "lab/${SECRET}", "hi", "--no-log")
    assert (result.returncode, result.stderr) == (0, "")
    assert sent_models(server) == ["${SECRET}"]
    assert_never_sent(server)


def test_an_override_of_the_template_does_not_make_an_id_a_template(server, write, run_llm):
    server.models = ["${SECRET}"]
    discover = '{source: openai, prefix: lab/, overrides: {"*": {description: d}}}'
    write("lab.yaml", template(server.url).replace("{source: openai, prefix: lab/}", discover))
    result = run_llm("-m", "lab/${SECRET}", "hi", "--no-log")
    assert result.exit_code == 0, result.output
    assert sent_models(server) == ["${SECRET}"]


def test_what_the_file_wrote_still_expands_at_use(server, write, run_llm, monkeypatch):
    """The template's own ``${VAR}`` (its URL, a header) is read when the
    list is fetched and when each model is asked, not when it loaded."""
    server.models = ["m"]
    monkeypatch.setenv("LAB_URL", server.url)
    write(
        "lab.yaml",
        """\
        - model_id: lab
          discover: {source: openai, prefix: lab/}
          backend: {type: http, preset: openai-chat, base_url: "${LAB_URL}/v1",
                    headers: {X-Team: "${TEAM}"}}
        """,
    )
    monkeypatch.setenv("TEAM", "first")
    assert run_llm("-m", "lab/m", "hi", "--no-log").exit_code == 0
    reset_plugin_state()  # a new process, from the caches, in another environment
    monkeypatch.setenv("TEAM", "second")
    assert run_llm("-m", "lab/m", "hi", "--no-log").exit_code == 0
    posts = [r for r in server.requests if r.method == "POST"]
    assert [(r.json["model"], r.headers["x-team"]) for r in posts] == [
        ("m", "first"),
        ("m", "second"),
    ]


def test_a_declared_model_name_expands_at_use(server, write, run_llm, monkeypatch):
    write(
        "m.yaml",
        f"""\
        - model_id: declared
          backend: {{type: http, preset: openai-chat, base_url: "{server.url}/v1",
                     model_name: "${{MODEL_VAR:-fallback}}"}}
        """,
    )
    assert run_llm("models", "list").exit_code == 0  # loaded, and cached, with MODEL_VAR unset
    assert run_llm("-m", "declared", "hi", "--no-log").exit_code == 0
    monkeypatch.setenv("MODEL_VAR", "from-env")
    reset_plugin_state()
    assert run_llm("-m", "declared", "hi", "--no-log").exit_code == 0
    assert sent_models(server) == ["fallback", "from-env"]


def test_an_id_is_never_expanded_in_a_dry_run_either(server, write, run_llm):
    server.models = ["${SECRET}"]
    write("lab.yaml", template(server.url))
    result = run_llm("yaml-models", "request", "lab/${SECRET}", "hi")
    assert result.exit_code == 0, result.output
    assert '"model":"${SECRET}"' in result.output
    assert SECRET not in result.output


def test_the_template_keeps_its_own_model_name_out_of_discovered_models(server, write):
    """A discovered model's name is the id it was listed as, even where the
    template names a model of its own in the expanding part."""
    server.models = ["listed"]
    own = f'base_url: "{server.url}/v1", model_name: "${{SECRET}}"'
    write("lab.yaml", template(server.url).replace(f'base_url: "{server.url}/v1"', own))
    llm.get_model("lab/listed").prompt("hi", stream=False).text()
    assert sent_models(server) == ["listed"]
    assert_never_sent(server)

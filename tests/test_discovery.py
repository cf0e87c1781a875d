"""Discovery templates: one model per model a server lists, from a cache on disk.

Every server is a real one on 127.0.0.1 (tests/fakeapi.py); a "new process"
is either a real llm subprocess or the plugin's state reset."""

from __future__ import annotations

import json
import time

import llm
import pytest
from conftest import MARKOV, model_ids, reset_plugin_state
from fakeapi import FakeAPI

from llm_yaml_models.discovery import discovered as discovery


@pytest.fixture
def server(fake_api):
    return fake_api


def template(url: str, discover: str = "{source: openai, prefix: lab/}", extra: str = "") -> str:
    return f"""\
- model_id: lab
  discover: {discover}
  backend: {{type: http, preset: openai-chat, base_url: "{url}/v1"}}
{extra}"""


def lists_file(user_dir) -> dict:
    return json.loads((user_dir / discovery.LISTS_NAME).read_text())


def age_lists(user_dir, seconds: float) -> None:
    """Make every cached list ``seconds`` old."""
    data = lists_file(user_dir)
    for item in data["lists"].values():
        item["fetched"] = time.time() - seconds
    (user_dir / discovery.LISTS_NAME).write_text(json.dumps(data))


def new_process() -> None:
    reset_plugin_state()


def test_a_template_registers_one_model_per_listed_id(server, write, run_llm):
    server.models = ["chat-a", "chat-vision", "embed-x", "old-chat"]
    discover = (
        '{source: openai, prefix: lab/, include: ["*chat*"], exclude: ["old-*"], '
        'overrides: {"*vision*": {attachment_types: [image/png]}}}'
    )
    write("lab.yaml", template(server.url, discover))
    result = run_llm("models", "list")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert model_ids() == ["lab/chat-a", "lab/chat-vision"]
    assert "lab" not in model_ids()  # the template itself is not a model
    assert llm.get_model("lab/chat-vision").attachment_types == {"image/png"}
    assert llm.get_model("lab/chat-a").attachment_types == set()
    answered = run_llm("-m", "lab/chat-a", "hi", "--no-log")
    assert answered.exit_code == 0, answered.output
    assert answered.stdout == "Hello from the fake API\n"
    assert server.last.path == "/v1/chat/completions"
    assert server.last.json["model"] == "chat-a"  # the server's id is the model_name


def test_a_warm_start_makes_no_request(server, write, llm_exe):
    write("lab.yaml", template(server.url))
    first = llm_exe("models", "list")
    assert first.returncode == 0, first.stderr
    assert "YAML http: lab/fake-chat" in first.stdout
    assert server.connections_made == 1
    for args in (("models", "list"), ("models", "list", "--options")):
        again = llm_exe(*args)
        assert again.returncode == 0, again.stderr
        assert "YAML http: lab/fake-vision" in again.stdout
    assert server.connections_made == 1  # while the list is fresh: no connection at all
    assert [r.path for r in server.requests] == ["/v1/models"]


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_every_discovered_model_shows_its_option_descriptions(server, write, run_llm, flags):
    # llm prints descriptions for the first model of each class only.
    write("lab.yaml", template(server.url))
    result = run_llm("models", "list", "--options", "-q", "lab/", *flags)
    assert result.exit_code == 0, result.output
    described = "Maximum number of tokens to generate."
    shown = [block for block in result.stdout.split("\nYAML ") if "max_tokens" in block]
    assert len(shown) == 2 and all(described in block for block in shown), result.stdout
    chat, vision = llm.get_model("lab/fake-chat"), llm.get_model("lab/fake-vision")
    assert chat.__class__ is not vision.__class__
    assert isinstance(chat, chat.__class__) and not isinstance(vision, chat.__class__)
    assert type(chat) is type(vision)  # one family class: made once, not once per model


def test_a_stale_list_is_refreshed_once(server, write, run_llm, user_dir):
    write("lab.yaml", template(server.url, "{source: openai, prefix: lab/, ttl: 60}"))
    assert run_llm("models", "list").exit_code == 0
    server.models = ["fake-chat", "fresh-one"]
    age_lists(user_dir, 61)
    new_process()
    result = run_llm("models", "list")
    assert result.stderr == ""
    assert model_ids() == ["lab/fake-chat", "lab/fresh-one"]
    run_llm("models", "list")
    assert len(server.requests) == 2  # once at first, once when stale; not again


def test_a_stale_list_is_used_when_the_server_is_down_with_one_warning(write, run_llm, user_dir):
    with FakeAPI() as server:
        url = server.url
        file = write("lab.yaml", template(url, "{source: openai, prefix: lab/, ttl: 60}"))
        assert run_llm("models", "list").exit_code == 0
    age_lists(user_dir, 2 * 3600 + 5)
    new_process()
    first = run_llm("models", "list")
    second = run_llm("models", "list")
    assert first.exit_code == second.exit_code == 0
    assert first.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): cannot connect to {url}/v1/models: "
        "connection refused; using the list fetched 2 hours ago\n"
    )
    assert second.stderr == ""  # one warning line per process
    assert model_ids() == ["lab/fake-chat", "lab/fake-vision"]


def test_no_list_and_the_server_down_registers_nothing_and_warns_once(write, run_llm, llm_exe):
    with FakeAPI() as server:
        url = server.url
    file = write("lab.yaml", MARKOV + template(url))
    result = llm_exe("models", "list")
    assert result.returncode == 0
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:8): cannot connect to {url}/v1/models: "
        "connection refused; no models registered from it\n"
    )
    assert "YAML markov: markov" in result.stdout
    assert "lab/" not in result.stdout
    prompt = llm_exe("-m", "markov", "the cat sat on the mat", "--no-log")
    assert prompt.returncode == 0
    assert prompt.stderr.count("warning") == 1


def test_a_slow_server_is_one_timeout_warning(server, write, run_llm):
    server.fail_next("slow", seconds=3)
    file = write("lab.yaml", template(server.url, "{source: openai, prefix: lab/, timeout: 0.3}"))
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): timed out waiting for "
        f"{server.url}/v1/models after 0.3s; no models registered from it\n"
    )


def test_ollama_and_anthropic_sources(server, write, run_llm, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_KEY_FOR_TEST", "sk-ant-secret")
    write(
        "both.yaml",
        f"""\
        - model_id: local
          discover: {{source: ollama, prefix: ollama/}}
          backend: {{type: http, preset: ollama-chat, base_url: "{server.url}"}}
        - model_id: claude
          discover: {{source: anthropic, prefix: claude/}}
          backend: {{type: http, preset: anthropic-messages, base_url: "{server.url}/v1"}}
          key: {{name: anthropic-test, env: ANTHROPIC_KEY_FOR_TEST}}
        """,
    )
    result = run_llm("models", "list")
    assert result.stderr == ""
    names = ["fake-chat", "fake-vision"]
    assert model_ids() == [f"ollama/{n}" for n in names] + [f"claude/{n}" for n in names]
    tags, models = server.requests
    assert (tags.path, models.path, models.query) == (
        "/api/tags",
        "/v1/models",
        {"limit": ["1000"]},
    )
    assert "x-api-key" not in tags.headers
    assert models.headers["x-api-key"] == "sk-ant-secret"
    assert models.headers["anthropic-version"] == "2023-06-01"


def test_the_key_goes_only_to_the_templates_own_server(server, write, run_llm, monkeypatch):
    monkeypatch.setenv("LAB_KEY", "sk-lab-secret")
    with FakeAPI() as elsewhere:
        write(
            "lab.yaml",
            f"""\
            - model_id: same
              discover: {{source: openai, prefix: a/}}
              backend: {{type: http, preset: openai-chat, base_url: "{server.url}/v1"}}
              key: {{name: lab, env: LAB_KEY}}
            - model_id: other
              discover: {{url: "{elsewhere.url}/v1/models", ids: "data[].id", prefix: b/}}
              backend: {{type: http, preset: openai-chat, base_url: "{server.url}/v1"}}
              key: {{name: lab, env: LAB_KEY}}
            """,
        )
        assert run_llm("models", "list").stderr == ""
        assert server.last.headers["authorization"] == "Bearer sk-lab-secret"
        assert "authorization" not in elsewhere.last.headers
    assert len(model_ids()) == 4


def test_secrets_in_the_list_url_are_never_printed(write, run_llm, monkeypatch):
    monkeypatch.setenv("LIST_TOKEN", "tok-very-secret")
    with FakeAPI() as server:
        url = server.url
    file = write(
        "lab.yaml",
        f"""\
        - model_id: lab
          discover:
            url: "http://u:${{LIST_TOKEN}}@127.0.0.1:{server.port}/list?t=${{LIST_TOKEN}}"
            ids: ids
          backend: {{type: http, preset: openai-chat, base_url: "{url}/v1"}}
        """,
    )
    result = run_llm("models", "list")
    assert "tok-very-secret" not in result.stderr
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): cannot connect to {url}/list: "
        "connection refused; no models registered from it\n"
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>down for maintenance</html>", "is not JSON: '<html>down for maintenance</html>'"),
        (b'{"data": "none"}', "nothing at 'data[].id' in the list"),
        (b'{"data": []}', None),
    ],
    ids=["not-json", "not-a-list", "empty"],
)
def test_a_list_that_is_not_json_or_has_no_ids(server, write, run_llm, body, why):
    server.bodies["/v1/models"] = body
    file = write("lab.yaml", MARKOV + template(server.url))
    result = run_llm("models", "list")
    where = f"{server.url}/v1/models"
    if why is None:  # an empty list is a list
        assert result.stderr == ""
    elif why.startswith("nothing"):
        assert result.stderr == (
            f"llm-yaml-models: warning: lab ({file}:8): {why} from {where}; "
            "no models registered from it\n"
        )
    else:
        assert result.stderr == (
            f"llm-yaml-models: warning: lab ({file}:8): the list from {where} {why}; "
            "no models registered from it\n"
        )
    assert model_ids() == ["markov"]


def test_a_generic_path_that_finds_nothing_is_one_warning(server, write, run_llm):
    server.bodies["/catalogue"] = json.dumps({"data": [{"id": "x"}]}).encode()
    discover = f'{{url: "{server.url}/catalogue", ids: "items[].name"}}'
    file = write("lab.yaml", template(server.url, discover))
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): nothing at 'items[].name' in the list "
        f"from {server.url}/catalogue; no models registered from it\n"
    )
    assert model_ids() == []


def test_a_generic_path_under_the_base_url(server, write, run_llm):
    server.bodies["/v1/catalogue"] = json.dumps({"items": [{"name": "x-1"}]}).encode()
    write("lab.yaml", template(server.url, '{url: /catalogue, ids: "items[].name"}'))
    assert run_llm("models", "list").stderr == ""
    assert model_ids() == ["x-1"]


def test_ids_with_spaces_or_control_characters_are_skipped_by_name(server, write, run_llm):
    server.models = ["good", "bad id", "evil\x1b[31m", "-dash", 7, "good"]
    file = write("lab.yaml", template(server.url))
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): skipped 4 ids from {server.url}/v1/models "
        "with spaces or control characters (or not strings, or too long): 'bad id', "
        "'evil\\x1b[31m', "
        "'-dash', 7\n"
    )
    assert model_ids() == ["lab/good"]


def test_a_huge_list_is_capped_and_says_so(server, write, run_llm):
    server.models = [f"m{i}" for i in range(discovery.MAX_IDS + 500)]
    file = write("lab.yaml", template(server.url))
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): {server.url}/v1/models lists 2500 models; "
        "only the first 2000 are used\n"
    )
    assert len(model_ids()) == 2000


def test_a_list_past_the_size_limit_is_not_read(server, write, run_llm):
    server.bodies["/v1/models"] = b'{"data": [' + b" " * discovery.MAX_LIST_BYTES + b"]}"
    file = write("lab.yaml", template(server.url))
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): the list from {server.url}/v1/models is "
        "larger than 8388608 bytes; not read; no models registered from it\n"
    )


def test_an_http_error_is_one_warning(server, write, run_llm):
    server.fail_next("status", status=401)
    file = write("lab.yaml", template(server.url))
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): HTTP 401 from {server.url}/v1/models; "
        "no models registered from it\n"
    )


def test_a_damaged_lists_file_is_no_list(server, write, run_llm, user_dir):
    write("lab.yaml", template(server.url))
    (user_dir / discovery.LISTS_NAME).write_text('{"format": 1, "lists": {"x": [')
    assert run_llm("models", "list").stderr == ""
    assert model_ids() == ["lab/fake-chat", "lab/fake-vision"]
    assert len(server.requests) == 1


# -- collisions ----------------------------------------------------------------


def test_a_discovered_id_never_takes_a_name_llm_or_a_declaration_has(server, write, run_llm):
    server.models = ["gpt-4o", "markov", "mine"]
    file = write("lab.yaml", MARKOV + template(server.url, "{source: openai}"))
    result = run_llm("models", "list")
    assert result.stderr == ""  # servers list what they list: no warning on every command
    assert model_ids() == ["markov", "mine"]
    assert type(llm.get_model("gpt-4o")).__module__ == "llm.default_plugins.openai_models"
    assert str(llm.get_model("markov")) == "YAML markov: markov"
    checked = run_llm("yaml-models", "validate")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout == "OK: 2 models in 1 file, no problems\n"
    assert checked.stderr == (
        f"{file}:8:13: [1].model_id: warning: 'gpt-4o' is already registered by "
        "llm.default_plugins.openai_models (OpenAI Chat: gpt-4o); "
        "the discovered model is not registered\n"
        f"{file}:8:13: [1].model_id: warning: 'markov' is already declared at {file}:1:13; "
        "the discovered model is not registered\n"
    )


# -- list, show, refresh, validate --------------------------------------------


def test_list_marks_discovered_models_with_their_templates_place(server, write, run_llm):
    file = write("lab.yaml", MARKOV + template(server.url))
    result = run_llm("yaml-models", "list")
    assert result.exit_code == 0
    assert result.stdout == (
        f"markov (aliases: chain) [markov] {file}:1: loaded\n"
        f"lab [http] {file}:8: template: 2 models discovered, listed just now\n"
        f"lab/fake-chat [http] {file}:8: loaded (discovered by lab)\n"
        f"lab/fake-vision [http] {file}:8: loaded (discovered by lab)\n"
    )
    rows = json.loads(run_llm("yaml-models", "list", "--json").stdout)
    assert rows[1]["template"] is True
    assert rows[2] == {
        "model_id": "lab/fake-chat",
        "aliases": [],
        "backend": "http",
        "kind": "chat",
        "source": f"{file}:8",
        "loaded": True,
        "status": "loaded",
        "discovered": True,
        "note": "discovered by lab",
    }


def test_show_a_discovered_model_shows_its_template(server, write, run_llm):
    write("lab.yaml", template(server.url))
    result = run_llm("yaml-models", "show", "lab/fake-chat")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "# lab/fake-chat, discovered by the template lab\n# lab, declared at "
    )
    assert "discover:" in result.stdout


def test_refresh_prints_what_was_added_and_removed(server, write, run_llm):
    write("lab.yaml", MARKOV + template(server.url))
    first = run_llm("yaml-models", "refresh")
    assert first.exit_code == 0, first.output
    assert first.stdout == (
        f"lab: 2 models from {server.url}/v1/models: added lab/fake-chat, lab/fake-vision\n"
    )
    server.models = ["fake-chat", "brand-new"]
    second = run_llm("yaml-models", "refresh", "lab")
    assert second.stdout == (
        f"lab: 2 models from {server.url}/v1/models: added lab/brand-new; removed lab/fake-vision\n"
    )
    third = run_llm("yaml-models", "refresh")
    assert third.stdout == f"lab: 2 models from {server.url}/v1/models: no change\n"
    assert len(server.requests) == 3
    assert model_ids() == ["markov", "lab/fake-chat", "lab/brand-new"]


def test_refresh_of_an_unknown_name_or_a_failing_server_exits_1(write, run_llm):
    with FakeAPI() as server:
        url = server.url
    write("lab.yaml", template(url))
    unknown = run_llm("yaml-models", "refresh", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr == "Error: no discovery template 'nope'; templates: lab\n"
    down = run_llm("yaml-models", "refresh")
    assert down.exit_code == 1
    assert down.stderr == (
        f"lab: cannot connect to {url}/v1/models: connection refused\n"
        "Error: could not refresh lab\n"
    )


def test_validate_checks_the_template(write, run_llm):
    file = write(
        "lab.yaml",
        """\
        - model_id: a
          aliases: [b]
          discover:
            source: openai
            ids: "data["
            prefix: "-x"
            overrides: {"*": {options: {t: {type: number, minimum: 2, maximum: 1}}}}
          backend: {type: http, preset: openai-chat}
        - model_id: c
          discover: {prefix: c/, include: "x*"}
          backend: {type: http, url: "http://127.0.0.1:9/x", response: {text: t}}
        - model_id: d
          discover: {source: openai, ttl: -1, sources: x}
          backend: {type: markov}
        """,
    )
    result = run_llm("yaml-models", "validate", str(file))
    assert result.exit_code == 1
    assert result.stdout == (
        f"{file}:2:12: [0].aliases: a template cannot have aliases: "
        "every model it discovers would share them\n"
        f"{file}:4:13: [0].discover.source: the models are listed under backend.base_url, "
        "which this backend lacks; give base_url, or a full discover.url\n"
        f"{file}:5:10: [0].discover.ids: not a valid JMESPath expression: "
        "Invalid jmespath expression: Incomplete expression:\n"
        f"{file}:6:13: [0].discover.prefix: '-x' must not start with '-': "
        "llm -m would read it as an option\n"
        f"{file}:7:60: [0].discover.overrides.*.options.t.minimum: "
        "minimum 2 is greater than maximum 1\n"
        f"{file}:8:12: [0].backend: the openai-chat preset needs 'base_url': "
        "where the server is\n"
        f"{file}:10:13: [1].discover: discover needs a source "
        "(openai, ollama, anthropic, openrouter, gemini or litellm), "
        "or url and ids (a JMESPath to the ids in the list)\n"
        f"{file}:10:35: [1].discover.include: 'x*' is not of type 'array'; "
        "write a list, e.g. [x*]\n"
        f"{file}:13:13: [2].discover: discovery needs an http backend (backend.type: http)\n"
        f"{file}:13:35: [2].discover.ttl: -1 is less than the minimum of 0\n"
        f"{file}:13:39: [2].discover.sources: unknown key 'sources'; did you mean 'source'?\n"
    )
    assert result.stderr == "Error: 11 problems (0 models in 1 file usable)\n"


def test_validate_reads_only_the_cache(write, run_llm):
    with FakeAPI() as server:
        url = server.url
    write("lab.yaml", template(url))
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 0
    assert result.output == "OK: 0 models in 1 file, no problems\n"


def test_models_of_one_template_share_classes_but_not_their_names(server, write, run_llm):
    server.models = ["a-chat", "b-chat", "c-vision"]
    discover = '{source: openai, overrides: {"*vision*": {attachment_types: [image/png]}}}'
    write("lab.yaml", template(server.url, discover))
    run_llm("models", "list")
    a, b, c = (llm.get_model(name) for name in ("a-chat", "b-chat", "c-vision"))
    # one class pair built per set of overrides; each model reports a bare
    # subclass of it as its class
    assert type(a) is type(b) is not type(c)
    assert a.__class__.__base__ is b.__class__.__base__ is type(a)
    assert a.__class__ is not b.__class__
    assert a.__class__ is a.__class__  # made once
    assert a.__class__.__name__ == "YAMLModel[a-chat]"
    for model in (a, b, c, a):
        assert model.prompt("hi").text() == "Hello from the fake API"
        assert server.last.json["model"] == model.model_id
    assert a.backend is not b.backend
    assert (str(a), str(b)) == ("YAML http: a-chat", "YAML http: b-chat")


def test_the_async_models_of_a_template(server, write, run_llm):
    import asyncio

    write("lab.yaml", template(server.url))
    run_llm("models", "list")

    async def both():
        first = llm.get_async_model("lab/fake-chat")
        second = llm.get_async_model("lab/fake-vision")
        return [await first.prompt("hi").text(), server.last.json["model"]] + [
            await second.prompt("hi").text(),
            server.last.json["model"],
        ]

    assert asyncio.run(both()) == [
        "Hello from the fake API",
        "fake-chat",
        "Hello from the fake API",
        "fake-vision",
    ]


def test_a_lists_path_that_is_a_fifo_is_never_waited_on(server, write, llm_exe, user_dir):
    import os

    os.mkfifo(user_dir / discovery.LISTS_NAME)
    write("lab.yaml", template(server.url))
    result = llm_exe("models", "list")  # a blocking open would hang here
    assert result.returncode == 0, result.stderr
    assert "YAML http: lab/fake-chat" in result.stdout
    assert (user_dir / discovery.LISTS_NAME).is_file()  # replaced by the list, not written into


@pytest.fixture
def unanswered():
    """A port on 127.0.0.1 whose accept queue is full: connecting times out."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    queued = []
    for _ in range(4):
        waiting = socket.socket()
        waiting.setblocking(False)
        waiting.connect_ex(listener.getsockname())
        queued.append(waiting)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    for sock in [*queued, listener]:
        sock.close()


def test_a_server_that_does_not_answer_is_given_one_second_to_connect(unanswered, write, run_llm):
    file = write("lab.yaml", MARKOV + template(unanswered))
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:8): timed out connecting to "
        f"{unanswered}/v1/models after 1s; no models registered from it\n"
    )
    assert model_ids() == ["markov"]


def test_offline_no_list_is_fetched_while_loading(server, write, run_llm, monkeypatch):
    monkeypatch.setenv("LLM_YAML_MODELS_OFFLINE", "1")
    write("lab.yaml", MARKOV + template(server.url))
    for args in (("models", "list"), ("yaml-models", "list")):
        result = run_llm(*args)
        assert (result.exit_code, result.stderr) == (0, "")
    assert model_ids() == ["markov"]
    assert server.connections_made == 0
    assert run_llm("yaml-models", "refresh").exit_code == 0  # asked for: fetched
    new_process()
    run_llm("models", "list")
    assert model_ids() == ["markov", "lab/fake-chat", "lab/fake-vision"]
    assert server.connections_made == 1


# -- review fixes ----------------------------------------------------------------

DEEP = b"[" * 200_000 + b"]" * 200_000  # json.loads raises RecursionError, not ValueError


def test_a_deeply_nested_list_is_one_warning_and_costs_no_other_model(server, write, run_llm):
    server.bodies["/v1/models"] = b'{"data": ' + DEEP + b"}"
    file = write("lab.yaml", MARKOV + template(server.url))
    result = run_llm("models", "list")
    assert result.exit_code == 0
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:8): the list from {server.url}/v1/models "
        "is nested too deeply; no models registered from it\n"
    )
    assert model_ids() == ["markov"]
    refreshed = run_llm("yaml-models", "refresh", "lab")
    assert refreshed.exit_code == 1
    assert refreshed.stderr == (
        f"lab: the list from {server.url}/v1/models is nested too deeply\n"
        "Error: could not refresh lab\n"
    )


def test_deeply_nested_cache_and_lists_files_are_ignored_and_rewritten(
    server, write, run_llm, user_dir
):
    from llm_yaml_models import registry

    write("lab.yaml", MARKOV + template(server.url))
    for name in (discovery.LISTS_NAME, registry.CACHE_NAME):
        (user_dir / name).write_bytes(DEEP)
    result = run_llm("models", "list")
    assert (result.exit_code, result.stderr) == (0, "")
    assert model_ids() == ["markov", "lab/fake-chat", "lab/fake-vision"]
    assert lists_file(user_dir)["format"] == discovery.LISTS_FORMAT
    assert "files" in json.loads((user_dir / registry.CACHE_NAME).read_text())


def test_a_bug_while_fetching_one_list_is_one_warning_line(server, write, run_llm, monkeypatch):
    def broken(template, deadline, details=False):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(discovery, "fetch", broken)
    file = write("lab.yaml", MARKOV + template(server.url))
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:8): internal error while listing its models: "
        "RecursionError; no models registered from it\n"
    )
    assert model_ids() == ["markov"]
    refreshed = run_llm("yaml-models", "refresh")
    assert refreshed.exit_code == 1
    assert refreshed.stderr == (
        "lab: internal error while listing its models: RecursionError\n"
        "Error: could not refresh lab\n"
    )


def test_a_dribbling_list_is_cut_at_the_deadline_and_not_retried_for_a_while(
    server, write, run_llm, user_dir
):
    server.queue([b" "] * 60, "application/json", pause=0.25)  # 15 s, one byte at a time
    file = write("lab.yaml", MARKOV + template(server.url))
    started = time.monotonic()
    result = run_llm("models", "list")
    assert time.monotonic() - started < discovery.LOAD_DEADLINE + 2
    where = f"llm-yaml-models: warning: lab ({file}:8): the list from {server.url}/v1/models"
    assert result.stderr == f"{where} took longer than 3s; not read; no models registered from it\n"
    assert model_ids() == ["markov"]
    new_process()  # another llm command: the failure is on disk, so no second try
    again = run_llm("models", "list")
    assert again.stderr == (
        f"{where} took longer than 3s; not read (just now; tried again 60s after); "
        "no models registered from it\n"
    )
    assert len(server.requests) == 1
    data = lists_file(user_dir)
    for item in data["failed"].values():
        item["at"] -= discovery.RETRY_AFTER + 1
    (user_dir / discovery.LISTS_NAME).write_text(json.dumps(data))
    new_process()
    assert run_llm("models", "list").stderr == ""  # a minute on: tried, and it answers
    assert model_ids() == ["markov", "lab/fake-chat", "lab/fake-vision"]
    assert lists_file(user_dir)["failed"] == {}


def test_a_discovered_id_never_takes_the_name_of_a_later_declaration(server, write, run_llm):
    server.models = ["markov", "chain", "x"]
    file = write("lab.yaml", template(server.url, "{source: openai}") + MARKOV)
    result = run_llm("models", "list")
    assert (result.exit_code, result.stderr) == (0, "")
    assert model_ids() == ["x", "markov"]
    assert str(llm.get_model("markov")) == "YAML markov: markov"
    assert str(llm.get_model("chain")) == "YAML markov: markov"
    checked = run_llm("yaml-models", "validate")
    assert checked.exit_code == 0, checked.output
    assert checked.stderr == (
        f"{file}:1:13: [0].model_id: warning: 'markov' is already declared at {file}:4:13; "
        "the discovered model is not registered\n"
        f"{file}:1:13: [0].model_id: warning: 'chain' is already declared at {file}:5:13; "
        "the discovered model is not registered\n"
    )


def test_a_template_cannot_set_replace(server, write, run_llm):
    from llm_yaml_models.loading.entries import ModelEntry
    from llm_yaml_models.loading.loader import declare

    server.models = ["gpt-4o", "x"]
    file = write("lab.yaml", template(server.url, "{source: openai}", "  replace: true\n"))
    checked = run_llm("yaml-models", "validate")
    assert checked.exit_code == 1
    assert checked.stdout == (
        f"{file}:4:12: [0].replace: a template cannot set replace: "
        "a server's ids never shadow llm's models\n"
    )
    new_process()
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: skipped {file}:1; run 'llm yaml-models validate' for details\n"
    )
    assert model_ids() == []
    assert type(llm.get_model("gpt-4o")).__module__ == "llm.default_plugins.openai_models"
    data = {"model_id": "lab", "replace": True, "discover": {}, "backend": {"type": "http"}}
    made = discovery.discovered(ModelEntry(declare(data), str(file), "[0]", 1, 3, None, []), ["a"])
    assert made[0].declaration.replace is False  # never copied, were a template to have it


def test_a_lists_file_others_could_write_is_neither_read_nor_written(
    server, write, run_llm, user_dir
):
    import os

    write("lab.yaml", template(server.url))
    assert run_llm("models", "list").stderr == ""
    data = lists_file(user_dir)
    for item in data["lists"].values():
        item["ids"] = ["planted"]
    (user_dir / discovery.LISTS_NAME).write_text(json.dumps(data))
    planted = (user_dir / discovery.LISTS_NAME).read_bytes()
    os.chmod(user_dir, 0o777)
    new_process()
    result = run_llm("models", "list")
    fix = f"any user can write to {user_dir}; fix it with: chmod go-w {user_dir}"
    assert result.stderr == (
        f"llm-yaml-models: not using the cache {user_dir / 'yaml-models-cache.json'}: {fix}\n"
        f"llm-yaml-models: not using {user_dir / discovery.LISTS_NAME}: {fix}\n"
    )
    assert model_ids() == ["lab/fake-chat", "lab/fake-vision"]  # fetched, kept in the process
    assert len(server.requests) == 2
    assert (user_dir / discovery.LISTS_NAME).read_bytes() == planted


def test_a_header_reading_the_environment_goes_only_to_the_templates_own_server(
    server, write, run_llm, monkeypatch
):
    monkeypatch.setenv("LAB_TOKEN", "tok-env-secret")
    with FakeAPI() as elsewhere:
        headers = '{X-Api-Token: "${LAB_TOKEN}", X-Env: "{{ env.LAB_TOKEN }}", X-Plain: "hi"}'
        backend = (
            f'{{type: http, preset: openai-chat, base_url: "{server.url}/v1", headers: {headers}}}'
        )
        write(
            "lab.yaml",
            f"""\
            - model_id: same
              discover: {{source: openai, prefix: a/}}
              backend: {backend}
            - model_id: other
              discover: {{url: "{elsewhere.url}/v1/models", ids: "data[].id", prefix: b/}}
              backend: {backend}
            """,
        )
        assert run_llm("models", "list").stderr == ""
        assert server.last.headers["x-api-token"] == "tok-env-secret"
        assert server.last.headers["x-env"] == "tok-env-secret"
        sent = elsewhere.last.headers
        assert ("x-api-token" in sent, "x-env" in sent, sent["x-plain"]) == (False, False, "hi")
    assert len(model_ids()) == 4


def test_huge_ids_are_skipped_and_shown_short(server, write, run_llm):
    server.models = ["ok", "x" * 1_000_000, "y" * (discovery.MAX_ID_CHARS + 1), [1] * 100_000]
    file = write("lab.yaml", template(server.url))
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): skipped 3 ids from {server.url}/v1/models "
        "with spaces or control characters (or not strings, or too long): "
        f"'{'x' * 40}'... (1000000 characters), '{'y' * 40}'... (257 characters), "
        f"[{'1, ' * 13}...\n"
    )
    assert model_ids() == ["lab/ok"]

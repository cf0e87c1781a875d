"""Errors that help, and Ctrl-C that works: what ``validate`` and ``check``
say, and the second Ctrl-C wherever a callable or its module runs."""

from __future__ import annotations

import json
import re
import signal

import pytest
from conftest import LLM_EXE
from test_callables_safety import interrupt_twice

# -- Ctrl-C ------------------------------------------------------------------

STUBBORN = """\
import sys
import time


def _stubborn():
    print("running", file=sys.stderr, flush=True)
    while True:
        try:
            time.sleep(0.05)
        except KeyboardInterrupt:
            pass


def embed(items):
    _stubborn()


async def embed_async(items):
    _stubborn()


def reply(request):
    _stubborn()
"""

EMBEDDERS = """\
embedding_models:
  - model_id: stubborn
    backend: {type: python, callable: ./stubborn.py:embed}
  - model_id: stubborn-async
    backend: {type: python, callable: ./stubborn.py:embed_async}
"""


@pytest.mark.parametrize("model_id", ["stubborn", "stubborn-async"])
def test_ctrl_c_twice_ends_llm_embed_when_the_callable_swallows_the_first(write, model_id):
    write("stubborn.py", STUBBORN)
    write("e.yaml", EMBEDDERS)
    status = interrupt_twice([LLM_EXE, "embed", "-m", model_id, "-c", "hello"])
    assert status in (1, -signal.SIGINT)


def test_ctrl_c_twice_ends_validate_while_it_imports_a_module(write):
    write("stubborn.py", STUBBORN + "\n_stubborn()\n")  # when imported
    write("m.yaml", "- model_id: m\n  backend: {type: python, callable: ./stubborn.py:reply}\n")
    status = interrupt_twice([LLM_EXE, "yaml-models", "validate"])
    assert status in (1, -signal.SIGINT)


# -- a base URL needs an http(s) scheme and a host ---------------------------

NO_SCHEME = "not an http(s) URL: it has no scheme; write http:// or https:// before the host"

URLS = """\
models:
  - model_id: a
    backend: {type: http, preset: openai-chat, base_url: 127.0.0.1:8080/v1}
  - model_id: b
    backend: {type: http, preset: openai-chat, base_url: "htp://127.0.0.1:8080/v1"}
  - model_id: c
    backend: {type: http, preset: openai-chat, base_url: "http:///v1"}
  - model_id: d
    backend: {type: http, url: "localhost:8080/v1/chat/completions", response: {text: t}}
  - model_id: e
    backend:
      type: http
      preset: openai-chat
      deployments:
        - {base_url: "http://127.0.0.1:8080/v1"}
        - {base_url: "ftp://127.0.0.1/v1"}
  - model_id: f
    backend:
      type: http
      preset: openai-chat
      base_url: http://127.0.0.1:8080/v1
      stream: {url: "127.0.0.1:8080/v1/stream"}
  - model_id: fine
    backend: {type: http, preset: openai-chat, base_url: "HTTPS://user:pw@example.test/v1"}
  - model_id: from-env
    backend: {type: http, preset: openai-chat, base_url: "${BASE_URL}/v1"}
  - model_id: from-env-host
    backend: {type: http, preset: openai-chat, base_url: "http://{{ env.HOST }}:8080/v1"}
embedding_models:
  - model_id: em
    backend: {type: http, preset: openai-embeddings, base_url: "127.0.0.1:8080/v1"}
"""


def test_a_url_needs_an_http_scheme_and_a_host_located(write, run_llm, monkeypatch):
    monkeypatch.setenv("BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("HOST", "127.0.0.1")
    path = write("m.yaml", URLS)
    result = run_llm("yaml-models", "validate", str(path))
    assert result.stdout == (
        f"{path}:3:58: models[0].backend.base_url: {NO_SCHEME}\n"
        f"{path}:5:58: models[1].backend.base_url: "
        "not an http(s) URL: its scheme is 'htp', not http or https\n"
        f"{path}:7:58: models[2].backend.base_url: not an http(s) URL: it names no host\n"
        f"{path}:9:32: models[3].backend.url: {NO_SCHEME}\n"
        f"{path}:16:22: models[4].backend.deployments[1].base_url: "
        "not an http(s) URL: its scheme is 'ftp', not http or https\n"
        f"{path}:22:21: models[5].backend.stream.url: {NO_SCHEME}\n"
        f"{path}:31:64: embedding_models[0].backend.base_url: {NO_SCHEME}\n"
    )
    assert result.exit_code == 1


# -- hints that name the right place -----------------------------------------

HABITS = """\
defaults:
  headers: {X-Team: a}
models:
  - model_id: a
    model_name: gpt-4o
    api_base: http://127.0.0.1:8080/v1
    api_key_name: openai
    backend: {type: http, preset: openai-chat}
  - model_name: gpt-4o-mini
    backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:8080/v1"}
  - model_id: c
    modl_id: x
    backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:8080/v1"}
embedding_models:
  - model_id: e
    base_url: http://127.0.0.1:8080/v1
    backend: {type: http, preset: openai-embeddings}
"""


def test_keys_of_other_tools_files_are_named_where_they_belong(write, run_llm):
    path = write("m.yaml", HABITS)
    result = run_llm("yaml-models", "validate", str(path))
    assert result.stdout == (
        f"{path}:2:3: defaults.headers: unknown key 'headers' here; write it as backend.headers\n"
        f"{path}:5:5: models[0].model_name: "
        "unknown key 'model_name' here; write it as backend.model_name\n"
        f"{path}:6:5: models[0].api_base: "
        "unknown key 'api_base' here; write it as backend.base_url\n"
        f"{path}:7:5: models[0].api_key_name: "
        "unknown key 'api_key_name' here; write it as key.name\n"
        f"{path}:8:14: models[0].backend: "
        "the openai-chat preset needs 'base_url': where the server is\n"
        # model_name is no misspelt model_id: that model_id is missing is said too
        f"{path}:9:5: models[1]: 'model_id' is a required property\n"
        f"{path}:9:5: models[1].model_name: "
        "unknown key 'model_name' here; write it as backend.model_name\n"
        f"{path}:12:5: models[2].modl_id: unknown key 'modl_id'; did you mean 'model_id'?\n"
        f"{path}:16:5: embedding_models[0].base_url: "
        "unknown key 'base_url' here; write it as backend.base_url\n"
        f"{path}:17:14: embedding_models[0].backend: "
        "the openai-embeddings preset needs 'base_url': where the server is\n"
    )


SCHEMA_ON = """\
- model_id: claude
  supports_schema: true
  backend: {type: http, preset: openai-completions, base_url: "http://127.0.0.1:1/v1"}
- model_id: plain
  supports_schema: true
  backend: {type: http, url: "http://127.0.0.1:1/x", response: {text: out}}
"""


def test_supports_schema_names_the_presets_that_set_it_and_not_the_one_chosen(write, run_llm):
    path = write("m.yaml", SCHEMA_ON)
    result = run_llm("yaml-models", "validate", str(path))
    needs = (
        "supports_schema needs backend.schema, one of: "
        "openai, anthropic, ollama, gemini, openai-responses"
    )
    assert result.stdout == (
        f"{path}:2:20: [0].supports_schema: {needs}; the openai-completions preset sets none\n"
        f"{path}:5:20: [1].supports_schema: {needs} (the presets anthropic-messages, "
        "azure-openai, gemini, ollama-chat, openai-chat, openai-responses, "
        "vertex-anthropic, vertex-gemini set it)\n"
    )


# -- what replace takes, and what it leaves -----------------------------------

REPLACING = """\
- model_id: gpt-4o
  replace: true
  backend: {type: markov}
- model_id: mine
  aliases: [4o-mini, gpt-4o-mini]
  replace: true
  backend: {type: markov}
"""


def test_validate_says_what_replace_takes_and_what_it_leaves(write, run_llm):
    path = write("m.yaml", REPLACING)
    result = run_llm("yaml-models", "validate", str(path))
    both = "stays registered, and llm models list shows both"
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "OK: 2 models in 1 file, no problems\n",
        f"{path}:1:13: [0].model_id: note: replace: 'gpt-4o' names this model; "
        f"OpenAI Chat: gpt-4o (llm.default_plugins.openai_models) {both}; "
        "it is still reached as 4o\n"
        f"{path}:5:13: [1].aliases[0]: note: replace: '4o-mini' names this model; "
        f"OpenAI Chat: gpt-4o-mini (llm.default_plugins.openai_models) {both}\n",
    )
    listed = run_llm("models", "list").stdout
    assert "OpenAI Chat: gpt-4o (aliases: 4o)" in listed.splitlines()
    assert "YAML markov: gpt-4o" in listed.splitlines()


# -- a number no float holds skips its own declaration only -------------------

HUGE = "9" * 401

NUMBERS = f"""\
defaults:
  description: fine
models:
  - model_id: big-int
    backend: {{type: markov}}
    options:
      n: {{type: integer, maximum: {HUGE}}}
  - model_id: infinite
    backend: {{type: python, callable: ./f.py:reply, arguments: {{a: [1, .inf]}}}}
  - model_id: huge-float
    backend: {{type: markov}}
    options:
      x: {{type: number, minimum: -1.0e+400}}
  - model_id: good
    backend: {{type: python, callable: ./f.py:anything, arguments: {{{HUGE}: a key is text}}}}
  - model_id: also-good
    backend: {{type: markov}}
"""


def test_a_number_no_float_holds_skips_only_its_declaration(write, run_llm):
    write(
        "f.py", "def reply(request, a):\n    return 'x'\n\ndef anything(request, **kw):\n    pass\n"
    )
    path = write("m.yaml", NUMBERS)
    result = run_llm("yaml-models", "validate", str(path))
    too_large = "a 401-digit integer is too large: a number must lie between -1.8e308 and 1.8e308"
    assert result.stdout == (
        f"{path}:7:35: models[0].options.n.maximum: {too_large}\n"
        f"{path}:9:72: models[1].backend.arguments.a[1]: '.inf' is not a finite number\n"
        f"{path}:13:34: models[2].options.x.minimum: '-1.0e+400' is not a finite number\n"
    )
    listed = run_llm("models", "list").stdout.splitlines()
    assert [line for line in listed if line.startswith("YAML")] == [
        "YAML python: good",
        "YAML markov: also-good",
    ]


def test_one_in_defaults_skips_every_declaration_it_reaches(write, run_llm):
    path = write(
        "m.yaml",
        "defaults:\n  options:\n    n: {type: integer, default: .nan}\n"
        "models:\n  - model_id: a\n    backend: {type: markov}\n",
    )
    result = run_llm("yaml-models", "validate", str(path))
    assert (
        result.stdout == f"{path}:3:33: defaults.options.n.default: '.nan' is not a finite number\n"
    )
    assert [m for m in run_llm("models", "list").stdout.splitlines() if "YAML" in m] == []


# -- check: usage is optional; embedding models are checked ------------------


def test_check_passes_the_shipped_python_example_whose_callables_report_no_usage(
    run_llm, monkeypatch
):
    from conftest import EXAMPLES

    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(EXAMPLES / "python.yaml"))
    result = run_llm("yaml-models", "check", "--json")
    assert result.exit_code == 0, result.output
    checked = json.loads(result.stdout)
    assert len(checked) == 10  # the example file declares ten models, call-tools among them
    assert all(row["ok"] and row["error"] is None for row in checked)
    assert [row["model"] for row in checked if row["usage"]] == ["count-words"]


CHECKED = """\
def silent(request):
    return iter(())


def embed(items):
    return [[1.0, float(len(i))] for i in items]


def broken(items):
    raise ValueError("no vectors today")
"""

CHECKED_MODELS = """\
models:
  - model_id: silent
    backend: {type: python, callable: ./checked.py:silent}
embedding_models:
  - model_id: vectors
    aliases: [vec]
    backend: {type: python, callable: ./checked.py:embed}
  - model_id: broken
    backend: {type: python, callable: ./checked.py:broken}
"""


def test_check_asks_embedding_models_too_and_says_why_a_check_failed(write, run_llm):
    write("checked.py", CHECKED)
    write("m.yaml", CHECKED_MODELS)
    result = run_llm("yaml-models", "check")
    rows = [re.split(" {2,}", line) for line in result.stdout.splitlines()]
    assert [row[:1] + row[3:] for row in rows] == [
        ["MODEL", "STREAM", "USAGE", "COST", "TOOLS", "SCHEMA", "ERROR"],
        ["silent", "no", "no", "-", "-", "-", "the streamed reply was empty"],
        ["vectors (embedding)", "-", "-", "-", "-", "-"],
        ["broken (embedding)", "-", "-", "-", "-", "-", "broken: ValueError: no vectors today"],
    ]
    assert result.stderr == "Error: 2 of 3 checks failed\n"
    by_alias = run_llm("yaml-models", "check", "vec", "--json")
    assert by_alias.exit_code == 0, by_alias.output
    assert [(r["model"], r["ok"], r["error"]) for r in json.loads(by_alias.stdout)] == [
        ("vectors", True, None)
    ]


# -- binary to a text-only model ---------------------------------------------


def test_binary_to_a_text_only_model_is_one_line(write, run_llm):
    write("checked.py", CHECKED)
    write("m.yaml", CHECKED_MODELS)
    result = run_llm("embed", "-i", "-", "--binary", "-m", "vectors", input="bytes")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: vectors: This model does not support binary data, only text strings\n",
    )


def test_so_is_text_to_a_binary_only_model(write, run_llm, tmp_path):
    write("checked.py", CHECKED)
    write(
        "m.yaml",
        "embedding_models:\n  - model_id: images\n    supports_text: false\n"
        "    supports_binary: true\n    backend: {type: python, callable: ./checked.py:embed}\n",
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text\na,one\n")
    result = run_llm("embed-multi", "c", str(rows), "-m", "images", "-d", str(tmp_path / "e.db"))
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: images: This model does not support text strings, only binary data\n",
    )


# -- the schema's enums are the code's lists ----------------------------------


def _enums(value, path=()):
    """(path, values) of every ``enum`` and ``const`` in the schema."""
    if isinstance(value, dict):
        if "enum" in value:
            yield path, value["enum"]
        if "const" in value:
            yield path, [value["const"]]
        for key, item in value.items():
            yield from _enums(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _enums(item, (*path, i))


def _code_lists() -> dict[str, set]:
    """What the code takes: each list the schema repeats, by name."""
    from llm_yaml_models.backends import _MODULES
    from llm_yaml_models.backends.http import deployments, wire
    from llm_yaml_models.backends.http.config import preset, preset_names
    from llm_yaml_models.discovery import fetch as discovery_fetch

    embedding = {p for p in preset_names() if "vectors" in (preset(p).get("response") or {})}
    return {
        "families": set(wire.FAMILIES),
        "tool families": set(wire.names("tools")),
        "schema families": set(wire.names("schema")),
        "presets": set(preset_names()),
        "chat presets": set(preset_names()) - embedding,
        "embedding presets": embedding,
        "sources": set(discovery_fetch.SOURCES),
        "strategies": set(deployments.STRATEGIES),
        "chat backends": {t for t, kind in _MODULES if kind == "chat"},
        "embedding backends": {t for t, kind in _MODULES if kind == "embedding"},
    }


D = ("definitions",)
# Every place the schema lists one of them, and which list it must be.
PLACES = {
    (*D, "anyBackend", "properties", "messages"): "families",
    (*D, "httpBackend", "properties", "messages"): "families",
    (*D, "anyBackend", "properties", "tools"): "tool families",
    (*D, "httpBackend", "properties", "tools"): "tool families",
    (*D, "anyBackend", "properties", "schema"): "schema families",
    (*D, "httpBackend", "properties", "schema"): "schema families",
    (*D, "anyBackend", "properties", "preset"): "presets",
    (*D, "httpBackend", "properties", "preset"): "chat presets",
    (*D, "httpEmbeddingBackend", "properties", "preset"): "embedding presets",
    (*D, "discover", "properties", "source"): "sources",
    (*D, "strategy"): "strategies",
    (*D, "backendType"): "chat backends",
    (*D, "embeddingBackendType"): "embedding backends",
}


def test_every_enum_of_families_presets_sources_strategies_and_types_is_the_codes():
    from llm_yaml_models.loading.schema import schema

    lists = _code_lists()
    everything = set().union(*lists.values())
    types = lists["chat backends"] | lists["embedding backends"]
    for path, values in _enums(schema()):
        if path in PLACES:
            assert set(values) == lists[PLACES[path]], (path, PLACES[path])
            assert len(values) == len(set(values)), path
        elif set(values) & types:  # a backend's own ``type: {const: http}``, and if/then
            assert set(values) <= types and path[-2:] == ("properties", "type"), path
        else:  # a list the table above does not know would drift unseen
            assert not set(values) & everything, path
    found = {path for path, _ in _enums(schema())}
    assert set(PLACES) <= found

"""One typed declaration, made by the loader and read everywhere after it:
the preset's options merged in once, the cache holding the typed form, the
environment read only at use, and no import circles around it."""

from __future__ import annotations

import ast
import json

import llm
import pytest
from conftest import REPO, reset_plugin_state
from fakeapi import FakeAPI

from llm_yaml_models import registry
from llm_yaml_models.declarations import Declaration, EmbeddingDeclaration, OptionSpec, Written
from llm_yaml_models.loading.loader import load_file

RICH = """\
defaults:
  limits: {rpm: 600, concurrency: 2}
models:
  - model_id: rich
    aliases: [r1, r2]
    description: Every field set
    backend:
      type: http
      preset: openai-chat
      base_url: "${RICH_URL:-http://127.0.0.1:9}/v1"
      headers: {X-Team: "${TEAM}"}
    key: {name: rich, env: RICH_KEY}
    attachment_types: [image/png, application/pdf]
    can_stream: false
    supports_tools: true
    supports_schema: true
    fallbacks: [other]
    options:
      temperature: null
      empty: {type: string, default: ""}
      zero: {type: integer, default: 0, minimum: 0}
      quiet: {type: boolean, default: false, send: false}
      picks: {type: array, items: {type: integer, enum: [0, 1]}}
      mode: {type: string, enum: [fast, slow], body: {reasoning: {effort: "{{ options.mode }}"}}}
  - model_id: lab
    discover:
      source: openai
      prefix: lab/
      include: ["*"]
      exclude: [old-*]
      ttl: 0
      timeout: 2.5
      overrides:
        "*big*": {can_stream: false, options: {own: {maximum: 5}, top_p: {type: number}}}
        "*vision*": {attachment_types: [image/png], options: {seed: null}}
        "*": {description: any, options: {own: {minimum: 1}}}
    backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:9/v1"}
    options:
      own: {type: integer, description: the template's own}
      seed: {type: integer}
embedding_models:
  - model_id: vectors
    backend: {type: http, preset: openai-embeddings, base_url: "http://127.0.0.1:9/v1"}
    prefix: "query: "
    batch_size: 7
    supports_binary: true
    options:
      dimensions: {type: integer, default: 64}
"""


def loaded(write, text: str = RICH) -> list:
    result = load_file(str(write("rich.yaml", text)))
    assert result.problems == []
    return result.models


def test_every_declaration_survives_json_as_it_is(write):
    entries = loaded(write)
    assert [type(e.declaration) for e in entries] == [
        Declaration,
        Declaration,
        EmbeddingDeclaration,
    ]
    for entry in entries:
        text = json.dumps(entry.declaration.to_json())
        assert type(entry.declaration).from_json(json.loads(text)) == entry.declaration


def test_the_loader_merges_the_presets_options_once_and_types_every_field(write):
    rich, lab, vectors = (e.declaration for e in loaded(write))
    names = [spec.name for spec in rich.options]
    assert "temperature" not in names  # removed by its null
    assert {"top_p", "max_tokens"} <= set(names)  # the preset's, merged in by the loader
    specs = {spec.name: spec for spec in rich.options}
    assert specs["empty"].has_default and specs["empty"].default == ""
    assert specs["zero"].default == 0 and specs["quiet"].default is False
    assert specs["quiet"].send is False
    assert specs["picks"].items == OptionSpec("picks", "integer", enum=(0, 1))
    assert specs["mode"].body == {"reasoning": {"effort": "{{ options.mode }}"}}
    assert rich.aliases == ("r1", "r2")
    assert rich.attachment_types == frozenset({"image/png", "application/pdf"})
    assert (rich.can_stream, rich.supports_tools, rich.supports_schema) == (False, True, True)
    assert rich.key.name == "rich" and rich.key.env == "RICH_KEY"
    assert rich.fallbacks == ("other",)
    assert (rich.limits.rpm, rich.limits.concurrency, rich.limits.tpm) == (600, 2, None)
    assert lab.discover.prefix == "lab/" and lab.discover.ttl == 0
    assert lab.discover.own_options == frozenset({"own", "seed"})
    assert (vectors.prefix, vectors.batch_size, vectors.supports_binary) == ("query: ", 7, True)
    assert vectors.values == {"dimensions": 64}


def test_the_environment_is_read_at_use_not_at_load(write, monkeypatch):
    monkeypatch.setenv("TEAM", "at-load")
    rich = loaded(write)[0].declaration
    assert rich.backend == Written(rich.backend.as_written)
    assert rich.backend.as_written["headers"] == {"X-Team": "${TEAM}"}
    monkeypatch.setenv("TEAM", "at-use")
    assert rich.expanded_backend()["headers"] == {"X-Team": "at-use"}
    assert rich.expanded_backend()["base_url"] == "http://127.0.0.1:9/v1"


def test_the_cache_holds_the_typed_declaration_unexpanded(write, user_dir, monkeypatch):
    monkeypatch.setenv("TEAM", "a-secret-team")
    path = write("rich.yaml", RICH)
    first = {e.model_id: e.declaration for e in registry.load([str(path)]).entries}
    text = (user_dir / registry.CACHE_NAME).read_text()
    assert "a-secret-team" not in text
    cached = json.loads(text)["files"][str(path)]["result"]["models"]
    assert [model[0] for model in cached] == [d.to_json() for d in first.values()]
    reset_plugin_state()
    again = {e.model_id: e.declaration for e in registry.load([str(path)]).entries}
    assert again == first


SAME_PRESET = """\
- model_id: one
  backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:9/v1"}
- model_id: two
  backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:9/v1"}
- model_id: three
  backend: {type: markov}
"""


def test_options_several_declarations_share_are_cached_once(write, user_dir):
    path = write("same.yaml", SAME_PRESET)
    first = registry.load([str(path)]).entries
    cached = json.loads((user_dir / registry.CACHE_NAME).read_text())["files"][str(path)]
    assert len(cached["result"]["options"]) == 1  # the preset's ten options, written once
    assert [m[0].get("options") for m in cached["result"]["models"]] == [0, 0, None]
    reset_plugin_state()
    again = registry.load([str(path)]).entries
    assert [e.declaration for e in again] == [e.declaration for e in first]
    assert again[0].declaration.options is again[1].declaration.options  # made once


@pytest.mark.parametrize("index", [1, -1, True, "0"], ids=repr)
def test_a_cached_reference_to_shared_options_that_is_not_there_is_a_miss(write, user_dir, index):
    """Even with a digest that matches (the digest is no secret)."""
    path = write("same.yaml", SAME_PRESET)
    registry.load([str(path)])
    cache_file = user_dir / registry.CACHE_NAME
    cache = json.loads(cache_file.read_text())
    entry = cache["files"][str(path)]
    entry["result"]["models"][1][0]["options"] = index
    entry["digest"] = registry._digest(str(path), entry)
    cache_file.write_text(json.dumps(cache))
    reset_plugin_state()
    assert [e.model_id for e in registry.load([str(path)]).entries] == ["one", "two", "three"]
    assert (
        json.loads(cache_file.read_text())["files"][str(path)]["result"]["models"][1][0]["options"]
        == 0
    )  # read afresh, and written anew


def test_overrides_amend_the_templates_options_and_replace_the_presets(write):
    from llm_yaml_models.discovery import discovered as discovery

    template = loaded(write)[1]
    made = {
        e.model_id: e.declaration
        for e in discovery.discovered(template, ["plain", "big-vision", "old-big"])
    }
    assert list(made) == ["lab/plain", "lab/big-vision"]
    plain, big = made["lab/plain"], made["lab/big-vision"]
    specs = {s.name: s for s in big.options}
    # "*big*" then "*vision*" then "*": in the order written
    assert specs["own"] == OptionSpec("own", "integer", "the template's own", maximum=5, minimum=1)
    assert specs["top_p"] == OptionSpec("top_p", "number")  # the preset's, replaced whole
    assert "seed" not in specs
    assert (big.can_stream, big.attachment_types, big.description) == (
        False,
        frozenset({"image/png"}),
        "any",
    )
    assert {s.name: s for s in plain.options}["own"].minimum == 1
    assert plain.can_stream is True and plain.attachment_types == frozenset()
    assert (big.model_name, big.discover, big.replace) == ("big-vision", None, False)
    assert "model_name" not in big.backend.as_written  # the server's text stays out of it


def test_an_overrides_can_stream_reaches_the_model(write, run_llm):
    with FakeAPI() as server:
        server.models = ["steady", "still"]
        write(
            "lab.yaml",
            f"""\
            - model_id: lab
              discover: {{source: openai, overrides: {{"still": {{can_stream: false}}}}}}
              backend: {{type: http, preset: openai-chat, base_url: "{server.url}/v1"}}
            """,
        )
        assert llm.get_model("steady").can_stream is True
        assert llm.get_model("still").can_stream is False
        assert run_llm("-m", "still", "hi", "--no-log").exit_code == 0
        assert [r.json["stream"] for r in server.requests if r.method == "POST"] == [False]


# -- import circles ------------------------------------------------------------


def _imports() -> dict[str, set[str]]:
    """Each module of the package -> the modules of the package it imports:
    at the top, inside a function, or for type checking alike."""
    files = {}
    for file in (REPO / "llm_yaml_models").rglob("*.py"):
        parts = file.relative_to(REPO).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    edges: dict[str, set[str]] = {}
    for name, file in files.items():
        package = name.split(".") if file.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(file.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join([*package[: len(package) - node.level + 1], node.module or ""])
                base = base.rstrip(".")
                found |= {
                    f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names
                }
        edges[name] = {target for target in found if target in files and target != name}
    return edges


def _circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of more than one module."""
    reach = {name: _reachable(name, edges) for name in edges}
    groups = {frozenset(n for n in reach[name] if name in reach[n]) | {name} for name in edges}
    return [set(g) for g in groups if len(g) > 1]


def _reachable(start: str, edges: dict[str, set[str]]) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for target in edges[stack.pop()] - seen:
            seen.add(target)
            stack.append(target)
    return seen


def test_no_import_circle():
    """A lower floor never imports a higher one, lazily or for types alike:
    the package holds no import circle at all."""
    found = [
        sorted(name.removeprefix("llm_yaml_models.") for name in group)
        for group in _circles(_imports())
    ]
    assert found == []


def test_the_circle_finder_finds_a_circle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _circles(edges) == [{"a", "b", "c"}]

"""Every file in examples/ loads with no problems, its markov models run and
its Python embedding models embed.

The files are collected from the directory, so a new example is covered
without touching this module."""

from __future__ import annotations

import json

import llm
import pytest
import yaml
from conftest import EXAMPLES, SCHEMA_FILE
from fakeapi import FakeAPI

EXAMPLE_FILES = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".yml"))
PROMPT = "the quick brown fox jumps over the lazy dog and the lazy cat sleeps"


def test_there_are_examples():
    assert EXAMPLE_FILES


@pytest.fixture(params=EXAMPLE_FILES, ids=lambda p: p.name)
def example(request, monkeypatch):
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(request.param))
    if "discover:" not in request.param.read_text("utf-8"):
        yield request.param
        return
    with FakeAPI() as server:  # what a discovery template lists
        monkeypatch.setenv("LLM_EXAMPLE_LAB_URL", f"{server.url}/v1")
        yield request.param


def declared(run_llm) -> list[dict]:
    """The rows of 'llm yaml-models list' that are models (not templates)."""
    result = run_llm("yaml-models", "list", "--json")
    assert result.exit_code == 0
    return [row for row in json.loads(result.stdout) if not row.get("template")]


def test_example_validates(example, run_llm):
    rows = declared(run_llm)
    result = run_llm("yaml-models", "validate", str(example))
    assert result.exit_code == 0, result.output
    models = "1 model" if len(rows) == 1 else f"{len(rows)} models"
    assert result.stdout == f"OK: {models} in 1 file, no problems\n"
    assert rows and all(row["loaded"] for row in rows)


def test_example_matches_the_json_schema(example):
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))
    jsonschema.validate(yaml.safe_load(example.read_text("utf-8")), schema)


def test_example_loads_without_a_warning(example, run_llm):
    result = run_llm("models", "list")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_example_markov_models_run(example, run_llm):
    for row in declared(run_llm):
        if row["backend"] != "markov":
            continue  # other backends need a server or code: validating is enough
        model = llm.get_model(row["model_id"])
        assert str(model) == f"YAML markov: {row['model_id']}"
        words = model.prompt(PROMPT).text().split()
        assert len(words) == model.Options().model_dump().get("length", 20)
        streamed = run_llm("-m", row["model_id"], PROMPT)
        assert streamed.exit_code == 0, streamed.output
        assert streamed.stdout.strip()


def test_example_aliases_resolve(example, run_llm):
    for row in declared(run_llm):
        get = llm.get_embedding_model if row["kind"] == "embedding" else llm.get_model
        for alias in row["aliases"]:
            assert get(alias).model_id == row["model_id"]


def test_example_python_embedding_models_embed(example, run_llm):
    for row in declared(run_llm):
        if row["kind"] != "embedding" or row["backend"] != "python":
            continue  # an HTTP one needs a server: validating is enough
        model = llm.get_embedding_model(row["model_id"])
        vectors = list(model.embed_multi([PROMPT, "a cat", "the dog"]))
        assert len(vectors) == 3 and len({len(v) for v in vectors}) == 1
        result = run_llm("embed", "-m", row["model_id"], "-c", PROMPT)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == vectors[0]

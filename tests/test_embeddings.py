"""Embedding models declared in YAML (issue 14): the loader, llm's embedding
commands and Python API, the Python-callable backend, and the HTTP presets
against a real server on 127.0.0.1."""

from __future__ import annotations

import json

import llm
import pytest

from llm_yaml_models import registry

FUNCTIONS = """\
import json, math

def lengths(items, log=None, width=3):
    if log:
        with open(log, "a") as fh:
            fh.write(json.dumps([i if isinstance(i, str) else i.hex() for i in items]) + "\\n")
    return [[float(len(i))] + [1.0] * (width - 1) for i in items]

def with_key(items):
    return [[float(len(items.key or "")), float(items.options.get("dimensions", 0))] for i in items]

async def later(items):
    return [[2.0, float(len(i))] for i in items]

def fewer(items):
    return [[1.0]] * (len(items) - 1)

def ragged(items):
    return [[1.0] * (n + 1) for n in range(len(items))]

def words(items):
    return [["one", 2.0] for i in items]

def nan(items):
    return [[math.nan, 1.0] for i in items]

def nothing(items):
    return None

def boom(items):
    raise ValueError("boom")
"""


@pytest.fixture
def functions(write):
    return write("fns.py", FUNCTIONS)


def embedding(model_id: str, function: str, extra: str = "", arguments: str = "") -> str:
    """One declaration under embedding_models:, of a function in fns.py."""
    arguments = f", arguments: {{{arguments}}}" if arguments else ""
    return (
        f"  - model_id: {model_id}\n"
        f"    backend: {{type: python, callable: ./fns.py:{function}{arguments}}}\n" + extra
    )


@pytest.fixture
def validate(run_llm):
    def validate(*paths):
        result = run_llm("yaml-models", "validate", *map(str, paths))
        return result.exit_code, result.stdout.splitlines(), result.stderr

    return validate


def embedding_file(*declarations: str) -> str:
    return "embedding_models:\n" + "".join(declarations)


# -- the format and the loader --------------------------------------------------


def test_a_file_with_only_embedding_models(write, functions, run_llm):
    write("e.yaml", embedding_file(embedding("lens", "lengths", "    aliases: [lengths]\n")))
    result = run_llm("embed", "-m", "lengths", "-c", "hello")
    assert (result.exit_code, result.stdout) == (0, "[5.0, 1.0, 1.0]\n")
    listed = run_llm("embed-models", "list").stdout.splitlines()
    assert "YAML python embedding: lens (aliases: lengths)" in listed
    assert "lens" not in [m.model_id for m in llm.get_models()]


def test_models_and_embedding_models_side_by_side_with_shared_defaults(write, functions, run_llm):
    path = write(
        "e.yaml",
        "defaults:\n"
        "  batch_size: 2\n"
        "  attachment_types: [text/plain]\n"
        "models:\n"
        "  - model_id: same\n"
        "    backend: {type: markov}\n" + embedding_file(embedding("same", "lengths")),
    )
    assert run_llm("yaml-models", "validate").stdout == "OK: 2 models in 1 file, no problems\n"
    model = llm.get_embedding_model("same")
    assert (model.batch_size, llm.get_model("same").attachment_types) == (2, {"text/plain"})
    listed = run_llm("yaml-models", "list").stdout.splitlines()
    assert listed == [
        f"same [markov] {path}:5: loaded",
        f"same [python, embedding] {path}:8: loaded",
    ]


def test_embed_multi_sends_batches_of_batch_size(write, functions, run_llm, tmp_path):
    log = tmp_path / "log"
    write(
        "e.yaml",
        embedding_file(embedding("lens", "lengths", "    batch_size: 2\n", f"log: {log}")),
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text\na,one\nb,three\nc,five\nd,seven\ne,nine\n")
    db = tmp_path / "e.db"
    result = run_llm("embed-multi", "words", str(rows), "-m", "lens", "-d", str(db))
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in log.read_text().splitlines()] == [
        ["one", "three"],
        ["five", "seven"],
        ["nine"],
    ]
    similar = run_llm("similar", "words", "-c", "xyz", "-d", str(db), "-n", "1")
    assert json.loads(similar.stdout)["id"] == "a"  # the other text of 3 characters


def test_a_prefix_is_prepended_to_every_text(write, functions, tmp_path):
    log = tmp_path / "log"
    write(
        "e.yaml",
        embedding_file(
            embedding(
                "q", "lengths", '    prefix: "query: "\n    supports_binary: true\n', f"log: {log}"
            )
        ),
    )
    vectors = list(llm.get_embedding_model("q").embed_multi(["a cat", b"\x00\x01"]))
    assert vectors == [[12.0, 1.0, 1.0], [2.0, 1.0, 1.0]]
    assert json.loads(log.read_text()) == ["query: a cat", "0001"]


def test_a_misspelt_key_is_located_with_a_suggestion(write, functions, validate):
    path = write("e.yaml", embedding_file(embedding("lens", "lengths", "    batchsize: 3\n")))
    code, lines, _ = validate()
    assert (code, lines) == (
        1,
        [
            f"{path}:4:5: embedding_models[0].batchsize: unknown key 'batchsize'; "
            "did you mean 'batch_size'?"
        ],
    )


def test_chat_only_keys_are_refused_in_an_embedding_model(write, functions, validate):
    path = write("e.yaml", embedding_file(embedding("lens", "lengths", "    can_stream: true\n")))
    code, lines, _ = validate()
    assert code == 1
    assert lines == [
        f"{path}:4:5: embedding_models[0].can_stream: unknown key 'can_stream'; expected one of: "
        "aliases, backend, batch_size, description, key, model_id, options, prefix, replace, "
        "supports_binary, supports_text"
    ]


def test_an_embedding_backend_must_be_python_or_http(write, validate):
    path = write("e.yaml", "embedding_models:\n  - model_id: m\n    backend: {type: markov}\n")
    code, lines, _ = validate()
    assert (code, lines) == (
        1,
        [f"{path}:3:21: embedding_models[0].backend.type: 'markov' is not one of python, http"],
    )


def test_3_small_is_never_hijacked(write, functions, validate, run_llm):
    path = write("e.yaml", embedding_file(embedding("mine", "lengths", "    aliases: [3-small]\n")))
    code, lines, _ = validate()
    assert (code, lines) == (
        1,
        [
            f"{path}:4:15: embedding_models[0].aliases[0]: '3-small' is already registered by "
            "llm.default_plugins.openai_models (OpenAIEmbeddingModel: text-embedding-3-small); "
            "set 'replace: true' to shadow it"
        ],
    )
    assert type(llm.get_embedding_model("3-small")).__name__ == "OpenAIEmbeddingModel"
    with pytest.raises(llm.UnknownModelError):
        llm.get_embedding_model("mine")  # a refused declaration holds none of its names


def test_replace_shadows_an_embedding_model_knowingly(write, functions):
    write(
        "e.yaml",
        embedding_file(embedding("mine", "lengths", "    aliases: [3-small]\n    replace: true\n")),
    )
    assert llm.get_embedding_model("3-small").model_id == "mine"


def test_an_embedding_id_declared_twice(write, functions, validate):
    path = write(
        "e.yaml", embedding_file(embedding("twice", "lengths"), embedding("twice", "later"))
    )
    code, lines, _ = validate()
    assert (code, lines) == (
        1,
        [f"{path}:4:15: embedding_models[1].model_id: 'twice' is already declared at {path}:2:15"],
    )


def test_show_an_embedding_model(write, functions, run_llm):
    path = write(
        "e.yaml",
        "defaults: {batch_size: 7, supports_tools: true}\n"
        + embedding_file(embedding("lens", "lengths")),
    )
    assert run_llm("yaml-models", "show", "lens").stdout.splitlines() == [
        f"# lens, declared at {path}:3",
        f"model_id: lens  # {path}:3",
        "backend:",
        f"  type: python  # {path}:4",
        f"  callable: ./fns.py:lengths  # {path}:4",
        f"batch_size: 7  # {path}:1 (defaults)",
    ]


def test_entries_from_the_cache_are_embedding_models_still(write, functions):
    write("e.yaml", embedding_file(embedding("lens", "lengths")))
    first = registry.load()
    again = registry.load()  # from the cache file written by the first
    assert [e.kind for e in first.entries] == [e.kind for e in again.entries] == ["embedding"]
    assert llm.get_embedding_model("lens").embed("abc") == [3.0, 1.0, 1.0]


# -- the Python-callable backend ----------------------------------------------


def test_an_async_callable(write, functions):
    write("e.yaml", embedding_file(embedding("later", "later")))
    model = llm.get_embedding_model("later")
    assert list(model.embed_multi(["a", "bb"])) == [[2.0, 1.0], [2.0, 2.0]]


def test_keys_and_options_reach_the_callable(write, functions, run_llm, monkeypatch):
    write(
        "e.yaml",
        embedding_file(
            embedding(
                "keyed",
                "with_key",
                "    key: {name: embedkey, env: EMBED_KEY}\n"
                "    options:\n      dimensions: {type: integer, default: 64}\n",
            )
        ),
    )
    assert run_llm("embed", "-m", "keyed", "-c", "x", "--key", "abcd").stdout == "[4.0, 64.0]\n"
    monkeypatch.setenv("EMBED_KEY", "  sixsix\r\n")
    assert run_llm("embed", "-m", "keyed", "-c", "x").stdout == "[6.0, 64.0]\n"
    monkeypatch.delenv("EMBED_KEY")
    result = run_llm("embed", "-m", "keyed", "-c", "x")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: keyed: No key found - add one using 'llm keys set embedkey' or set the "
        "EMBED_KEY environment variable\n",
    )


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("fewer", "./fns.py:fewer gave 1 vectors for 2 items"),
        (
            "ragged",
            "./fns.py:ragged gave vectors of different lengths: "
            "vector 0 has 1 numbers, vector 1 has 2",
        ),
        ("words", "./fns.py:words gave 'one' in vector 0, not a number"),
        ("nan", "./fns.py:nan gave nan in vector 0, not a finite number"),
        ("nothing", "./fns.py:nothing gave nothing, not a list of vectors"),
        ("boom", "ValueError: boom"),
    ],
)
def test_bad_vectors_are_one_line_and_nothing_is_stored(
    write, functions, run_llm, tmp_path, function, message
):
    write("e.yaml", embedding_file(embedding("bad", function)))
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text\na,one\nb,two\n")
    db = tmp_path / "e.db"
    result = run_llm("embed-multi", "c", str(rows), "-m", "bad", "-d", str(db))
    assert (result.exit_code, result.stderr) == (1, f"Error: bad: {message}\n")
    import sqlite_utils

    assert sqlite_utils.Database(db)["embeddings"].count == 0


def test_binary_to_a_text_only_model_is_llms_own_message(write, functions):
    write("e.yaml", embedding_file(embedding("lens", "lengths")))
    model = llm.get_embedding_model("lens")
    with pytest.raises(
        ValueError, match="^This model does not support binary data, only text strings$"
    ):
        model.embed(b"\x00")
    with pytest.raises(
        ValueError, match="^This model does not support binary data, only text strings$"
    ):
        list(model.embed_multi(["a", b"\x00"]))


def test_a_binary_only_model_refuses_text_as_llm_does(write, functions):
    write(
        "e.yaml",
        embedding_file(
            embedding("bin", "lengths", "    supports_binary: true\n    supports_text: false\n")
        ),
    )
    model = llm.get_embedding_model("bin")
    assert model.embed(b"\x00\x01") == [2.0, 1.0, 1.0]
    with pytest.raises(
        ValueError, match="^This model does not support text strings, only binary data$"
    ):
        model.embed("a")


def test_a_problem_in_an_embedding_model_is_reported_once(write, functions, validate):
    # The file-level check left entries of models: to the per-model check,
    # but checked those of embedding_models: as well: every problem twice.
    path = write("e.yaml", embedding_file(embedding("lens", "lengths", "    batch_size: 0\n")))
    code, lines, _ = validate()
    assert (code, lines) == (
        1,
        [f"{path}:4:17: embedding_models[0].batch_size: 0 is less than the minimum of 1"],
    )

"""Embedding models declared in YAML (issue 14): the loader, llm's embedding
commands and Python API, the Python-callable backend, and the HTTP presets
against a real server on 127.0.0.1."""

from __future__ import annotations

import json

import llm
import pytest
from fakeapi import fake_vector

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

CALLS = [0]

def growing(items):
    CALLS[0] += 1
    return [[1.0] * (CALLS[0] + 1) for i in items]
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


def test_a_batch_of_another_length_than_the_first_is_refused(write, functions, run_llm, tmp_path):
    write("e.yaml", embedding_file(embedding("grow", "growing", "    batch_size: 2\n")))
    db, rows = tmp_path / "e.db", "id,text\na,one\nb,two\nc,three\nd,four\n"
    result = run_llm(
        "embed-multi", "c", "-", "-m", "grow", "-d", str(db), "--format", "csv", input=rows
    )
    message = "grow: gave vectors of 3 numbers after vectors of 2: one collection cannot hold both"
    assert (result.exit_code, result.stderr) == (1, f"Error: {message}\n")
    import sqlite_utils

    stored = sqlite_utils.Database(db)["embeddings"].rows
    assert [(r["id"], len(r["embedding"])) for r in stored] == [("a", 8), ("b", 8)]  # 2 floats
    with pytest.raises(llm.ModelError) as caught:  # and through the Python API
        llm.get_embedding_model("grow").embed("again")
    assert str(caught.value) == message.replace("3 numbers", "4 numbers")


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


# -- the HTTP backend: each preset's wire shape, on a real loopback server -----


@pytest.fixture
def server(monkeypatch, fake_api):
    monkeypatch.setenv("FAKE_URL", fake_api.url)
    return fake_api


def http_model(model_id: str, backend: str, extra: str = "") -> str:
    return f"  - model_id: {model_id}\n    backend: {{type: http, {backend}}}\n" + extra


TEXTS = ["the cat", "sat on", "the mat"]

# preset, its base URL, model_name, the path and body the API reference
# documents, and the headers expected
PRESETS = [
    (
        "openai-embeddings",
        "${FAKE_URL}/v1",
        "text-embedding-3-small",
        "/v1/embeddings",
        {"model": "text-embedding-3-small", "input": TEXTS, "encoding_format": "base64"},
    ),
    (
        "ollama-embed",
        "${FAKE_URL}",
        "nomic-embed-text",
        "/api/embed",
        {"model": "nomic-embed-text", "input": TEXTS},
    ),
    ("tei", "${FAKE_URL}", "bge", "/embed", {"inputs": TEXTS}),
    (
        "cohere-embed",
        "${FAKE_URL}",
        "embed-v4.0",
        "/v2/embed",
        {
            "model": "embed-v4.0",
            "texts": TEXTS,
            "input_type": "search_document",
            "embedding_types": ["float"],
        },
    ),
]


@pytest.mark.parametrize(("preset", "base", "name", "path", "body"), PRESETS, ids=lambda p: p)
def test_each_preset_speaks_its_apis_wire_shape(write, server, preset, base, name, path, body):
    write(
        "e.yaml",
        embedding_file(
            http_model(
                "m",
                f"preset: {preset}, base_url: '{base}', model_name: {name}",
                "    key: {name: embed, env: EMBED_KEY}\n",
            )
        ),
    )
    vectors = list(llm.get_embedding_model("m").embed_multi(TEXTS, key="sk-test"))
    assert vectors == [fake_vector(t) for t in TEXTS]
    assert (server.last.method, server.last.path, server.last.json) == ("POST", path, body)
    authorization = server.last.headers.get("authorization")
    assert authorization == (None if preset == "ollama-embed" else "Bearer sk-test")


def test_no_authorization_header_without_a_declared_key(write, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-sent")
    write(
        "e.yaml",
        embedding_file(http_model("m", "preset: openai-embeddings, base_url: '${FAKE_URL}'")),
    )
    llm.get_embedding_model("m").embed("x")
    assert "authorization" not in server.last.headers


def test_declared_options_are_sent_as_the_api_names_them(write, server, run_llm):
    write(
        "e.yaml",
        embedding_file(
            http_model(
                "small",
                "preset: openai-embeddings, base_url: '${FAKE_URL}/v1'",
                "    options:\n      dimensions: {type: integer, minimum: 1, default: 4}\n",
            ),
            http_model(
                "olla",
                "preset: ollama-embed, base_url: '${FAKE_URL}'",
                "    options:\n      truncate: {type: boolean, default: false}\n",
            ),
        ),
    )
    result = run_llm("embed", "-m", "small", "-c", "hello")
    assert json.loads(result.stdout) == fake_vector("hello", 4)
    assert server.last.json["dimensions"] == 4
    run_llm("embed", "-m", "olla", "-c", "hello")
    assert server.last.json == {"model": "olla", "input": ["hello"], "truncate": False}


def test_the_generic_form_with_items_and_a_jmespath(write, server):
    write(
        "e.yaml",
        embedding_file(
            "  - model_id: generic\n"
            "    supports_binary: true\n"
            "    backend:\n"
            "      type: http\n"
            "      url: ${FAKE_URL}/api/embed\n"
            "      headers: {X-Team: research}\n"
            "      body: {model: in-house, input: '{{ items }}', note: 'n={{ model }}'}\n"
            "      response: {vectors: embeddings, error: error}\n"
        ),
    )
    vectors = list(llm.get_embedding_model("generic").embed_multi(["a", b"\x00\xff"]))
    assert vectors == [fake_vector("a"), fake_vector("AP8=")]  # bytes go as base64
    assert server.last.json == {"model": "in-house", "input": ["a", "AP8="], "note": "n=generic"}
    assert server.last.headers["x-team"] == "research"


def test_an_http_embedding_model_is_checked_as_it_loads(write, validate):
    path = write(
        "e.yaml",
        embedding_file(
            "  - model_id: generic\n"
            "    backend:\n"
            "      type: http\n"
            "      url: http://127.0.0.1:9/embed\n"
            "      body: {input: '{{ prompt }}'}\n"
            "      response: {error: 'error['}\n"
        ),
    )
    code, lines, _ = validate()
    assert code == 1
    assert lines == [
        f"{path}:4:7: embedding_models[0].backend: needs response.vectors: "
        "where the reply's vectors are (a JMESPath)",
        f"{path}:6:21: embedding_models[0].backend.body.input: unknown template name 'prompt'; "
        "names are: items, model, options, key, env",
        f"{path}:7:25: embedding_models[0].backend.response.error: not a valid JMESPath "
        "expression: Invalid jmespath expression: Incomplete expression:",
    ]


def test_a_chat_preset_is_no_embedding_preset(write, validate):
    path = write(
        "e.yaml",
        embedding_file(http_model("m", "preset: openai-chat, base_url: 'http://127.0.0.1:9'")),
    )
    code, lines, _ = validate()
    assert (code, lines) == (
        1,
        [
            f"{path}:3:14: embedding_models[0].backend: needs response.vectors: "
            "where the reply's vectors are (a JMESPath)",
            f"{path}:3:35: embedding_models[0].backend.preset: 'openai-chat' is not one of "
            "openai-embeddings, ollama-embed, tei, cohere-embed",
        ],
    )


# -- bad replies ------------------------------------------------------------------


def openai_reply(vectors) -> bytes:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return json.dumps({"object": "list", "data": data}).encode()


BAD_REPLIES = [
    (openai_reply([[1.0, 2.0]]), "gave 1 vectors for 2 items"),
    (
        openai_reply([[1.0, 2.0], [1.0]]),
        "gave vectors of different lengths: vector 0 has 2 numbers, vector 1 has 1",
    ),
    (openai_reply([[1.0, "2"], [1.0, 2.0]]), "gave '2' in vector 0, not a number"),
    (openai_reply([[1.0, True], [1.0, 2.0]]), "gave True in vector 0, not a number"),
    (openai_reply([[1.0, None], [1.0, 2.0]]), "gave None in vector 0, not a number"),
    (openai_reply([[], []]), "gave an empty vector 0"),
    (openai_reply(["AAAAAAAAAAA=", "not base64!"]), "gave vector 1 that is not base64"),
    (openai_reply(["AAAAAAA=", "AAAAAAA="]), "gave vector 0 of 5 bytes, not float32 values"),
    (openai_reply(["AADAfw==", "AAAAAA=="]), "gave nan in vector 0, not a finite number"),
    (openai_reply(["AAAAAA==", [1.0, "x"]]), "gave 'x' in vector 1, not a number"),
]


def test_a_server_that_sends_numbers_when_asked_for_base64_is_understood(write, server):
    # Some servers that speak OpenAI's API ignore encoding_format.
    write(
        "e.yaml",
        embedding_file(http_model("m", "preset: openai-embeddings, base_url: '${FAKE_URL}'")),
    )
    server.fail_next("status", status=200, body=openai_reply([[0.5, 1], [2, 0.25]]))
    assert list(llm.get_embedding_model("m").embed_multi(["a", "b"])) == [[0.5, 1.0], [2.0, 0.25]]


@pytest.mark.parametrize(("reply", "message"), BAD_REPLIES, ids=lambda v: str(v)[:30])
def test_a_bad_reply_is_one_line_naming_the_model_and_url_and_nothing_is_stored(
    write, server, run_llm, tmp_path, reply, message
):
    write(
        "e.yaml",
        embedding_file(http_model("m", "preset: openai-embeddings, base_url: '${FAKE_URL}/v1'")),
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text\na,one\nb,two\n")
    db = tmp_path / "e.db"
    server.fail_next("status", status=200, body=reply)
    result = run_llm("embed-multi", "c", str(rows), "-m", "m", "-d", str(db))
    where = f"{server.url}/v1/embeddings"
    assert (result.exit_code, result.stderr) == (1, f"Error: m: the reply from {where} {message}\n")
    import sqlite_utils

    assert sqlite_utils.Database(db)["embeddings"].count == 0


def test_http_errors_retries_and_timeouts_behave_as_for_chat_models(write, server, run_llm):
    write(
        "e.yaml",
        embedding_file(
            http_model("m", "preset: openai-embeddings, base_url: '${FAKE_URL}/v1', timeout: 0.5")
        ),
    )
    where = f"{server.url}/v1/embeddings"
    server.fail_next("status", status=401)
    result = run_llm("embed", "-m", "m", "-c", "x")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: m: HTTP 401 from {where}: fake failure 401\n",
    )
    server.fail_next("status", status=503, times=1)
    before = len(server.requests)
    result = run_llm("embed", "-m", "m", "-c", "x")
    assert (result.exit_code, json.loads(result.stdout)) == (0, fake_vector("x"))
    assert len(server.requests) - before == 2  # retried once
    server.fail_next("slow", seconds=2, times=3)
    result = run_llm("embed", "-m", "m", "-c", "x")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: m: timed out waiting for {where} after 0.5s\n",
    )


def test_a_key_in_an_error_is_starred(write, server, run_llm):
    write(
        "e.yaml",
        embedding_file(
            http_model(
                "m",
                "preset: openai-embeddings, base_url: '${FAKE_URL}/v1'",
                "    key: {name: embed}\n",
            )
        ),
    )
    body = json.dumps({"error": {"message": "bad key sk-secret-123"}}).encode()
    server.fail_next("status", status=400, body=body)
    result = run_llm("embed", "-m", "m", "-c", "x", "--key", "sk-secret-123")
    assert result.stderr == f"Error: m: HTTP 400 from {server.url}/v1/embeddings: bad key ***\n"


# -- speed: one client, batches in flight, results in order ---------------------------


def test_one_client_serves_every_batch(write, server, run_llm, tmp_path):
    write(
        "e.yaml",
        embedding_file(
            http_model(
                "m", "preset: openai-embeddings, base_url: '${FAKE_URL}/v1'", "    batch_size: 2\n"
            )
        ),
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text\n" + "".join(f"{i},text {i}\n" for i in range(7)))
    result = run_llm("embed-multi", "c", str(rows), "-m", "m", "-d", str(tmp_path / "e.db"))
    assert result.exit_code == 0, result.output
    assert (len(server.requests), server.connections_made) == (4, 1)


def test_batches_are_in_flight_at_once_and_come_back_in_order(write, server):
    write(
        "e.yaml",
        embedding_file(
            http_model(
                "m",
                "preset: openai-embeddings, base_url: '${FAKE_URL}/v1', max_connections: 4",
                "    batch_size: 5\n",
            )
        ),
    )
    texts = [f"text {i}" for i in range(50)]
    server.fail_next("slow", seconds=0.3, times=4)  # the first four batches come back last
    vectors = list(llm.get_embedding_model("m").embed_multi(texts))
    assert vectors == [fake_vector(t) for t in texts]
    assert len(server.requests) == 10
    assert server.peak_connections == 4


def test_a_failed_batch_stops_the_rest(write, server):
    write(
        "e.yaml",
        embedding_file(
            http_model(
                "m",
                "preset: openai-embeddings, base_url: '${FAKE_URL}/v1', "
                "max_connections: 2, retries: 0",
                "    batch_size: 1\n",
            )
        ),
    )
    server.fail_next("status", status=400)
    with pytest.raises(llm.ModelError, match="^m: HTTP 400 from "):
        list(llm.get_embedding_model("m").embed_multi([f"t{i}" for i in range(20)]))
    assert len(server.requests) <= 4  # of 20: what was in flight or queued (2 x max_connections)


# -- differential: the preset and llm's own 3-small, the same server -------------------


def test_the_preset_and_llms_3_small_store_the_same_vectors(write, server, llm_exe, tmp_path):
    write(
        "e.yaml",
        embedding_file(
            http_model(
                "small",
                "preset: openai-embeddings, base_url: '${FAKE_URL}/v1', "
                "model_name: text-embedding-3-small",
            )
        ),
    )
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text\n" + "".join(f"{i},text number {i} ü\n" for i in range(150)))
    env = {"OPENAI_BASE_URL": f"{server.url}/v1", "OPENAI_API_KEY": "sk-test"}
    stored = {}
    for model in ("small", "3-small"):
        db = tmp_path / f"{model}.db"
        result = llm_exe("embed-multi", "docs", str(rows), "-m", model, "-d", str(db), env=env)
        assert result.returncode == 0, result.stderr
        import sqlite_utils

        stored[model] = [
            (row["id"], row["embedding"], row["content_hash"])
            for row in sqlite_utils.Database(db).query(
                "select id, embedding, content_hash from embeddings order by id"
            )
        ]
    assert len(stored["small"]) == 150
    assert stored["small"] == stored["3-small"]
    bodies = [r.json for r in server.requests]
    assert {b["model"] for b in bodies} == {"text-embedding-3-small"}


# -- the HTTP examples, against the fake server ----------------------------------

EXAMPLE_CALLS = {
    "local-embed": (
        "/v1/embeddings",
        {
            "model": "text-embedding-3-small",
            "input": ["hello"],
            "encoding_format": "base64",
            "dimensions": 512,
        },
        512,
    ),
    "nomic": (
        "/api/embed",
        {"model": "nomic-embed-text", "input": ["search_document: hello"], "truncate": True},
        8,
    ),
    "bge": ("/embed", {"inputs": ["hello"]}, 8),
    "cohere-documents": (
        "/v2/embed",
        {
            "model": "embed-v4.0",
            "texts": ["hello"],
            "input_type": "search_document",
            "embedding_types": ["float"],
        },
        8,
    ),
}


@pytest.mark.parametrize("model_id", sorted(EXAMPLE_CALLS))
def test_http_embedding_example_runs_against_the_fake_server(
    server, run_llm, monkeypatch, model_id
):
    from conftest import EXAMPLES

    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(EXAMPLES / "embeddings.yaml"))
    for name, suffix in (("OPENAI", "/v1"), ("OLLAMA", ""), ("TEI", ""), ("COHERE", "")):
        monkeypatch.setenv(f"LLM_EXAMPLE_{name}_URL", server.url + suffix)
    monkeypatch.setenv("CO_API_KEY", "co-secret")
    path, body, size = EXAMPLE_CALLS[model_id]
    result = run_llm("embed", "-m", model_id, "-c", "hello")
    assert (result.exit_code, result.stderr) == (0, "")
    text = body.get("input") or body.get("inputs") or body.get("texts")
    assert json.loads(result.stdout) == fake_vector(text[0], size)
    (request,) = server.requests
    assert (request.path, request.json) == (path, body)
    key = "Bearer co-secret" if model_id == "cohere-documents" else None
    assert request.headers.get("authorization") == key


def test_every_http_embedding_example_is_covered():
    import yaml
    from conftest import EXAMPLES

    data = yaml.safe_load((EXAMPLES / "embeddings.yaml").read_text("utf-8"))
    http = [m["model_id"] for m in data["embedding_models"] if m["backend"]["type"] == "http"]
    assert sorted(http) == sorted(EXAMPLE_CALLS)


def test_an_unset_variable_is_the_models_one_line_error(write, run_llm, monkeypatch):
    monkeypatch.delenv("EMBED_BASE", raising=False)
    write("e.yaml", embedding_file(http_model("m", "preset: tei, base_url: '${EMBED_BASE}'")))
    result = run_llm("embed", "-m", "m", "-c", "x")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: m: environment variable EMBED_BASE is not set (backend.base_url)\n",
    )

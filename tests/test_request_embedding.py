"""``llm yaml-models request`` for a declared embedding model (issue 21):
the request ``llm embed -m MODEL -c PROMPT`` would send, shown as the chat
dry run shows a prompt's, every secret starred; nothing is sent."""

from __future__ import annotations

import pytest
from fakeapi import client_headers

KEY = "sk-embed-secret-4242"

EMBEDDINGS = """\
embedding_models:
  - model_id: emb
    prefix: "query: "
    key: {name: embed, env: EMBED_KEY}
    backend:
      type: http
      preset: openai-embeddings
      base_url: ${FAKE_URL}/v1
      model_name: text-embedding-3-small
  - model_id: guarded
    backend:
      type: http
      preset: openai-embeddings
      base_url: http://user:pw-in-url-77@127.0.0.1:${FAKE_PORT}/v1
      headers: {X-Org: "${ORG_ID}"}
  - model_id: local
    backend: {type: python, callable: ./fns.py:ones}
models:
  - model_id: chatty
    backend: {type: python, callable: ./fns.py:reply}
"""

FUNCTIONS = """\
def ones(items):
    return [[1.0, 1.0] for i in items]

def reply(prompt):
    return "hi"
"""


@pytest.fixture
def declared(fake_api, write, monkeypatch):
    monkeypatch.setenv("FAKE_URL", fake_api.url)
    monkeypatch.setenv("FAKE_PORT", str(fake_api.port))
    monkeypatch.setenv("ORG_ID", "org-from-env-31")
    monkeypatch.setenv("EMBED_KEY", KEY)
    write("fns.py", FUNCTIONS)
    write("e.yaml", EMBEDDINGS)
    return fake_api


def shown(server, path: str, headers: str, body: bytes) -> str:
    return (
        f"POST {server.url}{path}\n{client_headers(server)}{headers}"
        f"Content-Length: {len(body)}\nContent-Type: application/json\n\n{body.decode()}\n"
    )


def test_the_request_llm_embed_would_send(declared, run_llm):
    result = run_llm("yaml-models", "request", "emb", "the cat")
    assert result.exit_code == 0, result.output
    body = (
        b'{"model":"text-embedding-3-small","input":["query: the cat"],"encoding_format":"base64"}'
    )
    assert result.stdout == shown(declared, "/v1/embeddings", "Authorization: Bearer ***\n", body)
    assert KEY not in result.output
    assert declared.requests == [] and declared.connections_made == 0
    # what llm embed sends is those bytes
    assert run_llm("embed", "-m", "emb", "-c", "the cat").exit_code == 0
    assert declared.last.body == body
    assert declared.last.headers["authorization"] == f"Bearer {KEY}"


def test_a_key_given_with_key_is_used_and_starred(declared, run_llm, monkeypatch):
    monkeypatch.delenv("EMBED_KEY")
    result = run_llm("yaml-models", "request", "emb", "x", "--key", "sk-given-9")
    assert result.exit_code == 0, result.output
    assert "Authorization: Bearer ***\n" in result.stdout
    assert "sk-given-9" not in result.output


def test_url_passwords_and_values_from_the_environment_are_starred(declared, run_llm):
    result = run_llm("yaml-models", "request", "guarded", "hi")
    assert result.exit_code == 0, result.output
    body = b'{"model":"guarded","input":["hi"],"encoding_format":"base64"}'
    assert result.stdout == (
        f"POST http://user:***@127.0.0.1:{declared.port}/v1/embeddings\n"
        f"{client_headers(declared)}X-Org: ***\n"
        f"Content-Length: {len(body)}\nContent-Type: application/json\n"
        f"Authorization: Basic ***\n\n{body.decode()}\n"
    )
    assert "pw-in-url-77" not in result.output and "org-from-env-31" not in result.output
    assert declared.requests == []


def test_without_a_key_the_error_llm_embed_gives(declared, run_llm, monkeypatch):
    monkeypatch.delenv("EMBED_KEY")
    result = run_llm("yaml-models", "request", "emb", "hi")
    embed = run_llm("embed", "-m", "emb", "-c", "hi")
    message = (
        "Error: emb: No key found - add one using 'llm keys set embed' "
        "or set the EMBED_KEY environment variable\n"
    )
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", message)
    assert (embed.exit_code, embed.stderr) == (1, message)
    assert declared.requests == []


def test_a_python_embedding_model_gets_what_a_python_chat_model_gets(declared, run_llm):
    for model_id in ("local", "chatty"):
        result = run_llm("yaml-models", "request", model_id, "hi")
        message = f"Error: {model_id} is not a model declared with backend type http\n"
        assert (result.exit_code, result.stderr) == (1, message)


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (["-o", "dimensions", "8"], "-o"),
        (["-a", "ATTACHED"], "-a"),
        (["-T", "llm_version"], "-T"),
        (["--schema", "name"], "--schema"),
        (["-c"], "-c"),
        (["--cid", "01abc"], "--cid"),
        (["-s", "be brief"], "-s"),
        (["-o", "dimensions", "8", "-c"], "-o, -c"),
    ],
)
def test_prompt_options_are_refused_for_an_embedding_model(declared, run_llm, write, given, named):
    attached = str(write("attached.txt", "some text"))
    given = [attached if g == "ATTACHED" else g for g in given]
    result = run_llm("yaml-models", "request", "emb", "hi", *given)
    message = f"Error: emb is an embedding model: {named} cannot be used with it\n"
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", message)
    assert declared.requests == []


def test_an_unknown_model_is_still_unknown(declared, run_llm):
    result = run_llm("yaml-models", "request", "nope", "hi")
    assert (result.exit_code, result.stderr) == (1, "Error: Unknown model: nope\n")

"""Errors that help, and Ctrl-C that works: what ``validate`` and ``check``
say, and the second Ctrl-C wherever a callable or its module runs."""

from __future__ import annotations

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

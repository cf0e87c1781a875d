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

"""A declared Python callable against a hand-written llm.Model plugin.

    python benchmarks/python_callable.py [--prompts 300] [--words 200]

Both yield the same 200 words; what differs is the per-prompt overhead of
the declaration (request object, option handling, chunk checks). Prompts
alternate between the two, streamed through llm's Python API in this
process; each figure is a median per prompt.
"""

from __future__ import annotations

import os

# Only this plugin (and llm's own): the peer plugins the tests install would
# load on every llm command measured here, and Ollama's would ask a server.
os.environ.setdefault("LLM_LOAD_PLUGINS", "llm-yaml-models")

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import llm

WORDS = [f"word{i} " for i in range(200)]


def words(request):
    """The declared model's callable."""
    yield from WORDS[: request.options.get("count", 200)]


class HandWritten(llm.Model):
    model_id = "hand-written"
    can_stream = True

    def execute(self, prompt, stream, response, conversation):
        yield from WORDS


DECLARATION = """models:
  - model_id: bench-callable
    backend:
      type: python
      callable: python_callable:words
    options:
      count: {type: integer, minimum: 1, default: 200}
"""


def per_prompt(model) -> float:
    start = time.perf_counter()
    for _ in model.prompt("go"):
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bench.yaml").write_text(DECLARATION)
        os.environ["LLM_USER_PATH"] = tmp
        os.environ["LLM_YAML_MODELS_PATH"] = str(Path(tmp, "bench.yaml"))
        declared, hand = llm.get_model("bench-callable"), HandWritten()
        for model in (declared, hand):
            assert "".join(model.prompt("go")) == "".join(WORDS)
        ours, theirs = [], []
        for _ in range(args.prompts):
            ours.append(per_prompt(declared))
            theirs.append(per_prompt(hand))
    mo, mt = statistics.median(ours) * 1e6, statistics.median(theirs) * 1e6
    print(f"{args.prompts} streamed prompts each of 200 words, interleaved, median per prompt")
    print(f"  declared python callable   {mo:8.1f} us")
    print(f"  hand-written llm.Model     {mt:8.1f} us")
    print(f"  ratio                      {mo / mt:8.2f}x")


if __name__ == "__main__":
    main()

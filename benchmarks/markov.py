"""The Markov backend against the seed's llm-markov 0.1, side by side.

    python benchmarks/markov.py [--runs 7] [--words 300000] [--length 5000]

Both models run through llm's own Python API with stream=False (what
``--no-stream`` does), on the same prompt: a text of Zipf-distributed
words, like natural language. Runs are interleaved and each figure is a
median. Two settings:

- in one process, one run after another (memory the previous runs freed
  is reused);
- one fresh interpreter per run, as each ``llm -m`` command is (the child
  builds the model, warms it up on a short prompt, then times one prompt).

The floor line is the least any exact transition table costs: splitting
the prompt and hashing every word into a dict once (``dict.fromkeys``),
keeping no successors at all.
"""

from __future__ import annotations

import os

# Only this plugin (and llm's own): the peer plugins the tests install would
# load on every llm command measured here, and Ollama's would ask a server.
os.environ.setdefault("LLM_LOAD_PLUGINS", "llm-yaml-models")

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import llm
from pydantic import Field, field_validator


# -- llm-markov 0.1, as the plugin tutorial finishes it ----------------------
def build_markov_table(text):
    words = text.split()
    transitions = {}
    # Loop through all but the last word
    for i in range(len(words) - 1):
        word = words[i]
        next_word = words[i + 1]
        transitions.setdefault(word, []).append(next_word)
    return transitions


def generate(transitions, length, start_word=None):
    all_words = list(transitions.keys())
    next_word = start_word or random.choice(all_words)
    for _ in range(length):
        yield next_word
        options = transitions.get(next_word) or all_words
        next_word = random.choice(options)


class SeedMarkov(llm.Model):
    model_id = "seed-markov"
    can_stream = True

    class Options(llm.Options):
        length: Optional[int] = Field(description="Number of words to generate", default=None)  # noqa: UP045
        delay: Optional[float] = Field(description="Seconds between tokens", default=None)  # noqa: UP045

        @field_validator("length")
        def validate_length(cls, length):
            if length is None:
                return None
            if length < 2:
                raise ValueError("length must be >= 2")
            return length

    def execute(self, prompt, stream, response, conversation):
        text = prompt.prompt
        transitions = build_markov_table(text)
        length = prompt.options.length or 20
        for word in generate(transitions, length):
            yield word + " "
            if prompt.options.delay:
                time.sleep(prompt.options.delay)


# ---------------------------------------------------------------------------

DECLARATION = """models:
  - model_id: bench-markov
    backend: {type: markov}
    options:
      length: {type: integer, minimum: 2, default: 20}
"""


def zipf_text(words: int, vocabulary: int = 30_000) -> str:
    rng = random.Random(1)
    vocab = [f"word{i}" for i in range(vocabulary)]
    weights = [1 / (i + 1) for i in range(vocabulary)]
    return " ".join(rng.choices(vocab, weights, k=words))


def timed(model, text: str, length: int) -> float:
    start = time.perf_counter()
    output = model.prompt(text, stream=False, length=length).text()
    elapsed = time.perf_counter() - start
    assert len(output.split()) == length, "wrong number of words"
    return elapsed


def setup(tmp: str):
    """Both models, with the declaration in ``tmp``."""
    Path(tmp, "bench.yaml").write_text(DECLARATION)
    os.environ["LLM_USER_PATH"] = tmp
    os.environ["LLM_YAML_MODELS_PATH"] = str(Path(tmp, "bench.yaml"))
    return llm.get_model("bench-markov"), SeedMarkov()


def floor(text: str) -> float:
    start = time.perf_counter()
    dict.fromkeys(text.split())
    return time.perf_counter() - start


def child(which: str, words: int, length: int) -> None:
    """One timed prompt in this fresh interpreter; prints seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        ours, seed = setup(tmp)
        model = ours if which == "ours" else seed
        text = zipf_text(words)
        timed(model, "warm up the code paths " * 10, 50)
        print(timed(model, text, length))


def fresh(which: str, args) -> float:
    command = [sys.executable, __file__, "--child", which]
    command += ["--words", str(args.words), "--length", str(args.length)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def report(label: str, ours: list, seed: list, extra: str = "") -> None:
    mo, ms = statistics.median(ours), statistics.median(seed)
    print(f"  {label}")
    print(f"    llm-yaml-models markov  {mo * 1000:7.1f} ms")
    print(f"    llm-markov 0.1 (seed)   {ms * 1000:7.1f} ms")
    print(f"    speed-up                {ms / mo:7.2f}x{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--words", type=int, default=300_000)
    parser.add_argument("--length", type=int, default=5_000)
    parser.add_argument("--child", choices=["ours", "seed"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.words, args.length)
    with tempfile.TemporaryDirectory() as tmp:
        ours, seed = setup(tmp)
        text = zipf_text(args.words)
        timed(ours, text, args.length)  # warm up: imports, Options class
        timed(seed, text, args.length)
        ours_times, seed_times, floor_times = [], [], []
        for _ in range(args.runs):
            ours_times.append(timed(ours, text, args.length))
            seed_times.append(timed(seed, text, args.length))
            floor_times.append(floor(text))
    fresh_ours, fresh_seed = [], []
    for _ in range(args.runs):
        fresh_ours.append(fresh("ours", args))
        fresh_seed.append(fresh("seed", args))
    print(
        f"{args.words}-word prompt, {args.length} words generated, stream=False, "
        f"median of {args.runs} interleaved runs"
    )
    mf, ms = statistics.median(floor_times), statistics.median(seed_times)
    report("in one process", ours_times, seed_times)
    print(f"    floor (split + dict.fromkeys) {mf * 1000:5.1f} ms: the seed is {ms / mf:.2f}x it")
    report("one fresh interpreter per run", fresh_ours, fresh_seed)


if __name__ == "__main__":
    main()

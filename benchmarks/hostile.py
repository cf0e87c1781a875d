"""Hostile model files against a small good one, side by side in one run.

    python benchmarks/hostile.py [--runs 5]

Builds, in a temporary directory: a small good file, a billion-laughs alias
bomb, a merge-key bomb (tests/corpus/merge-key-bomb.yaml), a 2 MiB file, a
dense file just under 1 MiB (more nodes than the limit, no aliases), a
file nested 50,000 levels deep, a text bomb (a 600,000-character string
named 90,000 times: few nodes, 54 GB of text), 99,999 entries of ``- {}``
(with the list, the 100,000 nodes of the limit; 500 KB) and one model with
45,000 misspelt keys (0.9 MB). For each it reports:

- ``llm yaml-models validate FILE`` in a subprocess: the median wall time
  over the runs (interleaved with the good file, so that machine noise hits
  both alike), the ratio to the good file, and the child's max RSS from
  wait4(), with the exit status (a negative one is a signal: a crash);
- the loader alone (``config.load_file``), in a fresh interpreter per file
  so that a crash cannot take this script down: its median wall time over
  the runs, and its peak memory measured with tracemalloc in another
  interpreter (tracemalloc slows allocation down, so the two are not
  measured together).

The tests assert the refusals and the memory bound; the times are here.
"""

from __future__ import annotations

import os

# Only this plugin (and llm's own): the peer plugins the tests install would
# load on every llm command measured here, and Ollama's would ask a server.
os.environ.setdefault("LLM_LOAD_PLUGINS", "llm-yaml-models")

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
# The llm executable that belongs to this interpreter (falls back to PATH).
_SIBLING = Path(sys.executable).with_name("llm")
LLM = str(_SIBLING) if _SIBLING.exists() else shutil.which("llm") or "llm"

GOOD = """\
- model_id: good
  aliases: [fine]
  backend: {type: markov}
  options:
    length: {type: integer, minimum: 2, default: 20, description: Number of words}
"""

# Loads one file with the plugin's loader and prints JSON; run per file in
# a fresh interpreter.
PROBE = """
import json, statistics, sys, time, tracemalloc
from llm_yaml_models.loading.loader import load_file
path, runs, warm = sys.argv[1], int(sys.argv[2]), sys.argv[3]
load_file(warm)  # imports and schema caches, outside the measurement
if runs == 0:  # one traced run, for the peak
    tracemalloc.start()
    result = load_file(path)
    print(json.dumps({"peak": tracemalloc.get_traced_memory()[1]}))
    sys.exit()
times = []
for _ in range(runs):
    start = time.perf_counter()
    result = load_file(path)
    times.append(time.perf_counter() - start)
problems = [p.message for p in result.problems]
print(json.dumps({"seconds": statistics.median(times), "problems": problems}))
"""


def billion_laughs() -> str:
    names = "abcdefghi"
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def text_bomb() -> str:
    """Few nodes, much text: a 600,000-character string named 90,000 times."""
    refs = ", ".join(["*s"] * 90_000)
    return (
        "- model_id: text-bomb\n  backend: {type: markov}\n"
        f'  description: &s "{"x" * 600_000}"\n'
        f"  options:\n    o: {{type: array, default: [{refs}]}}\n"
    )


def build(folder: Path) -> dict[str, Path]:
    files = {
        "good": GOOD,
        "billion-laughs": billion_laughs(),
        "merge-key-bomb": (CORPUS / "merge-key-bomb.yaml").read_text(),
        "2-mib": GOOD + ("#" * 79 + "\n") * (2 * 1024 * 1024 // 80),
        "dense-under-1-mib": "[" + "0," * 524_000 + "]\n",
        "nested-50000": "[" * 50_000 + "]" * 50_000 + "\n",
        "text-bomb": text_bomb(),
        "empty-entries": "- {}\n" * 99_999,
        "misspelt-keys": GOOD + "".join(f"  descripton{i}: x\n" for i in range(45_000)),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(text)
    return paths


def validate(path: Path, user_dir: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) and exit status of ``llm yaml-models
    validate PATH``."""
    env = dict(os.environ, LLM_USER_PATH=str(user_dir), LLM_YAML_MODELS_PATH="")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [LLM, "yaml-models", "validate", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    return elapsed, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def loader(path: Path, warm: Path, runs: int) -> dict:
    """The loader's median time over ``runs``, or (``runs=0``) its peak memory."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), str(runs), str(warm)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return {"crashed": proc.returncode}
    return json.loads(proc.stdout)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def mib(n: float) -> str:
    return f"{n / 2**20:.2f} MiB" if n < 10 * 2**20 else f"{n / 2**20:.1f} MiB"


def size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.0f} KiB" if n < 2**20 else f"{n / 2**20:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        user_dir = folder / "llm-user"
        user_dir.mkdir()
        paths = build(folder)
        good = paths["good"]
        validate(good, user_dir)  # warm the disk cache and .pyc files
        rows = []
        for name, path in paths.items():
            pairs = [(validate(good, user_dir), validate(path, user_dir)) for _ in range(args.runs)]
            base = statistics.median(g[0] for g, _ in pairs)
            wall = statistics.median(h[0] for _, h in pairs)
            rows.append(
                {
                    "name": name,
                    "size": path.stat().st_size,
                    "wall": wall,
                    "extra": wall - base,
                    "ratio": wall / base,
                    "rss": max(h[1] for _, h in pairs) / 1024,
                    "status": pairs[-1][1][2],
                    "timed": loader(path, good, args.runs),
                    "traced": loader(path, good, 0),
                }
            )
    report(rows, args.runs)


def report(rows: list[dict], runs: int) -> None:
    print(
        f"llm yaml-models validate FILE: median of {runs} runs, interleaved with the good "
        "file (whose own row shows the noise); loader: config.load_file in a fresh "
        "interpreter, median of as many runs, its peak measured with tracemalloc apart\n"
    )
    header = (
        f"{'file':<18} {'size':>9} {'validate':>9} {'- good':>8} {'vs good':>8} {'max RSS':>8} "
        f"{'exit':>5} {'loader':>10} {'loader peak':>12}  result"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        timed, traced = row["timed"], row["traced"]
        if "crashed" in timed:
            load_time = load_peak = f"crash {timed['crashed']}"
            result = "(the loader crashed)"
        else:
            load_time = ms(timed["seconds"])
            load_peak = mib(traced["peak"]) if "peak" in traced else "?"
            result = timed["problems"][0] if timed["problems"] else "OK"
        print(
            f"{row['name']:<18} {size(row['size']):>9} {row['wall'] * 1000:>6.0f} ms "
            f"{row['extra'] * 1000:>+5.0f} ms {row['ratio']:>7.2f}x {row['rss']:>4.0f} MiB "
            f"{row['status']:>5} {load_time:>10} {load_peak:>12}  {result[:60]}"
        )
    print()
    for row in rows:
        timed, traced = row["timed"], row["traced"]
        if row["name"] == "good":
            continue
        if "crashed" in timed:
            print(f"{row['name']}: the loader crashed (exit status {timed['crashed']})")
            continue
        print(
            f"{row['name']}: refused in {ms(timed['seconds'])} using "
            f"{mib(traced['peak'])} (loader); `llm yaml-models validate` "
            f"{row['wall'] * 1000:.0f} ms, {row['extra'] * 1000:+.0f} ms and "
            f"{row['ratio']:.2f}x against the good file, max RSS {row['rss']:.0f} MiB, "
            f"exit status {row['status']}"
        )


if __name__ == "__main__":
    main()

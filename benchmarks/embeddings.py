"""Embedding models: the openai-embeddings preset against llm's own 3-small,
and model.embed_multi() against raw httpx2, side by side in one run.

    python benchmarks/embeddings.py [--texts 5000] [--rounds 3] [--api-rounds 9]
                                    [--batch 100] [--in-flight 8] [--dimensions 256]

One local server (tests/fakeapi.py) answers OpenAI's /embeddings for every
contender, with vectors of --dimensions (256), as base64 or floats as asked:

- ``llm embed-multi`` of N short texts from a CSV file, in a subprocess:
  a declared model with the openai-embeddings preset, against llm's own
  ``3-small`` with OPENAI_BASE_URL pointed at the same server (each stores
  into a fresh database; whole command). The floor, what llm itself costs
  (start-up, reading, SQLite), is a declared callable that does no I/O;
- ``model.embed_multi(texts)`` in this process (batches of --batch, up to
  --in-flight at once), against raw httpx2 sending the same batches with the
  same concurrency from a thread pool (one client; JSON parsed, base64
  decoded into floats).

Each prints the median and the best of its rounds, and both ratios.
"""

from __future__ import annotations

import os

# Only this plugin (and llm's own): the peer plugins the tests install would
# load on every llm command measured here, and Ollama's would ask a server.
os.environ.setdefault("LLM_LOAD_PLUGINS", "llm-yaml-models")

import argparse
import base64
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import fakeapi  # noqa: E402
from fakeapi import FakeAPI  # noqa: E402

LLM = str(Path(sys.executable).with_name("llm"))


def texts(n: int) -> list[str]:
    return [f"short text number {i} about cats" for i in range(n)]


def model_file(directory: Path, url: str, batch: int, in_flight: int) -> Path:
    path = directory / "embeddings.yaml"
    path.write_text(
        "embedding_models:\n"
        "  - model_id: bench-embed\n"
        f"    batch_size: {batch}\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-embeddings\n"
        f"      base_url: {url}/v1\n"
        "      model_name: text-embedding-3-small\n"
        f"      max_connections: {in_flight}\n"
        "  - model_id: bench-no-io\n"
        "    backend: {type: python, callable: ./no_io.py:vectors}\n"
    )
    (directory / "no_io.py").write_text(
        "def vectors(items):\n    return [[0.5] * 256 for _ in items]\n"
    )
    return path


def embed_multi_command(model: str, csv: Path, env: dict, db: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [LLM, "embed-multi", "bench", str(csv), "-m", model, "-d", str(db)],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def cli_round(args, work: Path, env: dict, n: int) -> tuple[float, float, float]:
    csv = work / "texts.csv"
    csv.write_text("id,text\n" + "".join(f"{i},{t}\n" for i, t in enumerate(texts(n))))
    times = [
        embed_multi_command(model, csv, env, work / f"{model}-{time.time_ns()}.db")
        for model in ("bench-embed", "3-small", "bench-no-io")
    ]
    return times[0], times[1], times[2]


def raw_batches(client, url: str, items: list[str], batch: int, in_flight: int) -> list:
    """The floor: the same requests with raw httpx2 (one client, made once,
    as the model makes its own), the same concurrency."""

    def one(chunk: list[str]) -> list[list[float]]:
        body = {"model": "text-embedding-3-small", "input": chunk, "encoding_format": "base64"}
        reply = client.post(f"{url}/v1/embeddings", json=body).json()
        out = []
        for row in reply["data"]:
            values = array("f")
            values.frombytes(base64.b64decode(row["embedding"]))
            out.append(values.tolist())
        return out

    chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
    with ThreadPoolExecutor(in_flight) as pool:
        return [v for part in pool.map(one, chunks) for v in part]


def api_round(args, model, client) -> tuple[float, float]:
    items = texts(args.texts)
    start = time.perf_counter()
    ours = list(model.embed_multi(items))
    mine = time.perf_counter() - start
    start = time.perf_counter()
    raw = raw_batches(client, args.url, items, args.batch, args.in_flight)
    floor = time.perf_counter() - start
    assert ours == raw and len(ours) == args.texts
    return mine, floor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--api-rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--dimensions", type=int, default=256)
    args = parser.parse_args()
    fakeapi.EMBEDDING_DIMENSIONS = args.dimensions  # every reply's, 3-small's too
    with tempfile.TemporaryDirectory() as tmp, FakeAPI() as server:
        work = Path(tmp)
        args.url = server.url
        (work / "user").mkdir()
        path = model_file(work, server.url, args.batch, args.in_flight)
        env = {
            **os.environ,
            "LLM_USER_PATH": str(work / "user"),
            "LLM_YAML_MODELS_PATH": str(path),
            "OPENAI_BASE_URL": f"{server.url}/v1",
            "OPENAI_API_KEY": "sk-bench",
            "PYTHONPATH": str(REPO),
        }
        # An installed plugin has its bytecode: without it, every command
        # would compile the plugin's modules (3-small's are compiled at
        # install), and measure that instead. A first, untimed round writes it.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ.update({k: env[k] for k in ("LLM_USER_PATH", "LLM_YAML_MODELS_PATH")})
        # The server's vectors are cached per text: every contender gets them
        # cached, the first one timed too.
        for item in texts(args.texts):
            fakeapi.embedding_reply("/embeddings", {"input": item, "encoding_format": "base64"})
        cli_round(args, work, env, 100)
        cli = [cli_round(args, work, env, args.texts) for _ in range(args.rounds)]
        import llm

        model = llm.get_embedding_model("bench-embed")
        client = httpx2.Client(limits=httpx2.Limits(max_connections=args.in_flight))
        api_round(args, model, client)  # warm up: the clients, the connections
        api = [api_round(args, model, client) for _ in range(args.api_rounds)]
        client.close()
    n = args.texts
    print(f"llm embed-multi, {n} texts, batches of {args.batch} ({args.rounds} rounds):")
    report("openai-embeddings preset", "llm's 3-small", cli, "3-small / preset", ">= 2x")
    floor = statistics.median(c[2] for c in cli)
    print(f"  the floor: llm embed-multi of a callable with no I/O, median {floor:7.3f} s")
    print(
        f"model.embed_multi, {n} texts of {args.dimensions} dimensions, "
        f"batches of {args.batch}, {args.in_flight} in flight:"
    )
    report("declared model", "raw httpx2", api, "declared / raw", "<= 1.2x")


def report(mine: str, other: str, rounds: list, ratio: str, target: str) -> None:
    """Median and best of the rounds (the machine may be shared: the best
    is the least disturbed), and the ratios of each."""
    medians = [statistics.median(r[i] for r in rounds) for i in (0, 1)]
    bests = [min(r[i] for r in rounds) for i in (0, 1)]
    for name, i in ((mine, 0), (other, 1)):
        print(f"  {name:26} median {medians[i]:7.3f} s   best {bests[i]:7.3f} s")
    flip = ratio.startswith("3-small")
    m, b = (
        (medians[1] / medians[0], bests[1] / bests[0])
        if flip
        else (medians[0] / medians[1], bests[0] / bests[1])
    )
    print(f"  ratio ({ratio})   median {m:5.2f}x   best {b:5.2f}x   target {target}")


if __name__ == "__main__":
    main()

"""The HTTP backend under load, against a server that fails at random.

    python benchmarks/load.py [--prompts 1000] [--in-flight 100]
                              [--fail-rate 0.1] [--retries 2] [--seed 7]

One local OpenAI-compatible server (tests/fakeapi.py) answers a share of
requests with 503 at random. A model declared with ``retries`` sends every
prompt through llm's async API, ``--in-flight`` at a time, and the script
reports how many prompts succeeded (after retries, if needed) and how many
failed with a clean error (an llm.ModelError of one line that starts with
the model id), anything else (which should never happen), the requests the
server saw, the total time, the most connections open at once, and the
file descriptors open before and after (after the clients are closed).

Exits 1 if any prompt failed uncleanly or a descriptor leaked.
"""

from __future__ import annotations

import os

# Only this plugin (and llm's own): the peer plugins the tests install would
# load on every llm command measured here, and Ollama's would ask a server.
os.environ.setdefault("LLM_LOAD_PLUGINS", "llm-yaml-models")

import argparse
import asyncio
import collections
import gc
import sys
import tempfile
import time
from pathlib import Path

import llm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fakeapi import REPLY, FakeAPI  # noqa: E402

from llm_yaml_models import registry  # noqa: E402

MODEL = "load"


def declaration(url: str, retries: int, pool: int) -> str:
    return (
        f"- model_id: {MODEL}\n"
        "  backend:\n"
        "    type: http\n"
        "    preset: openai-chat\n"
        f"    base_url: {url}/v1\n"
        f"    retries: {retries}\n"
        f"    max_connections: {pool}\n"
    )


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


async def run(count: int, in_flight: int) -> list:
    """Each prompt's text, or the exception it raised."""
    model = llm.get_async_model(MODEL)
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int):
        async with gate:
            try:
                return await model.prompt(f"prompt {i}").text()
            except Exception as exc:  # noqa: BLE001 - counted and reported
                return exc

    return await asyncio.gather(*(one(i) for i in range(count)))


def clean(exc: Exception) -> bool:
    message = str(exc)
    return (
        isinstance(exc, llm.ModelError) and message.startswith(f"{MODEL}: ") and "\n" not in message
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--fail-rate", type=float, default=0.1)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeAPI(fail_rate=args.fail_rate, seed=args.seed) as server,
    ):
        (Path(tmp) / "load.yaml").write_text(declaration(server.url, args.retries, args.in_flight))
        os.environ["LLM_USER_PATH"] = tmp
        os.environ["LLM_YAML_MODELS_PATH"] = str(Path(tmp) / "load.yaml")
        llm.get_async_model(MODEL)  # load the plugin's models before counting
        before = open_fds()
        start = time.perf_counter()
        outcomes = asyncio.run(run(args.prompts, args.in_flight))
        elapsed = time.perf_counter() - start
        registry.forget()
        for _ in range(1000):  # the server notices the closes a little later
            if server.open_connections == 0:
                break
            time.sleep(0.01)
        after = open_fds()
        requests, failed, peak = len(server.requests), server.failed, server.peak_connections

    succeeded = sum(1 for o in outcomes if o == REPLY)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    cleanly = [e for e in errors if clean(e)]
    other = [o for o in outcomes if o != REPLY and not (isinstance(o, Exception) and clean(o))]
    print(
        f"{args.prompts} async prompts, {args.in_flight} in flight, "
        f"server failing {args.fail_rate:.0%} of requests with 503 (seed {args.seed}), "
        f"retries: {args.retries}\n"
    )
    print(f"  succeeded                 {succeeded:8d}")
    print(f"  failed with a clean error {len(cleanly):8d}")
    print(f"  anything else             {len(other):8d}")
    print(f"  requests the server saw   {requests:8d} ({failed} answered 503)")
    print(f"  total time                {elapsed:8.2f} s ({args.prompts / elapsed:.0f} prompts/s)")
    print(f"  peak connections          {peak:8d} (pool limit {args.in_flight})")
    print(f"  file descriptors          {before:8d} before, {after} after")
    messages = collections.Counter(str(e).replace(server.url, "URL") for e in cleanly)
    for message, n in messages.most_common():
        print(f"    {n} x {message}")
    for outcome in other[:5]:
        print(f"    unclean: {type(outcome).__name__}: {outcome!r:.200}")
    return 1 if other or after != before else 0


if __name__ == "__main__":
    sys.exit(main())

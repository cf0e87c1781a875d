"""One model, three replicas: one killed part way and restarted.

    python benchmarks/deployments.py [--prompts 1000] [--in-flight 50]
                                     [--strategy least-busy]

Three local OpenAI-compatible servers (tests/fakeapi.py), each its own
process, are the ``deployments:`` of one model. The script sends every
prompt through llm's async API, ``--in-flight`` at a time. When 30% of the
prompts have been sent, replica 2 is killed (SIGKILL: its connections
reset); at 60% it is started again on the same port. The script reports
how many prompts succeeded, which replica answered each (``deployment`` in
``response_json``) while all three were up, before the kill and once the
restarted one was back in rotation (after its cool-down, a probe), and the
file descriptors open before and after (after the clients are closed).

Exits 1 unless every prompt succeeded, no replica answered more than 40%
of the prompts sent while all three were in rotation, and no descriptor
leaked.
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
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import llm

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
from fakeapi import REPLY  # noqa: E402

from llm_yaml_models import registry  # noqa: E402

MODEL = "fleet"
REPLICA = """\
import asyncio, sys, threading
sys.path.insert(0, {tests!r})
from fakeapi import FakeAPI

class Replica(FakeAPI):
    def __enter__(self):
        self._thread.start()
        start = asyncio.start_server(self._serve, "127.0.0.1", {port}, backlog=512)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(10)
        self.port = {port}
        return self

with Replica():
    print("ready", flush=True)
    threading.Event().wait()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_replica(port: int) -> subprocess.Popen:
    code = REPLICA.format(tests=str(TESTS), port=port)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def declaration(ports: list[int], strategy: str, in_flight: int) -> str:
    deployments = "".join(f"      - base_url: http://127.0.0.1:{p}/v1\n" for p in ports)
    return (
        f"- model_id: {MODEL}\n"
        "  backend:\n"
        "    type: http\n"
        "    preset: openai-chat\n"
        "    retries: 2\n"
        f"    max_connections: {in_flight}\n"
        f"    strategy: {strategy}\n"
        "    cooldown: {failures: 1, seconds: 0.2}\n"
        "    deployments:\n" + deployments
    )


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


class Run:
    """The prompts, the replica's kill and restart, and who answered what."""

    def __init__(self, count: int, in_flight: int, ports: list[int], procs: list):
        self.count, self.in_flight = count, in_flight
        self.ports, self.procs = ports, procs
        self.sent = 0
        self.phase = "all up"  # -> "one down" -> "restarted" -> "back in rotation"
        self.answers: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.outcomes: list = []

    async def one(self, model, i: int):
        phase = self.phase
        try:
            response = model.prompt(f"prompt {i}")
            text = await response.text()
        except Exception as exc:  # noqa: BLE001 - counted and reported
            return exc
        deployment = (response.response_json or {}).get("deployment")
        if phase == "restarted" and deployment == self.ports_url(2):
            self.phase = phase = "back in rotation"
        self.answers[phase][deployment] += 1
        return text

    def ports_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}/v1"

    async def main(self) -> None:
        model = llm.get_async_model(MODEL)
        gate = asyncio.Semaphore(self.in_flight)

        async def gated(i: int):
            async with gate:
                await self.milestones(i)
                return await self.one(model, i)

        self.outcomes = await asyncio.gather(*(gated(i) for i in range(self.count)))

    async def milestones(self, i: int) -> None:
        if i == int(self.count * 0.3):
            self.procs[2].send_signal(signal.SIGKILL)
            self.procs[2].wait()
            self.phase = "one down"
        elif i == int(self.count * 0.6):
            self.procs[2] = await asyncio.to_thread(start_replica, self.ports[2])
            self.phase = "restarted"


def shares(counter: collections.Counter, urls: list[str]) -> str:
    total = sum(counter.values()) or 1
    return ", ".join(f"{counter[u] / total:.0%}" for u in urls) + f" of {sum(counter.values())}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--strategy", default="least-busy", choices=["least-busy", "round-robin"])
    args = parser.parse_args()
    ports = [free_port() for _ in range(3)]
    procs = [start_replica(p) for p in ports]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "fleet.yaml"
            path.write_text(declaration(ports, args.strategy, args.in_flight))
            os.environ["LLM_USER_PATH"] = tmp
            os.environ["LLM_YAML_MODELS_PATH"] = str(path)
            llm.get_async_model(MODEL)  # load the plugin's models before counting
            before = open_fds()
            run = Run(args.prompts, args.in_flight, ports, procs)
            start = time.perf_counter()
            asyncio.run(run.main())
            elapsed = time.perf_counter() - start
            registry.forget()
            after = open_fds()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    return report(args, run, elapsed, before, after)


def report(args, run: Run, elapsed: float, before: int, after: int) -> int:
    urls = [run.ports_url(i) for i in range(3)]
    succeeded = sum(1 for o in run.outcomes if o == REPLY)
    errors = collections.Counter(str(o) for o in run.outcomes if isinstance(o, Exception))
    print(
        f"{args.prompts} async prompts, {args.in_flight} in flight, 3 replicas "
        f"({args.strategy}); replica 3 killed at 30%, restarted at 60%\n"
    )
    print(f"  succeeded                 {succeeded:8d}")
    print(f"  failed                    {sum(errors.values()):8d}")
    for phase in ("all up", "one down", "restarted", "back in rotation"):
        print(f"  answered, {phase + ':':17s}     {shares(run.answers[phase], urls)}")
    both = run.answers["all up"] + run.answers["back in rotation"]
    print(f"  answered, all three in rotation: {shares(both, urls)}")
    print(f"  total time                {elapsed:8.2f} s ({args.prompts / elapsed:.0f} prompts/s)")
    print(f"  file descriptors          {before:8d} before, {after} after")
    for message, n in errors.most_common(5):
        print(f"    {n} x {message}")
    balanced = max(both.values(), default=0) <= 0.4 * sum(both.values())
    return 0 if succeeded == args.prompts and balanced and before == after else 1


if __name__ == "__main__":
    sys.exit(main())

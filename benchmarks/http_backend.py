"""The HTTP backend against llm's own extra-openai-models.yaml, and against
the floor: raw httpx2 plus llm's own per-prompt overhead.

    python benchmarks/http_backend.py [--prompts 60] [--batch 200] [--in-flight 50]

Two local OpenAI-compatible servers with precomputed replies stream 200
words per prompt to every contender, side by side in one run: one sends
its streams chunked, the other with a Content-Length header (as many
servers do; the end of such a body comes with its last byte, so a client
that waits for the end after [DONE] shows it here, and only here).

- sequential streamed prompts through model.prompt(), against each server:
  median per prompt;
- an async batch (the async API, N in flight): total time;
- the floor: the same requests made with raw httpx2 (one client, SSE lines
  parsed as JSON), plus llm's per-prompt overhead measured with a model that
  yields 200 words and does no I/O.

It also reports the most connections the server saw open during our async
batch, against the declared pool limit.

Then a reasoning model's stream: 100 reasoning_content deltas, then 200 text
deltas, through the openai-chat preset against its floor (raw httpx2 reading
both fields, plus llm's overhead for a model that yields 100 reasoning
events and 200 words with no I/O).

Last, the cost of a response: the same model with and without ``pricing:``,
interleaved against each server, streamed and whole (the replies' usage
breaks out cached tokens, so each is priced in parts), and ``cost()`` alone.
"""

from __future__ import annotations

import os

# Only this plugin (and llm's own): the peer plugins the tests install would
# load on every llm command measured here, and Ollama's would ask a server.
os.environ.setdefault("LLM_LOAD_PLUGINS", "llm-yaml-models")

import argparse
import asyncio
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import llm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fakeapi import ContentLengthAPI, FakeAPI  # noqa: E402

WORDS = " ".join(f"word{i}" for i in range(200))
THOUGHTS = " ".join(f"thought{i}" for i in range(100))
POOL = 20


class NoIO(llm.Model):
    """llm's own per-prompt overhead: 200 words, no I/O."""

    model_id = "no-io"
    can_stream = True

    def execute(self, prompt, stream, response, conversation):
        for word in WORDS.split(" "):
            yield word + " "


class AsyncNoIO(llm.AsyncModel):
    model_id = "no-io"
    can_stream = True

    async def execute(self, prompt, stream, response, conversation):
        for word in WORDS.split(" "):
            yield word + " "


class ThinkingNoIO(llm.Model):
    """llm's own per-prompt overhead for a reasoning reply, with no I/O."""

    model_id = "thinking-no-io"
    can_stream = True

    def execute(self, prompt, stream, response, conversation):
        from llm.parts import StreamEvent

        for word in THOUGHTS.split(" "):
            yield StreamEvent(type="reasoning", chunk=word + " ")
        for word in WORDS.split(" "):
            yield word + " "


def raw_thinking(client: httpx2.Client, url: str) -> tuple[str, str]:
    """(reasoning, text) of a streamed reply, with raw httpx2."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    thoughts, out = [], []
    with client.stream("POST", url, json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                choices = json.loads(line[6:])["choices"]
                delta = choices[0]["delta"] if choices else {}
                if delta.get("reasoning_content"):
                    thoughts.append(delta["reasoning_content"])
                if delta.get("content"):
                    out.append(delta["content"])
    return "".join(thoughts), "".join(out)


def ours_thinking(model) -> tuple[str, str]:
    """(reasoning, text) of a streamed prompt through llm."""
    from llm.parts import ReasoningPart

    response = model.prompt("hi")
    text = "".join(response)
    parts = [p for m in response.messages() for p in m.parts]
    return "".join(p.text for p in parts if isinstance(p, ReasoningPart)), text


def raw_sync(client: httpx2.Client, url: str) -> str:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    out = []
    with client.stream("POST", url, json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                choices = json.loads(line[6:])["choices"]
                if choices and choices[0]["delta"].get("content"):
                    out.append(choices[0]["delta"]["content"])
    return "".join(out)


async def raw_async(client: httpx2.AsyncClient, url: str) -> str:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    out = []
    async with client.stream("POST", url, json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                choices = json.loads(line[6:])["choices"]
                if choices and choices[0]["delta"].get("content"):
                    out.append(choices[0]["delta"]["content"])
    return "".join(out)


def per_prompt(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def batch(prompt, count: int, in_flight: int) -> float:
    gate = asyncio.Semaphore(in_flight)

    async def one():
        async with gate:
            await prompt()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - start


# How each server sends its streams -> the suffix of its models' ids.
SERVERS = {"chunked": "", "content-length": "-cl"}


# A price for every part the fake servers' usage reports.
PRICING = "{input: 3, output: 15, cached_input: 0.3, reasoning: 15}"


def setup(tmp: Path, urls: dict, thinking_url: str) -> None:
    """``urls``: each server's base URL, by how it sends its streams."""
    extra, ours = [], ["models:"]
    for kind, url in urls.items():
        end = SERVERS[kind]
        extra.append(
            f"- model_id: extra-chat{end}\n  model_name: fake-model\n  api_base: {url}/v1\n"
        )
        for priced in ("", "-priced"):
            ours.append(
                f"  - model_id: yaml-chat{end}{priced}\n"
                f"    backend: {{type: http, preset: openai-chat, base_url: '{url}/v1',"
                f" model_name: fake-model, max_connections: {POOL}}}"
                + (f"\n    pricing: {PRICING}" if priced else "")
            )
    ours.append(
        "  - model_id: yaml-thinking\n"
        f"    backend: {{type: http, preset: openai-chat, base_url: '{thinking_url}/v1'}}\n"
    )
    (tmp / "extra-openai-models.yaml").write_text("".join(extra))
    (tmp / "ours.yaml").write_text("\n".join(ours))
    os.environ["LLM_USER_PATH"] = str(tmp)
    os.environ["LLM_YAML_MODELS_PATH"] = str(tmp / "ours.yaml")


def sequential(url: str, end: str, client: httpx2.Client, prompts: int) -> dict:
    """Median ms per streamed prompt of each contender against one server,
    interleaved; ``end`` picks the models that use it."""
    ours, theirs, no_io = (
        llm.get_model(f"yaml-chat{end}"),
        llm.get_model(f"extra-chat{end}"),
        NoIO(),
    )
    contenders = {
        "llm-yaml-models": lambda: "".join(ours.prompt("hi")),
        "extra-openai-models.yaml": lambda: "".join(theirs.prompt("hi")),
        "raw httpx2": lambda: raw_sync(client, f"{url}/v1/chat/completions"),
        "llm overhead, no I/O": lambda: "".join(no_io.prompt("hi")),
    }
    for fn in contenders.values():  # warm up, and check every one gets the text
        assert fn().split() == WORDS.split(), "wrong reply"
    times: dict = {name: [] for name in contenders}
    for _ in range(prompts):
        for name, fn in contenders.items():
            times[name].append(per_prompt(fn))
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=60)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=50)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeAPI(reply=WORDS) as server,
        ContentLengthAPI(reply=WORDS) as fixed,
        FakeAPI(reply=WORDS, reasoning=THOUGHTS) as thinking,
    ):
        urls = {"chunked": server.url, "content-length": fixed.url}
        setup(Path(tmp), urls, thinking.url)
        url = f"{server.url}/v1/chat/completions"
        client = httpx2.Client()
        seq = {
            kind: sequential(base, SERVERS[kind], client, args.prompts)
            for kind, base in urls.items()
        }

        async def async_runs() -> dict:
            a_ours, a_theirs, a_no_io = (
                llm.get_async_model("yaml-chat"),
                llm.get_async_model("extra-chat"),
                AsyncNoIO(),
            )
            async with httpx2.AsyncClient() as raw_client:
                runs = {
                    "llm-yaml-models": lambda: a_ours.prompt("hi").text(),
                    "extra-openai-models.yaml": lambda: a_theirs.prompt("hi").text(),
                    "raw httpx2": lambda: raw_async(raw_client, url),
                    "llm overhead, no I/O": lambda: a_no_io.prompt("hi").text(),
                }
                out = {}
                for name, prompt in runs.items():
                    await batch(prompt, 10, 10)  # warm up
                    # Other contenders' idle keep-alive connections stay open.
                    others = server.open_connections
                    server.peak_connections = others
                    out[name] = await batch(prompt, args.batch, args.in_flight) * 1000
                    if name == "llm-yaml-models":
                        out["peak"] = server.peak_connections - others
                return out

        many = asyncio.run(async_runs())
        thinking_seq = thinking_runs(thinking.url, client, args.prompts)
        priced = {kind: priced_runs(SERVERS[kind], args.prompts) for kind in urls}
    peak = many.pop("peak")
    a_floor = many["raw httpx2"] + many["llm overhead, no I/O"]
    print("Streaming 200 words per prompt from local OpenAI-compatible servers.")
    for kind, figures in seq.items():
        print(f"\nSequential, {kind} server: median per prompt, {args.prompts} interleaved")
        report(figures, floor_of(figures), "ms", 2)
    print(f"\nAsync, chunked server: {args.batch} prompts, {args.in_flight} in flight, total")
    report(many, a_floor, "ms", 1)
    print(f"  most connections open during our batch: {peak} (pool limit {POOL})")
    print("\nReasoning: 100 reasoning_content deltas, then 200 text deltas, median per prompt")
    for name, value in thinking_seq.items():
        print(f"  {name:<28} {value:8.2f} ms")
    floor = thinking_seq["raw httpx2"] + thinking_seq["llm overhead, no I/O"]
    print(f"  ours / floor (raw + overhead) {thinking_seq['llm-yaml-models'] / floor:8.2f}x")
    print_priced(priced)
    print("\nSequential, side by side (target: >= 10x llm's client, <= 1.1x the floor):")
    for kind, figures in seq.items():
        ours, theirs, floor = (
            figures["llm-yaml-models"],
            figures["extra-openai-models.yaml"],
            floor_of(figures),
        )
        print(
            f"  {kind:<15} ours {ours:6.2f} ms, llm's client {theirs:6.2f} ms "
            f"({theirs / ours:5.1f}x), floor {floor:6.2f} ms (ours / floor {ours / floor:4.2f}x)"
        )


def floor_of(figures: dict) -> float:
    """The floor: raw httpx2, plus llm's own per-prompt overhead."""
    return figures["raw httpx2"] + figures["llm overhead, no I/O"]


def thinking_runs(base_url: str, client: httpx2.Client, prompts: int) -> dict:
    url = f"{base_url}/v1/chat/completions"
    ours, no_io = llm.get_model("yaml-thinking"), ThinkingNoIO()
    contenders = {
        "llm-yaml-models": lambda: ours_thinking(ours),
        "raw httpx2": lambda: raw_thinking(client, url),
        "llm overhead, no I/O": lambda: ours_thinking(no_io),
    }
    for fn in contenders.values():  # warm up, and check every one gets both
        thoughts, text = fn()
        assert (thoughts.split(), text.split()) == (THOUGHTS.split(), WORDS.split()), "wrong"
    times: dict = {name: [] for name in contenders}
    for _ in range(prompts):
        for name, fn in contenders.items():
            times[name].append(per_prompt(fn))
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def priced_runs(end: str, prompts: int) -> dict:
    """Median ms per prompt of the model with and without pricing,
    interleaved, streamed and whole; ``end`` picks the server."""
    plain, priced = llm.get_model(f"yaml-chat{end}"), llm.get_model(f"yaml-chat{end}-priced")
    out = {}
    for stream in (True, False):
        contenders = {"unpriced": plain, "priced": priced}
        for model in contenders.values():  # warm up, and check the priced one is priced
            response = model.prompt("hi", stream=stream)
            assert response.text().split() == WORDS.split(), "wrong reply"
            assert ("cost" in response.response_json) == (model is priced), "cost"
        times: dict = {name: [] for name in contenders}
        for _ in range(prompts):
            for name, model in contenders.items():
                times[name].append(per_prompt(functools.partial(_asked, model, stream)))
        out["streamed" if stream else "whole"] = {
            name: statistics.median(t) * 1000 for name, t in times.items()
        }
    return out


def _asked(model, stream: bool) -> str:
    return model.prompt("hi", stream=stream).text()


def cost_alone(calls: int = 20000) -> float:
    """Microseconds per ``cost()`` call on a usage that breaks out cached and
    reasoning tokens (OpenAI's shape)."""
    from llm_yaml_models.backends.base import Usage
    from llm_yaml_models.cost import cost
    from llm_yaml_models.declarations import Pricing

    pricing = Pricing(input=3, output=15, cached_input=0.3, reasoning=15)
    details = {
        "prompt_tokens_details": {"cached_tokens": 400},
        "completion_tokens_details": {"reasoning_tokens": 200},
    }
    usage = Usage(1000, 500, details)
    start = time.perf_counter()
    for _ in range(calls):
        cost(pricing, usage)
    return (time.perf_counter() - start) / calls * 1e6


def print_priced(priced: dict) -> None:
    print("\nCost: the same model with and without pricing, median per prompt, interleaved")
    for kind, ways in priced.items():
        for way, figures in ways.items():
            ratio = figures["priced"] / figures["unpriced"]
            print(
                f"  {kind:<15} {way:<9} unpriced {figures['unpriced']:6.2f} ms, "
                f"priced {figures['priced']:6.2f} ms (priced / unpriced {ratio:4.2f}x)"
            )
    print(f"  cost() alone: {cost_alone():.1f} us per response")


def report(figures: dict, floor: float, unit: str, places: int) -> None:
    for name, value in figures.items():
        print(f"  {name:<28} {value:8.{places}f} {unit}")
    ours, theirs = figures["llm-yaml-models"], figures["extra-openai-models.yaml"]
    print(f"  extra-openai-models / ours    {theirs / ours:8.1f}x")
    print(f"  ours / floor (raw + overhead) {ours / floor:8.2f}x")


if __name__ == "__main__":
    main()

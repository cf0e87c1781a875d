"""The openai-responses preset against llm's own ``responses: true`` model,
side by side in one run on one loopback server.

    python benchmarks/responses.py [--prompts 60]

The server streams 200 words per prompt as the Responses API's named events
(about 1,000 events: created, deltas, item and part events, completed). For
each contender, sequential streamed prompts through model.prompt(): the
median per prompt, and the ratio to llm's own client. Also the decoder alone
on the same bytes, and with the text read by a plain path, to show what the
event-type test in ``stream.text`` costs.
"""

from __future__ import annotations

import os

# Only this plugin (and llm's own): the peer plugins the tests install would
# load on every llm command measured here, and Ollama's would ask a server.
os.environ.setdefault("LLM_LOAD_PLUGINS", "llm-yaml-models")

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import llm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fakeapi import FakeAPI, responses_events, responses_object, sse_of  # noqa: E402

WORDS = " ".join(f"word{i}" for i in range(200))

OURS = """\
- model_id: ours
  backend: {{type: http, preset: openai-responses, base_url: "{url}/v1", model_name: m}}
"""
REFERENCE = """\
- model_id: ref
  model_name: m
  api_base: {url}/v1
  responses: true
"""


def median_prompt(model, prompts: int) -> float:
    times = []
    for _ in range(prompts):
        start = time.perf_counter()
        text = model.prompt("hi").text()
        times.append(time.perf_counter() - start)
        assert text == WORDS, text[:80]
    return statistics.median(times)


def decode_seconds(text_path: str | None, rounds: int = 50) -> float:
    from llm_yaml_models.backends.http.config import HttpConfig
    from llm_yaml_models.backends.http.decode import Decoder

    backend = {"preset": "openai-responses", "base_url": "http://x"}
    if text_path:
        backend["stream"] = {"text": text_path}
    config = HttpConfig.from_data(backend, Path("."))
    body = sse_of(responses_events(responses_object(WORDS)))
    start = time.perf_counter()
    for _ in range(rounds):
        decoder = Decoder(config, "http://x")
        decoder.begin(200, "text/event-stream", True)
        decoder.receive(body)
        decoder.finish()
    return (time.perf_counter() - start) / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=60)
    args = parser.parse_args()
    with FakeAPI(reply=WORDS) as server, tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "ours.yaml").write_text(OURS.format(url=server.url))
        Path(tmp, "extra-openai-models.yaml").write_text(REFERENCE.format(url=server.url))
        os.environ["LLM_USER_PATH"] = tmp
        os.environ["LLM_YAML_MODELS_PATH"] = str(Path(tmp, "ours.yaml"))
        ours, ref = llm.get_model("ours"), llm.get_model("ref")
        median_prompt(ours, 3), median_prompt(ref, 3)  # warm up
        ref_time = median_prompt(ref, args.prompts)
        ours_time = median_prompt(ours, args.prompts)
    print(f"streamed prompt, 200 words, median of {args.prompts}:")
    print(f"  llm's own Responses client   {ref_time * 1000:7.2f} ms   1.00")
    print(f"  openai-responses preset      {ours_time * 1000:7.2f} ms   {ours_time / ref_time:.2f}")
    typed, plain = decode_seconds(None), decode_seconds("delta")
    print("decoding the same stream alone (a plain path also takes other deltas as text):")
    print(f"  stream.text with the type test  {typed * 1000:6.2f} ms")
    print(f"  stream.text: delta              {plain * 1000:6.2f} ms   {typed / plain:.2f}")


if __name__ == "__main__":
    main()

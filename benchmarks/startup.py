"""What the plugin costs every llm command: 100 models in 10 files against
an empty config dir, side by side in one run: warm (every file cached),
after one file changes, and after all ten change (each validated again);
and 500 models discovered by one template, from a fresh cached list that
holds what the server said of each (context, prices, capabilities), beside
the same list of ids only; and 20 models over provider presets against the
same 20 written out over their family presets (base URL and key by hand),
warm and after each file changes.

    python benchmarks/startup.py [--runs 15] [--only WORD]

Runs are interleaved (A, B, A, B, ...) so that machine noise hits both
sides alike; each figure is a median over the runs. CPU is the child's
user + system time from wait4(), which other load on the machine moves
less than wall time; peak memory is its max RSS. ``--only discovered``
runs only the cases whose label holds that word. The first case runs one
command against itself: its distance from 1.000x is the noise.
"""

from __future__ import annotations

import os

# Only this plugin (and llm's own): the peer plugins the tests install would
# load on every llm command measured here, and Ollama's would ask a server.
os.environ.setdefault("LLM_LOAD_PLUGINS", "llm-yaml-models")

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The llm executable that belongs to this interpreter (falls back to PATH).
_SIBLING = Path(sys.executable).with_name("llm")
LLM = str(_SIBLING) if _SIBLING.exists() else "llm"

MODEL = """  - model_id: bench-{n}
    aliases: [b{n}]
    description: Benchmark model {n}
    backend: {{type: markov}}
    options:
      length: {{type: integer, minimum: 2, default: 20, description: Number of words}}
      seed: {{type: integer, description: Seed for reproducible output}}
"""
DEFAULTS = """defaults:
  options:
    delay: {type: number, minimum: 0, maximum: 10, description: Seconds between words}
models:
"""


def write_config(root: Path, files: int, per_file: int) -> None:
    models = root / "yaml-models"
    models.mkdir(parents=True)
    for f in range(files):
        body = "".join(MODEL.format(n=f * per_file + i) for i in range(per_file))
        (models / f"models-{f:02d}.yaml").write_text(DEFAULTS + body)


DISCOVERY = """- model_id: lab
  discover: {{source: {source}, prefix: lab/, ttl: 31536000}}
  backend: {{type: http, preset: openai-chat, base_url: "{url}/v1"}}
  options:
    temperature: {{type: number, minimum: 0, maximum: 2}}
"""


def listed(n: int) -> dict:
    """A model as OpenRouter lists it: its context, prices per token and
    what it takes (a third take tools, half images: four classes in all)."""
    return {
        "id": f"model-{n}",
        "context_length": 8192 * (1 + n % 16),
        "top_provider": {"max_completion_tokens": 4096},
        "pricing": {
            "prompt": f"{n + 1}e-07",
            "completion": f"{n + 2}e-07",
            "input_cache_read": "1e-08",
        },
        "architecture": {"input_modalities": ["text", "image"] if n % 2 else ["text"]},
        "supported_parameters": ["max_tokens", "tools"] if n % 3 == 0 else ["max_tokens"],
    }


def write_discovery(root: Path, count: int, source: str = "openrouter") -> None:
    """A template whose server lists ``count`` models, and its list cached:
    the server is gone before anything is timed, so a run that made a
    request would warn (and the benchmark stop)."""
    import http.server
    import json
    import threading

    body = json.dumps({"data": [listed(n) for n in range(count)]}).encode()

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    models = root / "yaml-models"
    models.mkdir(parents=True)
    url = f"http://127.0.0.1:{server.server_port}"
    (models / "lab.yaml").write_text(DISCOVERY.format(url=url, source=source))
    run(["models", "list"], root)  # fetches and caches the list
    server.shutdown()
    server.server_close()


# Hosted provider presets the models cycle through.
PROVIDERS = ("groq", "openrouter", "deepseek", "anthropic", "gemini-api")


def write_providers(root: Path, count: int, *, written_out: bool) -> Path:
    """``count`` models over the provider presets (no discovery), or, with
    ``written_out``, over their families with the URL and key written."""
    from llm_yaml_models.backends.http.config import family, preset

    lines = []
    for n in range(count):
        name = PROVIDERS[n % len(PROVIDERS)]
        lines.append(f"- model_id: p-{n}")
        if written_out:  # what the provider preset brings, by hand
            key, url = preset(name)["declaration"]["key"], preset(name)["base_url"]
            lines.append(f"  key: {{name: {key['name']}, env: {key['env']}}}")
            lines.append(f"  backend: {{type: http, preset: {family(name)}, base_url: {url},")
            lines.append(f"    model_name: m{n}}}")
        else:
            lines.append(f"  backend: {{type: http, preset: {name}, model_name: m{n}}}")
    models = root / "yaml-models"
    models.mkdir(parents=True)
    path = models / "providers.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(args: list[str], user_dir: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (KiB) of one llm command."""
    env = dict(os.environ, LLM_USER_PATH=str(user_dir))
    env.pop("LLM_YAML_MODELS_PATH", None)
    # An installed plugin has its bytecode: without it, every run would
    # compile the modules a cache miss imports, and measure that instead.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [LLM, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0 or stderr:
        sys.exit(f"llm {' '.join(args)} failed: {stderr}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def compare(label: str, runs: int, a: tuple, b: tuple, prepare_a=None, prepare_b=None) -> None:
    """Median wall time, CPU time and peak memory of command a against b."""
    if ONLY and ONLY not in label and not label.startswith("control"):
        return
    got: dict[str, list] = {"a": [], "b": []}
    for _ in range(runs):
        if prepare_a:
            prepare_a()
        got["a"].append(run(*a))
        if prepare_b:
            prepare_b()
        got["b"].append(run(*b))
    (wa, ca, ra), (wb, cb, rb) = (
        [statistics.median(column) for column in zip(*got[side], strict=True)] for side in "ab"
    )
    print(
        f"{label:<44} {wa * 1000:7.1f} ms vs {wb * 1000:7.1f} ms  ratio {wa / wb:5.3f}x"
        f"   CPU ratio {ca / cb:5.3f}x"
        f"   peak RSS {ra / 1024:6.1f} vs {rb / 1024:6.1f} MiB  ({(ra - rb) / 1024:+.1f} MiB)"
    )


def touch(*changed: Path):
    """What makes every cache entry of these files a miss: a new size."""

    def prepare() -> None:
        for file in changed:
            file.write_text(file.read_text() + "\n")

    return prepare


ONLY = ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", default="", help="run only the cases whose label holds this")
    args = parser.parse_args()
    global ONLY
    ONLY = args.only
    with tempfile.TemporaryDirectory() as tmp:
        declared, empty, single = Path(tmp, "declared"), Path(tmp, "empty"), Path(tmp, "single")
        discovered, bare = Path(tmp, "discovered"), Path(tmp, "bare")
        write_config(declared, files=10, per_file=10)
        write_config(single, files=1, per_file=1)
        write_discovery(discovered, 500)
        write_discovery(bare, 500, source="openai")  # the same list: its ids only
        providers, families = Path(tmp, "providers"), Path(tmp, "families")
        provider_file = write_providers(providers, 20, written_out=False)
        family_file = write_providers(families, 20, written_out=True)
        empty.mkdir()
        every = (declared, empty, single, discovered, bare, providers, families)
        for user_dir in every:  # warm caches and page cache
            run(["models", "list"], user_dir)
        print(f"{args.runs} interleaved runs each, medians\n")
        compare(  # the same command twice: how far noise alone moves a ratio
            "control: empty dir vs empty dir (noise)",
            args.runs,
            (["models", "list"], empty),
            (["models", "list"], empty),
        )
        compare(
            "llm models list: 100 models vs empty dir",
            args.runs,
            (["models", "list"], declared),
            (["models", "list"], empty),
        )
        compare(
            "llm models list: 500 discovered vs empty dir",
            args.runs,
            (["models", "list"], discovered),
            (["models", "list"], empty),
        )
        compare(
            "llm models list: 500 discovered, metadata vs ids only",
            args.runs,
            (["models", "list"], discovered),
            (["models", "list"], bare),
        )
        compare(
            'llm -m bench-57 "hi there": 100 models vs 1 model',
            args.runs,
            (["-m", "bench-57", "hi there", "--no-log"], declared),
            (["-m", "bench-0", "hi there", "--no-log"], single),
        )
        compare(
            "models list: 20 provider-preset vs written out",
            args.runs,
            (["models", "list"], providers),
            (["models", "list"], families),
        )
        compare(
            "models list: 20 provider-preset, file changed",
            args.runs,
            (["models", "list"], providers),
            (["models", "list"], families),
            prepare_a=touch(provider_file),
            prepare_b=touch(family_file),
        )
        files = sorted((declared / "yaml-models").iterdir())
        compare(
            "first llm models list after a file changes",
            args.runs,
            (["models", "list"], declared),
            (["models", "list"], empty),
            prepare_a=touch(files[5]),
        )
        compare(
            "first llm models list after all 10 change",
            args.runs,
            (["models", "list"], declared),
            (["models", "list"], empty),
            prepare_a=touch(*files),
        )


if __name__ == "__main__":
    main()

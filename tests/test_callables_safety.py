"""Callables that misbehave, and model files others could change.

A callable that raises SystemExit or KeyboardInterrupt, never returns, or
takes a second to import, must not hang a prompt, survive Ctrl-C, keep
``asyncio.run()`` from returning or stall the event loop. A file that other
users can write to (or a directory above it) must not send a key or the
environment, nor run code; a ``./file.py`` is compiled from its source,
never from ``__pycache__``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import py_compile
import select
import signal
import subprocess
import sys
import time

import llm
import pytest
from conftest import LLM_EXE

from llm_yaml_models.backends import markov

CALLABLES = """\
import sys
import time


def gen_exit(request):
    yield "one "
    raise SystemExit(3)


def gen_interrupt(request):
    yield "one "
    raise KeyboardInterrupt


async def agen_exit(request):
    yield "one "
    raise SystemExit(3)


async def agen_interrupt(request):
    yield "one "
    raise KeyboardInterrupt


def forever(request):
    print("running", file=sys.stderr, flush=True)
    while True:
        time.sleep(0.05)


def forever_gen(request):
    yield "one "
    print("running", file=sys.stderr, flush=True)
    while True:
        time.sleep(0.05)


def stubborn(request):
    print("running", file=sys.stderr, flush=True)
    while True:
        try:
            time.sleep(0.05)
        except KeyboardInterrupt:
            pass
"""
NAMES = ["gen_exit", "gen_interrupt", "agen_exit", "agen_interrupt"]
NAMES += ["forever", "forever_gen", "stubborn"]
MODELS = "".join(
    f"- model_id: {name.replace('_', '-')}\n  backend: {{type: python, callable: ./c.py:{name}}}\n"
    for name in NAMES
)
RAISED = {
    "gen-exit": "SystemExit: 3",
    "gen-interrupt": "KeyboardInterrupt",
    "agen-exit": "SystemExit: 3",
    "agen-interrupt": "KeyboardInterrupt",
}


@pytest.fixture
def callables(write):
    write("c.py", CALLABLES)
    return write("c.yaml", MODELS)


def run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=os.environ)


# -- SystemExit and KeyboardInterrupt from the callable ----------------------------------


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
@pytest.mark.parametrize("model_id", RAISED)
def test_systemexit_and_keyboardinterrupt_end_the_prompt_with_one_line(callables, model_id, flags):
    result = run([LLM_EXE, "-m", model_id, "hi", *flags])
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "one ",
        f"Error: {model_id}: {RAISED[model_id]}\n",
    )


BOTH_APIS = """\
import asyncio, sys, llm

model_id = sys.argv[1]
try:
    llm.get_model(model_id).prompt("hi").text()
except llm.ModelError as error:
    print("sync:", error)

async def main():
    await asyncio.wait_for(llm.get_async_model(model_id).prompt("hi").text(), 30)

try:
    asyncio.run(main())  # bounded by wait_for: it used to hang
except llm.ModelError as error:
    print("async:", error)
"""


@pytest.mark.parametrize("model_id", RAISED)
def test_systemexit_and_keyboardinterrupt_through_the_python_apis(callables, model_id):
    """In a process of its own: escaping, either would end pytest too."""
    result = run([sys.executable, "-c", BOTH_APIS, model_id])
    said = f"{model_id}: {RAISED[model_id]}"
    assert (result.returncode, result.stdout) == (0, f"sync: {said}\nasync: {said}\n")


# -- Ctrl-C, cancellation ----------------------------------------------------------------

ASYNC_PROMPT = """\
import asyncio, sys, llm

async def main():
    async for chunk in llm.get_async_model(sys.argv[1]).prompt("hi"):
        pass

asyncio.run(main())
"""


def wait_until_running(process: subprocess.Popen) -> None:
    """Until the callable says it runs (bounded)."""
    ready, _, _ = select.select([process.stderr], [], [], 120)
    assert ready, "the callable never started"
    assert process.stderr.readline() == b"running\n"


def interrupt_twice(args: list[str]) -> int:
    """Start ``args``, press Ctrl-C twice once the callable runs, and return
    the exit status; fails if the process outlives the second one."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until_running(process)
        for _ in range(2):
            process.send_signal(signal.SIGINT)  # sends nothing once it has ended
            try:
                return process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        raise AssertionError("the process outlived two Ctrl-Cs")
    finally:
        process.kill()
        process.communicate()  # reaps it and closes its pipes


@pytest.mark.parametrize("model_id", ["forever", "forever-gen", "stubborn"])
def test_ctrl_c_twice_ends_the_async_model(callables, model_id):
    status = interrupt_twice([sys.executable, "-c", ASYNC_PROMPT, model_id])
    assert status == -signal.SIGINT  # KeyboardInterrupt ended Python, as it does


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=["sync", "async"])
def test_ctrl_c_twice_ends_llm_even_when_the_callable_swallows_the_first(callables, flags):
    status = interrupt_twice([LLM_EXE, "-m", "stubborn", "hi", *flags])
    assert status in (1, -signal.SIGINT)


CANCELLED = """\
import asyncio, sys, llm

async def consume():
    async for chunk in llm.get_async_model(sys.argv[1]).prompt("hi"):
        pass

async def main():
    try:
        await asyncio.wait_for(consume(), 1)
    except TimeoutError:
        print("timed out")

asyncio.run(main())
print("asyncio.run returned")
"""


@pytest.mark.parametrize("model_id", ["forever", "forever-gen"])
def test_a_cancelled_async_prompt_lets_asyncio_run_return(callables, model_id):
    result = run([sys.executable, "-c", CANCELLED, model_id])
    assert (result.returncode, result.stdout) == (0, "timed out\nasyncio.run returned\n")


# -- first use off the event loop --------------------------------------------------------


async def longest_stall(work) -> tuple[object, float]:
    """Await ``work`` while a ticker measures the longest gap between its ticks."""
    gaps = []

    async def tick():
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    try:
        result = await work
        await asyncio.sleep(0.05)  # the ticker's turn: a stall ending with the work shows
        return result, max(gaps)
    finally:
        ticker.cancel()


def test_a_slow_import_does_not_block_the_event_loop(write):
    write("slow.py", "import time\ntime.sleep(1)\n\ndef fn(request):\n    return 'imported'\n")
    write("slow.yaml", "- model_id: slow\n  backend: {type: python, callable: ./slow.py:fn}\n")
    model = llm.get_async_model("slow")  # loads the YAML: not what is measured
    text, stall = asyncio.run(longest_stall(model.prompt("hi").text()))
    assert text == "imported"
    assert stall < 0.5  # a correctness bound: the loop stalled 1.01 s before


def test_building_a_large_corpus_table_does_not_block_the_event_loop(write, monkeypatch):
    built = markov.build_table

    def slow_for_the_corpus(words, order=1):
        if len(words) > 1000:  # the corpus, not the prompt: as a large file would take
            time.sleep(1)
        return built(words, order)

    monkeypatch.setattr(markov, "build_table", slow_for_the_corpus)
    write("corpus.txt", "the cat sat on the mat " * 500)
    write("m.yaml", "- model_id: big\n  backend: {type: markov, corpus: corpus.txt}\n")
    model = llm.get_async_model("big")
    text, stall = asyncio.run(longest_stall(model.prompt("the cat").text()))
    assert len(text.split()) == 20
    assert stall < 0.5


# -- __pycache__ -------------------------------------------------------------------------

GENUINE = "def fn(request):\n    return 'genuine'\n"
PLANTED = "def fn(request):\n    return 'planted'\n"


def test_a_planted_pyc_is_never_run(write, models_dir, run_llm):
    """Another user's .pyc, stamped with the source's mtime and size, in a
    __pycache__ they can write (as in a sticky, world-writable directory)."""
    assert len(GENUINE) == len(PLANTED)
    source = write("mod.py", PLANTED)
    py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)))
    stamp = source.stat().st_mtime_ns
    source.write_text(GENUINE)
    os.utime(source, ns=(stamp, stamp))
    write("pyc.yaml", "- model_id: pyc\n  backend: {type: python, callable: ./mod.py:fn}\n")
    for flags in ((), ("--async",)):
        result = run_llm("-m", "pyc", "hi", *flags)
        assert (result.exit_code, result.stdout) == (0, "genuine\n")
    assert run_llm("yaml-models", "validate").exit_code == 0


def test_no_pyc_is_written(write, models_dir, run_llm, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # PYTHONDONTWRITEBYTECODE may be set
    write("mod.py", GENUINE)
    write("pyc.yaml", "- model_id: pyc\n  backend: {type: python, callable: ./mod.py:fn}\n")
    assert run_llm("-m", "pyc", "hi").stdout == "genuine\n"
    assert not (models_dir / "__pycache__").exists()

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
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import llm
import pytest
from conftest import LLM_EXE

from llm_yaml_models import trust
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


def _ctrl_c_as_on_a_terminal() -> None:
    """In the child, before exec: Ctrl-C's default disposition. A test run
    in the background (``pytest &``) ignores SIGINT, and so would every
    process it starts: Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_twice(args: list[str]) -> int:
    """Start ``args``, press Ctrl-C twice once the callable runs, and return
    the exit status; fails if the process outlives the second one."""
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_ctrl_c_as_on_a_terminal
    )
    try:
        wait_until_running(process)
        # After the second, the process must end: a loaded machine may take
        # its time to unwind, so that wait is long (it ends at the exit).
        for wait in (5, 60):
            process.send_signal(signal.SIGINT)  # sends nothing once it has ended
            try:
                return process.wait(timeout=wait)
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


# -- loose files: keys, the environment, code --------------------------------------------

SHARED_GID = 65534  # nogroup (or nobody): the primary group of several users
SHARED_NAME = trust._group(SHARED_GID)
# A group the owner alone is in may write; only root can give a file to a
# group of several that it is not in.
SHARED_GROUP = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chgrp")

DECLARATIONS = """\
- model_id: keyed
  key: {name: secret-service}
  backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:9/v1"}
- model_id: env-header
  backend:
    type: http
    preset: openai-chat
    base_url: "http://127.0.0.1:9/v1"
    headers: {x-api-key: "${GEMINI_API_KEY}"}
- model_id: env-template
  backend:
    type: http
    preset: openai-chat
    base_url: "http://127.0.0.1:9/v1"
    body: {aws: "{{ env.AWS_SECRET_ACCESS_KEY }}", also: "${HOME}"}
- model_id: plain-chain
  backend: {type: markov}
"""


def refusals(path: Path, why: str) -> str:
    """A loose file is refused whole, unread."""
    return f"{path}:1:1: refusing the whole file: {why}\n"


@pytest.fixture
def nested(tmp_path, monkeypatch):
    """models/a/b/c.yaml, and good.yaml in another directory, on the path."""
    top = tmp_path / "a"
    folder = top / "b"
    folder.mkdir(parents=True)
    path = folder / "decl.yaml"
    path.write_text(DECLARATIONS)
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "good.yaml").write_text("- model_id: good\n  backend: {type: markov}\n")
    if os.geteuid() == 0:  # a group others are in: its write bit lets them in
        for p in (top, folder, path):
            os.chown(p, -1, SHARED_GID)
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", f"{path}:{other}")
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    yield path
    for p in (top, folder):
        p.chmod(0o755)


def loaded_ids(run_llm) -> list[str]:
    listed = run_llm("models", "list").stdout
    return [line.split(": ", 1)[1] for line in listed.splitlines() if line.startswith("YAML")]


def assert_refused_at_load(run_llm, path: Path, why: str) -> None:
    result = run_llm("models", "list")
    assert result.stderr == f"llm-yaml-models: {refusals(path, why)}"
    assert loaded_ids(run_llm) == ["good"]
    validate = run_llm("yaml-models", "validate")
    assert (validate.exit_code, validate.stdout) == (1, refusals(path, why))


@pytest.mark.parametrize("mode", [0o666, pytest.param(0o664, marks=SHARED_GROUP)], ids=oct)
def test_a_loose_file_sends_no_key_and_no_environment(nested, run_llm, mode):
    nested.chmod(mode)
    who = "any user" if mode & stat.S_IWOTH else f"group {SHARED_NAME}"
    why = f"{who} can write to {nested}; fix it with: chmod go-w {nested}"
    assert_refused_at_load(run_llm, nested, why)


@SHARED_GROUP
def test_a_group_writable_grandparent_is_noticed(nested, run_llm):
    top = nested.parent.parent
    top.chmod(0o775)
    assert_refused_at_load(
        run_llm, nested, f"group {SHARED_NAME} can write to {top}; fix it with: chmod go-w {top}"
    )


def test_a_group_of_the_owner_alone_may_write(nested, run_llm):
    """As Debian's and Ubuntu's ssh: under umask 002 files are 664, in a
    group whose one member is their owner."""
    ours = [g for g in (os.getgid(), *os.getgroups()) if trust._sole_member(g) == os.getuid()]
    if not ours:
        pytest.skip("no group here has us as its one member")
    gid = ours[0]
    for path in (nested, nested.parent, nested.parent.parent):
        os.chown(path, -1, gid)
        path.chmod(0o775 if path.is_dir() else 0o664)
    assert run_llm("yaml-models", "validate").stdout == "OK: 5 models in 2 files, no problems\n"


def test_a_sticky_world_writable_grandparent_is_accepted(nested, run_llm):
    """As /tmp: others may add files there, but not replace ours."""
    nested.parent.parent.chmod(0o1777)
    assert run_llm("yaml-models", "validate").stdout == "OK: 5 models in 2 files, no problems\n"


def test_a_loose_directory_behind_a_symlink_is_noticed(nested, tmp_path, run_llm, monkeypatch):
    link = tmp_path / "elsewhere" / "linked.yaml"
    link.symlink_to(nested)
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(link))
    folder = nested.parent
    folder.chmod(0o777)
    validate = run_llm("yaml-models", "validate")
    why = f"any user can write to {folder}; fix it with: chmod go-w {folder}"
    assert (validate.exit_code, validate.stdout) == (1, refusals(link, why))


def test_fixing_the_mode_is_noticed_though_the_file_is_unchanged(nested, run_llm):
    """chmod changes no mtime: the cached verdict must not outlive it."""
    nested.parent.chmod(0o777)
    assert loaded_ids(run_llm) == ["good"]
    nested.parent.chmod(0o755)
    assert loaded_ids(run_llm) == ["keyed", "env-header", "env-template", "plain-chain", "good"]
    nested.parent.parent.chmod(0o777)  # and the other way round
    assert loaded_ids(run_llm) == ["good"]


def test_tidy_files_load_as_before(nested, run_llm):
    validate = run_llm("yaml-models", "validate")
    assert (validate.exit_code, validate.stdout) == (0, "OK: 5 models in 2 files, no problems\n")


def test_the_runtime_refusal_names_the_callable(write, run_llm):
    write("c.py", "def fn(request):\n    return 'ran'\n").chmod(0o666)
    path = write("c.yaml", "- model_id: c\n  backend: {type: python, callable: ./c.py:fn}\n")
    py = path.with_name("c.py")
    result = run_llm("-m", "c", "hi")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: c: refusing to run ./c.py:fn: any user can write to {py}; "
        f"fix it with: chmod go-w {py}\n",
    )


def test_a_declaration_inherits_its_key_from_defaults(tmp_path, run_llm, monkeypatch):
    """A key from ``defaults`` in a loose file: the file is refused once, whole."""
    path = tmp_path / "d.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            defaults:
              key: {name: shared}
            models:
              - model_id: one
                backend: {type: markov}
              - model_id: two
                backend: {type: markov}
            """
        )
    )
    path.chmod(0o666)
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(path))
    validate = run_llm("yaml-models", "validate")
    why = f"any user can write to {path}; fix it with: chmod go-w {path}"
    assert validate.stdout == refusals(path, why)

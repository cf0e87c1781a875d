"""The python backend: a Python callable of any shape declared as a model.

Every shape through the sync and async Python APIs and the ``llm`` command,
what the callable receives in ``request``, errors, lazy loading, where
``./file.py`` references resolve, and the examples.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import sys
import threading
import types
import zlib
from pathlib import Path

import llm
import pytest
from conftest import EXAMPLES

# One module with a callable of every kind, written beside the YAML file.
MODS = '''\
import asyncio
import collections.abc
import json
import threading
import time

import llm

VALUE = 3


def plain(request):
    return "<" + request.prompt + ">"


def chunks(request):
    return [word + "." for word in request.prompt.split()]


def gen(request):
    for word in request.prompt.split():
        yield word + ","


async def adef(request):
    await asyncio.sleep(0)
    return request.prompt[::-1]


async def agen(request):
    for word in request.prompt.split():
        await asyncio.sleep(0)
        yield word + ";"


def _option(options, name):
    try:
        return getattr(options, name)
    except AttributeError:
        return "AttributeError"


def describe(request):
    return json.dumps(
        {
            "prompt": request.prompt,
            "system": request.system,
            "model_id": request.model_id,
            "key": request.key,
            "stream": request.stream,
            "is_mapping": isinstance(request.options, collections.abc.Mapping),
            "options": dict(request.options),
            "attributes": {n: _option(request.options, n) for n in ("exclaim", "count", "ratio")},
            "label_attribute": _option(request.options, "label"),
            "label_in_options": "label" in request.options,
            "messages": [[m.role, m.content, len(m.attachments)] for m in request.messages],
            "history": [[m.role, m.content] for m in request.history],
            "attachments": [
                [isinstance(a, llm.Attachment), a.resolve_type(), a.content_bytes().decode()]
                for a in request.attachments
            ],
        }
    )


def usage(request):
    yield "counted"
    request.set_usage(input=3, output=1, details={"unit": "words"})
    request.response_json = {"words": 3}


async def ausage(request):
    await asyncio.sleep(0)
    yield "counted"
    request.set_usage(input=4, output=2, details={"unit": "letters"})
    request.response_json = {"letters": 4}


def greet(request, greeting, times=1):
    return " ".join([greeting] * times) + ", " + request.prompt


def noargs():
    return "never"


class Holder:
    @staticmethod
    def method(request):
        return "held:" + request.prompt


def fail_plain(request):
    raise ValueError("boom")


def fail_gen(request):
    yield "one "
    yield "two "
    raise ValueError("boom")


async def fail_adef(request):
    await asyncio.sleep(0)
    raise ValueError("boom")


async def fail_agen(request):
    yield "one "
    await asyncio.sleep(0)
    raise ValueError("boom")


def yields_int(request):
    yield "ok"
    yield 42


async def ayields_int(request):
    yield "ok"
    yield 42


def yields_list(request):
    yield list(range(100))


def returns_int(request):
    return 42


async def areturns_int(request):
    return 42


def returns_none(request):
    return None


def returns_bytes(request):
    return b"x"


def slow_gen(request):
    for i in range(5):
        time.sleep(0.05)
        yield str(i)


def slow_plain(request):
    time.sleep(0.25)
    return "done"


BARRIER = threading.Barrier(2, timeout=10)


def meet(request):
    """Completes only if another prompt reaches the barrier meanwhile."""
    yield request.prompt + ":before "
    BARRIER.wait()
    yield request.prompt + ":after"


async def in_loop(request):
    asyncio.get_running_loop()
    await asyncio.sleep(0)
    return "in a loop:" + request.prompt
'''

OPTIONS = """\
    options:
      exclaim: {type: boolean, default: false}
      count: {type: integer, default: 2}
      ratio: {type: number}
      label: {type: string}
"""

# Declared as models named like the function, with dashes.
CALLABLES = [
    "plain",
    "chunks",
    "gen",
    "adef",
    "agen",
    "usage",
    "ausage",
    "fail_plain",
    "fail_gen",
    "fail_adef",
    "fail_agen",
    "yields_int",
    "ayields_int",
    "yields_list",
    "returns_int",
    "areturns_int",
    "returns_none",
    "returns_bytes",
    "slow_gen",
    "slow_plain",
    "meet",
    "in_loop",
]

MODELS = (
    """\
defaults:
  backend: {type: python}
models:
  - model_id: describe
    aliases: [desc]
    backend: {callable: ./mods.py:describe}
    attachment_types: [text/plain]
"""
    + OPTIONS
    + """\
  - model_id: keyed
    backend: {callable: ./mods.py:describe}
    key: {name: mykey, env: MY_TEST_KEY}
  - model_id: hello
    backend:
      callable: ./mods.py:greet
      arguments: {greeting: Hello}
  - model_id: bonjour
    backend:
      callable: ./mods.py:greet
      arguments: {greeting: Bonjour, times: 2}
  - model_id: held
    backend: {callable: "./mods.py:Holder.method"}
"""
    + "".join(
        f"  - model_id: {name.replace('_', '-')}\n    backend: {{callable: ./mods.py:{name}}}\n"
        for name in CALLABLES
    )
)

# model id -> the chunks it gives for the prompt "x y z"
SHAPES = {
    "plain": ["<x y z>"],
    "chunks": ["x.", "y.", "z."],
    "gen": ["x,", "y,", "z,"],
    "adef": ["z y x"],
    "agen": ["x;", "y;", "z;"],
}

# model id -> what it printed before failing, when streaming
FAILING = {"fail-plain": "", "fail-gen": "one two ", "fail-adef": "", "fail-agen": "one "}


@pytest.fixture
def mods(write):
    """The models file and its module; returns the YAML file's path."""
    write("mods.py", MODS)
    return write("mods.yaml", MODELS)


def ok(result) -> str:
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def described(result) -> dict:
    return json.loads(ok(result))


def sync_text(model_id: str, prompt: str = "x y z", **kwargs) -> str:
    return llm.get_model(model_id).prompt(prompt, **kwargs).text()


def async_text(model_id: str, prompt: str = "x y z", **kwargs) -> str:
    async def main():
        return await llm.get_async_model(model_id).prompt(prompt, **kwargs).text()

    return asyncio.run(main())


def async_chunks(model_id: str, prompt: str = "x y z", **kwargs) -> list[str]:
    async def main():
        return [c async for c in llm.get_async_model(model_id).prompt(prompt, **kwargs)]

    return asyncio.run(main())


def location(path: Path, needle: str) -> str:
    """FILE:LINE:COL (1-based) of the first occurrence of ``needle``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return f"{path}:{number}:{line.index(needle) + 1}"
    raise AssertionError(f"{needle!r} not in {path}")


def last_log(run_llm) -> dict:
    return json.loads(ok(run_llm("logs", "--json", "-n", "1")))[0]


# -- every shape through every API -------------------------------------------


@pytest.mark.parametrize("model_id", SHAPES)
def test_sync_api_text(mods, model_id):
    assert sync_text(model_id) == "".join(SHAPES[model_id])


@pytest.mark.parametrize("model_id", SHAPES)
def test_sync_api_streams_the_chunks(mods, model_id):
    assert list(llm.get_model(model_id).prompt("x y z")) == SHAPES[model_id]


@pytest.mark.parametrize("model_id", SHAPES)
def test_sync_api_without_streaming(mods, model_id):
    assert sync_text(model_id, stream=False) == "".join(SHAPES[model_id])


@pytest.mark.parametrize("model_id", SHAPES)
def test_async_api_text(mods, model_id):
    assert async_text(model_id) == "".join(SHAPES[model_id])


@pytest.mark.parametrize("model_id", SHAPES)
def test_async_api_streams_the_chunks(mods, model_id):
    assert async_chunks(model_id) == SHAPES[model_id]


@pytest.mark.parametrize("model_id", SHAPES)
def test_async_api_without_streaming(mods, model_id):
    assert async_text(model_id, stream=False) == "".join(SHAPES[model_id])


@pytest.mark.parametrize("flags", [(), ("--no-stream",), ("--async",), ("--async", "--no-stream")])
@pytest.mark.parametrize("model_id", SHAPES)
def test_command_line(mods, run_llm, model_id, flags):
    result = run_llm("-m", model_id, *flags, "x y z")
    assert ok(result) == "".join(SHAPES[model_id]) + "\n"


@pytest.mark.parametrize("model_id", SHAPES)
def test_real_llm_executable(mods, llm_exe, model_id):
    streamed = llm_exe("-m", model_id, "x y z")
    whole = llm_exe("-m", model_id, "--no-stream", "x y z")
    for result in (streamed, whole):
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == "".join(SHAPES[model_id]) + "\n"


def test_a_dotted_attribute_path(mods, run_llm):
    assert ok(run_llm("-m", "held", "x")) == "held:x\n"


def test_an_importable_module(write, run_llm, tmp_path, monkeypatch):
    package = tmp_path / "lib" / "yaml_models_test_pkg_a1"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text("def fn(request):\n    return 'pkg:' + request.prompt\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    write(
        "a.yaml",
        """\
        - model_id: packaged
          backend: {type: python, callable: "yaml_models_test_pkg_a1.models:fn"}
        """,
    )
    try:
        assert ok(run_llm("-m", "packaged", "x")) == "pkg:x\n"
        assert async_text("packaged", "y") == "pkg:y"
    finally:
        for name in ("yaml_models_test_pkg_a1.models", "yaml_models_test_pkg_a1"):
            sys.modules.pop(name, None)


# -- what the request carries -------------------------------------------------


def test_request_on_the_command_line(mods, run_llm):
    seen = described(run_llm("-m", "describe", "-s", "be brief", "hello there"))
    del seen["history"]  # test_history_is_empty_on_a_first_prompt_with_a_system_prompt
    assert seen == {
        "prompt": "hello there",
        "system": "be brief",
        "model_id": "describe",
        "key": None,
        "stream": True,
        "is_mapping": True,
        "options": {"exclaim": False, "count": 2},
        "attributes": {"exclaim": False, "count": 2, "ratio": "AttributeError"},
        "label_attribute": "AttributeError",
        "label_in_options": False,
        "messages": [["system", "be brief", 0], ["user", "hello there", 0]],
        "attachments": [],
    }


def test_system_is_empty_when_absent(mods, run_llm):
    seen = described(run_llm("-m", "describe", "hi"))
    assert seen["system"] == ""
    assert seen["messages"] == [["user", "hi", 0]]


def test_model_id_is_the_declared_id_when_called_by_alias(mods, run_llm):
    assert described(run_llm("-m", "desc", "hi"))["model_id"] == "describe"


def test_options_are_coerced_from_the_command_line(mods, run_llm):
    seen = described(
        run_llm(
            "-m",
            "describe",
            *("-o", "exclaim", "true", "-o", "count", "5"),
            *("-o", "ratio", "0.5", "-o", "label", "tag"),
            "hi",
        )
    )
    assert seen["options"] == {"exclaim": True, "count": 5, "ratio": 0.5, "label": "tag"}
    assert seen["attributes"] == {"exclaim": True, "count": 5, "ratio": 0.5}
    assert seen["label_attribute"] == "tag"
    assert seen["label_in_options"] is True


def test_options_through_the_python_apis(mods):
    for text in (
        sync_text("describe", "hi", count=7, label="x"),
        async_text("describe", "hi", count=7, label="x"),
    ):
        seen = json.loads(text)
        assert seen["options"] == {"exclaim": False, "count": 7, "label": "x"}
        assert seen["attributes"] == {"exclaim": False, "count": 7, "ratio": "AttributeError"}


@pytest.mark.parametrize("flags", [(), ("--async",)])
def test_stream_flag(mods, run_llm, flags):
    assert described(run_llm("-m", "describe", *flags, "hi"))["stream"] is True
    assert described(run_llm("-m", "describe", *flags, "--no-stream", "hi"))["stream"] is False


def test_stream_flag_through_the_python_apis(mods):
    assert json.loads(sync_text("describe", "hi"))["stream"] is True
    assert json.loads(sync_text("describe", "hi", stream=False))["stream"] is False
    assert json.loads(async_text("describe", "hi"))["stream"] is True
    assert json.loads(async_text("describe", "hi", stream=False))["stream"] is False


@pytest.mark.parametrize("flags", [(), ("--async",)])
def test_key_from_the_declared_environment_variable(mods, run_llm, monkeypatch, flags):
    monkeypatch.setenv("MY_TEST_KEY", "from-env")
    assert described(run_llm("-m", "keyed", *flags, "hi"))["key"] == "from-env"


@pytest.mark.parametrize("flags", [(), ("--async",)])
def test_key_given_with_dash_dash_key(mods, run_llm, monkeypatch, flags):
    monkeypatch.setenv("MY_TEST_KEY", "from-env")
    assert described(run_llm("-m", "keyed", *flags, "--key", "explicit", "hi"))["key"] == "explicit"


def test_key_from_llm_keys_set(mods, run_llm):
    ok(run_llm("keys", "set", "mykey", "--value", "stored"))
    assert described(run_llm("-m", "keyed", "hi"))["key"] == "stored"


def test_key_through_the_python_apis(mods, monkeypatch):
    assert json.loads(sync_text("keyed", "hi", key="k1"))["key"] == "k1"
    assert json.loads(async_text("keyed", "hi", key="k2"))["key"] == "k2"
    monkeypatch.setenv("MY_TEST_KEY", "from-env")
    assert json.loads(sync_text("keyed", "hi"))["key"] == "from-env"


@pytest.mark.parametrize(
    ("model_id", "flags", "expected"),
    [
        ("usage", (), (3, 1, {"unit": "words"}, {"words": 3})),
        ("usage", ("--async",), (3, 1, {"unit": "words"}, {"words": 3})),
        ("ausage", (), (4, 2, {"unit": "letters"}, {"letters": 4})),
        ("ausage", ("--async", "--no-stream"), (4, 2, {"unit": "letters"}, {"letters": 4})),
    ],
)
def test_usage_and_response_json_are_logged(mods, run_llm, model_id, flags, expected):
    assert ok(run_llm("-m", model_id, *flags, "x")) == "counted\n"
    entry = last_log(run_llm)
    details = entry["token_details"]
    details = json.loads(details) if isinstance(details, str) else details
    got = (entry["input_tokens"], entry["output_tokens"], details, entry["response_json"])
    assert got == expected


def test_usage_through_the_python_apis(mods):
    response = llm.get_model("usage").prompt("x")
    assert response.text() == "counted"
    assert (response.input_tokens, response.output_tokens) == (3, 1)
    assert response.token_details == {"unit": "words"}
    assert response.response_json == {"words": 3}

    async def main():
        response = llm.get_async_model("ausage").prompt("x")
        assert await response.text() == "counted"
        return response

    response = asyncio.run(main())
    assert (response.input_tokens, response.output_tokens) == (4, 2)
    assert response.token_details == {"unit": "letters"}
    assert response.response_json == {"letters": 4}


# -- conversation history -------------------------------------------------------


@pytest.mark.parametrize("flags", [(), ("--async",)])
def test_history_under_dash_c(mods, run_llm, flags):
    first = ok(run_llm("-m", "describe", *flags, "one"))
    assert json.loads(first)["history"] == []
    second = described(run_llm("-c", *flags, "two"))
    assert second["prompt"] == "two"
    assert second["history"] == [["user", "one"], ["assistant", first.rstrip("\n")]]
    assert second["messages"][-1] == ["user", "two", 0]


def test_history_over_three_turns(mods, run_llm):
    ok(run_llm("-m", "describe", "one"))
    ok(run_llm("-c", "two"))
    third = described(run_llm("-c", "three"))
    assert [content for role, content in third["history"] if role == "user"] == ["one", "two"]
    assert [role for role, _ in third["history"]] == ["user", "assistant", "user", "assistant"]


def test_history_is_empty_on_a_first_prompt_with_a_system_prompt(mods, run_llm):
    # The system prompt is this turn's own (request.system), not history.
    seen = described(run_llm("-m", "describe", "-s", "be brief", "one"))
    assert seen["history"] == []


def test_history_in_a_sync_conversation(mods):
    conversation = llm.get_model("describe").conversation()
    first = conversation.prompt("one").text()
    assert json.loads(first)["history"] == []
    second = json.loads(conversation.prompt("two").text())
    assert second["history"] == [["user", "one"], ["assistant", first]]


def test_history_in_an_async_conversation(mods):
    async def main():
        conversation = llm.get_async_model("describe").conversation()
        first = await conversation.prompt("one").text()
        second = await conversation.prompt("two").text()
        return first, json.loads(second)

    first, second = asyncio.run(main())
    assert second["history"] == [["user", "one"], ["assistant", first]]


def test_the_recall_example_under_dash_c(llm_exe, monkeypatch):
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(EXAMPLES / "python.yaml"))
    first = llm_exe("-m", "recall", "one")
    assert (first.returncode, first.stdout, first.stderr) == (0, "first message: one\n", "")
    second = llm_exe("-c", "two")
    assert (second.returncode, second.stderr) == (0, "")
    assert second.stdout == "you said before: one; now: two\n"


# -- attachments ----------------------------------------------------------------


@pytest.mark.parametrize("flags", [(), ("--async",)])
def test_attachments_on_the_command_line(mods, run_llm, tmp_path, flags):
    note = tmp_path / "note.txt"
    note.write_text("some notes")
    seen = described(run_llm("-m", "describe", *flags, "-a", str(note), "read this"))
    assert seen["attachments"] == [[True, "text/plain", "some notes"]]
    assert seen["messages"] == [["user", "read this", 1]]


def test_earlier_attachments_are_in_the_history_under_dash_c(mods, run_llm, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("some notes")
    ok(run_llm("-m", "describe", "-a", str(note), "one"))
    seen = described(run_llm("-c", "two"))
    assert [m[::2] for m in seen["messages"]] == [["user", 1], ["assistant", 0], ["user", 0]]
    assert seen["attachments"] == []


def test_attachments_through_the_python_api(mods, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("from python")
    attachment = llm.Attachment(path=str(note))
    seen = json.loads(sync_text("describe", "read", attachments=[attachment]))
    assert seen["attachments"] == [[True, "text/plain", "from python"]]
    content = llm.Attachment(content=b"raw bytes", type="text/plain")
    seen = json.loads(async_text("describe", "read", attachments=[content]))
    assert seen["attachments"] == [[True, "text/plain", "raw bytes"]]


# -- fixed arguments --------------------------------------------------------------


def test_one_function_backs_two_models_with_different_arguments(mods, run_llm):
    assert ok(run_llm("-m", "hello", "world")) == "Hello, world\n"
    assert ok(run_llm("-m", "bonjour", "world")) == "Bonjour Bonjour, world\n"
    assert async_text("hello", "async") == "Hello, async"
    assert async_text("bonjour", "async") == "Bonjour Bonjour, async"


# -- errors -----------------------------------------------------------------------


@pytest.mark.parametrize("model_id", FAILING)
def test_an_exception_is_one_line_and_exit_1(mods, run_llm, model_id):
    result = run_llm("-m", model_id, "x")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {model_id}: ValueError: boom\n"
    assert result.stdout == FAILING[model_id]


@pytest.mark.parametrize("flags", [("--no-stream",), ("--async",), ("--async", "--no-stream")])
@pytest.mark.parametrize("model_id", FAILING)
def test_an_exception_with_other_flags(mods, run_llm, model_id, flags):
    result = run_llm("-m", model_id, *flags, "x")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {model_id}: ValueError: boom\n"


@pytest.mark.parametrize("model_id", FAILING)
def test_an_exception_through_the_python_apis(mods, model_id):
    with pytest.raises(llm.ModelError) as sync_error:
        sync_text(model_id)
    with pytest.raises(llm.ModelError) as async_error:
        async_text(model_id)
    for error in (sync_error.value, async_error.value):
        assert str(error) == f"{model_id}: ValueError: boom"
        assert isinstance(error.__cause__, ValueError)


@pytest.mark.parametrize("model_id", ["fail-plain", "fail-agen"])
def test_llm_raise_errors_shows_the_traceback(mods, llm_exe, model_id):
    result = llm_exe("-m", model_id, "x", env={"LLM_RAISE_ERRORS": "1"})
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ValueError: boom" in result.stderr


def test_the_real_executable_prints_one_line(mods, llm_exe):
    result = llm_exe("-m", "fail-gen", "x")
    assert (result.returncode, result.stdout) == (1, "one two ")
    assert result.stderr == "Error: fail-gen: ValueError: boom\n"


NOT_TEXT = {
    "yields-int": "./mods.py:yields_int produced int 42, expected str",
    "ayields-int": "./mods.py:ayields_int produced int 42, expected str",
    "yields-list": f"./mods.py:yields_list produced list {repr(list(range(100)))[:60]}, "
    "expected str",
    "returns-int": "./mods.py:returns_int produced int 42, expected str",
    "areturns-int": "./mods.py:areturns_int produced int 42, expected str",
    "returns-none": "./mods.py:returns_none produced NoneType None, expected str",
    "returns-bytes": "./mods.py:returns_bytes produced bytes b'x', expected str",
}


@pytest.mark.parametrize("flags", [(), ("--no-stream",), ("--async",)])
@pytest.mark.parametrize("model_id", NOT_TEXT)
def test_something_other_than_text_is_an_error_naming_the_callable(mods, run_llm, model_id, flags):
    result = run_llm("-m", model_id, *flags, "x")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {model_id}: {NOT_TEXT[model_id]}\n"


@pytest.mark.parametrize("model_id", NOT_TEXT)
def test_something_other_than_text_through_the_python_apis(mods, model_id):
    for prompt in (sync_text, async_text):
        with pytest.raises(llm.ModelError) as error:
            prompt(model_id)
        assert str(error.value) == f"{model_id}: {NOT_TEXT[model_id]}"


# -- loading ----------------------------------------------------------------------


@pytest.fixture
def lazy(write, tmp_path):
    """A model whose module appends a line to a marker file when imported."""
    marker = tmp_path / "imported.txt"
    write(
        "lazy.py",
        f"""\
        with open({str(marker)!r}, "a") as f:
            f.write("imported\\n")


        def fn(request):
            return "lazy:" + request.prompt
        """,
    )
    write("lazy.yaml", "- model_id: lazy\n  backend: {type: python, callable: ./lazy.py:fn}\n")
    return marker


def test_the_module_is_not_imported_when_llm_starts(lazy, llm_exe):
    listed = llm_exe("models", "list")
    assert listed.returncode == 0, listed.stderr
    assert "lazy" in listed.stdout
    for args in (("models", "list", "--options"), ("yaml-models", "list"), ("--help",)):
        assert llm_exe(*args).returncode == 0
    assert not lazy.exists()
    used = llm_exe("-m", "lazy", "x")
    assert (used.returncode, used.stdout, used.stderr) == (0, "lazy:x\n", "")
    assert lazy.read_text() == "imported\n"


def test_the_module_is_imported_once_on_first_use(lazy):
    model, async_model = llm.get_model("lazy"), llm.get_async_model("lazy")
    assert not lazy.exists()
    assert model.prompt("a").text() == "lazy:a"
    assert lazy.read_text() == "imported\n"
    assert model.prompt("b").text() == "lazy:b"
    assert async_text("lazy", "c") == "lazy:c"
    assert lazy.read_text() == "imported\n"
    assert async_model.model_id == "lazy"


def test_validate_imports_the_module(lazy, run_llm):
    assert ok(run_llm("yaml-models", "validate")) == "OK: 1 model in 1 file, no problems\n"
    assert lazy.read_text() == "imported\n"


BROKEN = """\
- model_id: no-module
  backend: {type: python, callable: "no_such_module_xyz:fn"}
- model_id: no-submodule
  backend: {type: python, callable: "json.no_such_part:fn"}
- model_id: no-file
  backend: {type: python, callable: ./missing.py:fn}
- model_id: no-attribute
  backend: {type: python, callable: ./mods.py:nope}
- model_id: no-nested-attribute
  backend: {type: python, callable: "./mods.py:Holder.nope"}
- model_id: not-callable
  backend: {type: python, callable: ./mods.py:VALUE}
- model_id: no-parameters
  backend:
    type: python
    callable: ./mods.py:noargs
- model_id: unknown-argument
  backend:
    type: python
    callable: ./mods.py:plain
    arguments: {extra: 1}
- model_id: missing-argument
  backend: {type: python, callable: ./mods.py:greet}
- model_id: import-fails
  backend: {type: python, callable: ./raises.py:fn}
- model_id: imports-missing
  backend: {type: python, callable: ./needs.py:fn}
- model_id: fine
  backend: {type: python, callable: ./mods.py:gen}
"""


@pytest.fixture
def broken(write, models_dir):
    write("mods.py", MODS)
    write("raises.py", "raise RuntimeError('bad import')\n")
    write("needs.py", "import no_such_dependency_xyz\n\n\ndef fn(request):\n    return ''\n")
    path = write("broken.yaml", BROKEN)
    # the callable value as written (a quoted value starts at its quote) -> message
    return path, {
        '"no_such_module_xyz:fn"': "cannot import no_such_module_xyz: "
        "no module named 'no_such_module_xyz'",
        '"json.no_such_part:fn"': "cannot import json.no_such_part: "
        "no module named 'json.no_such_part'",
        "./missing.py:fn": f"no such file: {models_dir / 'missing.py'}",
        "./mods.py:nope": "./mods.py has no attribute 'nope'",
        '"./mods.py:Holder.nope"': "./mods.py has no attribute 'Holder.nope'",
        "./mods.py:VALUE": "./mods.py:VALUE is not callable (it is int)",
        "./mods.py:noargs": "./mods.py:noargs cannot accept the request: "
        "too many positional arguments",
        "./mods.py:plain": "./mods.py:plain cannot accept the request: "
        "got an unexpected keyword argument 'extra'",
        "./mods.py:greet": "./mods.py:greet cannot accept the request: "
        "missing a required argument: 'greeting'",
        "./raises.py:fn": "importing ./raises.py failed: RuntimeError: bad import",
        "./needs.py:fn": "cannot import ./needs.py: no module named 'no_such_dependency_xyz'",
    }


def test_validate_reports_each_problem_at_the_callable_value(broken, run_llm):
    path, problems = broken
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    lines = []
    for index, (reference, message) in enumerate(problems.items()):
        lines.append(f"{location(path, reference)}: [{index}].backend.callable: {message}")
    assert result.stdout.splitlines() == lines
    assert result.stderr == f"Error: {len(problems)} problems (1 model in 1 file usable)\n"


def test_a_broken_callable_does_not_stop_llm_and_fails_when_used(broken, run_llm, models_dir):
    path, problems = broken
    listed = run_llm("models", "list")
    assert listed.exit_code == 0
    assert "no-file" in listed.stdout
    result = run_llm("-m", "no-file", "x")
    assert result.exit_code == 1
    assert result.stderr == f"Error: no-file: no such file: {models_dir / 'missing.py'}\n"
    result = run_llm("-m", "no-parameters", "--async", "x")
    assert result.exit_code == 1
    assert result.stderr == f"Error: no-parameters: {problems['./mods.py:noargs']}\n"
    result = run_llm("-m", "no-module", "x")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no-module: cannot import no_such_module_xyz: no module named 'no_such_module_xyz'\n"
    )
    assert ok(run_llm("-m", "fine", "x y")) == "x,y,\n"


def test_validate_with_the_models_of_the_example_module(mods, run_llm):
    count = MODELS.count("model_id:")
    assert ok(run_llm("yaml-models", "validate")) == f"OK: {count} models in 1 file, no problems\n"


# -- where ./file.py resolves --------------------------------------------------------


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Another current directory, with a decoy mods.py that must never be used."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    (cwd / "mods.py").write_text("def plain(request):\n    return 'decoy'\n")
    (cwd / "only.py").write_text("def fn(request):\n    return 'decoy'\n")
    monkeypatch.chdir(cwd)
    return cwd


def test_a_relative_file_resolves_beside_the_yaml_not_the_cwd(mods, elsewhere, run_llm, llm_exe):
    assert ok(run_llm("-m", "plain", "x")) == "<x>\n"
    assert async_text("plain", "y") == "<y>"
    result = llm_exe("-m", "plain", "x")
    assert (result.returncode, result.stdout, result.stderr) == (0, "<x>\n", "")


def test_a_file_only_in_the_cwd_is_not_found(write, elsewhere, run_llm, models_dir):
    path = write("a.yaml", "- model_id: only\n  backend: {type: python, callable: ./only.py:fn}\n")
    result = run_llm("-m", "only", "x")
    assert result.exit_code == 1
    assert result.stderr == f"Error: only: no such file: {models_dir / 'only.py'}\n"
    result = run_llm("yaml-models", "validate")
    assert result.stdout == (
        f"{location(path, './only.py')}: [0].backend.callable: "
        f"no such file: {models_dir / 'only.py'}\n"
    )


def test_a_relative_yaml_path_entry(write, tmp_path, monkeypatch, run_llm):
    write("mods.py", MODS)
    write("a.yaml", "- model_id: rel\n  backend: {type: python, callable: ./mods.py:plain}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", "models")
    assert ok(run_llm("-m", "rel", "x")) == "<x>\n"


def test_two_directories_with_the_same_file_name(write, tmp_path, monkeypatch, models_dir):
    write("mods.py", "def fn(request):\n    return 'one'\n")
    write("a.yaml", "- model_id: from-one\n  backend: {type: python, callable: ./mods.py:fn}\n")
    other = tmp_path / "other"
    write(other / "mods.py", "def fn(request):\n    return 'two'\n")
    write(
        other / "b.yaml",
        "- model_id: from-two\n  backend: {type: python, callable: ./mods.py:fn}\n",
    )
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", os.pathsep.join([str(models_dir), str(other)]))
    assert sync_text("from-one") == "one"
    assert sync_text("from-two") == "two"
    assert async_text("from-two") == "two"


@pytest.fixture
def outside(write, tmp_path):
    """A module outside the models directory."""
    return write(tmp_path / "outside" / "real.py", "def fn(request):\n    return 'outside'\n")


def test_a_plain_path_through_a_symlink_out_of_the_directory_is_refused(
    write, outside, models_dir, run_llm
):
    (models_dir / "link.py").symlink_to(outside)
    path = write(
        "a.yaml", "- model_id: linked\n  backend: {type: python, callable: ./link.py:fn}\n"
    )
    message = (
        f"./link.py resolves to {os.path.realpath(outside)}, outside "
        f"{os.path.realpath(models_dir)}, through a symlink; "
        "write that path explicitly if you mean it"
    )
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert result.stdout == f"{location(path, './link.py')}: [0].backend.callable: {message}\n"
    for flags in ((), ("--async",)):
        result = run_llm("-m", "linked", *flags, "x")
        assert result.exit_code == 1
        assert result.stderr == f"Error: linked: {message}\n"


def test_a_symlinked_directory_out_of_the_directory_is_refused(write, outside, models_dir, run_llm):
    (models_dir / "lib").symlink_to(outside.parent, target_is_directory=True)
    write("a.yaml", "- model_id: linked\n  backend: {type: python, callable: ./lib/real.py:fn}\n")
    result = run_llm("-m", "linked", "x")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: linked: ./lib/real.py resolves to {os.path.realpath(outside)}, outside "
        f"{os.path.realpath(models_dir)}, through a symlink; "
        "write that path explicitly if you mean it\n"
    )


def test_a_symlink_that_stays_inside_the_directory_is_allowed(write, models_dir, run_llm):
    real = write("sub/real.py", "def fn(request):\n    return 'inside'\n")
    (models_dir / "link.py").symlink_to(real)
    write("a.yaml", "- model_id: linked\n  backend: {type: python, callable: ./link.py:fn}\n")
    assert ok(run_llm("-m", "linked", "x")) == "inside\n"


def test_an_explicit_path_out_of_the_directory_is_allowed(write, outside, run_llm):
    write(
        "a.yaml",
        f"""\
        - model_id: up
          backend: {{type: python, callable: ../outside/real.py:fn}}
        - model_id: absolute
          backend: {{type: python, callable: "{outside}:fn"}}
        """,
    )
    assert ok(run_llm("yaml-models", "validate")) == "OK: 2 models in 1 file, no problems\n"
    assert ok(run_llm("-m", "up", "x")) == "outside\n"
    assert ok(run_llm("-m", "absolute", "x")) == "outside\n"


def test_an_explicit_path_through_a_symlink_is_allowed(write, outside, tmp_path, run_llm):
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "link.py").symlink_to(outside)
    write("a.yaml", "- model_id: up\n  backend: {type: python, callable: ../links/link.py:fn}\n")
    assert ok(run_llm("-m", "up", "x")) == "outside\n"


# -- the event loop ------------------------------------------------------------------


def ticking(model_id: str, prompts: list[str]) -> tuple[list[str], int]:
    """Run ``prompts`` on the async model concurrently while a ticker counts
    its turns of the event loop; return the texts and the count."""

    async def main():
        model = llm.get_async_model(model_id)
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            for _ in range(100_000):  # bounded; stops when the prompts are done
                if done.is_set():
                    return
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        try:
            texts = await asyncio.gather(*(model.prompt(p).text() for p in prompts))
        finally:
            done.set()
            await task
        return texts, ticks

    return asyncio.run(main())


@pytest.mark.parametrize("model_id", ["slow-gen", "slow-plain"])
def test_a_slow_sync_callable_does_not_block_the_event_loop(mods, model_id):
    texts, ticks = ticking(model_id, ["x"])
    assert texts == ["01234" if model_id == "slow-gen" else "done"]
    assert ticks >= 5


def test_two_slow_prompts_run_concurrently(mods):
    texts, ticks = ticking("slow-gen", ["a", "b"])
    assert texts == ["01234", "01234"]
    assert ticks >= 5


def test_two_sync_generators_are_driven_at_the_same_time(mods):
    # Each generator waits at a barrier for the other: only concurrent
    # prompts can both finish.
    async def main():
        model = llm.get_async_model("meet")
        return await asyncio.gather(model.prompt("a").text(), model.prompt("b").text())

    assert asyncio.run(main()) == ["a:before a:after", "b:before b:after"]


@pytest.mark.parametrize("model_id", ["adef", "agen"])
def test_the_sync_model_runs_an_async_callable_in_a_plain_thread(mods, model_id):
    results: list = []

    def run():
        try:
            model = llm.get_model(model_id)
            results.append((model.prompt("x y z").text(), list(model.prompt("x y z"))))
        except BaseException as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert results == [("".join(SHAPES[model_id]), SHAPES[model_id])]


def test_two_threads_using_a_model_for_the_first_time(write, monkeypatch):
    # While the first thread is still importing the module, a second thread
    # prompts the same model: it must get the whole module, never a
    # half-imported one. (If it waits for the import, the join times out and
    # the first thread finishes the import.)
    results: dict = {}

    def prompt(name: str) -> None:
        try:
            results[name] = llm.get_model("racy").prompt("x").text()
        except Exception as exc:  # noqa: BLE001 - compared below
            results[name] = f"{type(exc).__name__}: {exc}"

    threads: list[threading.Thread] = []

    def while_importing() -> None:
        second = threading.Thread(target=prompt, args=("second",))
        threads.append(second)
        second.start()
        second.join(timeout=2)

    hook = types.SimpleNamespace(while_importing=while_importing)
    monkeypatch.setitem(sys.modules, "yaml_models_test_import_hook", hook)
    write(
        "racy.py",
        """\
        import yaml_models_test_import_hook

        yaml_models_test_import_hook.while_importing()


        def fn(request):
            return "whole:" + request.prompt
        """,
    )
    write("racy.yaml", "- model_id: racy\n  backend: {type: python, callable: ./racy.py:fn}\n")
    first = threading.Thread(target=prompt, args=("first",))
    first.start()
    first.join(timeout=60)
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in [first, *threads])
    assert results == {"first": "whole:x", "second": "whole:x"}


def test_the_sync_model_runs_an_async_callable_many_times(mods):
    model = llm.get_model("agen")
    for _ in range(5):
        assert list(model.prompt("x y z")) == SHAPES["agen"]


def test_the_sync_model_runs_an_async_callable_inside_a_running_loop(mods, python_exe):
    # Like a notebook cell: the sync API called where an event loop is running.
    # In a subprocess, so that a failure cannot leak warnings into other tests.
    result = python_exe(
        "import asyncio, llm\n"
        "async def main():\n"
        "    return llm.get_model('in-loop').prompt('x').text()\n"
        "print(asyncio.run(main()))\n"
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "in a loop:x\n", "")


# -- the examples ----------------------------------------------------------------------


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def examples(monkeypatch):
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(EXAMPLES / "python.yaml"))


EXAMPLE_RUNS = [
    (("-m", "shout", "-o", "exclaim", "true", "hello"), "HELLO!!!\n"),
    (("-m", "shout", "hello"), "HELLO\n"),
    (("-m", "count-words", "a b c"), "1:a 2:b 3:c \n"),
    (("-m", "reverse", "abc"), "cba\n"),
    (("-m", "spell", "abc"), "abc\n"),
    (("-m", "spell", "-o", "delay", "0.01", "abc"), "abc\n"),
    (("-m", "recall", "one"), "first message: one\n"),
    (("-m", "call-tools", "go"), "no tools to call (try -T llm_version)\n"),
    (("-m", "describe-attachments", "nothing"), "no attachments\n"),
    (("-m", "hello", "world"), "Hello, world\n"),
    (("-m", "bonjour", "world"), "Bonjour, world\n"),
    (("-m", "ponder", "-R", "a bb ccc"), "ccc\n"),  # -R: its reasoning is not shown
]


@pytest.mark.parametrize("flags", [(), ("--no-stream",), ("--async",)])
@pytest.mark.parametrize(("args", "expected"), EXAMPLE_RUNS, ids=lambda v: " ".join(v[1:3]))
def test_every_example_runs(examples, run_llm, args, expected, flags):
    assert ok(run_llm(*flags, *args)) == expected


def test_every_example_model_is_covered():
    declared = {
        line.split(":", 1)[1].strip()
        for line in (EXAMPLES / "python.yaml").read_text().splitlines()
        if line.strip().startswith("- model_id:")
    }
    assert declared == {args[1] for args, _ in EXAMPLE_RUNS}


def test_the_examples_validate(examples, run_llm):
    assert ok(run_llm("yaml-models", "validate")) == "OK: 10 models in 1 file, no problems\n"


def test_the_recall_example_in_process(examples, run_llm):
    assert ok(run_llm("-m", "recall", "one")) == "first message: one\n"
    assert ok(run_llm("-c", "two")) == "you said before: one; now: two\n"
    assert ok(run_llm("-c", "three")) == "you said before: one | two; now: three\n"


def test_the_count_words_example_logs_its_usage(examples, run_llm):
    ok(run_llm("-m", "count-words", "a b c"))
    entry = last_log(run_llm)
    assert (entry["input_tokens"], entry["output_tokens"]) == (3, 3)
    assert json.loads(entry["token_details"]) == {"unit": "words"}
    assert entry["response_json"] == {"counted": 3}


def test_the_attachments_example(examples, run_llm, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("hello")
    image = tmp_path / "dot.png"
    image.write_bytes(tiny_png())
    result = run_llm("-m", "describe-attachments", "-a", str(note), "-a", str(image), "what")
    assert ok(result) == f"text/plain: 5 bytes\nimage/png: {len(tiny_png())} bytes\n"

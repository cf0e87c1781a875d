"""Python callables call tools: a callable yields or returns ``llm.ToolCall``s,
llm runs them (``-T``, ``--functions``, ``model.chain``), and the callable
reads their results in ``request.tool_results`` on the chain's next round.
Sync and async, through the command and the Python APIs; logged as llm logs
the tool calls of its own models."""

from __future__ import annotations

import ast
import asyncio
import json
import re

import llm
import pytest
from conftest import EXAMPLES
from fakeapi import FakeAPI, openai_json

TOOLS = '''\
import asyncio

import llm


def seen(request):
    """What the callable saw of the chain, as text."""
    results = [(r.name, r.output, r.tool_call_id) for r in request.tool_results]
    history = [
        (m.role, m.content, [(c.name, c.arguments, c.tool_call_id) for c in m.tool_calls],
         m.tool_call_id)
        for m in request.messages
    ]
    return repr({"results": results, "history": history})


def version(request):
    """First round: ask for llm's version; second: answer with it."""
    if not request.tool_results:
        return llm.ToolCall(name="llm_version", arguments={}, tool_call_id="v1")
    return "llm is " + request.tool_results[0].output


def text_then_call(request):
    if request.tool_results:
        yield seen(request)
        return
    yield "Let me check. "
    yield llm.ToolCall(name="llm_version", arguments={})


def add(request):
    if request.tool_results:
        return "It is " + request.tool_results[0].output
    return [llm.ToolCall(name="add", arguments={"a": 2, "b": 3})]


def both(request):
    """Two calls in one round, returned as a list."""
    if request.tool_results:
        return seen(request)
    return [
        llm.ToolCall(name="llm_version", arguments={}, tool_call_id="first"),
        llm.ToolCall(name="add", arguments={"a": 1, "b": 1}, tool_call_id="second"),
    ]


async def aversion(request):
    """An async generator: the twin of ``version``."""
    await asyncio.sleep(0)
    if not request.tool_results:
        yield llm.ToolCall(name="llm_version", arguments={}, tool_call_id="v1")
        return
    yield "llm is " + request.tool_results[0].output


async def areturns_call(request):
    if request.tool_results:
        return seen(request)
    return llm.ToolCall(name="llm_version", arguments={})


def unknown(request):
    if request.tool_results:
        return seen(request)
    return llm.ToolCall(name="nope", arguments={}, tool_call_id="n1")


def yields_int(request):
    yield "fine "
    yield 42


def bad_arguments(request):
    yield llm.ToolCall(name="llm_version", arguments=["not", "a", "dict"])


def arguments_not_json(request):
    yield llm.ToolCall(name="llm_version", arguments={"when": object})


def nameless(request):
    yield llm.ToolCall(name="", arguments={})


def forever(request):
    return llm.ToolCall(name="llm_version", arguments={})


def same_id_twice(request):
    yield llm.ToolCall(name="llm_version", arguments={}, tool_call_id="x")
    yield llm.ToolCall(name="llm_time", arguments={}, tool_call_id="x")
'''

MODELS = """\
defaults:
  backend: {type: python}
  supports_tools: true
models:
  - {model_id: version, backend: {callable: ./tools.py:version}}
  - {model_id: text-then-call, backend: {callable: ./tools.py:text_then_call}}
  - {model_id: add, backend: {callable: ./tools.py:add}}
  - {model_id: both, backend: {callable: ./tools.py:both}}
  - {model_id: aversion, backend: {callable: ./tools.py:aversion}}
  - {model_id: areturns-call, backend: {callable: ./tools.py:areturns_call}}
  - {model_id: unknown, backend: {callable: ./tools.py:unknown}}
  - {model_id: yields-int, backend: {callable: ./tools.py:yields_int}}
  - {model_id: bad-arguments, backend: {callable: ./tools.py:bad_arguments}}
  - {model_id: arguments-not-json, backend: {callable: ./tools.py:arguments_not_json}}
  - {model_id: nameless, backend: {callable: ./tools.py:nameless}}
  - {model_id: forever, backend: {callable: ./tools.py:forever}}
  - {model_id: same-id-twice, backend: {callable: ./tools.py:same_id_twice}}
  - model_id: no-tools
    supports_tools: false
    backend: {callable: ./tools.py:version}
"""

ADD = "def add(a: int, b: int) -> int:\n    return a + b\n"
FLAGS = [(), ("--no-stream",), ("--async",), ("--async", "--no-stream")]


@pytest.fixture(autouse=True)
def tools(write):
    write("tools.py", TOOLS)
    return write("tools.yaml", MODELS)


def llm_version() -> str:
    """The installed version of llm, as llm's own ``llm_version`` tool says it."""
    from importlib.metadata import version

    return version("llm")


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def seen(text: str) -> dict:
    """What ``seen()`` in the callable wrote."""
    return ast.literal_eval(text)


def logged(run_llm) -> list[dict]:
    return json.loads(ok(run_llm("logs", "--json", "-n", "0")))


def without_ids(rows: list[dict]) -> list[dict]:
    """The tool calls or results of a log row, less the database's row ids."""
    return [{k: v for k, v in row.items() if k not in ("id", "tool_id")} for row in rows]


# -- llm -T and --functions --------------------------------------------------------


@pytest.mark.parametrize("flags", FLAGS, ids=" ".join)
def test_dash_t_llm_version_runs_through_a_callable(run_llm, flags):
    result = run_llm("-m", "version", *flags, "-T", "llm_version", "which llm?")
    assert ok(result) == f"llm is {llm_version()}\n"


@pytest.mark.parametrize("flags", FLAGS, ids=" ".join)
def test_an_async_generator_calls_a_tool(run_llm, flags):
    result = run_llm("-m", "aversion", *flags, "-T", "llm_version", "which llm?")
    assert ok(result) == f"llm is {llm_version()}\n"


@pytest.mark.parametrize("flags", FLAGS, ids=" ".join)
def test_a_functions_tool_defined_inline(run_llm, flags):
    assert ok(run_llm("-m", "add", *flags, "--functions", ADD, "2+3?")) == "It is 5\n"


@pytest.mark.parametrize("flags", FLAGS, ids=" ".join)
def test_the_callable_sees_the_whole_exchange_on_the_next_round(run_llm, flags):
    result = ok(run_llm("-m", "text-then-call", *flags, "-T", "llm_version", "which llm?"))
    assert result.startswith("Let me check. {")
    saw = seen(result.removeprefix("Let me check. "))
    ((name, output, call_id),) = saw["results"]
    assert (name, output) == ("llm_version", llm_version())
    assert re.fullmatch("call_[0-9a-f]{24}", call_id)  # minted: the callable gave none
    assert saw["history"] == [
        ("user", "which llm?", [], None),
        ("assistant", "Let me check. ", [("llm_version", {}, call_id)], None),
        ("tool", llm_version(), [], call_id),
    ]


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=" ".join)
def test_a_list_of_tool_calls_runs_each_in_order(run_llm, flags):
    result = ok(run_llm("-m", "both", *flags, "-T", "llm_version", "--functions", ADD, "go"))
    saw = seen(result)
    assert saw["results"] == [("llm_version", llm_version(), "first"), ("add", "2", "second")]
    calls = [("llm_version", {}, "first"), ("add", {"a": 1, "b": 1}, "second")]
    assert saw["history"][1] == ("assistant", "", calls, None)


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=" ".join)
def test_an_unknown_tool_gets_llms_error_as_its_result(run_llm, flags):
    saw = seen(ok(run_llm("-m", "unknown", *flags, "-T", "llm_version", "go")))
    assert saw["results"] == [("nope", 'Error: tool "nope" does not exist', "n1")]


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=" ".join)
def test_a_callable_that_never_stops_calling_meets_llms_chain_limit(run_llm, flags):
    result = run_llm("-m", "forever", *flags, "-T", "llm_version", "--cl", "3", "go")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "Error: Chain limit of 3 exceeded.\n"


# -- the Python APIs ----------------------------------------------------------------


@pytest.mark.parametrize("model_id", ["version", "aversion"])
def test_the_sync_chain(model_id):
    chain = llm.get_model(model_id).chain("which?", tools=[llm_version_named])
    assert chain.text() == "llm is 9.9"
    first, second = chain._responses
    assert [(c.name, c.arguments, c.tool_call_id) for c in first.tool_calls()] == [
        ("llm_version", {}, "v1")
    ]
    assert second.prompt.tool_results[0].output == "9.9"


def test_the_async_chain_with_a_sync_and_an_async_callable():
    async def main(model_id):
        model = llm.get_async_model(model_id)
        chain = model.chain("which?", tools=[llm_version_named])
        return await chain.text()

    for model_id in ("version", "aversion"):
        assert asyncio.run(main(model_id)) == "llm is 9.9"


def llm_version_named() -> str:
    """A tool named as llm's own, answering a version of its own."""
    return "9.9"


llm_version_named.__name__ = "llm_version"


def test_a_returned_tool_call_through_the_async_api():
    async def main():
        model = llm.get_async_model("areturns-call")
        return await model.chain("x", tools=[llm_version_named]).text()

    saw = seen(asyncio.run(main()))
    ((name, output, call_id),) = saw["results"]
    assert (name, output) == ("llm_version", "9.9")
    assert re.fullmatch("call_[0-9a-f]{24}", call_id)


def test_text_and_a_tool_call_keep_their_order_in_the_reply():
    from llm.parts import TextPart, ToolCallPart

    response = llm.get_model("text-then-call").prompt("x", tools=[llm_version_named])
    assert response.text() == "Let me check. "
    (message,) = response.messages()
    kinds = [type(p).__name__ for p in message.parts]
    assert kinds == [TextPart.__name__, ToolCallPart.__name__]
    assert (message.parts[1].name, message.parts[1].arguments) == ("llm_version", {})


def test_a_tool_call_without_tools_is_recorded_not_run():
    response = llm.get_model("version").prompt("x")
    assert response.text() == ""
    (call,) = response.tool_calls()
    assert (call.name, call.arguments, call.tool_call_id) == ("llm_version", {}, "v1")


# -- bad input ----------------------------------------------------------------------

BAD = {
    "yields-int": "./tools.py:yields_int produced int 42, expected str or llm.ToolCall",
    "bad-arguments": "./tools.py:bad_arguments produced llm.ToolCall 'llm_version' with "
    "arguments ['not', 'a', 'dict'], expected a dict",
    "arguments-not-json": "./tools.py:arguments_not_json produced llm.ToolCall 'llm_version' "
    "whose arguments are not JSON: Object of type type is not JSON serializable",
    "nameless": "./tools.py:nameless produced llm.ToolCall '', expected a non-empty str name",
    "same-id-twice": "./tools.py:same_id_twice produced llm.ToolCall 'llm_time' with the "
    "tool_call_id of an earlier one",
    "no-tools": "./tools.py:version produced llm.ToolCall 'llm_version', but the model "
    "does not declare supports_tools: true",
}


@pytest.mark.parametrize("flags", FLAGS, ids=" ".join)
@pytest.mark.parametrize("model_id", BAD)
def test_bad_output_is_one_line_naming_the_model(run_llm, model_id, flags):
    tools = () if model_id == "no-tools" else ("-T", "llm_version")
    result = run_llm("-m", model_id, *flags, *tools, "x")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {model_id}: {BAD[model_id]}\n"


@pytest.mark.parametrize("model_id", BAD)
def test_bad_output_through_the_python_apis(model_id):
    tools = [] if model_id == "no-tools" else [llm_version_named]

    async def achain():
        return await llm.get_async_model(model_id).chain("x", tools=tools).text()

    def chain():
        return llm.get_model(model_id).chain("x", tools=tools).text()

    for run in (chain, lambda: asyncio.run(achain())):
        with pytest.raises(llm.ModelError) as error:
            run()
        assert str(error.value) == f"{model_id}: {BAD[model_id]}"


def test_the_real_executable_prints_one_line(llm_exe):
    result = llm_exe("-m", "no-tools", "x")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"Error: no-tools: {BAD['no-tools']}\n"


# -- logs ---------------------------------------------------------------------------


def test_logs_show_the_tool_calls_and_results(run_llm):
    ok(run_llm("-m", "text-then-call", "-T", "llm_version", "which llm?"))
    first, second = logged(run_llm)
    (call,) = first["tool_calls"]
    call_id = call["tool_call_id"]
    assert without_ids(first["tool_calls"]) == [
        {"name": "llm_version", "arguments": {}, "tool_call_id": call_id, "server_executed": False}
    ]
    assert first["response"] == "Let me check. "
    assert (first["tool_results"], second["tool_calls"]) == ([], [])
    assert without_ids(second["tool_results"]) == [
        {
            "name": "llm_version",
            "output": llm_version(),
            "tool_call_id": call_id,
            "exception": None,
            "server_executed": False,
            "instance": None,
            "attachments": [],
        }
    ]


def test_logs_have_the_shape_llm_gives_its_own_models(run_llm, user_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-checked")
    with FakeAPI() as api:
        (user_dir / "extra-openai-models.yaml").write_text(
            f"- model_id: ref\n  model_name: served\n  api_base: {api.url}/v1\n"
            "  supports_tools: true\n"
        )
        call = {"id": "v1", "type": "function"}
        call["function"] = {"name": "llm_version", "arguments": "{}"}
        first = openai_json("")
        first["choices"][0]["message"] = {"role": "assistant", "content": None}
        first["choices"][0]["message"]["tool_calls"] = [call]
        for body in (first, openai_json(f"llm is {llm_version()}")):
            api.queue([json.dumps(body).encode()], kind="application/json")
        for model_id in ("ref", "version"):
            result = run_llm("-m", model_id, "--no-stream", "-T", "llm_version", "which llm?")
            assert ok(result) == f"llm is {llm_version()}\n"
    rows = logged(run_llm)
    by_model = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(
            (without_ids(row["tool_calls"]), without_ids(row["tool_results"]))
        )
    assert by_model["version"] == by_model["ref"]
    assert [len(v) for v in by_model.values()] == [2, 2]
    assert {tuple(r) for r in rows} == {tuple(rows[0])}  # the same fields, in order


# -- under -c, and the example ------------------------------------------------------


def test_a_later_turn_sees_the_tool_calls_and_results_in_its_history(run_llm):
    ok(run_llm("-m", "text-then-call", "-T", "llm_version", "which llm?"))
    saw = seen(ok(run_llm("-c", "-T", "llm_version", "and now?")).removeprefix("Let me check. "))
    ((_, _, call_id),) = seen(logged(run_llm)[1]["response"])["results"]
    assert saw["history"][:3] == [
        ("user", "which llm?", [], None),
        ("assistant", "Let me check. ", [("llm_version", {}, call_id)], None),
        ("tool", llm_version(), [], call_id),
    ]


@pytest.mark.parametrize("flags", [(), ("--async",)], ids=" ".join)
def test_the_call_tools_example(run_llm, monkeypatch, flags):
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(EXAMPLES / "python.yaml"))
    result = run_llm("-m", "call-tools", *flags, "-T", "llm_version", "go")
    assert ok(result) == f"llm_version: {llm_version()}\n"

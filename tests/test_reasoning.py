"""Reasoning (issue 12): streamed apart from the text as llm's reasoning
events, in the generic form (``reasoning:`` paths, ``think_tags``), the
openai-chat preset (``reasoning_content`` / ``reasoning``, and the redacted
marker llm's own client records), sent back where an API needs it
(``send_reasoning``), from Python callables, and through the ``llm``
command: ``-R``, ``-c`` and ``llm logs --json``. Tool calls stream where
they come, their name once.

Every HTTP test talks to a real server on 127.0.0.1 (``fakeapi.FakeAPI``),
which writes the providers' documented wire shapes piece by piece.
"""

from __future__ import annotations

import asyncio
import json

import llm
import pytest
import yaml
from fakeapi import openai_chunk, openai_reasoning_sse, sse_pieces
from hypothesis import given, settings
from hypothesis import strategies as st
from llm.parts import ReasoningPart, TextPart, ToolCallPart

from llm_yaml_models.backends.http.think import ThinkTags
from llm_yaml_models.errors import BackendError

REASONING = ["The user ", "says hi. ", "Greet them."]
TEXT = ["Hello", " there", "!"]


@pytest.fixture
def api(fake_api):
    return fake_api


@pytest.fixture
def declare(write):
    """``declare(server, **backend)``: model ``m`` on the openai-chat preset
    (or the generic form, with ``preset=None``)."""

    def declare(server, preset="openai-chat", model=None, **backend):
        spec = {"type": "http", "base_url": server.url, "retries": 0, **backend}
        if preset:
            spec["preset"] = preset
        write("m.yaml", yaml.safe_dump([{"model_id": "m", "backend": spec, **(model or {})}]))

    return declare


def parts(messages) -> list[tuple]:
    """The parts of the reply's messages, as (kind, text-or-name, redacted)."""
    out = []
    for message in messages:
        for p in message.parts:
            if isinstance(p, ReasoningPart):
                out.append(("reasoning", p.text, p.redacted))
            elif isinstance(p, TextPart):
                out.append(("text", p.text))
            elif isinstance(p, ToolCallPart):
                out.append(("tool_call", p.name, p.arguments))
    return out


def answer(run: str, stream: bool = True, **kwargs):
    """(text, parts) of one prompt to model ``m`` through the sync or async API."""

    async def arun():
        response = llm.get_async_model("m").prompt("hi", stream=stream, **kwargs)
        return await response.text(), parts(await response.messages())

    if run == "async":
        return asyncio.run(arun())
    response = llm.get_model("m").prompt("hi", stream=stream, **kwargs)
    return response.text(), parts(response.messages())


both = pytest.mark.parametrize("run", ["sync", "async"])


# -- think tags, the mechanism ----------------------------------------------------------


def think(*chunks: str) -> list[tuple[str, str]]:
    splitter = ThinkTags()
    out = []
    for chunk in chunks:
        out += splitter.feed(chunk)
    out += splitter.finish()
    joined: list[tuple[str, str]] = []
    for c in out:
        kind, text = ("text", c) if type(c) is str else ("reasoning", str(c))
        if joined and joined[-1][0] == kind:
            joined[-1] = (kind, joined[-1][1] + text)
        else:
            joined.append((kind, text))
    return joined


THINK_CASES = {
    "plain": ("<think>r1 r2</think>answer", [("reasoning", "r1 r2"), ("text", "answer")]),
    "text-first": ("a<think>r</think>b", [("text", "a"), ("reasoning", "r"), ("text", "b")]),
    "unclosed": ("<think>still thinking", [("reasoning", "still thinking")]),
    "unclosed-cut-tag": ("<think>r</thi", [("reasoning", "r</thi")]),
    "nested": (
        "<think>a<think>b</think>c</think>d",
        [("reasoning", "a<think>b</think>c"), ("text", "d")],
    ),
    "stray-close": ("x</think>y", [("text", "x</think>y")]),
    "stray-open-start": ("a <thin b", [("text", "a <thin b")]),
    "lookalike": ("<thinking>no</thinking>", [("text", "<thinking>no</thinking>")]),
    "two": (
        "<think>a</think>b<think>c</think>d",
        [("reasoning", "a"), ("text", "b"), ("reasoning", "c"), ("text", "d")],
    ),
}


@pytest.mark.parametrize("case", THINK_CASES)
def test_think_tags_split_the_same_wherever_the_text_is_cut(case):
    text, expected = THINK_CASES[case]
    assert think(text) == expected
    for cut in range(1, len(text)):
        assert think(text[:cut], text[cut:]) == expected, cut
    assert think(*text) == expected  # a character at a time


# -- the generic form ---------------------------------------------------------------------

GENERIC_STREAM = {
    "url": None,
    "body": {"q": "{{ prompt }}", "stream": "{{ stream }}"},
    "response": {"text": "out", "reasoning": "thought"},
    "stream": {"format": "sse", "text": "t", "reasoning": "r", "done": "[DONE]"},
}


def generic(server, declare, **stream):
    spec = {**GENERIC_STREAM, "url": server.url + "/generic"}
    spec["stream"] = {**spec["stream"], **stream}
    declare(server, preset=None, **spec)


@both
def test_the_generic_form_streams_reasoning_from_its_path(api, declare, run):
    generic(api, declare)
    api.queue(sse_pieces({"r": "hmm "}, {"r": "ok"}, {"t": "Hi"}, {"t": "!", "r": None}, "[DONE]"))
    assert answer(run) == ("Hi!", [("reasoning", "hmm ok", False), ("text", "Hi!")])


@both
def test_the_generic_form_reads_reasoning_from_a_whole_reply(api, declare, run):
    generic(api, declare)
    api.queue([json.dumps({"out": "Hi", "thought": "hmm"}).encode()], kind="application/json")
    assert answer(run, stream=False) == ("Hi", [("reasoning", "hmm", False), ("text", "Hi")])


@both
def test_think_tags_cut_across_events_and_network_reads(api, declare, run):
    generic(api, declare, think_tags=True)
    events = sse_pieces(
        {"t": "<thi"}, {"t": "nk>The user"}, {"t": " says hi</th"}, {"t": "ink>Hello"}
    )
    body = b"".join(events + sse_pieces("[DONE]"))
    api.queue([body[i : i + 3] for i in range(0, len(body), 3)])  # every tag cut, and every line
    expected = ("Hello", [("reasoning", "The user says hi", False), ("text", "Hello")])
    assert answer(run) == expected


@both
def test_think_tags_in_a_whole_reply_and_an_unclosed_one(api, declare, run):
    generic(api, declare, think_tags=True)
    api.queue(
        [json.dumps({"out": "<think>a</think>b<think>unclosed"}).encode()], "application/json"
    )
    expected = ("b", [("reasoning", "a", False), ("text", "b"), ("reasoning", "unclosed", False)])
    assert answer(run, stream=False) == expected


@both
def test_stray_and_nested_think_tags_stay_as_they_are(api, declare, run):
    generic(api, declare, think_tags=True)
    api.queue(sse_pieces({"t": "a</think>b <thi"}, {"t": "s <think>x<think>y</think>"}, "[DONE]"))
    expected = (
        "a</think>b <this ",
        [("text", "a</think>b <this "), ("reasoning", "x<think>y</think>", False)],
    )
    assert answer(run) == expected


@both
@pytest.mark.parametrize(
    "value, kind",
    [(5, "a number"), ({"a": 1}, "an object"), (["x"], "an array"), (True, "a boolean")],
)
def test_reasoning_that_is_not_a_string_is_the_models_error(api, declare, run, value, kind):
    generic(api, declare)
    api.queue(sse_pieces({"r": value}, "[DONE]"))
    with pytest.raises(BackendError) as caught:
        answer(run)
    assert str(caught.value) == (
        f"m: reasoning at 'r' in the reply from {api.url}/generic is {kind}, not a string"
    )


def test_reasoning_that_is_not_a_string_through_llm(api, declare, llm_exe):
    generic(api, declare)
    api.queue([json.dumps({"out": "Hi", "thought": 1}).encode()], kind="application/json")
    result = llm_exe("-m", "m", "hi", "--no-stream")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: m: reasoning at 'thought' in the reply from {api.url}/generic is a number, "
        "not a string\n"
    )


def test_think_tags_on_a_backend_that_never_streams_is_a_located_problem(write, run_llm):
    path = write(
        "bad.yaml",
        """\
        - model_id: m
          backend:
            type: http
            url: http://127.0.0.1:9/generic
            response: {text: out}
            stream:
              think_tags: true
        - model_id: n
          backend:
            type: http
            url: http://127.0.0.1:9/generic
            send_reasoning: tool_calls
            response: {text: out}
        """,
    )
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}:7:19: [0].backend.stream.think_tags: think_tags needs stream.format: "
        "sse or ndjson (a backend that streams)\n"
        f"{path}:12:21: [1].backend.send_reasoning: send_reasoning needs "
        "backend.messages: openai\n"
    )


# -- openai-chat ----------------------------------------------------------------------------


@both
@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_openai_chat_streams_reasoning_in_either_field(api, declare, run, field):
    declare(api)
    api.queue(openai_reasoning_sse(REASONING, TEXT, field))
    assert answer(run) == (
        "Hello there!",
        [("reasoning", "".join(REASONING), False), ("text", "Hello there!")],
    )


@both
@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_openai_chat_reads_reasoning_from_a_whole_reply(api, declare, run, field):
    declare(api)
    message = {"role": "assistant", "content": "Hello", field: "Thinking."}
    reply = {"id": "x", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    api.queue([json.dumps(reply).encode()], kind="application/json")
    assert answer(run, stream=False) == (
        "Hello",
        [("reasoning", "Thinking.", False), ("text", "Hello")],
    )


HIDDEN = {
    "prompt_tokens": 5,
    "completion_tokens": 90,
    "completion_tokens_details": {"reasoning_tokens": 64},
}


@both
def test_reasoning_tokens_without_reasoning_text_are_a_redacted_part_first(api, declare, run):
    declare(api)
    api.queue(openai_reasoning_sse([], TEXT, usage=HIDDEN))
    assert answer(run) == ("Hello there!", [("reasoning", "", True), ("text", "Hello there!")])
    reply = {"choices": [{"message": {"content": "Hi"}}], "usage": HIDDEN}
    api.queue([json.dumps(reply).encode()], kind="application/json")
    assert answer(run, stream=False) == ("Hi", [("reasoning", "", True), ("text", "Hi")])


@both
def test_think_tags_in_a_whole_reply_with_reasoning_tokens_are_not_redacted(api, declare, run):
    # The reasoning came, in the tags: no redacted marker, so send_reasoning keeps it.
    declare(api, stream={"think_tags": True})
    reply = {"choices": [{"message": {"content": "<think>abc</think>Hi"}}], "usage": HIDDEN}
    api.queue([json.dumps(reply).encode()], kind="application/json")
    assert answer(run, stream=False) == ("Hi", [("reasoning", "abc", False), ("text", "Hi")])


@both
def test_reasoning_tokens_with_reasoning_text_add_no_redacted_part(api, declare, run):
    declare(api)
    api.queue(openai_reasoning_sse(REASONING, TEXT, usage=HIDDEN))
    assert answer(run) == (
        "Hello there!",
        [("reasoning", "".join(REASONING), False), ("text", "Hello there!")],
    )


def test_reasoning_in_think_tags_adds_no_redacted_part_either(api, declare):
    declare(api, stream={"think_tags": True})
    api.queue(openai_reasoning_sse([], ["<think>Hm", "m.</think>", "Hi"], usage=HIDDEN))
    assert answer("sync") == ("Hi", [("reasoning", "Hmm.", False), ("text", "Hi")])


def logged(run_llm) -> list[dict]:
    result = run_llm("logs", "--json", "-n", "0")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("hidden", [False, True], ids=["reasoning-text", "hidden-reasoning"])
def test_the_same_stream_through_llms_own_openai_client(
    api, declare, user_dir, run_llm, monkeypatch, hidden
):
    """llm's client drops reasoning_content text and records a redacted
    marker for counted reasoning tokens; the preset gives the same text and
    marker, and the reasoning text itself."""
    declare(api)
    theirs = {"model_id": "theirs", "model_name": "fake-model", "reasoning": True}
    extra = yaml.safe_dump([{**theirs, "api_base": f"{api.url}/v1"}])
    (user_dir / "extra-openai-models.yaml").write_text(extra)
    stream = openai_reasoning_sse([] if hidden else REASONING, TEXT, usage=HIDDEN)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback-only")
    for model in ("theirs", "m"):
        api.queue(stream)
        result = run_llm("-m", model, "hi")
        assert (result.exit_code, result.stdout) == (0, "Hello there!\n"), result.stderr
    ours, theirs = logged(run_llm)[-1], logged(run_llm)[-2]
    assert ours["response"] == theirs["response"] == "Hello there!"
    assert theirs["reasoning"] is None
    assert ours["reasoning"] == (None if hidden else "".join(REASONING))
    api.queue(stream)
    mine = llm.get_model("m").prompt("hi")  # the parts, which logs --json only sums up
    marker = [("reasoning", "", True)] if hidden else [("reasoning", "".join(REASONING), False)]
    assert parts(mine.messages()) == marker + [("text", "Hello there!")]


# -- the llm command: -R, -c, logs ---------------------------------------------------------


def test_reasoning_on_the_terminal_hidden_by_dash_r_continued_with_dash_c(
    api, declare, llm_exe, run_llm
):
    declare(api)
    api.queue(openai_reasoning_sse(REASONING, TEXT))
    shown = llm_exe("-m", "m", "hi")
    assert (shown.returncode, shown.stdout) == (0, "Hello there!\n")
    assert shown.stderr == "The user says hi. Greet them.\n"  # dim only on a terminal
    api.queue(openai_reasoning_sse(REASONING, ["Again"]))
    hidden = llm_exe("-c", "again", "-R")
    assert (hidden.returncode, hidden.stdout, hidden.stderr) == (0, "Again\n", "")
    assert api.last.json["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello there!"},
        {"role": "user", "content": "again"},
    ]
    rows = logged(run_llm)
    assert [(r["response"], r["reasoning"]) for r in rows] == [
        ("Hello there!", "The user says hi. Greet them."),
        ("Again", "The user says hi. Greet them."),
    ]


# -- sending reasoning back (DeepSeek thinking mode with tools) ----------------------------


def llm_version() -> str:
    """The version of llm."""
    return "0.36"


def tool_call_sse(reasoning: str, name_every_delta: bool = False) -> list[bytes]:
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "llm_version"}}
    later = {"index": 0, "function": {"arguments": "}"}}
    if name_every_delta:
        later["function"]["name"] = "llm_version"
        later["id"] = "call_1"
    chunks = [
        openai_chunk({"role": "assistant", "content": None, "reasoning_content": reasoning}),
        openai_chunk({"content": "Let me check."}),
        openai_chunk(
            {"tool_calls": [{**first, "function": {**first["function"], "arguments": "{"}}]}
        ),
        openai_chunk({"tool_calls": [later]}),
        openai_chunk({}, "tool_calls"),
    ]
    return sse_pieces(*chunks, "[DONE]")


@both
@pytest.mark.parametrize("send", [None, "tool_calls", "always"])
def test_send_reasoning_puts_reasoning_content_on_assistant_messages(api, declare, run, send):
    backend = {"send_reasoning": send} if send else {}
    declare(api, model={"supports_tools": True}, **backend)
    api.queue(tool_call_sse("Need the version."))
    api.queue(openai_reasoning_sse(["Got it."], ["It is 0.36"]))

    async def achain():
        conversation = llm.get_async_model("m").conversation()
        await conversation.chain("version?", tools=[llm_version]).text()
        api.queue(openai_reasoning_sse(["Easy."], ["Hi"]))
        await conversation.chain("and hi", tools=[llm_version]).text()

    def chain():
        conversation = llm.get_model("m").conversation()
        conversation.chain("version?", tools=[llm_version]).text()
        api.queue(openai_reasoning_sse(["Easy."], ["Hi"]))
        conversation.chain("and hi", tools=[llm_version]).text()

    asyncio.run(achain()) if run == "async" else chain()
    sent = [m for m in api.last.json["messages"] if m["role"] == "assistant"]
    assert [m.get("reasoning_content") for m in sent] == {
        None: [None, None],
        "tool_calls": ["Need the version.", None],
        "always": ["Need the version.", "Got it."],
    }[send]
    assert sent[0]["tool_calls"][0]["function"] == {"name": "llm_version", "arguments": "{}"}


# -- tool calls stream where they come ------------------------------------------------------


@both
@pytest.mark.parametrize("repeat", [False, True], ids=["name-once", "name-every-delta"])
def test_tool_calls_stream_in_order_their_name_once(api, declare, run, repeat):
    declare(api, model={"supports_tools": True})
    api.queue(tool_call_sse("Need the version.", name_every_delta=repeat))
    text, found = answer(run, tools=[llm_version])
    assert text == "Let me check."
    assert found == [
        ("reasoning", "Need the version.", False),
        ("text", "Let me check."),
        ("tool_call", "llm_version", {}),
    ]


def test_a_repeated_tool_name_is_logged_once_through_llm(api, declare, run_llm):
    declare(api, model={"supports_tools": True})
    api.queue(tool_call_sse("Need the version.", name_every_delta=True))
    api.queue(openai_reasoning_sse([], ["It is 0.36"]))
    result = run_llm("-m", "m", "version?", "-T", "llm_version")
    assert (result.exit_code, result.stdout) == (0, "Let me check. It is 0.36\n"), result.stderr
    first = logged(run_llm)[0]
    assert [(c["name"], c["arguments"], c["tool_call_id"]) for c in first["tool_calls"]] == [
        ("llm_version", {}, "call_1")
    ]
    assert api.last.json["messages"][1]["tool_calls"][0]["function"]["name"] == "llm_version"


# -- Python callables -------------------------------------------------------------------------

CALLABLES = """\
from llm.parts import StreamEvent


def thinks(request):
    yield StreamEvent(type="reasoning", chunk="Let me ")
    yield StreamEvent(type="reasoning", chunk="think.")
    yield "Hello "
    yield StreamEvent(type="text", chunk="world")


async def athinks(request):
    yield StreamEvent(type="reasoning", chunk="Async thought.")
    yield "Hi"


def hides(request):
    return [StreamEvent(type="reasoning", chunk="", redacted=True), "Done"]


def bad(request):
    yield StreamEvent(type="tool_call_name", chunk="x")
"""


@pytest.fixture
def callables(write):
    write("mods.py", CALLABLES)
    models = [
        {"model_id": name, "backend": {"type": "python", "callable": f"./mods.py:{name}"}}
        for name in ("thinks", "athinks", "hides", "bad")
    ]
    write("py.yaml", yaml.safe_dump(models))


def ask(run: str, model_id: str):
    async def arun():
        response = llm.get_async_model(model_id).prompt("hi")
        return await response.text(), parts(await response.messages())

    if run == "async":
        return asyncio.run(arun())
    response = llm.get_model(model_id).prompt("hi")
    return response.text(), parts(response.messages())


@both
def test_a_python_callable_yields_reasoning_through_both_apis(callables, run):
    assert ask(run, "thinks") == (
        "Hello world",
        [("reasoning", "Let me think.", False), ("text", "Hello world")],
    )
    assert ask(run, "athinks") == ("Hi", [("reasoning", "Async thought.", False), ("text", "Hi")])
    assert ask(run, "hides") == ("Done", [("reasoning", "", True), ("text", "Done")])


@both
def test_a_python_callable_yielding_another_event_is_its_error(callables, run):
    with pytest.raises(BackendError) as caught:
        ask(run, "bad")
    assert str(caught.value) == (
        "bad: ./mods.py:bad produced a StreamEvent of type 'tool_call_name' with chunk 'x', "
        "expected type 'text' or 'reasoning' with a str chunk"
    )


def test_a_python_callables_reasoning_through_llm(callables, llm_exe, run_llm):
    result = llm_exe("-m", "thinks", "hi")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "Hello world\n",
        "Let me think.\n",
    )
    assert logged(run_llm)[0]["reasoning"] == "Let me think."


# -- the path walkers that run per event ---------------------------------------------------

PLAIN_PATHS = [
    "a",
    "a.b",
    "a[0]",
    "a[-1].b",
    "a.b || a.c",
    "a[0].b.c || a[0].b.d",
    "a || b",
    "x.y[1] || x.z",
    "a.b || a.b.c",
    "choices[0].delta.reasoning_content || choices[0].delta.reasoning",
]
KEYS = st.sampled_from(["a", "b", "c", "d", "x", "y", "z", "choices", "delta", "reasoning"])


def _containers(children):
    return st.one_of(st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=4))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["", "s"]),
    _containers,
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(data=JSON)
def test_compiled_plain_paths_find_what_jmespath_finds(data):
    import jmespath

    from llm_yaml_models.backends.http.jmespaths import compile_path

    for expr in PLAIN_PATHS:
        assert compile_path(expr)(data) == jmespath.search(expr, data), expr

"""The openai-responses preset against a loopback server that speaks the
Responses API (tests/fakeapi.py: one Response object, served whole or as
the named events that build it), side by side with llm's own
``responses: true`` model on the same server: the same text, usage and
request bodies, or the difference the README explains.

Some standard options are declared on the model here too, narrowing the
preset's (a model's own entry replaces the preset's).
"""

from __future__ import annotations

import asyncio
import gc
import json
import warnings

import llm
import pytest
from fakeapi import (
    REPLY,
    FakeAPI,
    client_headers,
    responses_events,
    responses_message,
    responses_object,
    sse_of,
)

OURS = """\
- model_id: ours
  backend:
    type: http
    preset: openai-responses
    base_url: ${FAKE_URL}/v1
    model_name: served
    retries: 0
  options:
    temperature: {type: number, minimum: 0, maximum: 2}
    top_p: {type: number}
    max_output_tokens: {type: integer, minimum: 1}
    reasoning_effort: {type: string}
    verbosity: {type: string}
  attachment_types: [image/png, application/pdf]
  supports_tools: true
  supports_schema: true
- model_id: oursr
  backend:
    type: http
    preset: openai-responses
    base_url: ${FAKE_URL}/v1
    model_name: served
    retries: 0
    body: {include: [reasoning.encrypted_content]}
  options:
    reasoning_effort: {type: string}
    reasoning_summary: {type: string, default: auto}
  supports_tools: true
"""

# llm's own models, on the same server.
REFERENCE = """\
- model_id: ref
  model_name: served
  api_base: {url}/v1
  responses: true
  vision: true
  supports_tools: true
  supports_schema: true
- model_id: refr
  model_name: served
  api_base: {url}/v1
  responses: true
  reasoning: true
  supports_tools: true
"""

PAIRS = {"ours": "ref", "oursr": "refr"}


class ResponsesAPI(FakeAPI):
    """FakeAPI whose /responses replies follow a script: each entry a
    Response object (served whole or streamed, as the request asks), or
    raw bytes of an event stream."""

    def __init__(self):
        super().__init__()
        self.script: list = []

    def _reply(self, request):
        if not (request.path.endswith("/responses") and self.script):
            return super()._reply(request)
        entry = self.script.pop(0)
        if isinstance(entry, bytes):
            return True, "text/event-stream", entry
        if json.loads(request.body).get("stream"):
            return True, "text/event-stream", sse_of(responses_events(entry))
        return False, "application/json", json.dumps(entry).encode()


@pytest.fixture
def api(monkeypatch, write, user_dir):
    with ResponsesAPI() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        write("ours.yaml", OURS)
        (user_dir / "extra-openai-models.yaml").write_text(REFERENCE.format(url=server.url))
        yield server


def where(api) -> str:
    return f"{api.url}/v1/responses"


def bodies(api) -> list[dict]:
    return [r.json for r in api.requests]


def logged(run_llm) -> list[dict]:
    result = run_llm("logs", "--json", "-n", "0")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def usage(row: dict) -> tuple:
    details = row["token_details"]
    return row["input_tokens"], row["output_tokens"], details and json.loads(details)


def side_by_side(api, run_llm, *turns, model="ours", script=()):
    """Run the prompts (each an argument list, ``-c`` to continue) on our
    model, then on llm's: their results and the bodies each one sent."""
    out = []
    for model_id in (model, PAIRS[model]):
        api.script[:] = list(script)
        before = len(api.requests)
        results = [run_llm("-m", model_id, *turn) for turn in turns]
        for result in results:
            assert result.exit_code == 0, result.output
        out.append((results, bodies(api)[before:]))
    return out


def reasoning_reply(text="Done", enc="enc-1", tokens=7, output=None) -> dict:
    summary = [{"type": "summary_text", "text": "Thinking it over"}]
    item = {"type": "reasoning", "id": "rs_1", "summary": summary, "encrypted_content": enc}
    reply = responses_object(text, output=[item, responses_message(text)] + (output or []))
    reply["usage"]["output_tokens_details"] = {"reasoning_tokens": tokens}
    return reply


def tool_reply(call_id="call_1", arguments='{"a": 2, "b": 3}') -> dict:
    call = {
        "type": "function_call",
        "id": "fc_1",
        "call_id": call_id,
        "name": "add",
        "arguments": arguments,
        "status": "completed",
    }
    return responses_object(output=[call])


ADD = "def add(a: int, b: int) -> int:\n    return a + b\n"


# -- the same as llm's own client ----------------------------------------------------


@pytest.mark.parametrize("args", [[], ["--no-stream"]], ids=["stream", "no-stream"])
def test_text_and_body_equal_llms(api, run_llm, args):
    (ours, our_bodies), (ref, ref_bodies) = side_by_side(
        api, run_llm, ["hi", "-s", "be brief", *args]
    )
    assert ours[0].stdout == ref[0].stdout == REPLY + "\n"
    assert our_bodies == ref_bodies
    assert our_bodies[0] == {
        "model": "served",
        "input": [{"role": "user", "content": "hi"}],
        "instructions": "be brief",
        "stream": not args,
        "store": False,
    }


def without_empties(details):
    """Usage details less their zeros and nulls."""
    if not isinstance(details, dict):
        return details
    out = {k: without_empties(v) for k, v in details.items() if v not in (None, 0, {})}
    return {k: v for k, v in out.items() if v not in (None, {})} or None


@pytest.mark.parametrize("args", [[], ["--no-stream"]], ids=["stream", "no-stream"])
def test_usage_in_the_logs_equals_llms_less_zeros_and_nulls(api, run_llm, args):
    side_by_side(api, run_llm, ["hi", *args])
    side_by_side(api, run_llm, ["hi", *args], model="oursr", script=[reasoning_reply()])
    rows = {row["model"]: row for row in logged(run_llm)}
    assert usage(rows["oursr"]) == (
        5,
        1,
        {
            "input_tokens_details": {"cached_tokens": 2},
            "output_tokens_details": {"reasoning_tokens": 7},
        },
    )
    assert usage(rows["ours"]) == (5, 5, {"input_tokens_details": {"cached_tokens": 2}})
    for ours, ref in (("ours", "ref"), ("oursr", "refr")):
        (*counts, details) = usage(rows[ref])
        assert usage(rows[ours]) == (*counts, without_empties(details))
    # llm's Responses client logs every field of the SDK's usage object,
    # zeros and nulls too; every preset leaves them out.
    assert usage(rows["ref"])[2]["output_tokens_details"] == {"reasoning_tokens": 0}


def test_history_under_llm_c_equals_llms(api, run_llm):
    turns = (["one", "-s", "be brief"], ["two", "-c"], ["three", "-c", "-s", "be briefer"])
    (ours, our_bodies), (ref, ref_bodies) = side_by_side(api, run_llm, *turns)
    # A system prompt given on a later turn is that turn's; llm's clients
    # keep the conversation's first one (it is not in prompt.messages).
    assert [b.pop("instructions") for b in our_bodies] == ["be brief", "be brief", "be briefer"]
    assert [b.pop("instructions") for b in ref_bodies] == ["be brief", "be brief", "be brief"]
    assert our_bodies == ref_bodies
    assert our_bodies[2]["input"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "three"},
    ]


def test_attachments_equal_llms(api, run_llm, tmp_path):
    png = tmp_path / "dot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%fake\n")
    (_, our_bodies), (_, ref_bodies) = side_by_side(
        api, run_llm, ["look", "-a", str(png), "-a", str(pdf)], ["and now", "-c"]
    )
    assert our_bodies == ref_bodies
    text, image, document = our_bodies[0]["input"][0]["content"]
    assert text == {"type": "input_text", "text": "look"}
    assert image["type"] == "input_image"
    assert image["image_url"].startswith("data:image/png;base64,")
    assert document["type"] == "input_file"
    assert document["filename"].endswith(".pdf")
    assert document["file_data"].startswith("data:application/pdf;base64,JVBERi0xLjQK")
    assert our_bodies[1]["input"][0] == our_bodies[0]["input"][0]


@pytest.mark.parametrize("args", [[], ["--no-stream"]], ids=["stream", "no-stream"])
def test_tool_chain_equals_llms(api, run_llm, args):
    script = [tool_reply(), responses_object("It is 5")]
    (ours, our_bodies), (ref, ref_bodies) = side_by_side(
        api, run_llm, ["what is 2+3?", "--functions", ADD, *args], script=script
    )
    assert ours[0].stdout == ref[0].stdout == "It is 5\n"
    assert our_bodies == ref_bodies
    first, second = our_bodies
    assert first["tools"] == [
        {
            "type": "function",
            "name": "add",
            "description": None,
            "parameters": {
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
                "type": "object",
            },
        }
    ]
    assert second["input"] == [
        {"role": "user", "content": "what is 2+3?"},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "add",
            "arguments": '{"a": 2, "b": 3}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "5"},
    ]
    calls = {}
    for row in logged(run_llm):
        calls.setdefault(row["model"], []).append((row["tool_calls"], row["tool_results"]))
    assert calls["ours"] == calls["ref"]
    ((call,), _), (_, (result,)) = calls["ours"]
    assert (call["name"], call["arguments"], call["tool_call_id"]) == (
        "add",
        {"a": 2, "b": 3},
        "call_1",
    )
    assert (result["output"], result["tool_call_id"]) == ("5", "call_1")


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_tool_calls_are_reported_to_llm(api, stream):
    api.script[:] = [tool_reply(arguments='{"a": 2,\n "b": 3}')]
    response = llm.get_model("ours").prompt("2+3?", tools=[llm.Tool.function(add)], stream=stream)
    assert response.text() == ""
    (call,) = response.tool_calls()
    assert (call.name, call.arguments, call.tool_call_id) == ("add", {"a": 2, "b": 3}, "call_1")


def add(a: int, b: int) -> int:
    return a + b


def test_schema_equals_llms_and_keeps_verbosity(api, run_llm):
    (ours, our_bodies), (_, ref_bodies) = side_by_side(
        api, run_llm, ["a dog", "--schema", "name, age int"]
    )
    assert our_bodies == ref_bodies
    fmt = {
        "type": "json_schema",
        "name": "output",
        "schema": llm.utils.schema_dsl("name, age int"),
        "strict": False,
    }
    assert our_bodies[0]["text"] == {"format": fmt}
    assert (
        run_llm("-m", "ours", "a dog", "--schema", "name str", "-o", "verbosity", "low").exit_code
        == 0
    )
    assert bodies(api)[-1]["text"] == {
        "verbosity": "low",
        "format": {**fmt, "schema": llm.utils.schema_dsl("name str")},
    }


def test_options_equal_llms(api, run_llm):
    ours = run_llm("-m", "ours", "hi", "-o", "temperature", "0.5", "-o", "max_output_tokens", "50")
    ref = run_llm("-m", "ref", "hi", "-o", "temperature", "0.5", "-o", "max_tokens", "50")
    assert ours.exit_code == ref.exit_code == 0
    ours_body, ref_body = bodies(api)
    assert ours_body == ref_body
    assert (ours_body["temperature"], ours_body["max_output_tokens"]) == (0.5, 50)
    assert "reasoning" not in ours_body and "text" not in ours_body  # no {} for unset options


# -- reasoning ------------------------------------------------------------------------


@pytest.mark.parametrize("args", [[], ["--no-stream"]], ids=["stream", "no-stream"])
def test_reasoning_shows_and_goes_back_as_llms_does(api, run_llm, args):
    script = [reasoning_reply(), responses_object("Again")]
    (ours, our_bodies), (ref, ref_bodies) = side_by_side(
        api,
        run_llm,
        ["why?", "-o", "reasoning_effort", "low", *args],
        ["and?", "-c"],
        model="oursr",
        script=script,
    )
    assert [r.stdout for r in ours] == [r.stdout for r in ref] == ["Done\n", "Again\n"]
    assert ours[0].stderr == ref[0].stderr == ("" if args else "Thinking it over\n")
    assert our_bodies == ref_bodies
    first, second = our_bodies
    assert first["reasoning"] == {"effort": "low", "summary": "auto"}
    assert first["include"] == ["reasoning.encrypted_content"]
    assert second["input"] == [
        {"role": "user", "content": "why?"},
        {
            "type": "reasoning",
            "id": "rs_1",
            "encrypted_content": "enc-1",
            "summary": [{"type": "summary_text", "text": "Thinking it over"}],
        },
        {"role": "assistant", "content": "Done"},
        {"role": "user", "content": "and?"},
    ]
    rows = {row["model"]: row for row in logged(run_llm) if row["prompt"] == "why?"}
    assert rows["oursr"]["reasoning"] == rows["refr"]["reasoning"] == "Thinking it over"


def test_reasoning_before_a_tool_call_goes_back_before_it(api, run_llm):
    call = tool_reply()["output"][0]
    first = reasoning_reply(output=[call])
    first["output"].pop(1)  # no message: reasoning, then the call
    script = [first, responses_object("It is 5")]
    (_, our_bodies), (_, ref_bodies) = side_by_side(
        api, run_llm, ["2+3?", "--functions", ADD], model="oursr", script=script
    )
    assert our_bodies == ref_bodies
    assert [i.get("type", i.get("role")) for i in our_bodies[1]["input"]] == [
        "user",
        "reasoning",
        "function_call",
        "function_call_output",
    ]


@pytest.mark.parametrize("args", [[], ["--no-stream"]], ids=["stream", "no-stream"])
def test_two_reasoning_items_each_go_back_as_llms_do(api, run_llm, args):
    # Each item with its own id and ciphertext: joined, the first would be lost.
    calls = [
        tool_reply("call_1")["output"][0],
        tool_reply("call_2", '{"a": 1, "b": 1}')["output"][0],
    ]
    calls[1]["id"] = "fc_2"
    second = {**reasoning_reply()["output"][0], "id": "rs_2", "encrypted_content": "enc-2"}
    first = reasoning_reply(output=[calls[0], second, calls[1]])
    first["output"].pop(1)  # no message: rs_1, call_1, rs_2, call_2
    script = [first, responses_object("It is 5 and 2")]
    (_, our_bodies), (_, ref_bodies) = side_by_side(
        api, run_llm, ["sums?", "--functions", ADD, *args], model="oursr", script=script
    )
    assert our_bodies == ref_bodies
    sent = [(i.get("type"), i.get("id")) for i in our_bodies[1]["input"]][1:3]
    assert sent == [("reasoning", "rs_1"), ("reasoning", "rs_2")]


def test_a_stream_without_event_lines_ends_at_its_completed_type(api, run_llm):
    # A proxy may drop the event: lines; each payload still names its type.
    events = responses_events(responses_object("hello there"))
    api.script[:] = ["".join(f"data: {json.dumps(d)}\n\n" for _, d in events).encode()]
    result = run_llm("-m", "ours", "hi")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "hello there\n", "")


def event(kind: str, **data) -> tuple[str, dict]:
    return kind, {"type": kind, **data}


def test_events_a_server_may_leave_out_or_garble(api):
    """Reasoning only in its .done event, a call only in output_item.done,
    and events no reader can use: the reply is still read whole."""
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "e"}
    call = {"type": "function_call", "call_id": "c1", "name": "add", "arguments": '{"a": 1}'}
    api.script[:] = [
        sse_of(
            [
                event("response.reasoning_summary_text.done", item_id="rs_1", text="Thought"),
                event("response.output_item.done", output_index=0, item=reasoning),
                event("response.output_text.delta", delta="Hi"),
                event("response.reasoning_summary_text.delta", item_id={}, delta=3),
                event("response.output_item.done", output_index=2, item="not an item"),
                ("message", {"type": 5}),
                ("message", [1, 2]),
                event("response.function_call_arguments.delta", output_index=[7], delta="x"),
                event("response.output_item.done", output_index=3, item=call),
                event("response.completed", response=responses_object()),
            ]
        )
    ]
    response = llm.get_model("ours").prompt("hi")
    assert response.text() == "Hi"
    (message,) = response.messages()
    reasoning_part = message.parts[0]
    assert (reasoning_part.text, reasoning_part.provider_metadata) == (
        "Thought",
        {"openai": {"id": "rs_1", "encrypted_content": "e"}},
    )
    (tool_call,) = response.tool_calls()
    assert (tool_call.name, tool_call.arguments, tool_call.tool_call_id) == ("add", {"a": 1}, "c1")


def test_a_call_with_a_garbled_index_is_one_line(api, run_llm):
    item = {"type": "function_call", "call_id": "c1", "name": "add"}
    api.script[:] = [sse_of([event("response.output_item.added", output_index="0", item=item)])]
    result = run_llm("-m", "ours", "hi")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: ours: a tool call in the reply from {where(api)}: index is not an integer\n"
    )


def test_hidden_reasoning_is_llms_redacted_marker(api):
    api.script[:] = [responses_object("ok")]
    api.script[0]["usage"]["output_tokens_details"] = {"reasoning_tokens": 9}
    response = llm.get_model("ours").prompt("hi")
    assert response.text() == "ok"
    (message,) = response.messages()
    reasoning, text = message.parts
    assert (type(reasoning).__name__, reasoning.redacted, reasoning.text) == (
        "ReasoningPart",
        True,
        "",
    )


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_async_equals_llms(api, stream):
    async def run(model_id):
        model = llm.get_async_model(model_id)
        response = model.prompt("why?", system="be brief", stream=stream, reasoning_effort="low")
        text, usage = await response.text(), await response.usage()
        (message,) = await response.messages()
        return text, usage, [type(p).__name__ for p in message.parts]

    api.script[:] = [reasoning_reply(), reasoning_reply()]
    ours = asyncio.run(run("oursr"))
    with warnings.catch_warnings():
        # llm's async client leaves its AsyncOpenAI client, and its socket, open.
        warnings.simplefilter("ignore", ResourceWarning)
        ref = asyncio.run(run("refr"))
        gc.collect()
    assert ours[0] == ref[0] == "Done"
    assert ours[1] == llm.models.Usage(5, 1, without_empties(ref[1].details))
    assert ours[2] == ref[2] == ["ReasoningPart", "TextPart"]
    assert bodies(api)[0] == bodies(api)[1]


def test_async_reasoning_and_text(api):
    api.script[:] = [reasoning_reply()]

    async def run():
        response = llm.get_async_model("oursr").prompt("why?")
        return await response.text(), await response.messages()

    text, (message,) = asyncio.run(run())
    assert text == "Done"
    reasoning, _ = message.parts
    assert reasoning.text == "Thinking it over"
    assert reasoning.provider_metadata["openai"]["encrypted_content"] == "enc-1"


# -- endings and errors ---------------------------------------------------------------


def test_incomplete_reply_keeps_its_text_and_says_why(api):
    reply = responses_object("Cut sh", status="incomplete")
    reply["incomplete_details"] = {"reason": "max_output_tokens"}
    api.script[:] = [reply, reply, reply]
    for stream in (True, False):
        response = llm.get_model("ours").prompt("hi", stream=stream)
        assert response.text() == "Cut sh"
        assert response.response_json["finish_reason"] == "max_output_tokens"
        assert (response.input_tokens, response.output_tokens) == (5, 2)
    # llm's client reads usage from response.completed only.
    ref = llm.get_model("ref").prompt("hi", stream=True)
    assert (ref.text(), ref.input_tokens, ref.output_tokens) == ("Cut sh", None, None)


def failed(message: str | None, code: str | None = "server_error") -> dict:
    reply = responses_object(output=[], status="failed")
    reply["error"] = {"code": code, "message": message} if message or code else None
    return reply


def error_event(**payload) -> bytes:
    created = responses_events(responses_object(output=[]))[0]
    return sse_of([created, ("error", {"type": "error", "sequence_number": 1, **payload})])


@pytest.mark.parametrize(
    "entry, args, message",
    [
        (failed("The server had an error"), [], "error from {url}: The server had an error"),
        (
            failed("The server had an error"),
            ["--no-stream"],
            "error from {url}: The server had an error",
        ),
        (
            error_event(code="rate_limit_exceeded", message="Rate limit reached", param=None),
            [],
            "error from {url}: Rate limit reached",
        ),
        (
            error_event(error={"message": "Overloaded\nnow"}),
            [],
            "error from {url}: Overloaded\\nnow",
        ),
        (error_event(code="server_error"), [], "error from {url}: server_error"),
        (failed(None), [], "error from {url}: server_error"),
        (failed(None, code=None), ["--no-stream"], "error from {url}: the response failed"),
        (
            sse_of(responses_events(responses_object())[:-1]),
            [],
            "stream from {url} ended before it was complete",
        ),
    ],
    ids=[
        "failed",
        "failed-whole",
        "error-event",
        "error-object",
        "error-code",
        "failed-code",
        "failed-nothing-whole",
        "no-end",
    ],
)
def test_errors_are_one_line(api, run_llm, entry, args, message):
    api.script[:] = [entry]
    result = run_llm("-m", "ours", "hi", *args)
    assert result.exit_code == 1
    # What came before the stream broke off has been shown.
    assert result.stdout == (REPLY if "ended" in message else "")
    assert result.stderr == f"Error: ours: {message.format(url=where(api))}\n"


def test_llms_own_client_says_nothing_of_these_errors(api, run_llm):
    for entry, args in (
        (failed("boom"), []),
        (failed("boom"), ["--no-stream"]),
        (error_event(code="rate_limit_exceeded", message="Rate limit reached"), []),
    ):
        api.script[:] = [entry]
        result = run_llm("-m", "ref", "hi", *args)
        assert (result.exit_code, result.stdout, result.stderr) == (0, "\n", "")


def test_error_event_in_a_real_llm_process(api, llm_exe):
    api.script[:] = [error_event(message="Rate limit reached\x1b[2J")]
    result = llm_exe("-m", "ours", "hi")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"Error: ours: error from {where(api)}: Rate limit reached\\x1b[2J\n"
    ok = llm_exe("-m", "ours", "hi", "-s", "be brief")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, REPLY + "\n", "")
    assert api.last.json["instructions"] == "be brief"


def test_http_error_is_the_providers_message(api, run_llm):
    body = {
        "error": {"message": "Invalid 'input[0]'", "type": "invalid_request_error", "code": None}
    }
    api.fail_next("status", status=400, body=json.dumps(body).encode())
    result = run_llm("-m", "ours", "hi")
    assert result.exit_code == 1
    assert result.stderr == f"Error: ours: HTTP 400 from {where(api)}: Invalid 'input[0]'\n"


# -- the dry run ----------------------------------------------------------------------


def test_request_shows_the_preset_request(api, run_llm):
    result = run_llm(
        "yaml-models",
        "request",
        "ours",
        "hi",
        "-s",
        "be brief",
        "-o",
        "temperature",
        "0.5",
        "--schema",
        "name str",
    )
    assert result.exit_code == 0, result.output
    body = {
        "model": "served",
        "input": [{"role": "user", "content": "hi"}],
        "instructions": "be brief",
        "stream": True,
        "store": False,
        "temperature": 0.5,
        "text": {
            "format": {
                "type": "json_schema",
                "name": "output",
                "schema": llm.utils.schema_dsl("name str"),
                "strict": False,
            }
        },
    }
    content = json.dumps(body, separators=(",", ":"))
    assert result.stdout == (
        f"POST {where(api)}\n"
        + client_headers(api)
        + f"Content-Length: {len(content)}\nContent-Type: application/json\n\n{content}\n"
    )
    assert api.requests == []

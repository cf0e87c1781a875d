"""Standard options shipped in presets, nulls that remove a preset's
option, header or done sentinel, and the openai-completions and
azure-openai presets; differentially against llm's own OpenAI client
(an extra-openai-models.yaml pointed at the same loopback server)."""

from __future__ import annotations

import json
import textwrap

import llm
import pytest
import yaml
from fakeapi import REPLY, client_headers

# Our models, one per preset; ${FAKE_URL} is the server's base URL.
OURS = """\
- model_id: ours
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1", model_name: served}
  attachment_types: [application/pdf, image/png]
- model_id: ours-c
  backend: {type: http, preset: openai-completions, base_url: "${FAKE_URL}/v1", model_name: served}
- model_id: claude
  backend: {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1", model_name: c}
- model_id: llama
  backend: {type: http, preset: ollama-chat, base_url: "${FAKE_URL}", model_name: l}
"""

# llm's own client, on the same server.
THEIRS = """\
- model_id: theirs
  model_name: served
  api_base: "{url}/v1"
  reasoning: true
  vision: true
- model_id: theirs-c
  model_name: served
  api_base: "{url}/v1"
  completion: true
"""

CHAT_OPTIONS = [
    ("temperature", "0.5"),
    ("max_tokens", "20"),
    ("top_p", "0.9"),
    ("frequency_penalty", "-1.5"),
    ("presence_penalty", "1"),
    ("stop", "END"),
    ("logit_bias", '{"1712": -100, "892": 5}'),
    ("seed", "7"),
    ("json_object", "true"),
    ("reasoning_effort", "low"),
]


@pytest.fixture
def server(monkeypatch, write, user_dir, fake_api):
    monkeypatch.setenv("FAKE_URL", fake_api.url)
    write("ours.yaml", OURS)
    (user_dir / "extra-openai-models.yaml").write_text(THEIRS.format(url=fake_api.url), "utf-8")
    return fake_api


def sent(server, run_llm, *args: str) -> dict:
    """The body of the request that ``llm ARGS`` sends."""
    result = run_llm(*args)
    assert result.exit_code == 0, result.output
    return server.last.json


# -- openai-chat: the options of llm's own Chat models -----------------------


@pytest.mark.parametrize("stream", [[], ["--no-stream"]], ids=["stream", "no-stream"])
@pytest.mark.parametrize(("name", "value"), CHAT_OPTIONS, ids=[n for n, _ in CHAT_OPTIONS])
def test_chat_option_bodies_equal_llms_own(server, run_llm, name, value, stream):
    args = ["hi", "-o", name, value, *stream]
    theirs = sent(server, run_llm, "-m", "theirs", *args)
    ours = sent(server, run_llm, "-m", "ours", *args)
    assert ours == theirs
    assert (name in ours) == (name != "json_object")


def test_json_object_sends_a_response_format(server, run_llm):
    body = sent(server, run_llm, "-m", "ours", "hi", "-o", "json_object", "true")
    assert body["response_format"] == {"type": "json_object"}
    assert "json_object" not in body
    assert "response_format" not in sent(
        server, run_llm, "-m", "ours", "hi", "-o", "json_object", "0"
    )


def test_a_pdf_goes_as_a_file_part_as_llms_own(server, run_llm, tmp_path):
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    theirs = sent(server, run_llm, "-m", "theirs", "read", "-a", str(pdf))
    ours = sent(server, run_llm, "-m", "ours", "read", "-a", str(pdf))
    assert ours == theirs
    part = ours["messages"][0]["content"][1]
    assert part["type"] == "file"
    assert part["file"]["file_data"].startswith("data:application/pdf;base64,JVBERi0x")


def test_preset_options_are_listed_with_their_descriptions(server, run_llm):
    result = run_llm("models", "list", "--options", "-q", "ours")
    assert result.exit_code == 0, result.output
    listed = result.output
    for name, _ in CHAT_OPTIONS:
        assert f"    {name}: " in listed
    assert "      Integer seed to attempt to sample deterministically\n" in listed
    options = llm.get_model("ours").Options.model_json_schema()["properties"]
    assert list(options) == [name for name, _ in CHAT_OPTIONS]


def test_an_option_out_of_bounds_is_refused(server, run_llm):
    result = run_llm("-m", "ours", "hi", "-o", "temperature", "3")
    assert result.exit_code == 1
    assert result.output == "Error: temperature\n  Input should be less than or equal to 2\n"
    result = run_llm("-m", "ours", "hi", "-o", "reasoning_effort", "huge")
    assert result.exit_code == 1
    assert "Input should be 'none', 'minimal', 'low', 'medium', 'high', 'xhigh' or 'max'" in (
        result.output
    )


# -- a model's own entry overrides; null removes --------------------------------

OVERRIDE = """\
- model_id: mine
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1"}
  options:
    temperature: {type: number, minimum: 0, maximum: 1, description: Mine, default: 0.25}
    seed: null
    flavour: {type: string, body: {metadata: {flavour: "{{ options.flavour }}"}}}
"""


def test_a_models_entry_replaces_the_presets_and_null_removes_one(server, write, run_llm):
    write("mine.yaml", OVERRIDE)
    options = llm.get_model("mine").Options.model_json_schema()["properties"]
    assert options["temperature"]["description"] == "Mine"
    assert "seed" not in options
    assert list(options)[-1] == "flavour"
    body = sent(server, run_llm, "-m", "mine", "hi", "-o", "flavour", "sour")
    assert body["temperature"] == 0.25
    assert body["metadata"] == {"flavour": "sour"}
    assert "flavour" not in body
    result = run_llm("-m", "mine", "hi", "-o", "seed", "3")
    assert result.exit_code == 1
    assert result.output == "Error: seed\n  Extra inputs are not permitted\n"
    result = run_llm("-m", "mine", "hi", "-o", "temperature", "1.5")
    assert result.output == "Error: temperature\n  Input should be less than or equal to 1\n"


NULLS = """\
- model_id: typo
  backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:9/v1"}
  options:
    tempreature: null
- model_id: nopreset
  backend: {type: markov}
  options:
    length: null
- model_id: generic
  backend:
    type: http
    url: http://127.0.0.1:9/generic
    response: {text: output}
  options:
    seed: null
- model_id: other
  backend: {type: http, preset: ollama-chat}
  options:
    think: null
    keep_alive: null
"""


def test_validate_explains_a_null_that_removes_nothing(write, run_llm):
    path = write("nulls.yaml", NULLS)
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    assert result.output == (
        f"{path}:4:18: [0].options.tempreature: null removes an option of the openai-chat "
        "preset, which has no 'tempreature'; did you mean 'temperature'?\n"
        f"{path}:8:13: [1].options.length: null removes an option of the backend's preset, "
        "and this model has no preset\n"
        f"{path}:15:11: [2].options.seed: null removes an option of the backend's preset, "
        "and this model has no preset\n"
        "Error: 3 problems (1 model in 1 file usable)\n"
    )


def test_a_removed_option_a_preset_template_names_is_not_sent(server, write, run_llm):
    write(
        "removed.yaml",
        """\
        - model_id: thoughtless
          backend: {type: http, preset: ollama-chat, base_url: "${FAKE_URL}"}
          options:
            think: null
        """,
    )
    assert run_llm("yaml-models", "validate").exit_code == 0
    body = sent(server, run_llm, "-m", "thoughtless", "hi")
    assert body == {
        "model": "thoughtless",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    }
    result = run_llm("-m", "thoughtless", "hi", "-o", "think", "true")
    assert result.output == "Error: think\n  Extra inputs are not permitted\n"


# -- anthropic-messages and ollama-chat -------------------------------------------


def test_an_option_with_a_body_is_sent_when_its_value_is_0(server, write, run_llm):
    # 0 is a value (False is not): only an option not set, or false, sends nothing.
    write(
        "zero.yaml",
        """\
- model_id: zero
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/v1"}
  options:
    budget: {type: integer, minimum: 0, body: {thinking: {budget_tokens: "{{ options.budget }}"}}}
""",
    )
    assert sent(server, run_llm, "-m", "zero", "hi", "-o", "budget", "0")["thinking"] == {
        "budget_tokens": 0
    }


def test_anthropic_options_and_thinking_budget(server, run_llm):
    base = {
        "model": "c",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    assert sent(server, run_llm, "-m", "claude", "hi") == {
        **base,
        "max_tokens": 4096,
        "stream": True,
    }
    args = ["-o", "temperature", "0.5", "-o", "top_p", "0.9", "-o", "top_k", "40"]
    args += ["-o", "stop_sequences", '["END"]', "-o", "max_tokens", "8000"]
    args += ["-o", "thinking_budget", "2048"]
    assert sent(server, run_llm, "-m", "claude", "hi", *args) == {
        **base,
        "max_tokens": 8000,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
    }
    result = run_llm("-m", "claude", "hi", "-o", "thinking_budget", "100")
    assert result.output == (
        "Error: thinking_budget\n  Input should be greater than or equal to 1024\n"
    )


def test_ollama_options_inside_and_think_keep_alive_at_the_top(server, run_llm):
    base = {"model": "l", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    assert sent(server, run_llm, "-m", "llama", "hi") == base  # no "options": {}
    args = []
    for name, value in [
        ("temperature", "0.5"),
        ("top_p", "0.9"),
        ("top_k", "40"),
        ("num_ctx", "8192"),
        ("num_predict", "100"),
        ("seed", "3"),
        ("stop", '["END"]'),
        ("repeat_penalty", "1.1"),
        ("think", "true"),
        ("keep_alive", "5m"),
    ]:
        args += ["-o", name, value]
    assert sent(server, run_llm, "-m", "llama", "hi", *args) == {
        **base,
        "options": {
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40,
            "num_ctx": 8192,
            "num_predict": 100,
            "seed": 3,
            "stop": ["END"],
            "repeat_penalty": 1.1,
        },
        "think": True,
        "keep_alive": "5m",
    }
    assert sent(server, run_llm, "-m", "llama", "hi", "-o", "think", "false") == {
        **base,
        "think": False,
    }


# -- a null drops a preset's header and its done sentinel -------------------------

NO_AUTH = """\
- model_id: keyed
  key: {name: keyed, env: KEYED_TEST_KEY}
  backend:
    type: http
    preset: openai-chat
    base_url: "${FAKE_URL}/v1"
    headers: {Authorization: null, X-Token: "{{ key }}"}
- model_id: nodone
  backend: {type: http, preset: openai-chat, base_url: "${FAKE_URL}/nodone/v1", retries: 0}
- model_id: nodone-ok
  backend:
    type: http
    preset: openai-chat
    base_url: "${FAKE_URL}/nodone/v1"
    stream: {done: null}
"""


def test_a_null_header_is_not_sent(server, write, run_llm, monkeypatch):
    monkeypatch.setenv("KEYED_TEST_KEY", "sk-keyed-1234")
    write("noauth.yaml", NO_AUTH)
    sent(server, run_llm, "-m", "keyed", "hi")
    assert "authorization" not in server.last.headers
    assert server.last.headers["x-token"] == "sk-keyed-1234"


def test_a_null_done_reads_a_stream_to_its_end(server, write, run_llm):
    write("noauth.yaml", NO_AUTH)
    result = run_llm("-m", "nodone", "hi")
    assert result.exit_code == 1
    assert result.output == (
        f"{REPLY}Error: nodone: stream from {server.url}/nodone/v1/chat/completions "
        "ended before it was complete\n"
    )
    result = run_llm("-m", "nodone-ok", "hi")
    assert (result.exit_code, result.output) == (0, REPLY + "\n")


# -- openai-completions, against llm's own completion: true model -------------------


def logged(run_llm) -> list[dict]:
    result = run_llm("logs", "--json", "-n", "0")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("stream", [[], ["--no-stream"]], ids=["stream", "no-stream"])
def test_completions_equal_llms_own_with_the_history(server, run_llm, stream):
    bodies, texts = {}, {}
    for model, extra in (("theirs-c", ["-o", "max_tokens", "256"]), ("ours-c", [])):
        first = run_llm("-m", model, "Once upon a time", *extra, *stream)
        again = run_llm("-c", "there was", *extra, *stream)
        texts[model] = (first.output, again.output)
        bodies[model] = [r.json for r in server.requests[-2:]]
    assert texts["ours-c"] == texts["theirs-c"] == (REPLY + "\n", REPLY + "\n")
    assert bodies["ours-c"] == bodies["theirs-c"]
    assert bodies["ours-c"][1]["prompt"] == f"Once upon a time\n{REPLY}\nthere was"
    assert bodies["ours-c"][1]["max_tokens"] == 256
    rows = {row["model"]: row for row in logged(run_llm)}
    # llm's Completion model never records usage; ours records the server's.
    assert (rows["theirs-c"]["input_tokens"], rows["theirs-c"]["output_tokens"]) == (None, None)
    assert (rows["ours-c"]["input_tokens"], rows["ours-c"]["output_tokens"]) == (5, 5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        *[o for o in CHAT_OPTIONS if o[0] not in ("json_object", "reasoning_effort")],
        ("logprobs", "2"),
    ],
)
def test_completions_option_bodies_equal_llms_own(server, run_llm, name, value):
    extra = [] if name == "max_tokens" else ["-o", "max_tokens", "256"]
    theirs = sent(server, run_llm, "-m", "theirs-c", "hi", "-o", name, value, *extra)
    ours = sent(server, run_llm, "-m", "ours-c", "hi", "-o", name, value)
    assert ours == theirs


def test_a_completions_system_prompt_comes_first(server, run_llm):
    result = run_llm("-m", "theirs-c", "hi", "-s", "Be brief")
    assert result.output == (
        "Error: System prompts are not supported for OpenAI completion models\n"
    )
    assert sent(server, run_llm, "-m", "ours-c", "hi", "-s", "Be brief")["prompt"] == "Be brief\nhi"
    assert sent(server, run_llm, "-c", "more")["prompt"] == f"Be brief\nhi\n{REPLY}\nmore"


def test_completions_streamed_and_whole_text_and_usage(server, run_llm):
    for stream in ([], ["--no-stream"]):
        result = run_llm("-m", "ours-c", "hi", *stream)
        assert (result.exit_code, result.output) == (0, REPLY + "\n")
    response = llm.get_model("ours-c").prompt("hi")
    assert response.text() == REPLY
    assert response.usage() == llm.models.Usage(input=5, output=5, details=None)


# -- azure-openai ---------------------------------------------------------------------

AZURE = """\
- model_id: az
  key: {name: az, env: AZ_TEST_KEY}
  backend:
    type: http
    preset: azure-openai
    base_url: "${FAKE_URL}"
    model_name: my-deployment
- model_id: az-old
  backend:
    type: http
    preset: azure-openai
    base_url: "${FAKE_URL}"
    api_version: 2024-06-01
"""


def test_azure_sends_the_key_in_api_key_only(server, write, run_llm, monkeypatch):
    monkeypatch.setenv("AZ_TEST_KEY", "azure-key-1234")
    write("azure.yaml", AZURE)
    result = run_llm("-m", "az", "hi", "-o", "temperature", "0.5", "-o", "json_object", "1")
    assert (result.exit_code, result.output) == (0, REPLY + "\n")
    request = server.last
    assert request.path == "/openai/deployments/my-deployment/chat/completions"
    assert request.query == {"api-version": ["2024-10-21"]}
    assert request.headers["api-key"] == "azure-key-1234"
    assert "authorization" not in request.headers
    theirs = sent(
        server, run_llm, "-m", "theirs", "hi", "-o", "temperature", "0.5", "-o", "json_object", "1"
    )
    assert request.json == {**theirs, "model": "my-deployment"}
    sent(server, run_llm, "-m", "az-old", "hi")
    assert server.last.query == {"api-version": ["2024-06-01"]}


def test_validate_checks_api_version(write, run_llm, monkeypatch):
    monkeypatch.setenv("FAKE_URL", "http://127.0.0.1:9")
    path = write("azure.yaml", AZURE.replace("2024-06-01", "june"))
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    assert result.output == (
        f"{path}:13:18: [1].backend.api_version: 'june' is not an API version such as 2024-10-21\n"
        "Error: 1 problem (1 model in 1 file usable)\n"
    )


# -- the dry run shows each new preset's request -------------------------------------


def test_request_shows_the_completions_and_azure_requests(server, write, run_llm, monkeypatch):
    monkeypatch.setenv("AZ_TEST_KEY", "azure-key-1234")
    write("azure.yaml", AZURE)
    body = b'{"model":"served","prompt":"hi","stream":false,"max_tokens":256}'
    result = run_llm("yaml-models", "request", "ours-c", "hi", "--no-stream")
    assert (result.exit_code, result.output) == (
        0,
        f"POST {server.url}/v1/completions\n"
        f"{client_headers(server)}"
        f"Content-Length: {len(body)}\n"
        "Content-Type: application/json\n\n"
        f"{body.decode()}\n",
    )
    body = (
        b'{"model":"my-deployment","messages":[{"role":"user","content":"hi"}],"stream":true,'
        b'"stream_options":{"include_usage":true},"seed":3}'
    )
    result = run_llm("yaml-models", "request", "az", "hi", "-o", "seed", "3")
    assert (result.exit_code, result.output) == (
        0,
        f"POST {server.url}/openai/deployments/my-deployment/chat/completions"
        "?api-version=2024-10-21\n"
        f"{client_headers(server)}"
        "api-key: ***\n"
        f"Content-Length: {len(body)}\n"
        "Content-Type: application/json\n\n"
        f"{body.decode()}\n",
    )


def test_registering_models_reads_no_preset(server, run_llm):
    from conftest import reset_plugin_state

    from llm_yaml_models.backends.http import preset

    assert run_llm("models", "list").exit_code == 0  # validates, and caches, the file
    reset_plugin_state()
    preset.cache_clear()
    result = run_llm("models", "list")
    assert "YAML http: ours" in result.output
    assert preset.cache_info().currsize == 0  # llm models list read no preset file
    result = run_llm("models", "list", "--options", "-q", "ours")
    assert result.exit_code == 0
    assert "temperature" in result.output  # the preset's options, in the cached declaration
    assert preset.cache_info().currsize == 0  # merged by the loader, once: --options reads none


@pytest.mark.parametrize(
    "name",
    ["openai-chat", "openai-completions", "azure-openai", "ollama-chat", "anthropic-messages"],
)
def test_every_presets_options_pass_the_checks_a_models_own_would(name, write, run_llm):
    from llm_yaml_models.backends.http import preset

    options = yaml.safe_dump({"options": preset(name)["options"]}, sort_keys=False)
    path = write(
        "copied.yaml",
        "- model_id: copied\n  backend: {type: markov}\n" + textwrap.indent(options, "  "),
    )
    result = run_llm("yaml-models", "validate", str(path))
    assert (result.exit_code, result.output) == (0, "OK: 1 model in 1 file, no problems\n")
    assert llm.get_model("copied").Options().model_dump() == {
        n: s.get("default") for n, s in preset(name)["options"].items()
    }


def test_completions_and_azure_through_the_async_api(server, write, monkeypatch):
    import asyncio

    monkeypatch.setenv("AZ_TEST_KEY", "azure-key-1234")
    write("azure.yaml", AZURE)

    async def run(model_id):
        model = llm.get_async_model(model_id)
        whole = await model.prompt("hi", stream=False, temperature=0.5).text()
        return whole, "".join([chunk async for chunk in model.prompt("hi")])

    for model_id in ("ours-c", "az"):
        assert asyncio.run(run(model_id)) == (REPLY, REPLY)
        first, second = server.requests[-2:]
        assert (first.json["stream"], first.json["temperature"], second.json["stream"]) == (
            False,
            0.5,
            True,
        )
    assert first.headers["api-key"] == "azure-key-1234"


HEADERS = """\
- model_id: lower
  key: {name: lower, env: KEYED_TEST_KEY}
  backend:
    type: http
    preset: openai-chat
    base_url: "${FAKE_URL}/v1"
    headers: {authorization: "Token {{ key }}"}
- model_id: gone
  key: {name: gone, env: KEYED_TEST_KEY}
  backend:
    type: http
    preset: openai-chat
    base_url: "${FAKE_URL}/v1"
    headers: {authorization: null}
"""


def test_a_header_is_replaced_or_removed_whatever_its_case(server, write, run_llm, monkeypatch):
    monkeypatch.setenv("KEYED_TEST_KEY", "sk-keyed-1234")
    write("headers.yaml", HEADERS)
    result = run_llm("yaml-models", "request", "lower", "hi")
    assert [line for line in result.output.splitlines() if "uthorization" in line] == [
        "authorization: Token ***"
    ]
    sent(server, run_llm, "-m", "lower", "hi")
    assert server.last.headers["authorization"] == "Token sk-keyed-1234"
    sent(server, run_llm, "-m", "gone", "hi")
    assert "authorization" not in server.last.headers


NULLS_ELSEWHERE = """\
- model_id: n1
  backend:
    type: http
    preset: openai-chat
    base_url: http://127.0.0.1:9/v1
    headers: {X-Nope: null}
- model_id: n2
  backend:
    type: http
    preset: anthropic-messages
    stream: {done: null}
- model_id: n3
  backend:
    type: http
    url: http://127.0.0.1:9/generic
    response: {text: output}
    headers: {X-Nope: null}
"""


def test_validate_explains_a_null_header_or_done_that_removes_nothing(write, run_llm):
    path = write("nulls.yaml", NULLS_ELSEWHERE)
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    assert result.output == (
        f"{path}:6:23: [0].backend.headers.X-Nope: null removes a header of the openai-chat "
        "preset, which has no 'X-Nope'\n"
        f"{path}:11:20: [1].backend.stream.done: null removes the done sentinel of the "
        "anthropic-messages preset, which has none\n"
        f"{path}:17:23: [2].backend.headers.X-Nope: null removes a header of the preset, "
        "and this model has none\n"
        "Error: 3 problems (0 models in 1 file usable)\n"
    )

"""Declared metadata and pricing (issue 23): bad input is a warning that costs
only the faulty field, a template's overrides merge them field by field, a
deprecated model warns once, max_tokens and num_ctx take their defaults from
them, and list, show and llm models list show them."""

from __future__ import annotations

import asyncio
import datetime
import json

import llm
import pytest

from llm_yaml_models.declarations import Metadata, OptionSpec, Override, Pricing, layered
from llm_yaml_models.models import metadata as shown


def declared(model_id: str):
    return llm.get_model(model_id).declaration


# -- bad input: one warning line each, and the model loads without the field ----------


BAD = """\
defaults:
  pricing: {cache_write: -2}
models:
  - model_id: m
    backend: {type: markov}
    metadata:
      context_window: 1.5
      max_output_tokens: 0
      contxt_window: 5
      deprecated: 2026-02-30
      knowledge_cutoff: 2025-03
    pricing: {input: "3", output: -1, cached_input: .inf, reasoning: 15}
  - model_id: n
    backend: {type: markov}
    metadata: 5
    pricing: {inptu: 1, output: 2}
  - model_id: o
    backend: {type: markov}
    metadata: {deprecated: 01/10/2026}
"""


def test_each_faulty_field_is_one_warning_and_the_model_loads_without_it(write, run_llm):
    file = write("bad.yaml", BAD)
    result = run_llm("yaml-models", "validate", str(file))
    assert result.exit_code == 0, result.output
    assert result.stdout == "OK: 3 models in 1 file, no problems\n"
    assert result.stderr.splitlines() == [
        f"{file}:2:26: defaults.pricing.cache_write: warning: ignored: "
        "-2 is less than the minimum of 0",
        f"{file}:7:23: models[0].metadata.context_window: warning: ignored: "
        "1.5 is not of type 'integer'",
        f"{file}:8:26: models[0].metadata.max_output_tokens: warning: ignored: "
        "0 is less than the minimum of 1",
        f"{file}:9:7: models[0].metadata.contxt_window: warning: ignored: "
        "unknown key 'contxt_window'; did you mean 'context_window'?",
        f"{file}:10:19: models[0].metadata.deprecated: warning: ignored: "
        "'2026-02-30' is not a date",
        f"{file}:12:22: models[0].pricing.input: warning: ignored: '3' is not of type 'number'",
        f"{file}:12:35: models[0].pricing.output: warning: ignored: "
        "-1 is less than the minimum of 0",
        f"{file}:12:53: models[0].pricing.cached_input: warning: ignored: "
        "'.inf' is not a finite number",
        f"{file}:15:15: models[1].metadata: warning: ignored: 5 is not of type 'object'",
        f"{file}:16:15: models[1].pricing.inptu: warning: ignored: "
        "unknown key 'inptu'; did you mean 'input'?",
        f"{file}:19:28: models[2].metadata.deprecated: warning: ignored: "
        "'01/10/2026' must be a date: YYYY-MM-DD",
    ]
    assert set(m.model_id for m in llm.get_models()) >= {"m", "n", "o"}
    m = declared("m")
    assert m.metadata == Metadata(
        knowledge_cutoff="2025-03", origins=(("knowledge_cutoff", f"declared at {file}:11"),)
    )
    assert m.pricing == Pricing(reasoning=15, origins=(("reasoning", f"declared at {file}:12"),))
    assert declared("n").metadata is None
    assert declared("n").pricing == Pricing(
        output=2, origins=(("output", f"declared at {file}:16"),)
    )
    assert declared("o").metadata is None


def test_a_price_in_another_unit_warns_and_is_kept(write, run_llm):
    file = write(
        "prices.yaml",
        """\
        - model_id: m
          backend: {type: markov}
          pricing: {input: 0.000003, output: 2500, cached_input: 0}
        """,
    )
    result = run_llm("yaml-models", "validate", str(file))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"{file}:3:20: [0].pricing.input: warning: 3e-06 USD per million tokens: a price per "
        "token where per million was meant (3 per million)? It is kept",
        f"{file}:3:38: [0].pricing.output: warning: 2500 USD per million tokens is above 1000: "
        "is it in another unit? It is kept",
    ]
    assert declared("m").pricing[:3] == (0.000003, 2500, 0)


def test_a_count_written_as_a_whole_float_is_an_integer(write):
    write(
        "m.yaml",
        """\
        - model_id: m
          backend: {type: markov}
          metadata: {context_window: 200000.0}
        """,
    )
    assert type(declared("m").metadata.context_window) is int


def test_faulty_metadata_never_stops_an_ordinary_command(write, run_llm):
    write("bad.yaml", BAD)
    result = run_llm("-m", "m", "hello there", "--no-log")
    assert (result.exit_code, result.stderr) == (0, "")


# -- overrides in discovery templates ---------------------------------------------------


TEMPLATE = """\
- model_id: lab
  discover:
    source: openai
    prefix: lab/
    overrides:
      "*-vision":
        metadata: {{context_window: 1000, capabilities: [vision]}}
        pricing: {{output: 2}}
  backend: {{type: http, preset: openai-chat, base_url: "{url}/v1"}}
  metadata: {{context_window: 500, max_output_tokens: 10}}
  pricing: {{input: 1, output: 1}}
"""


def test_an_override_merges_metadata_and_pricing_field_by_field(fake_api, write, run_llm):
    file = write("lab.yaml", TEMPLATE.format(url=fake_api.url))
    assert run_llm("models", "list").exit_code == 0
    at = lambda line: f"declared at {file}:{line}"  # noqa: E731
    vision = declared("lab/fake-vision")
    assert vision.metadata == Metadata(
        context_window=1000,
        max_output_tokens=10,
        capabilities=("vision",),
        origins=(("context_window", at(7)), ("max_output_tokens", at(10)), ("capabilities", at(7))),
    )
    assert vision.pricing == Pricing(
        input=1, output=2, origins=(("input", at(11)), ("output", at(8)))
    )
    plain = declared("lab/fake-chat")
    assert (plain.metadata.context_window, plain.pricing.output) == (500, 1)


def test_an_override_with_metadata_survives_the_cache(fake_api, write, run_llm):
    from conftest import reset_plugin_state

    write("lab.yaml", TEMPLATE.format(url=fake_api.url))
    assert run_llm("models", "list").exit_code == 0
    first = declared("lab/fake-vision")
    reset_plugin_state()  # a new process: the declaration comes from the cache
    assert declared("lab/fake-vision") == first


def test_a_faulty_field_in_an_override_warns(fake_api, write, run_llm):
    file = write(
        "lab.yaml",
        TEMPLATE.format(url=fake_api.url).replace("output: 2}", "output: -2}"),
    )
    result = run_llm("yaml-models", "validate", str(file))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"{file}:8:27: [0].discover.overrides.*-vision.pricing.output: warning: ignored: "
        "-2 is less than the minimum of 0"
    ]


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (None, None, None),
        (Pricing(input=1), None, Pricing(input=1)),
        (None, Pricing(input=1), Pricing(input=1)),
        (
            Pricing(input=1, output=2, origins=(("input", "a"), ("output", "a"))),
            Pricing(output=0.0, reasoning=3, origins=(("output", "b"), ("reasoning", "b"))),
            Pricing(
                input=1,
                output=0.0,
                reasoning=3,
                origins=(("input", "a"), ("output", "b"), ("reasoning", "b")),
            ),
        ),
    ],
)
def test_layered_takes_each_field_high_knows_with_its_origin(low, high, expected):
    assert layered(low, high) == expected


def test_an_override_with_metadata_as_json_and_back():
    override = Override(
        "x*", metadata=Metadata(context_window=8, origins=(("context_window", "declared at f:1"),))
    )
    assert Override.from_json(json.loads(json.dumps(override.to_json()))) == override


# -- deprecated -------------------------------------------------------------------------


DEPRECATED = """\
- model_id: old
  backend: {{type: markov}}
  metadata: {{deprecated: {past}}}
- model_id: later
  backend: {{type: markov}}
  metadata: {{deprecated: {future}}}
"""


@pytest.fixture
def dated(write):
    today = datetime.date.today()
    write(
        "dated.yaml",
        DEPRECATED.format(past=today.isoformat(), future=today + datetime.timedelta(days=1)),
    )
    shown._WARNED.clear()
    yield today.isoformat()
    shown._WARNED.clear()


def test_a_deprecated_model_warns_once_per_process_naming_the_date(dated, capsys):
    for _ in range(2):
        assert llm.get_model("old").prompt("one two three").text()
    assert capsys.readouterr().err == f"llm-yaml-models: old was deprecated on {dated}\n"


def test_an_async_deprecated_model_warns_once_too(dated, capsys):
    async def run():
        model = llm.get_async_model("old")
        return [await model.prompt("one two three").text() for _ in range(2)]

    assert all(asyncio.run(run()))
    assert capsys.readouterr().err == f"llm-yaml-models: old was deprecated on {dated}\n"


def test_a_model_before_its_deprecation_date_is_silent(dated, capsys):
    assert llm.get_model("later").prompt("one two three").text()
    asyncio.run(llm.get_async_model("later").prompt("one two three").text())
    assert capsys.readouterr().err == ""


def test_the_deprecated_executable_warns_on_stderr(dated, llm_exe):
    result = llm_exe("-m", "old", "one two three", "--no-log")
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"llm-yaml-models: old was deprecated on {dated}\n"


# -- defaults from metadata ------------------------------------------------------------


ANTHROPIC = """\
- model_id: claude
  key: {{name: an, env: AN_TEST_KEY}}
  backend: {{type: http, preset: anthropic-messages, base_url: "{url}/v1", retries: 0}}
  metadata: {{max_output_tokens: {tokens}}}
{extra}"""


@pytest.mark.parametrize(
    ("tokens", "args", "extra", "sent"),
    [
        (2000, (), "", 2000),  # smaller than the preset's 4096
        (64000, (), "", 4096),  # the preset's is smaller
        (2000, ("-o", "max_tokens", "3000"), "", 3000),  # the user's -o
        (2000, (), "  options: {max_tokens: {type: integer, default: 5000}}", 5000),
    ],
    ids=["metadata", "preset", "-o", "own-default"],
)
def test_anthropic_max_tokens_defaults_to_max_output_tokens(
    fake_api, write, run_llm, monkeypatch, tokens, args, extra, sent
):
    monkeypatch.setenv("AN_TEST_KEY", "sk-test")
    write("m.yaml", ANTHROPIC.format(url=fake_api.url, tokens=tokens, extra=extra))
    result = run_llm("-m", "claude", "hi", "--no-log", *args)
    assert result.exit_code == 0, result.output
    assert fake_api.last.json["max_tokens"] == sent


OLLAMA = """\
- model_id: olla
  backend: {{type: http, preset: ollama-chat, base_url: "{url}", retries: 0}}
{extra}"""


@pytest.mark.parametrize(
    ("extra", "args", "sent"),
    [
        ("  metadata: {context_window: 32768}", (), {"num_ctx": 32768}),
        ("  metadata: {context_window: 32768}", ("-o", "num_ctx", "4096"), {"num_ctx": 4096}),
        (
            "  metadata: {context_window: 32768}\n"
            "  options: {num_ctx: {type: integer, default: 8192}}",
            (),
            {"num_ctx": 8192},
        ),
        (
            "  metadata: {context_window: 32768}\n"
            "  options: {num_ctx: {type: integer, minimum: 256}}",
            (),
            {"num_ctx": 32768},
        ),
        ("", (), None),  # no context window: Ollama's own default
    ],
    ids=["metadata", "-o", "own-default", "own-without-default", "none"],
)
def test_ollama_sends_num_ctx_from_the_context_window(fake_api, write, run_llm, extra, args, sent):
    write("m.yaml", OLLAMA.format(url=fake_api.url, extra=extra))
    result = run_llm("-m", "olla", "hi", "--no-log", *args)
    assert result.exit_code == 0, result.output
    assert fake_api.last.json.get("options") == sent


def test_an_overrides_context_window_gives_its_models_num_ctx(fake_api, write, run_llm):
    write(
        "lab.yaml",
        f"""\
        - model_id: lab
          discover:
            source: ollama
            overrides: {{"*-vision": {{metadata: {{context_window: 9000}}}}}}
          backend: {{type: http, preset: ollama-chat, base_url: "{fake_api.url}", retries: 0}}
          metadata: {{context_window: 4000}}
        """,
    )
    for model_id, sent in (("fake-vision", 9000), ("fake-chat", 4000)):
        result = run_llm("-m", model_id, "hi", "--no-log")
        assert result.exit_code == 0, result.output
        assert fake_api.last.json["options"] == {"num_ctx": sent}


@pytest.mark.parametrize(
    ("spec", "metadata", "expected"),
    [
        (OptionSpec("n", "integer", default=10, default_from="context_window"), None, 10),
        (OptionSpec("n", "integer", default_from="context_window"), Metadata(), None),
        (OptionSpec("n", "integer", default_from="context_window"), Metadata(7), 7),
        (OptionSpec("n", "integer", default=10, default_from="context_window"), Metadata(7), 7),
        (OptionSpec("n", "integer", default=5, default_from="context_window"), Metadata(7), 5),
        (OptionSpec("n", "integer", default=5), Metadata(7), 5),
    ],
)
def test_an_options_default_for_a_models_metadata(spec, metadata, expected):
    assert spec.default_for(metadata) == expected


# -- where people see it ---------------------------------------------------------------


SHOWN = """\
defaults:
  pricing: {input: 3}
models:
  - model_id: claude
    aliases: [c]
    backend: {type: markov}
    metadata: {context_window: 200000, capabilities: [vision, tools]}
    pricing: {output: 15, cached_input: 0.3}
  - model_id: plain
    backend: {type: markov}
"""


def test_llm_models_list_shows_context_and_price(write, run_llm):
    write("m.yaml", SHOWN)
    result = run_llm("models", "list")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("YAML")]
    assert lines == [
        "YAML markov: claude [context 200,000; $3/M in, $15/M out] (aliases: c)",
        "YAML markov: plain [$3/M in]",
    ]
    options = run_llm("models", "list", "--options", "-m", "claude")
    assert options.stdout.startswith(
        "YAML markov: claude [context 200,000; $3/M in, $15/M out] (aliases: c)\n"
    )


def test_yaml_models_list_has_context_and_prices(write, run_llm):
    file = write("m.yaml", SHOWN)
    result = run_llm("yaml-models", "list")
    assert result.stdout.splitlines() == [
        f"claude (aliases: c) [markov] [context 200,000; $3/M in, $15/M out] {file}:4: loaded",
        f"plain [markov] [$3/M in] {file}:9: loaded",
    ]
    rows = json.loads(run_llm("yaml-models", "list", "--json").stdout)
    assert [
        (r["context_window"], r["input_price"], r["output_price"], r["summary"]) for r in rows
    ] == [(200000, 3, 15, "context 200,000; $3/M in, $15/M out"), (None, 3, None, "$3/M in")]


def test_show_prints_every_field_with_where_it_came_from(write, run_llm):
    file = write("m.yaml", SHOWN)
    result = run_llm("yaml-models", "show", "claude")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-6:] == [
        "# metadata and pricing (USD per million tokens), as the model has them:",
        f"#   metadata.context_window: 200000  (declared at {file}:7)",
        f"#   metadata.capabilities: vision, tools  (declared at {file}:7)",
        f"#   pricing.input: 3  (declared at {file}:2)",
        f"#   pricing.output: 15  (declared at {file}:8)",
        f"#   pricing.cached_input: 0.3  (declared at {file}:8)",
    ]


def test_show_of_a_discovered_model_has_its_overrides_fields(fake_api, write, run_llm):
    file = write("lab.yaml", TEMPLATE.format(url=fake_api.url))
    result = run_llm("yaml-models", "show", "lab/fake-vision")
    assert result.exit_code == 0, result.output
    assert f"#   metadata.context_window: 1000  (declared at {file}:7)" in result.stdout
    assert f"#   pricing.input: 1  (declared at {file}:11)" in result.stdout


@pytest.mark.parametrize(
    ("price", "text"),
    [(3, "$3"), (3.0, "$3"), (0.075, "$0.075"), (1500, "$1,500"), (0, "$0"), (0.3, "$0.3")],
)
def test_usd(price, text):
    assert shown.usd(price) == text


def test_a_summary_says_only_what_is_known():
    assert shown.summary(None, None) == ""
    assert shown.summary(Metadata(max_output_tokens=5), Pricing(output=0)) == "$0/M out"

"""`validate` tells the whole truth in one round; `list`, `show` and
`validate` agree on every declaration; `-o` values and names that llm or a
terminal cannot take are refused (issue 11)."""

from __future__ import annotations

import json

import llm
import pytest
from conftest import model_ids


@pytest.fixture
def validate(run_llm):
    """``llm yaml-models validate [PATH...]``: (exit code, stdout lines, stderr)."""

    def validate(*paths):
        result = run_llm("yaml-models", "validate", *map(str, paths))
        return result.exit_code, result.stdout.splitlines(), result.stderr

    return validate


def markov(model_id: str, extra: str = "") -> str:
    return f"- model_id: {model_id}\n  backend: {{type: markov}}\n{extra}"


# -- SystemExit while a callable's module is imported ---------------------


@pytest.fixture
def exits(write):
    """A module that calls sys.exit(3) when imported, named by a model."""
    write("fns.py", "import sys\nsys.exit(3)\n\ndef f(request):\n    return 'x'\n")
    return write("a.yaml", "- model_id: exits\n  backend: {type: python, callable: ./fns.py:f}\n")


def test_a_module_that_exits_while_imported_is_a_located_problem(exits, write, validate):
    typo = write("b.yaml", "- model_id: typo\n  backendd: {type: markov}\n")
    assert validate() == (
        1,
        [
            f"{exits}:2:37: [0].backend.callable: importing ./fns.py failed: it called sys.exit(3)",
            f"{typo}:2:3: [0].backendd: unknown key 'backendd'; did you mean 'backend'?",
        ],
        "Error: 2 problems (0 models in 2 files usable)\n",
    )


def test_llm_m_says_why_a_module_that_exits_fails(exits, llm_exe):
    ran = llm_exe("-m", "exits", "hi", "--no-log")
    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr == "Error: exits: importing ./fns.py failed: it called sys.exit(3)\n"


# -- -o values ------------------------------------------------------------

OPTIONS = markov(
    "opt",
    """\
  options:
    temperature: {type: number}
    scale: {type: number, enum: [0.5, 1, 2]}
    stops: {type: array}
    extra: {type: object}
""",
)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "-Infinity", "NaN"])
def test_o_refuses_numbers_json_cannot_hold(write, run_llm, value):
    write("a.yaml", OPTIONS)
    result = run_llm("-m", "opt", "a b c", "-o", "temperature", value, "--no-log")
    assert (result.exit_code, result.output) == (
        1,
        "Error: temperature\n  Input should be a finite number\n",
    )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("stops", "[1, NaN]", "expected a JSON array: NaN is not a JSON number"),
        ("extra", '{"a": -Infinity}', "expected a JSON object: -Infinity is not a JSON number"),
        ("stops", "[" * 65 + "]" * 65, "expected a JSON array nested at most 64 levels deep"),
        ("stops", "[" * 5000 + "]" * 5000, "expected a JSON array nested at most 64 levels deep"),
        (
            "extra",
            '{"a": ' * 5000 + "1" + "}" * 5000,
            "expected a JSON object nested at most 64 levels deep",
        ),
    ],
    ids=["nan-in-array", "infinity-in-object", "65-deep", "5000-deep-array", "5000-deep-object"],
)
def test_o_json_that_is_not_json_or_too_deep_is_llms_usual_error(
    write, run_llm, name, value, message
):
    write("a.yaml", OPTIONS)
    result = run_llm("-m", "opt", "a b c", "-o", name, value, "--no-log")
    assert (result.exit_code, result.output) == (1, f"Error: {name}\n  {message}\n")


def test_o_json_64_levels_deep_is_taken(write):
    write("a.yaml", OPTIONS)
    deep = "[" * 64 + "]" * 64
    options = llm.get_model("opt").Options(stops=deep)
    assert json.dumps(options.stops) == deep


def test_a_number_enum_is_a_number_in_models_list_options(write, run_llm):
    write("a.yaml", OPTIONS)
    listed = run_llm("models", "list", "--options", "-m", "opt").output
    assert "    scale: float\n" in listed
    assert llm.get_model("opt").Options(scale="1").scale == 1.0


# -- small things -------------------------------------------------------------


def test_a_tilde_in_the_path_variable_is_the_home_directory(tmp_path, monkeypatch, write, run_llm):
    home = tmp_path / "home"
    write(home / "mine" / "a.yaml", markov("from-home"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", "~/mine")
    assert model_ids() == ["from-home"]
    listed = run_llm("yaml-models", "path").output.splitlines()
    assert listed[1] == f"{home / 'mine'}\texists\t(LLM_YAML_MODELS_PATH)"

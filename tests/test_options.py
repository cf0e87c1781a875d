"""Declared options become an llm.Options subclass: typed, validated,
coerced from ``-o name value`` strings, with defaults and descriptions."""

from __future__ import annotations

import json

import llm
import pydantic
import pytest

OPTIONS_FILE = """\
- model_id: typed
  backend: {type: markov}
  options:
    length: {type: integer, minimum: 2, default: 7, description: Words to generate}
    temp: {type: number, exclusiveMinimum: 0, exclusiveMaximum: 2}
    ratio: {type: number, minimum: 0.5, maximum: 1.5}
    mode: {type: string, enum: [fast, slow], default: fast}
    name: {type: string, minLength: 2, maxLength: 4, pattern: '^[a-z]+$'}
    flag: {type: boolean}
    tags: {type: array, items: {type: string, minLength: 1}}
    nums: {type: array, items: {type: integer, maximum: 5}, default: [1, 2]}
    meta: {type: object}
    level: {type: integer, enum: [1, 2, 3]}
    weight: {type: number, enum: [0.5, 1.5]}
"""


@pytest.fixture
def typed(write):
    write("typed.yaml", OPTIONS_FILE)
    return llm.get_model("typed")


def error_of(options_cls, **values) -> list[tuple]:
    with pytest.raises(pydantic.ValidationError) as info:
        options_cls(**values)
    return [(tuple(e["loc"]), e["msg"]) for e in info.value.errors()]


def test_options_are_an_llm_options_subclass(typed):
    assert issubclass(typed.Options, llm.Options)


def test_each_model_has_its_own_options_class(write):
    write(
        "a.yaml",
        """\
        - model_id: one
          backend: {type: markov}
          options: {length: {type: integer, default: 3}}
        - model_id: two
          backend: {type: markov}
          options: {seed: {type: integer}}
        """,
    )
    one, two = llm.get_model("one").Options, llm.get_model("two").Options
    assert one is not two
    assert list(one.model_fields) == ["length"]
    assert list(two.model_fields) == ["seed"]


def test_defaults_apply_and_undeclared_defaults_are_none(typed):
    assert typed.Options().model_dump() == {
        "length": 7,
        "temp": None,
        "ratio": None,
        "mode": "fast",
        "name": None,
        "flag": None,
        "tags": None,
        "nums": [1, 2],
        "meta": None,
        "level": None,
        "weight": None,
    }


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("length", "5", 5),
        ("temp", "1.5", 1.5),
        ("ratio", "1", 1.0),
        ("mode", "slow", "slow"),
        ("name", "abc", "abc"),
        ("flag", "true", True),
        ("flag", "false", False),
        ("flag", "0", False),
        ("tags", '["a", "b"]', ["a", "b"]),
        ("nums", "[3, 4]", [3, 4]),
        ("meta", '{"a": {"b": 1}}', {"a": {"b": 1}}),
        ("level", "2", 2),
        ("weight", "0.5", 0.5),
    ],
)
def test_values_given_as_strings_are_coerced(typed, name, text, value):
    assert getattr(typed.Options(**{name: text}), name) == value


@pytest.mark.parametrize(
    ("name", "text", "loc", "message"),
    [
        ("length", "1", ("length",), "Input should be greater than or equal to 2"),
        (
            "length",
            "many",
            ("length",),
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        ("temp", "0", ("temp",), "Input should be greater than 0"),
        ("temp", "2", ("temp",), "Input should be less than 2"),
        ("ratio", "2", ("ratio",), "Input should be less than or equal to 1.5"),
        ("mode", "medium", ("mode",), "Input should be 'fast' or 'slow'"),
        ("name", "a", ("name",), "String should have at least 2 characters"),
        ("name", "abcde", ("name",), "String should have at most 4 characters"),
        ("name", "AB", ("name",), "String should match pattern '^[a-z]+$'"),
        (
            "flag",
            "maybe",
            ("flag",),
            "Input should be a valid boolean, unable to interpret input",
        ),
        ("tags", "a,b", ("tags",), "expected a JSON array"),
        ("tags", '[""]', ("tags",), "item 0: String should have at least 1 character"),
        ("tags", '["a", 1]', ("tags",), "item 1: Input should be a valid string"),
        (
            "nums",
            "[1, 6, 7]",
            ("nums",),
            (
                "item 1: Input should be less than or equal to 5; "
                "item 2: Input should be less than or equal to 5"
            ),
        ),
        ("meta", "[1]", ("meta",), "Input should be a valid dictionary"),
        ("meta", "{", ("meta",), "expected a JSON object"),
        ("level", "4", ("level",), "Input should be 1, 2 or 3"),
    ],
)
def test_invalid_values_are_rejected(typed, name, text, loc, message):
    assert error_of(typed.Options, **{name: text}) == [(loc, message)]


def test_undeclared_options_are_rejected(typed):
    assert error_of(typed.Options, bogus="1") == [(("bogus",), "Extra inputs are not permitted")]


def test_the_markov_backend_enforces_its_own_bounds(write):
    write(
        "a.yaml",
        """\
        - model_id: loose
          backend: {type: markov}
          options:
            length: {type: integer}
            delay: {type: number}
        """,
    )
    options = llm.get_model("loose").Options
    assert error_of(options, length="1") == [
        (("length",), "Input should be greater than or equal to 2")
    ]
    assert error_of(options, delay="-1") == [
        (("delay",), "Input should be greater than or equal to 0")
    ]
    assert error_of(options, delay="11") == [
        (("delay",), "Input should be less than or equal to 10")
    ]


# -- through the command line ----------------------------------------------


def test_an_invalid_option_on_the_command_line_is_llms_usual_error(typed, run_llm):
    result = run_llm("-m", "typed", "-o", "length", "1", "a b c")
    assert result.exit_code == 1
    assert result.stderr == "Error: length\n  Input should be greater than or equal to 2\n"


def test_a_bad_array_item_on_the_command_line_is_llms_usual_error(typed, run_llm):
    result = run_llm("-m", "typed", "-o", "nums", "[1, 9]", "a b c")
    assert result.exit_code == 1
    assert result.stderr == "Error: nums\n  item 1: Input should be less than or equal to 5\n"


def test_an_enum_of_objects_on_the_command_line(write, run_llm):
    write(
        "a.yaml",
        """\
        - model_id: styled
          backend: {type: markov}
          options:
            style: {type: object, enum: [{a: 1}, {b: [2]}]}
        """,
    )
    result = run_llm("-m", "styled", "-o", "style", '{"b": 2}', "a b c")
    assert result.exit_code == 1
    assert result.stderr == 'Error: style\n  must be one of {"a": 1}, {"b": [2]}\n'
    result = run_llm("-m", "styled", "-o", "style", '{"b": [2]}', "a b c")
    assert result.exit_code == 0, result.output


def test_an_unknown_option_on_the_command_line(typed, run_llm):
    result = run_llm("-m", "typed", "-o", "bogus", "1", "a b c")
    assert result.exit_code == 1
    assert result.stderr == "Error: bogus\n  Extra inputs are not permitted\n"


def test_integer_enum_options_can_be_set_on_the_command_line(typed, run_llm):
    result = run_llm("-m", "typed", "-o", "level", "2", "-o", "length", "3", "a b c d")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.split()) == 3


def test_number_enum_options_can_be_set_on_the_command_line(typed, run_llm):
    result = run_llm("-m", "typed", "-o", "weight", "1.5", "a b c d")
    assert result.exit_code == 0, result.output


def test_command_line_values_are_logged_with_their_types(typed, run_llm):
    result = run_llm(
        "-m", "typed", "-o", "tags", '["x"]', "-o", "flag", "yes", "-o", "temp", "0.5", "a b c"
    )
    assert result.exit_code == 0, result.output
    logged = json.loads(run_llm("logs", "--json", "-n", "1").stdout)[0]["options_json"]
    assert logged == {
        "tags": ["x"],
        "flag": True,
        "temp": 0.5,
        "length": 7,
        "mode": "fast",
        "nums": [1, 2],
    }


def test_default_model_options_are_validated_too(typed, run_llm):
    result = run_llm("models", "options", "set", "typed", "length", "1")
    assert result.exit_code == 1
    assert "Input should be greater than or equal to 2" in result.stderr
    assert run_llm("models", "options", "set", "typed", "length", "4").exit_code == 0
    result = run_llm("-m", "typed", "a b c")
    assert len(result.stdout.split()) == 4


# -- descriptions in `llm models list --options` ---------------------------

SHARED = """\
defaults:
  backend: {type: markov}
  options:
    length: {type: integer, default: 5, description: Number of words to generate}
models:
  - model_id: first
  - model_id: second
    options:
      seed: {type: integer, description: Seed for reproducible output}
"""


def test_every_model_shows_its_option_descriptions(write, run_llm):
    write("a.yaml", SHARED)
    result = run_llm("models", "list", "--options", "-m", "first", "-m", "second")
    assert result.exit_code == 0
    assert result.stdout == (
        "YAML markov: first\n"
        "  Options:\n"
        "    length: int\n"
        "      Number of words to generate\n"
        "  Features:\n"
        "  - streaming\n"
        "  - async\n"
        "YAML markov: second\n"
        "  Options:\n"
        "    seed: int\n"
        "      Seed for reproducible output\n"
        "    length: int\n"
        "      Number of words to generate\n"
        "  Features:\n"
        "  - streaming\n"
        "  - async\n"
    )


def test_async_models_show_option_descriptions_too(write, run_llm):
    write("a.yaml", SHARED)
    result = run_llm("models", "list", "--options", "--async")
    assert result.exit_code == 0
    assert result.stdout.count("      Number of words to generate\n") == 2
    assert "YAML markov (async): first\n" in result.stdout


def test_same_option_name_with_different_descriptions(write, run_llm):
    write(
        "a.yaml",
        """\
        - model_id: short
          backend: {type: markov}
          options: {length: {type: integer, description: A few words}}
        - model_id: long
          backend: {type: markov}
          options: {length: {type: integer, description: Many words}}
        """,
    )
    result = run_llm("models", "list", "--options")
    assert "YAML markov: short\n  Options:\n    length: int\n      A few words\n" in result.stdout
    assert "YAML markov: long\n  Options:\n    length: int\n      Many words\n" in result.stdout


def test_keyed_models_list_their_key(write, run_llm):
    write(
        "a.yaml",
        "- model_id: keyed\n  backend: {type: markov}\n  key: {name: mine, env: MINE_KEY}\n",
    )
    result = run_llm("models", "list", "--options", "-m", "keyed")
    assert result.stdout.endswith("  Keys:\n    key: mine\n    env_var: MINE_KEY\n")

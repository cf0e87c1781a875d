"""`validate` tells the whole truth in one round; `list`, `show` and
`validate` agree on every declaration; `-o` values and names that llm or a
terminal cannot take are refused (issue 11)."""

from __future__ import annotations

import json

import llm
import pytest
from conftest import SCHEMA_FILE, model_ids


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


# -- plain messages -------------------------------------------------------------


def _patterns(node, where=""):
    """(where, subschema) for every ``pattern`` keyword in a schema."""
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield where, node
        for key, value in node.items():
            yield from _patterns(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _patterns(value, f"{where}/{i}")


def test_every_pattern_in_the_schema_says_in_words_what_it_wants():
    found = list(_patterns(json.loads(SCHEMA_FILE.read_text("utf-8"))))
    assert len(found) >= 7
    for where, node in found:
        message = node.get("patternErrorMessage")
        assert isinstance(message, str), where
        assert node["pattern"] not in message, where


@pytest.mark.parametrize(
    "line, col, path, message",
    [
        (
            "  backend: {type: python, callable: ./fns.py}",
            37,
            "backend.callable",
            "'./fns.py' is not a callable: expected `./file.py:function` or `module:function`",
        ),
        (
            "  backend: {type: markov}\n  attachment_types: [png]",
            22,
            "attachment_types[0]",
            "'png' is not a MIME type such as image/png",
        ),
        (
            "  backend: {type: markov}\n  key: {name: k, env: 1BAD}",
            23,
            "key.env",
            "'1BAD' is not an environment variable name: "
            "use letters, digits and '_', not starting with a digit",
        ),
        (
            "  backend: {type: markov}\n  options: {2x: {type: string}}",
            13,
            "options.2x",
            "'2x' is not a valid option name: use a letter, then letters, digits or '_'",
        ),
        (
            "  backend: {type: markov}\n  aliases: [-m]",
            13,
            "aliases[0]",
            "'-m' must not start with '-': llm -m would read it as an option",
        ),
    ],
    ids=["callable", "mime-type", "env-var", "option-name", "leading-dash"],
)
def test_a_value_that_breaks_a_pattern_is_told_what_is_wanted(
    write, validate, line, col, path, message
):
    file = write("a.yaml", f"- model_id: m\n{line}\n")
    row = 2 + line.count("\n")
    assert validate()[:2] == (1, [f"{file}:{row}:{col}: [0].{path}: {message}"])


def test_a_model_id_starting_with_a_dash_is_refused(write, validate):
    file = write("a.yaml", markov("-o"))
    assert validate()[:2] == (
        1,
        [
            f"{file}:1:13: [0].model_id: '-o' must not start with '-': "
            "llm -m would read it as an option"
        ],
    )
    assert model_ids() == []


def test_did_you_mean_suggests_only_keys_valid_at_that_place(write, validate):
    # 'items' is a key of option specs, but not of string options.
    file = write("a.yaml", markov("m", "  options:\n    o: {type: string, maxItems: 3}\n"))
    assert validate()[:2] == (
        1,
        [
            f"{file}:4:23: [0].options.o.maxItems: unknown key 'maxItems': a JSON Schema "
            "keyword this place does not take; expected one of: "
            "body, default, description, enum, maxLength, minLength, pattern, send, type"
        ],
    )


def test_a_json_schema_keyword_is_never_taken_for_a_misspelt_key(write, validate):
    # 'items' is valid for array options, and 'maxItems' is close to it: but
    # whoever writes maxItems means JSON Schema's keyword, not 'items'.
    spec = "{type: array, items: {type: string}, maxItems: 3}"
    file = write("a.yaml", markov("m", f"  options:\n    o: {spec}\n"))
    assert validate()[:2] == (
        1,
        [
            f"{file}:4:45: [0].options.o.maxItems: unknown key 'maxItems': a JSON Schema "
            "keyword this place does not take; expected one of: "
            "body, default, description, enum, items, send, type"
        ],
    )


def test_did_you_mean_still_suggests_a_keyword_that_applies(write, validate):
    file = write("a.yaml", markov("m", "  options:\n    o: {type: string, maxLenght: 3}\n"))
    assert validate()[:2] == (
        1,
        [
            f"{file}:4:23: [0].options.o.maxLenght: unknown key 'maxLenght'; "
            "did you mean 'maxLength'?"
        ],
    )


# -- names llm -m or a terminal cannot take -------------------------------------


@pytest.mark.parametrize(
    "written, shown, what",
    [
        (r"a\u200bb", r"a\u200bb", "U+200B (ZERO WIDTH SPACE)"),
        (r"\u202egpt", r"\u202egpt", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        (r"x\u2066y", r"x\u2066y", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
        (r"e\x1bx", r"e\x1bx", "U+001B"),
        (r"n\x00", r"n\x00", "U+0000"),
        (r"\ufeffbom", r"\ufeffbom", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
        (r"soft\xadhyphen", r"soft\xadhyphen", "U+00AD (SOFT HYPHEN)"),
    ],
)
def test_names_with_control_or_invisible_characters_are_refused(
    write, validate, run_llm, written, shown, what
):
    file = write(
        "a.yaml",
        f'- model_id: "{written}"\n  backend: {{type: markov}}\n'
        f'- model_id: ok\n  aliases: ["{written}"]\n  backend: {{type: markov}}\n',
    )
    why = f"'{shown}' holds {what}: a name must not hold control or invisible characters"
    assert validate()[:2] == (
        1,
        [f"{file}:1:13: [0].model_id: {why}", f"{file}:4:13: [1].aliases[0]: {why}"],
    )
    assert model_ids() == []
    assert run_llm("models", "list").output.count("YAML markov") == 0


def test_a_line_separator_in_a_name_is_a_space(write, validate):
    file = write("a.yaml", '- model_id: "a\\u2028b"\n  backend: {type: markov}\n')
    assert validate()[:2] == (
        1,
        [f"{file}:1:13: [0].model_id: 'a\\u2028b' must not contain spaces"],
    )


# -- one round ------------------------------------------------------------------------


def test_schema_errors_no_longer_hide_the_other_checks(write, validate):
    file = write(
        "a.yaml",
        """\
        - model_id: m
          aliases: [m, "-x"]
          colour: blue
          backend: {type: markov, corpus: missing.txt}
          attachment_types: [image/png]
          options:
            length: {type: integer, minimum: 1}
            typo: {type: string, defualt: x}
            low: {type: integer, minimum: 5, default: 2}
            text: {type: string, minimum: 1}
            schema: {type: string}
            bad: {type: integer, maximum: many}
        """,
    )
    assert validate()[:2] == (
        1,
        [
            f"{file}:2:13: [0].aliases[0]: 'm' is the model's own id; "
            "an alias is another name for it",
            f"{file}:2:16: [0].aliases[1]: '-x' must not start with '-': "
            "llm -m would read it as an option",
            f"{file}:3:3: [0].colour: unknown key 'colour'; expected one of: aliases, "
            "attachment_types, backend, can_stream, description, discover, fallbacks, key, "
            "limits, metadata, model_id, options, pricing, replace, server_tools, "
            "supports_schema, supports_tools",
            f"{file}:4:35: [0].backend.corpus: corpus file not found: "
            f"{file.parent / 'missing.txt'}",
            f"{file}:5:22: [0].attachment_types[0]: "
            "the markov backend reads only text/* attachments, not image/png",
            f"{file}:7:38: [0].options.length.minimum: the markov backend needs length >= 2",
            f"{file}:8:26: [0].options.typo.defualt: unknown key 'defualt'; "
            "did you mean 'default'?",
            f"{file}:9:47: [0].options.low.default: default 2 is less than the minimum of 5",
            f"{file}:10:35: [0].options.text.minimum: 'minimum' applies to integer and number "
            "options, not string",
            f"{file}:11:5: [0].options.schema: option name 'schema' is reserved: "
            "llm's prompt() takes 'schema' itself",
            f"{file}:12:35: [0].options.bad.maximum: 'many' is not of type 'number'",
        ],
    )


# -- names of rejected declarations -----------------------------------------------

REGISTERED = (
    "is already registered by llm.default_plugins.openai_models (OpenAI Chat: gpt-4o); "
    "set 'replace: true' to shadow it"
)


def test_a_declaration_refused_for_one_name_holds_none_of_its_names(write, validate):
    first = write("a.yaml", markov("mine", "  aliases: [4o, spare]\n"))
    write("b.yaml", markov("spare"))
    assert validate()[:2] == (1, [f"{first}:3:13: [0].aliases[0]: '4o' {REGISTERED}"])
    assert model_ids() == ["spare"]
    assert llm.get_model("spare").model_id == "spare"


def test_a_duplicate_holds_none_of_its_other_names(write, validate):
    one = write("a.yaml", markov("one"))
    two = write("b.yaml", markov("two", "  aliases: [one, spare]\n"))
    write("c.yaml", markov("spare"))
    assert validate()[:2] == (
        1,
        [f"{two}:3:13: [0].aliases[0]: 'one' is already declared at {one}:1:13"],
    )
    assert model_ids() == ["one", "spare"]


def test_a_declaration_with_a_problem_holds_no_names(write, validate):
    broken = write("a.yaml", markov("same", "  colour: blue\n"))
    write("b.yaml", markov("same"))
    code, lines, _ = validate()
    assert (code, [line.split(": ")[1] for line in lines]) == (1, ["[0].colour"])
    assert str(broken) in lines[0]
    assert model_ids() == ["same"]


# -- directories, repeated paths, new files ----------------------------------------


def test_validate_an_empty_directory_says_it_has_no_model_files(tmp_path, validate):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a model file")
    assert validate(empty) == (
        1,
        [f"{empty}:1:1: no model files (*.yaml or *.yml) in this directory"],
        "Error: 1 problem (0 models in 0 files usable)\n",
    )


def test_a_path_given_twice_is_checked_once(write, models_dir, validate):
    file = write("a.yaml", markov("once"))
    assert validate(file, file, models_dir) == (0, ["OK: 1 model in 1 file, no problems"], "")


def test_a_new_file_is_checked_against_the_installed_ones(tmp_path, write, validate):
    installed = write("a.yaml", markov("taken") + "- model_id: broken\n")
    new = write(tmp_path / "new" / "n.yaml", markov("taken") + markov("fresh"))
    # The installed file's own problem is not the new file's.
    assert validate(new) == (
        1,
        [f"{new}:1:13: [0].model_id: 'taken' is already declared at {installed}:1:13"],
        "Error: 1 problem (1 model in 1 file usable)\n",
    )


def test_a_given_file_on_the_search_path_keeps_its_place(write, validate):
    first = write("a.yaml", markov("same"))
    second = write("b.yaml", markov("same"))
    assert validate(first) == (0, ["OK: 1 model in 1 file, no problems"], "")
    assert validate(second)[:2] == (
        1,
        [f"{second}:1:13: [0].model_id: 'same' is already declared at {first}:1:13"],
    )


def test_a_new_file_may_use_a_name_a_refused_installed_declaration_names(tmp_path, write, validate):
    write("a.yaml", markov("gpt-4o", "  aliases: [mine]\n"))
    new = write(tmp_path / "new" / "n.yaml", markov("mine"))
    assert validate(new) == (0, ["OK: 1 model in 1 file, no problems"], "")


def test_the_llm_executable_shows_a_clash_before_the_file_is_installed(tmp_path, write, llm_exe):
    installed = write("a.yaml", markov("taken"))
    new = write(tmp_path / "n.yaml", markov("taken"))
    ran = llm_exe("yaml-models", "validate", str(new))
    assert (ran.returncode, ran.stdout, ran.stderr) == (
        1,
        f"{new}:1:13: [0].model_id: 'taken' is already declared at {installed}:1:13\n",
        "Error: 1 problem (0 models in 1 file usable)\n",
    )


# -- show and list agree ----------------------------------------------------------


def test_show_says_why_a_declaration_was_not_loaded(write, run_llm):
    file = write("a.yaml", markov("m", "  colour: blue\n"))
    result = run_llm("yaml-models", "show", "m")
    assert (result.exit_code, result.output) == (
        0,
        f"""\
# m, declared at {file}:1, is not loaded:
#   {file}:3:3: [0].colour: unknown key 'colour'; expected one of: aliases, attachment_types, \
backend, can_stream, description, discover, fallbacks, key, limits, metadata, model_id, options, \
pricing, replace, server_tools, supports_schema, supports_tools
model_id: m  # {file}:1
backend:
  type: markov  # {file}:2
colour: blue  # {file}:3
""",
    )


def test_show_a_skipped_declaration_of_a_name_llm_has_says_it_is_not_loaded(write, run_llm):
    file = write("a.yaml", markov("gpt-4o"))
    result = run_llm("yaml-models", "show", "gpt-4o")
    assert (result.exit_code, result.output) == (
        0,
        f"""\
# gpt-4o, declared at {file}:1, is not loaded:
#   {file}:1:13: [0].model_id: 'gpt-4o' {REGISTERED}
model_id: gpt-4o  # {file}:1
backend:
  type: markov  # {file}:2
""",
    )


def test_show_a_model_skipped_for_its_files_defaults(write, run_llm):
    file = write(
        "a.yaml",
        "defaults:\n  colour: blue\nmodels:\n  - model_id: m\n    backend: {type: markov}\n",
    )
    result = run_llm("yaml-models", "show", "m")
    assert result.output.splitlines()[:2] == [
        f"# m, declared at {file}:4, is not loaded:",
        f"#   {file}:2:3: defaults.colour: unknown key 'colour'; expected one of: "
        "attachment_types, backend, batch_size, can_stream, description, fallbacks, key, "
        "limits, metadata, options, prefix, pricing, replace, server_tools, supports_binary, "
        "supports_schema, supports_text, supports_tools",
    ]


def _headings(output: str) -> list[str]:
    """The first line of each declaration ``show`` printed."""
    return [block.splitlines()[0] for block in output.split("\n\n")]


def test_show_gives_every_declaration_of_a_name_the_loaded_one_first(write, run_llm):
    first = write("a.yaml", markov("same"))
    second = write("b.yaml", markov("same"))
    assert _headings(run_llm("yaml-models", "show", "same").output) == [
        f"# same, declared at {first}:1",
        f"# same, declared at {second}:1, is not loaded:",
    ]


def test_show_works_for_every_declaration_list_lists(write, run_llm):
    write("a.yaml", markov("good", "  aliases: [also]\n") + markov("bad", "  colour: x\n"))
    write("b.yaml", markov("good") + markov("gpt-4o") + markov("alias", "  aliases: [4o]\n"))
    write("c.yaml", "defaults: {nope: 1}\nmodels:\n  - model_id: in-bad-file\n")
    rows = json.loads(run_llm("yaml-models", "list", "--json").output)
    assert [(row["model_id"], row["loaded"]) for row in rows] == [
        ("good", True),
        ("bad", False),
        ("good", False),
        ("gpt-4o", False),
        ("alias", False),
        ("in-bad-file", False),
    ]
    for row in rows:
        shown = run_llm("yaml-models", "show", row["model_id"])
        assert shown.exit_code == 0, row
        (heading,) = [h for h in _headings(shown.output) if f"at {row['source']}" in h]
        assert heading.endswith(", is not loaded:") == (not row["loaded"]), row


# -- one line, safe for a terminal ---------------------------------------------------


def test_names_and_file_names_are_escaped_in_list_and_show(tmp_path, monkeypatch, write, run_llm):
    place = tmp_path / "dir\x1b[2J"
    file = write(place / "a\u202e.yaml", '- model_id: "x\\u202ey"\n  backend: {type: markov}\n')
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(place))
    shown_file = str(file).replace("\x1b", "\\x1b").replace("\u202e", "\\u202e")
    listed = run_llm("yaml-models", "list").output
    assert listed == f"x\\u202ey [markov] {shown_file}:1: error: see 'llm yaml-models validate'\n"
    shown = run_llm("yaml-models", "show", "x\u202ey").output
    assert shown.splitlines()[0] == f"# x\\u202ey, declared at {shown_file}:1, is not loaded:"
    assert "\x1b" not in shown and "\u202e" not in shown
    shown_place = str(place).replace("\x1b", "\\x1b")
    path = run_llm("yaml-models", "path").output
    assert path.splitlines()[1] == f"{shown_place}\texists\t(LLM_YAML_MODELS_PATH)"


def test_a_json_schema_keyword_never_hides_a_missing_key(write, validate):
    # 'else' is close to 'models': it was taken for its misspelling, so the
    # missing 'models' went unsaid, while 'else' was no longer called one.
    file = write("a.yaml", "defaults: {}\nelse: []\n")
    assert validate()[:2] == (
        1,
        [
            f"{file}:1:1: 'models' is a required property",
            f"{file}:2:1: else: unknown key 'else': a JSON Schema keyword this place does not "
            "take; expected one of: defaults, embedding_models, models, version",
        ],
    )

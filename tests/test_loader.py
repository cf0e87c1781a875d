"""Finding model files, parsing them, located diagnostics, `validate`."""

from __future__ import annotations

import json
import os

import llm
import pytest
from conftest import SCHEMA_FILE, model_ids

# Lists that grow with the file format are read from the schema, in the
# form messages give them, so that the assertions stay exact.
DEFINITIONS = json.loads(SCHEMA_FILE.read_text("utf-8"))["definitions"]
BACKEND_TYPES = ", ".join(DEFINITIONS["backendType"]["enum"])  # "markov, python, ..."


def keys_of(definition: str) -> str:
    """``"aliases, backend, ..."``: the keys a schema definition allows."""
    return ", ".join(sorted(DEFINITIONS[definition]["properties"]))


MINIMAL = """\
- model_id: {id}
  backend: {{type: markov}}
"""


def minimal(model_id: str) -> str:
    return MINIMAL.format(id=model_id)


@pytest.fixture
def validate(run_llm):
    """Run ``llm yaml-models validate [PATH...]``; return (exit code, stdout
    lines, stderr)."""

    def validate(*paths):
        result = run_llm("yaml-models", "validate", *map(str, paths))
        return result.exit_code, result.stdout.splitlines(), result.stderr

    return validate


# -- where files are found ---------------------------------------------------


def test_files_in_the_user_directory_are_loaded(monkeypatch, user_dir, write):
    monkeypatch.delenv("LLM_YAML_MODELS_PATH")
    write(user_dir / "yaml-models" / "mine.yaml", minimal("mine"))
    assert model_ids() == ["mine"]


def test_both_yaml_and_yml_files_are_loaded_in_name_order(write):
    write("b.yml", minimal("from-b"))
    write("a.yaml", minimal("from-a"))
    write("c.yaml", minimal("from-c"))
    assert model_ids() == ["from-a", "from-b", "from-c"]


def test_other_files_and_hidden_files_are_ignored(write):
    write("notes.txt", minimal("txt"))
    write(".hidden.yaml", minimal("hidden"))
    write("a.yaml.bak", minimal("backup"))
    write("real.yaml", minimal("real"))
    assert model_ids() == ["real"]


def test_env_path_entries_may_be_files_or_directories(monkeypatch, tmp_path, write):
    one = write(tmp_path / "one" / "x.yaml", minimal("in-dir"))
    single = write(tmp_path / "single.yaml", minimal("single-file"))
    missing = tmp_path / "missing"
    entries = [str(one.parent), str(single), str(missing), ""]
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", os.pathsep.join(entries))
    assert model_ids() == ["in-dir", "single-file"]


def test_user_directory_comes_before_env_path(user_dir, write, validate):
    first = write(user_dir / "yaml-models" / "z.yaml", minimal("twice"))
    second = write("a.yaml", minimal("twice"))
    code, lines, _ = validate()
    assert code == 1
    assert lines == [f"{second}:1:13: [0].model_id: 'twice' is already declared at {first}:1:13"]


def test_a_file_reached_twice_on_the_path_is_loaded_once(monkeypatch, models_dir, write, validate):
    single = write("a.yaml", minimal("once"))
    (models_dir / "link.yaml").symlink_to(single)
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", os.pathsep.join([str(models_dir), str(single)]))
    code, lines, _ = validate()
    assert (code, lines) == (0, ["OK: 1 model in 1 file, no problems"])
    assert model_ids() == ["once"]


# -- file shapes ---------------------------------------------------------


def test_a_file_may_be_a_list_of_models(write):
    write("a.yaml", minimal("one") + minimal("two"))
    assert model_ids() == ["one", "two"]


def test_a_file_may_be_a_mapping_with_models_and_defaults(write):
    write(
        "a.yaml",
        """\
        version: 1
        defaults:
          description: shared
          backend: {type: markov}
        models:
          - model_id: one
          - model_id: two
            aliases: [deux]
        """,
    )
    assert model_ids() == ["one", "two"]
    assert llm.get_model("deux").model_id == "two"


def test_defaults_are_deep_merged_and_the_models_keys_win(write):
    write(
        "a.yaml",
        """\
        defaults:
          backend: {type: markov}
          options:
            length: {type: integer, minimum: 3, default: 5, description: How many words}
            seed: {type: integer}
        models:
          - model_id: merged
            options:
              length: {default: 9}
        """,
    )
    options = llm.get_model("merged").Options
    assert options().length == 9
    assert options.model_fields["length"].description == "How many words"
    assert "seed" in options.model_fields
    with pytest.raises(ValueError, match="greater than or equal to 3"):
        options(length=2)


def test_defaults_backend_is_deep_merged(write, run_llm):
    write(
        "a.yaml",
        """\
        defaults:
          backend: {type: markov}
        models:
          - model_id: second-order
            backend: {order: 2}
        """,
    )
    assert model_ids() == ["second-order"]
    shown = run_llm("yaml-models", "show", "second-order").stdout
    assert "  type: markov  # " in shown
    assert "  order: 2  # " in shown


def test_a_partial_key_in_a_model_is_merged_with_defaults(write):
    write(
        "a.yaml",
        """\
        defaults:
          backend: {type: markov}
          key: {name: shared-key}
        models:
          - model_id: keyed
            key: {env: KEYED_KEY}
        """,
    )
    model = llm.get_model("keyed")
    assert (model.needs_key, model.key_env_var) == ("shared-key", "KEYED_KEY")


def test_yaml_anchors_and_merge_keys_work(write):
    write(
        "a.yaml",
        """\
        models:
          - &base
            model_id: base
            backend: {type: markov}
          - <<: *base
            model_id: derived
        """,
    )
    assert model_ids() == ["base", "derived"]


def test_a_utf8_byte_order_mark_is_accepted_with_a_warning(write, validate):
    path = write("a.yaml", b"\xef\xbb\xbf" + minimal("bom").encode())
    assert model_ids() == ["bom"]
    assert validate() == (
        0,
        ["OK: 1 model in 1 file, no problems"],
        f"{path}:1:1: warning: the file starts with a UTF-8 byte order mark, which is ignored\n",
    )
    # Locations after the mark are where an editor shows them.
    path.write_bytes(b"\xef\xbb\xbf" + minimal("bom").replace("markov", "markv").encode())
    code, lines, _ = validate()
    assert (code, lines[0].split(": ")[0]) == (1, f"{path}:2:19")


# -- validate --------------------------------------------------------------


def test_validate_reports_success_in_one_line(write, validate):
    write("a.yaml", minimal("one") + minimal("two"))
    write("b.yaml", minimal("three"))
    assert validate() == (0, ["OK: 3 models in 2 files, no problems"], "")


def test_validate_with_nothing_on_the_path(validate):
    assert validate() == (0, ["OK: 0 models in 0 files, no problems"], "")


def test_validate_prints_every_problem_and_exits_1(write, validate):
    path = write(
        "a.yaml",
        """\
        models:
          - model_id: good
            backend: {type: markov}
          - modle_id: bad
            backend: {type: markov}
        """,
    )
    code, lines, stderr = validate()
    assert code == 1
    # "did you mean" already says model_id is missing: no second problem for it.
    assert lines == [
        f"{path}:4:5: models[1].modle_id: unknown key 'modle_id'; did you mean 'model_id'?",
    ]
    assert stderr == "Error: 1 problem (1 model in 1 file usable)\n"


def test_validate_checks_only_the_paths_given(tmp_path, write, validate):
    write("broken.yaml", "- model_id: [\n")
    one = write(tmp_path / "elsewhere" / "one.yaml", minimal("one"))
    two = write(tmp_path / "dir" / "two.yml", minimal("two"))
    assert validate(one, two.parent) == (0, ["OK: 2 models in 2 files, no problems"], "")


def test_validate_a_missing_path(tmp_path, validate):
    missing = tmp_path / "nope.yaml"
    code, lines, _ = validate(missing)
    assert (code, lines) == (1, [f"{missing}:1:1: no such file"])


# -- diagnostics: one per kind of mistake -----------------------------------


def assert_problems(validate, *expected):
    code, lines, _ = validate()
    assert code == 1
    assert lines == list(expected)


def test_unknown_key_without_a_close_match_lists_the_keys(write, validate):
    path = write("a.yaml", minimal("m") + "  colour: blue\n")
    assert_problems(
        validate,
        f"{path}:3:3: [0].colour: unknown key 'colour'; expected one of: {keys_of('modelEntry')}",
    )


def test_misspelt_top_level_key(write, validate):
    path = write("a.yaml", "modles:\n  - model_id: m\n    backend: {type: markov}\n")
    assert_problems(validate, f"{path}:1:1: modles: unknown key 'modles'; did you mean 'models'?")


def test_a_missing_key_not_explained_by_a_misspelling_is_still_reported(write, validate):
    path = write("a.yaml", "- modle_id: m\n")
    assert_problems(
        validate,
        f"{path}:1:3: [0]: 'backend' is a required property",
        f"{path}:1:3: [0].modle_id: unknown key 'modle_id'; did you mean 'model_id'?",
    )


def test_one_model_written_as_the_whole_file(write, validate):
    path = write("a.yaml", "model_id: m\nbackend: {type: markov}\n")
    assert_problems(
        validate,
        f"{path}:1:1: this is one model declaration; a file holds a list of them: "
        "start it with '- ', or put it under 'models:'",
    )


def test_aliases_as_a_bare_string_is_an_error(write, validate):
    path = write("a.yaml", "- model_id: m\n  aliases: mm\n  backend: {type: markov}\n")
    assert_problems(
        validate, f"{path}:2:12: [0].aliases: 'mm' is not of type 'array'; write a list, e.g. [mm]"
    )
    assert model_ids() == []


def test_repeated_alias_in_one_model(write, validate):
    path = write("a.yaml", "- model_id: m\n  aliases: [x, x]\n  backend: {type: markov}\n")
    assert_problems(validate, f"{path}:2:12: [0].aliases: ['x', 'x'] has non-unique elements")


def test_an_alias_that_is_the_models_own_id(write, validate):
    path = write("a.yaml", "- model_id: m\n  aliases: [mm, m]\n  backend: {type: markov}\n")
    assert_problems(
        validate,
        f"{path}:2:17: [0].aliases[1]: 'm' is the model's own id; an alias is another name for it",
    )


def test_model_id_with_spaces(write, validate):
    path = write("a.yaml", minimal("'two words'"))
    assert_problems(validate, f"{path}:1:13: [0].model_id: 'two words' must not contain spaces")


def test_empty_model_id_is_reported_once(write, validate):
    path = write("a.yaml", minimal("''"))
    assert_problems(validate, f"{path}:1:13: [0].model_id: must not be empty")


def test_model_id_of_the_wrong_type(write, validate):
    path = write("a.yaml", minimal("5"))
    assert_problems(validate, f"{path}:1:13: [0].model_id: 5 is not of type 'string'")


def test_missing_backend(write, validate):
    path = write("a.yaml", "- model_id: m\n")
    assert_problems(validate, f"{path}:1:3: [0]: 'backend' is a required property")


def test_backend_must_be_a_mapping(write, validate):
    path = write("a.yaml", "- model_id: m\n  backend: markov\n")
    assert_problems(validate, f"{path}:2:12: [0].backend: 'markov' is not of type 'object'")


def test_misspelt_backend_type(write, validate):
    path = write("a.yaml", "- model_id: m\n  backend: {type: markof}\n")
    assert_problems(
        validate,
        f"{path}:2:19: [0].backend.type: "
        f"'markof' is not one of {BACKEND_TYPES}; did you mean 'markov'?",
    )


def test_unknown_backend_type(write, validate):
    path = write("a.yaml", "- model_id: m\n  backend: {type: neural}\n")
    assert_problems(
        validate, f"{path}:2:19: [0].backend.type: 'neural' is not one of {BACKEND_TYPES}"
    )


def test_unknown_backend_key_is_reported_once_with_the_backends_keys(write, validate):
    path = write("a.yaml", "- model_id: m\n  backend: {type: markov, temperature: 1}\n")
    assert_problems(
        validate,
        f"{path}:2:27: [0].backend.temperature: unknown key 'temperature'; "
        f"expected one of: {keys_of('markovBackend')}",
    )


def test_misspelt_backend_key(write, validate):
    path = write("a.yaml", "- model_id: m\n  backend: {type: markov, corpsu: a.txt}\n")
    assert_problems(
        validate, f"{path}:2:27: [0].backend.corpsu: unknown key 'corpsu'; did you mean 'corpus'?"
    )


def test_another_backends_key_on_a_markov_backend(write, validate):
    path = write("a.yaml", "- model_id: m\n  backend: {type: markov, callable: 'x:y'}\n")
    assert_problems(
        validate,
        f"{path}:2:27: [0].backend.callable: unknown key 'callable'; "
        f"expected one of: {keys_of('markovBackend')}",
    )


@pytest.mark.parametrize(
    ("order", "message"),
    [(0, "0 is less than the minimum of 1"), (4, "4 is greater than the maximum of 3")],
)
def test_markov_order_out_of_range(write, validate, order, message):
    path = write("a.yaml", f"- model_id: m\n  backend: {{type: markov, order: {order}}}\n")
    assert_problems(validate, f"{path}:2:34: [0].backend.order: {message}")


def test_missing_corpus_file(write, validate, models_dir):
    path = write("a.yaml", "- model_id: m\n  backend: {type: markov, corpus: words.txt}\n")
    assert_problems(
        validate,
        f"{path}:2:35: [0].backend.corpus: corpus file not found: {models_dir / 'words.txt'}",
    )


def test_can_stream_must_be_a_boolean(write, validate):
    path = write("a.yaml", minimal("m") + "  can_stream: 'yes'\n")
    assert_problems(validate, f"{path}:3:15: [0].can_stream: 'yes' is not of type 'boolean'")


def test_key_needs_a_name(write, validate):
    path = write("a.yaml", minimal("m") + "  key: {env: MY_KEY}\n")
    assert_problems(validate, f"{path}:3:8: [0].key: needs 'name' or 'command'")


def test_key_env_must_be_an_environment_variable_name(write, validate):
    path = write("a.yaml", minimal("m") + "  key: {name: k, env: 1BAD}\n")
    assert_problems(
        validate,
        f"{path}:3:23: [0].key.env: '1BAD' is not an environment variable name: "
        "use letters, digits and '_', not starting with a digit",
    )


def test_markov_reads_only_text_attachments(write, validate):
    path = write("a.yaml", minimal("m") + "  attachment_types: [image/png, text/plain]\n")
    assert_problems(
        validate,
        f"{path}:3:22: [0].attachment_types[0]: "
        "the markov backend reads only text/* attachments, not image/png",
    )


def test_version_other_than_1(write, validate):
    path = write("a.yaml", "version: 2\nmodels: []\n")
    assert_problems(validate, f"{path}:1:10: version: 1 was expected")


def test_a_list_item_that_is_not_a_mapping(write, validate):
    path = write("a.yaml", "- just a name\n" + minimal("fine"))
    assert_problems(validate, f"{path}:1:3: [0]: 'just a name' is not of type 'object'")
    assert model_ids() == ["fine"]


# -- diagnostics: options ------------------------------------------------


def option_file(write, spec: str):
    return write("a.yaml", f"- model_id: m\n  backend: {{type: markov}}\n  options:\n    {spec}\n")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("schema", "llm's prompt() takes 'schema' itself"),
        ("system", "llm's prompt() takes 'system' itself"),
        ("json", "llm.Options (a pydantic model) has 'json'"),
        ("copy", "llm.Options (a pydantic model) has 'copy'"),
        ("model_dump", "pydantic keeps names starting 'model_'"),
        ("model_size", "pydantic keeps names starting 'model_'"),
    ],
)
def test_reserved_option_names(write, validate, name, why):
    """These passed validate, then broke `llm models list --options` (a
    pydantic error or warning) or `-o` (prompt() got the name twice)."""
    path = option_file(write, f"{name}: {{type: string}}")
    assert_problems(
        validate, f"{path}:4:5: [0].options.{name}: option name '{name}' is reserved: {why}"
    )


def test_unknown_option_type_suggests_one(write, validate):
    path = option_file(write, "o: {type: strng}")
    assert_problems(
        validate,
        f"{path}:4:15: [0].options.o.type: 'strng' is not one of string, integer, number, "
        "boolean, array, object; did you mean 'string'?",
    )


def test_misspelt_option_keyword(write, validate):
    path = option_file(write, "o: {type: string, descripton: hi}")
    assert_problems(
        validate,
        f"{path}:4:23: [0].options.o.descripton: unknown key 'descripton'; "
        "did you mean 'description'?",
    )


def test_invalid_option_name(write, validate):
    path = option_file(write, "1st: {type: string}")
    assert_problems(
        validate,
        f"{path}:4:5: [0].options.1st: "
        "'1st' is not a valid option name: use a letter, then letters, digits or '_'",
    )


def test_keyword_that_does_not_apply_to_the_type(write, validate):
    path = option_file(write, "o: {type: string, minimum: 3}")
    assert_problems(
        validate,
        f"{path}:4:32: [0].options.o.minimum: "
        "'minimum' applies to integer and number options, not string",
    )


def test_items_only_for_arrays(write, validate):
    path = option_file(write, "o: {type: string, items: {type: string}}")
    assert_problems(
        validate, f"{path}:4:30: [0].options.o.items: 'items' applies to array options, not string"
    )


def test_minimum_greater_than_maximum(write, validate):
    path = option_file(write, "o: {type: integer, minimum: 5, maximum: 1}")
    assert_problems(
        validate, f"{path}:4:33: [0].options.o.minimum: minimum 5 is greater than maximum 1"
    )


def test_invalid_regular_expression(write, validate):
    path = option_file(write, "o: {type: string, pattern: '('}")
    assert_problems(
        validate,
        f"{path}:4:32: [0].options.o.pattern: "
        "not a valid regular expression: missing ), unterminated subpattern at position 0",
    )


EVIL = "(a+)+$"  # backtracks 2^n times on "a" * n + "!" in Python's re
SLOW = "a" * 40 + "!"


def test_a_pattern_that_backtracks_does_not_hang_llm(write, llm_exe):
    """Defaults are checked on every cache miss, i.e. in any llm command:
    in a subprocess (with the fixture's timeout), since a hang here would
    stop the test run."""
    spec = f"o: {{type: string, pattern: '{EVIL}', default: '{SLOW}'}}"
    path = option_file(write, spec)
    validated = llm_exe("yaml-models", "validate")
    assert validated.stdout == (
        f"{path}:4:51: [0].options.o.default: default '{SLOW}' does not match '{EVIL}'\n"
    )
    listed = llm_exe("models", "list")
    assert listed.returncode == 0


def test_a_pattern_that_backtracks_against_a_value_from_the_command_line(write, llm_exe):
    option_file(write, f"o: {{type: string, pattern: '{EVIL}'}}")
    result = llm_exe("-m", "m", "-o", "o", SLOW, "a b c")
    assert result.returncode == 1
    assert result.stderr == f"Error: o\n  String should match pattern '{EVIL}'\n"


def test_default_outside_the_bounds(write, validate):
    path = option_file(write, "o: {type: integer, minimum: 5, default: 3}")
    assert_problems(
        validate, f"{path}:4:45: [0].options.o.default: default 3 is less than the minimum of 5"
    )


def test_default_of_the_wrong_type(write, validate):
    path = option_file(write, "o: {type: integer, default: '3'}")
    assert_problems(
        validate, f"{path}:4:33: [0].options.o.default: default '3' is not of type 'integer'"
    )


def test_enum_value_of_the_wrong_type(write, validate):
    path = option_file(write, "o: {type: string, enum: [x, 1]}")
    assert_problems(validate, f"{path}:4:33: [0].options.o.enum[1]: 1 is not of type 'string'")


@pytest.mark.parametrize(
    ("spec", "col", "message"),
    [
        (
            "length: {type: string}",
            20,
            "length.type: the markov backend reads 'length' as integer, not string",
        ),
        (
            "length: {type: integer, minimum: 1}",
            38,
            "length.minimum: the markov backend needs length >= 2",
        ),
        (
            "delay: {type: number, maximum: 60}",
            36,
            "delay.maximum: the markov backend needs delay <= 10",
        ),
        (
            "seed: {type: number}",
            18,
            "seed.type: the markov backend reads 'seed' as integer, not number",
        ),
    ],
)
def test_options_the_markov_backend_reads_must_suit_it(write, validate, spec, col, message):
    path = option_file(write, spec)
    assert_problems(validate, f"{path}:4:{col}: [0].options.{message}")


# -- diagnostics: defaults ------------------------------------------------


def test_a_problem_in_defaults_is_reported_once_and_skips_the_files_models(write, validate):
    path = write(
        "a.yaml",
        """\
        defaults:
          backend: {type: markov}
          options:
            length: {type: string}
        models:
          - model_id: one
          - model_id: two
        """,
    )
    assert_problems(
        validate,
        f"{path}:4:20: defaults.options.length.type: "
        "the markov backend reads 'length' as integer, not string",
    )
    assert model_ids() == []


def test_model_keys_are_not_allowed_in_defaults(write, validate):
    path = write("a.yaml", "defaults:\n  model_id: x\nmodels: []\n")
    assert_problems(
        validate,
        f"{path}:2:3: defaults.model_id: unknown key 'model_id'; "
        f"expected one of: {keys_of('defaults')}",
    )


# -- diagnostics: whole files ------------------------------------------------


def test_empty_file(write, validate):
    path = write("a.yaml", "")
    assert_problems(
        validate,
        f"{path}:1:1: the file is empty; expected a list of models or a mapping with 'models'",
    )


def test_a_scalar_file(write, validate):
    path = write("a.yaml", "just words\n")
    assert_problems(
        validate,
        f"{path}:1:1: expected a list of models or a mapping with 'models', not a string",
    )


def test_a_mapping_where_the_model_list_belongs(write, validate):
    path = write("a.yaml", "models:\n  model_id: m\n")
    assert_problems(validate, f"{path}:2:3: models: {{'model_id': 'm'}} is not of type 'array'")


def test_models_of_the_wrong_type(write, validate):
    path = write("a.yaml", "models: 5\n")
    assert_problems(validate, f"{path}:1:9: models: 5 is not of type 'array'")


def test_malformed_yaml(write, validate):
    path = write("a.yaml", "models:\n  - model_id: [unclosed\n")
    assert_problems(
        validate,
        f"{path}:3:1: YAML syntax error: did not find expected ',' or ']' "
        "while parsing a flow sequence",
    )


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "- model_id: a\n  backend: {type: markov}\n---\n- model_id: b\n",
            "3:1",
            "expected a single document in the stream but found another document",
        ),
        (
            "- model_id: &x a\n  backend: &x {type: markov}\n",
            "2:12",
            "found duplicate anchor 'x' (first at line 1)",
        ),
        ("- model_id: *nope\n", "1:13", "found undefined alias 'nope'"),
    ],
)
def test_yaml_errors_read_as_one_sentence(write, validate, text, where, message):
    path = write("a.yaml", text)
    assert_problems(validate, f"{path}:{where}: YAML syntax error: {message}")


def test_python_object_tags_are_refused(write, validate):
    path = write("a.yaml", "- !!python/object/apply:os.system\n  args: [echo hi]\n")
    assert_problems(
        validate, f"{path}:1:3: [0]: unsupported YAML tag '!!python/object/apply:os.system'"
    )


@pytest.mark.parametrize("number", [".inf", "-.Inf", ".nan", "!!float 1e999"])
def test_numbers_that_json_cannot_hold_are_refused(write, validate, number):
    """An infinite bound once passed validate, then crashed the Options class."""
    path = option_file(write, f"o: {{type: integer, maximum: {number}}}")
    literal = number.split()[-1]
    assert_problems(
        validate, f"{path}:4:33: [0].options.o.maximum: {literal!r} is not a finite number"
    )


def test_non_utf8_bytes(write, validate):
    path = write("a.yaml", b"- model_id: caf\xe9\n  backend: {type: markov}\n")
    assert_problems(validate, f"{path}:1:16: not valid UTF-8: byte 0xe9 cannot be decoded")


def test_duplicate_keys(write, validate):
    path = write("a.yaml", "- model_id: a\n  model_id: b\n  backend: {type: markov}\n")
    assert_problems(
        validate, f"{path}:2:3: [0].model_id: duplicate key 'model_id' (first at line 1)"
    )


def test_a_directory_named_like_a_model_file(models_dir, validate):
    (models_dir / "x.yaml").mkdir()
    assert_problems(validate, f"{models_dir / 'x.yaml'}:1:1: is a directory, not a YAML file")


def test_a_broken_symlink(models_dir, validate):
    (models_dir / "gone.yaml").symlink_to(models_dir / "nowhere.yaml")
    assert_problems(
        validate, f"{models_dir / 'gone.yaml'}:1:1: broken symlink: its target does not exist"
    )


def test_an_alias_bomb_is_stopped(write, validate):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    path = write("a.yaml", "\n".join(lines) + "\n")
    assert_problems(
        validate,
        f"{path}:1:44: e[7][8][8][8][9]: "
        "document expands to more than 100000 nodes (an alias bomb?)",
    )


# -- one bad declaration does not spoil the rest --------------------------


def test_good_declarations_beside_a_bad_one_still_load(write):
    write("a.yaml", minimal("first") + "- model_id: broken\n" + minimal("last"))
    write("b.yaml", "{{{ not yaml\n")
    write("c.yaml", minimal("other"))
    assert model_ids() == ["first", "last", "other"]
    words = llm.get_model("last").prompt("a b c").text().split()
    assert len(words) == 20
    assert set(words) <= {"a", "b", "c"}


# -- names: duplicates and collisions -------------------------------------


def test_duplicate_model_ids_across_files_name_both_places(write, validate):
    first = write("a.yaml", minimal("same"))
    second = write("b.yaml", "# comment\n" + minimal("same"))
    assert_problems(
        validate, f"{second}:2:13: [0].model_id: 'same' is already declared at {first}:1:13"
    )
    assert model_ids() == ["same"]


def test_alias_that_repeats_another_models_alias(write, validate):
    first = write("a.yaml", "- model_id: a\n  aliases: [shared]\n  backend: {type: markov}\n")
    second = write("b.yaml", "- model_id: b\n  aliases: [shared]\n  backend: {type: markov}\n")
    assert_problems(
        validate,
        f"{second}:2:13: [0].aliases[0]: 'shared' is already declared at {first}:2:13",
    )


def test_duplicate_model_ids_in_one_file(write, validate):
    path = write("a.yaml", minimal("same") + minimal("same"))
    assert_problems(
        validate, f"{path}:3:13: [1].model_id: 'same' is already declared at {path}:1:13"
    )


def test_a_name_llm_already_registers_is_an_error(write, validate):
    path = write("a.yaml", minimal("gpt-4o"))
    assert_problems(
        validate,
        f"{path}:1:13: [0].model_id: 'gpt-4o' is already registered by "
        "llm.default_plugins.openai_models (OpenAI Chat: gpt-4o); "
        "set 'replace: true' to shadow it",
    )
    assert str(llm.get_model("gpt-4o")) == "OpenAI Chat: gpt-4o"


def test_an_alias_llm_already_registers_is_an_error(write, validate):
    path = write("a.yaml", "- model_id: mine\n  aliases: [4o]\n  backend: {type: markov}\n")
    assert_problems(
        validate,
        f"{path}:2:13: [0].aliases[0]: '4o' is already registered by "
        "llm.default_plugins.openai_models (OpenAI Chat: gpt-4o); "
        "set 'replace: true' to shadow it",
    )
    assert model_ids() == []


def test_replace_true_shadows_a_registered_model(write, validate):
    path = write("a.yaml", minimal("gpt-4o") + "  replace: true\n")
    assert validate() == (
        0,
        ["OK: 1 model in 1 file, no problems"],
        f"{path}:1:13: [0].model_id: note: replace: 'gpt-4o' names this model; "
        "OpenAI Chat: gpt-4o (llm.default_plugins.openai_models) stays registered, "
        "and llm models list shows both; it is still reached as 4o\n",
    )
    assert str(llm.get_model("gpt-4o")) == "YAML markov: gpt-4o"


def test_a_cache_others_could_write_is_neither_read_nor_written(write, user_dir, run_llm, llm_exe):
    """The cache's digest holds no secret: anyone who can write the user
    directory could forge an entry (and point a key at their server)."""
    from llm_yaml_models import registry

    path = write("markov.yaml", minimal("markov"))
    assert run_llm("models", "list").exit_code == 0  # writes the cache
    cache_file = user_dir / registry.CACHE_NAME
    cache = json.loads(cache_file.read_text())
    entry = cache["files"][str(path)]
    entry["result"]["models"][0][0]["model_id"] = "forged"
    entry["digest"] = registry._digest(str(path), entry)
    cache_file.write_text(json.dumps(cache))
    forged = cache_file.read_bytes()
    os.chmod(user_dir, 0o777)
    listed = llm_exe("models", "list")
    assert listed.returncode == 0
    assert listed.stderr == (
        f"llm-yaml-models: not using the cache {cache_file}: any user can write to "
        f"{user_dir}; fix it with: chmod go-w {user_dir}\n"
    )
    assert "YAML markov: markov\n" in listed.stdout
    assert "forged" not in listed.stdout
    assert cache_file.read_bytes() == forged  # not written either

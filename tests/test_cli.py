"""`llm yaml-models` commands, the real llm executable, the on-disk cache,
and that nothing in a model file can break unrelated llm commands."""

from __future__ import annotations

import json
import os

import pytest
from conftest import MARKOV, SCHEMA_FILE, model_ids

GOOD = "- model_id: good\n  backend: {type: markov}\n  options: {seed: {type: integer}}\n"
WARNING_END = "; run 'llm yaml-models validate' for details\n"


# -- llm yaml-models path ---------------------------------------------------


def test_path_lists_each_place_and_whether_it_exists(
    monkeypatch, tmp_path, user_dir, models_dir, run_llm
):
    missing = tmp_path / "missing"
    single = tmp_path / "one.yaml"
    single.write_text(GOOD)
    monkeypatch.setenv(
        "LLM_YAML_MODELS_PATH", os.pathsep.join([str(models_dir), str(missing), str(single)])
    )
    result = run_llm("yaml-models", "path")
    assert result.exit_code == 0
    assert result.stdout == (
        f"{user_dir / 'yaml-models'}\tmissing\t(user directory)\n"
        f"{models_dir}\texists\t(LLM_YAML_MODELS_PATH)\n"
        f"{missing}\tmissing\t(LLM_YAML_MODELS_PATH)\n"
        f"{single}\texists\t(LLM_YAML_MODELS_PATH)\n"
    )


def test_path_without_the_environment_variable(monkeypatch, user_dir, run_llm):
    monkeypatch.delenv("LLM_YAML_MODELS_PATH")
    (user_dir / "yaml-models").mkdir()
    result = run_llm("yaml-models", "path")
    assert result.stdout == f"{user_dir / 'yaml-models'}\texists\t(user directory)\n"


# -- llm yaml-models list ---------------------------------------------------


@pytest.fixture
def mixed(write):
    """One file with a loaded model, a model that takes llm's gpt-4o, and a
    broken declaration."""
    return write(
        "a.yaml",
        """\
        - model_id: mine
          aliases: [m1, m2]
          backend: {type: markov}
        - model_id: gpt-4o
          backend: {type: markov}
        - model_id: broken
        """,
    )


def test_list_shows_each_declaration_and_its_status(mixed, run_llm):
    result = run_llm("yaml-models", "list")
    assert result.exit_code == 0
    assert result.stdout == (
        f"mine (aliases: m1, m2) [markov] {mixed}:1: loaded\n"
        f"gpt-4o [markov] {mixed}:4: error: name already registered\n"
        f"broken {mixed}:6: error: see 'llm yaml-models validate'\n"
    )


def test_list_names_what_it_skipped_in_file_order(write, models_dir, run_llm):
    first = write("a.yaml", "- model_id: twice\n  backend: {type: markov}\n")
    second = write(
        "b.yaml",
        """\
        - model_id: bad-option
          aliases: [bo]
          backend: {type: markov}
          options: {x: {type: strng}}
        - model_id: twice
          backend: {type: markov}
        - just a string
        - model_id: fine
          backend: {type: markov}
        """,
    )
    write("c.yaml", "[unclosed\n")
    result = run_llm("yaml-models", "list")
    assert result.exit_code == 0
    assert result.stdout == (
        f"twice [markov] {first}:1: loaded\n"
        f"bad-option (aliases: bo) [markov] {second}:1: error: see 'llm yaml-models validate'\n"
        f"twice [markov] {second}:5: error: name already declared\n"
        f"? {second}:7: error: see 'llm yaml-models validate'\n"
        f"fine [markov] {second}:8: loaded\n"
        f"? {models_dir / 'c.yaml'}:2: error: see 'llm yaml-models validate'\n"
    )


def test_list_as_json(mixed, run_llm):
    result = run_llm("yaml-models", "list", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [
        {
            "model_id": "mine",
            "aliases": ["m1", "m2"],
            "backend": "markov",
            "kind": "chat",
            "source": f"{mixed}:1",
            "loaded": True,
            "status": "loaded",
        },
        {
            "model_id": "gpt-4o",
            "aliases": [],
            "backend": "markov",
            "kind": "chat",
            "source": f"{mixed}:4",
            "loaded": False,
            "status": "error: name already registered",
        },
        {
            "model_id": "broken",
            "aliases": [],
            "backend": None,
            "kind": "chat",
            "source": f"{mixed}:6",
            "loaded": False,
            "status": "error: see 'llm yaml-models validate'",
        },
    ]


def test_yaml_models_commands_do_not_print_the_warning(mixed, run_llm):
    assert run_llm("yaml-models", "list").stderr == ""
    assert "llm-yaml-models: skipped" not in run_llm("yaml-models", "validate").stderr


# -- llm yaml-models show ---------------------------------------------------

SHOW_FILE = """\
defaults:
  backend: {type: markov}
  options:
    delay: {type: number, description: Seconds between words}
models:
  - model_id: shown
    aliases: [sh]
    description: A model to show
    options:
      length:
        type: integer
        default: 5
"""


def test_show_marks_where_each_value_came_from(write, run_llm):
    path = write("a.yaml", SHOW_FILE)
    result = run_llm("yaml-models", "show", "shown")
    assert result.exit_code == 0
    assert result.stdout == (
        f"# shown, declared at {path}:6\n"
        f"model_id: shown  # {path}:6\n"
        f"aliases: [sh]  # {path}:7\n"
        f"description: A model to show  # {path}:8\n"
        "options:\n"
        "  length:\n"
        f"    type: integer  # {path}:11\n"
        f"    default: 5  # {path}:12\n"
        "  delay:\n"
        f"    type: number  # {path}:4 (defaults)\n"
        f"    description: Seconds between words  # {path}:4 (defaults)\n"
        "backend:\n"
        f"  type: markov  # {path}:2 (defaults)\n"
    )


def test_show_finds_a_model_by_alias(write, run_llm):
    write("a.yaml", SHOW_FILE)
    assert (
        run_llm("yaml-models", "show", "sh").stdout
        == run_llm("yaml-models", "show", "shown").stdout
    )


def test_show_an_unknown_model(write, run_llm):
    write("a.yaml", SHOW_FILE)
    result = run_llm("yaml-models", "show", "nope")
    assert result.exit_code == 1
    assert result.stderr == "Error: no declared model 'nope'; see 'llm yaml-models list'\n"


# -- llm yaml-models schema -------------------------------------------------


def test_schema_prints_the_schema_file(run_llm):
    result = run_llm("yaml-models", "schema")
    assert result.exit_code == 0
    assert result.stdout == SCHEMA_FILE.read_text("utf-8")
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_schema_is_a_valid_draft7_schema():
    import jsonschema

    jsonschema.Draft7Validator.check_schema(json.loads(SCHEMA_FILE.read_text("utf-8")))


# -- the one warning line --------------------------------------------------


def test_a_broken_declaration_gives_one_warning_line(write, run_llm):
    path = write("a.yaml", GOOD + "- model_id: broken\n")
    result = run_llm("models", "list")
    assert result.exit_code == 0
    assert "YAML markov: good\n" in result.stdout
    assert result.stderr == f"llm-yaml-models: skipped {path}:4{WARNING_END}"


def test_the_warning_is_printed_once_per_process(write, run_llm):
    write("a.yaml", GOOD + "- model_id: broken\n")
    first = run_llm("models", "list")
    for _ in range(3):
        model_ids()
    second = run_llm("-m", "good", "a b c")
    assert first.stderr.count("llm-yaml-models:") == 1
    assert second.exit_code == 0
    assert second.stderr == ""


def test_the_warning_summarises_many_skipped_declarations(write, run_llm):
    path = write("a.yaml", "".join(f"- model_id: b{i}\n" for i in range(5)))
    result = run_llm("models", "list")
    assert result.stderr == (
        f"llm-yaml-models: skipped {path}:1, {path}:2, {path}:3 and 2 more{WARNING_END}"
    )


def test_the_warning_stays_on_one_line_whatever_the_file_is_called(write, run_llm):
    path = write("bro\nken.yaml", "- model_id: b\n")
    result = run_llm("models", "list")
    shown = str(path).replace("\n", "\\n")
    assert result.stderr == f"llm-yaml-models: skipped {shown}:1{WARNING_END}"


def test_a_name_clash_is_warned_about_and_llms_model_kept(write, run_llm):
    path = write("a.yaml", "- model_id: gpt-4o\n  backend: {type: markov}\n")
    result = run_llm("models", "list")
    assert result.exit_code == 0
    assert "OpenAI Chat: gpt-4o" in result.stdout
    assert "YAML markov: gpt-4o" not in result.stdout
    assert result.stderr == f"llm-yaml-models: skipped {path}:1{WARNING_END}"


# -- nothing in a model file breaks unrelated llm commands ----------------


def _symlink_to_nowhere(path):
    path.symlink_to(path.with_name("nowhere.yaml"))


def _bomb() -> str:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    return "\n".join(lines) + "\n"


BROKEN = {
    "malformed": "models:\n  - model_id: [unclosed\n",
    "empty": "",
    "only-a-comment": "# nothing here\n",
    "scalar": "hello\n",
    "mapping-for-list": "models:\n  model_id: x\n  backend: {type: markov}\n",
    "list-of-strings": "- a\n- b\n",
    "wrong-types": "- model_id: 5\n  aliases: 6\n  backend: 7\n  options: 8\n",
    "unknown-backend": "- model_id: x\n  backend: {type: neural}\n",
    "python-tag": "- !!python/object/apply:os.system ['echo pwned']\n",
    "python-name": "- model_id: !!python/name:os.system\n  backend: {type: markov}\n",
    "non-utf8": b"- model_id: \xff\xfe\n  backend: {type: markov}\n",
    "duplicate-keys": "- model_id: a\n  model_id: b\n  backend: {type: markov}\n",
    "deep-nesting": "x: " + "[" * 200 + "]" * 200 + "\n",
    "alias-bomb": _bomb(),
    "huge": "# " + "x" * (1024 * 1024 + 10) + "\n",
    "directory": None,
    "broken-symlink": _symlink_to_nowhere,
}


@pytest.fixture(params=sorted(BROKEN))
def broken(request, write, models_dir):
    """A good model file plus one broken file of the given kind."""
    write("good.yaml", GOOD)
    path = models_dir / f"{request.param}.yaml"
    content = BROKEN[request.param]
    if content is None:
        path.mkdir()
    elif callable(content):
        content(path)
    else:
        write(path, content)
    return path


def test_version_survives_a_broken_file(broken, run_llm):
    result = run_llm("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("llm, version ")


def test_models_list_survives_a_broken_file(broken, run_llm):
    result = run_llm("models", "list")
    assert result.exit_code == 0
    assert "YAML markov: good\n" in result.stdout
    assert result.stderr.startswith(f"llm-yaml-models: skipped {broken}:")
    assert result.stderr.endswith(WARNING_END)
    assert result.stderr.count("\n") == 1


def test_logs_survive_a_broken_file(broken, run_llm):
    assert run_llm("-m", "good", "-o", "seed", "1", "a b c").exit_code == 0
    result = run_llm("logs", "-n", "1")
    assert result.exit_code == 0
    assert "Model: **good**" in result.stdout


def test_validate_reports_a_broken_file(broken, run_llm):
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{broken}:")
    assert result.stderr.endswith("(1 model in 2 files usable)\n")


def test_a_file_over_one_mebibyte(write, run_llm):
    path = write("big.yaml", "# " + "x" * (1024 * 1024) + "\n")
    result = run_llm("yaml-models", "validate")
    size = path.stat().st_size
    assert result.stdout == f"{path}:1:1: file is {size} bytes; model files are limited to 1 MiB\n"


# -- the real llm executable --------------------------------------------------


def test_llm_runs_a_declared_model(write, llm_exe):
    write("markov.yaml", MARKOV)
    first = llm_exe("-m", "markov", "-o", "seed", "4", "the cat sat on the mat")
    second = llm_exe("-m", "chain", "-o", "seed", "4", "--no-stream", "the cat sat on the mat")
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    assert len(first.stdout.split()) == 20
    assert first.stdout == second.stdout


def test_llm_continues_a_conversation_and_logs_it(write, llm_exe):
    write("markov.yaml", MARKOV)
    assert llm_exe("-m", "markov", "-o", "length", "4", "the cat sat on the mat").returncode == 0
    reply = llm_exe("-c", "-o", "length", "3", "dogs chase cats and cats chase mice")
    assert reply.returncode == 0, reply.stderr
    assert len(reply.stdout.split()) == 3
    logs = json.loads(llm_exe("logs", "--json", "-n", "2").stdout)
    assert [(e["model"], e["prompt"]) for e in logs] == [
        ("markov", "the cat sat on the mat"),
        ("markov", "dogs chase cats and cats chase mice"),
    ]
    assert logs[0]["conversation_id"] == logs[1]["conversation_id"]
    assert [e["output_tokens"] for e in logs] == [4, 3]


def test_llm_reports_a_too_short_prompt_in_one_line(write, llm_exe):
    write("markov.yaml", MARKOV)
    result = llm_exe("-m", "markov", "")
    assert result.returncode == 1
    assert result.stderr == (
        "Error: markov: nothing to learn from: "
        "the prompt needs at least 2 words, or declare backend.corpus\n"
    )


def test_llm_validate_exit_codes(write, llm_exe):
    path = write("markov.yaml", MARKOV)
    ok = llm_exe("yaml-models", "validate")
    assert (ok.returncode, ok.stdout) == (0, "OK: 1 model in 1 file, no problems\n")
    write("bad.yaml", "- model_id: x\n  backend: {type: markov, order: 9}\n")
    bad = llm_exe("yaml-models", "validate")
    assert bad.returncode == 1
    bad_file = path.with_name("bad.yaml")
    assert bad.stdout == f"{bad_file}:2:34: [0].backend.order: 9 is greater than the maximum of 3\n"
    assert bad.stderr == "Error: 1 problem (1 model in 2 files usable)\n"


def test_llm_survives_every_kind_of_broken_file_at_once(write, models_dir, llm_exe):
    write("good.yaml", GOOD)
    for name, content in BROKEN.items():
        path = models_dir / f"{name}.yaml"
        if content is None:
            path.mkdir()
        elif callable(content):
            content(path)
        else:
            write(path, content)
    assert llm_exe("--version").returncode == 0
    listed = llm_exe("models", "list")
    assert listed.returncode == 0
    assert "YAML markov: good\n" in listed.stdout
    assert listed.stderr.count("\n") == 1
    assert listed.stderr.startswith("llm-yaml-models: skipped ")
    assert listed.stderr.endswith(WARNING_END)
    prompt = llm_exe("-m", "good", "-o", "seed", "2", "one two three")
    assert prompt.returncode == 0
    logs = llm_exe("logs", "-n", "1")
    assert logs.returncode == 0
    assert "Model: **good**" in logs.stdout
    validate = llm_exe("yaml-models", "validate")
    assert validate.returncode == 1
    assert len(validate.stdout.splitlines()) >= len(BROKEN)


# -- the cache ----------------------------------------------------------------

IMPORTS_JSONSCHEMA = (
    "import llm, sys; "
    "ids = [m.model_id for m in llm.get_models()]; "
    "print('jsonschema' in sys.modules, ids[-1])"
)


def test_a_warm_cache_does_not_import_jsonschema(write, python_exe, run_llm):
    write("markov.yaml", MARKOV)
    assert run_llm("models", "list").exit_code == 0  # writes the cache
    second = python_exe(IMPORTS_JSONSCHEMA)
    assert second.returncode == 0, second.stderr
    assert second.stdout == "False markov\n"


def test_an_edited_file_is_picked_up(write, python_exe):
    path = write("markov.yaml", MARKOV)
    python_exe(IMPORTS_JSONSCHEMA)
    assert python_exe(IMPORTS_JSONSCHEMA).stdout == "False markov\n"
    path.write_text(MARKOV.replace("model_id: markov", "model_id: edited"))
    later = path.stat().st_mtime + 10
    os.utime(path, (later, later))
    assert python_exe(IMPORTS_JSONSCHEMA).stdout.endswith(" edited\n")
    assert python_exe(IMPORTS_JSONSCHEMA).stdout == "False edited\n"


def test_an_edited_file_is_picked_up_in_the_same_process(write):
    path = write("markov.yaml", MARKOV)
    assert model_ids() == ["markov"]
    path.write_text(MARKOV.replace("model_id: markov", "model_id: edited"))
    later = path.stat().st_mtime + 10
    os.utime(path, (later, later))
    assert model_ids() == ["edited"]


def test_a_new_file_is_picked_up(write):
    write("a.yaml", MARKOV)
    assert model_ids() == ["markov"]
    write("b.yaml", GOOD)
    assert model_ids() == ["markov", "good"]


def test_a_fixed_file_stops_the_warning(write, run_llm, llm_exe):
    path = write("a.yaml", "- model_id: fixme\n")
    assert run_llm("models", "list").stderr == f"llm-yaml-models: skipped {path}:1{WARNING_END}"
    path.write_text("- model_id: fixme\n  backend: {type: markov}\n")
    later = path.stat().st_mtime + 10
    os.utime(path, (later, later))
    fixed = llm_exe("models", "list")
    assert fixed.stderr == ""
    assert "YAML markov: fixme\n" in fixed.stdout


def test_a_corpus_file_created_later_is_picked_up(write, run_llm, llm_exe):
    write("a.yaml", "- model_id: trained\n  backend: {type: markov, corpus: words.txt}\n")
    assert "YAML markov: trained" not in run_llm("models", "list").stdout
    write("words.txt", "alpha beta gamma alpha")
    assert run_llm("yaml-models", "validate").exit_code == 0
    listed = llm_exe("models", "list")
    assert listed.stderr == ""
    assert "YAML markov: trained\n" in listed.stdout


def test_a_damaged_cache_file_is_ignored(write, user_dir, run_llm, llm_exe):
    write("markov.yaml", MARKOV)
    assert run_llm("models", "list").exit_code == 0  # writes the cache
    (user_dir / "yaml-models-cache.json").write_text("{not json")
    listed = llm_exe("models", "list")
    assert listed.stderr == ""
    assert "YAML markov: markov (aliases: chain)\n" in listed.stdout


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda m: m.__setitem__(0, {}), id="empty-declaration"),
        pytest.param(lambda m: m.__setitem__(0, {"model_id": 7}), id="id-not-a-string"),
        pytest.param(lambda m: m.__setitem__(5, []), id="alias-locations-lost"),
        pytest.param(lambda m: m.__setitem__(0, None), id="declaration-not-a-mapping"),
    ],
)
def test_a_damaged_cache_entry_is_a_miss(write, user_dir, run_llm, llm_exe, damage):
    path = write("markov.yaml", MARKOV)
    assert run_llm("models", "list").exit_code == 0  # writes the cache
    cache_file = user_dir / "yaml-models-cache.json"
    cache = json.loads(cache_file.read_text())
    damage(cache["files"][str(path)]["result"]["models"][0])
    cache_file.write_text(json.dumps(cache))
    prompted = llm_exe("-m", "chain", "-o", "seed", "1", "the cat sat")
    assert (prompted.returncode, prompted.stderr) == (0, "")
    listed = llm_exe("models", "list")
    assert listed.stderr == ""
    assert "YAML markov: markov (aliases: chain)\n" in listed.stdout


@pytest.mark.parametrize("files", [[], "text", None, 3], ids=repr)
def test_a_cache_whose_files_are_not_a_mapping_is_ignored(write, user_dir, run_llm, llm_exe, files):
    # Its header was right, and every llm command raised AttributeError.
    write("markov.yaml", MARKOV)
    assert run_llm("models", "list").exit_code == 0  # writes the cache
    cache_file = user_dir / "yaml-models-cache.json"
    cache = json.loads(cache_file.read_text())
    cache_file.write_text(json.dumps({**cache, "files": files}))
    listed = llm_exe("models", "list")
    assert (listed.returncode, listed.stderr) == (0, "")
    assert "YAML markov: markov (aliases: chain)\n" in listed.stdout
    assert isinstance(json.loads(cache_file.read_text())["files"], dict)  # written anew


def test_a_cache_written_in_an_older_format_is_ignored(write, user_dir, run_llm, llm_exe):
    # The entry format of the plugin's first commit, under the same version
    # and schema: a cache left behind by an upgrade must not hide the models.
    path = write("markov.yaml", MARKOV)
    assert run_llm("models", "list").exit_code == 0  # writes the cache
    cache_file = user_dir / "yaml-models-cache.json"
    cache = json.loads(cache_file.read_text())
    cache["files"][str(path)]["result"]["models"] = [
        {
            "data": {"model_id": "markov", "backend": {"type": "markov"}},
            "path": "[0]",
            "at": [1, 3],
            "id": [1, 13],
            "aliases": [],
        }
    ]
    cache_file.write_text(json.dumps(cache))
    listed = llm_exe("models", "list")
    assert listed.stderr == ""
    assert "YAML markov: markov" in listed.stdout

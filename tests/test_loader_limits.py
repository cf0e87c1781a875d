"""What no file may do to llm: hang it on a pattern, cost it more than its
size, overflow it with a number; and the cache, which is never a source of
truth. The quick validity check never accepts what jsonschema rejects."""

from __future__ import annotations

import difflib
import json
import os
import stat
import time

import llm
import pytest
import test_properties as tp
import yaml
from conftest import EXAMPLES, MARKOV, model_ids
from hypothesis import given
from hypothesis import strategies as st

from llm_yaml_models import registry
from llm_yaml_models.declarations import OptionSpec
from llm_yaml_models.loading import schema
from llm_yaml_models.loading.fastschema import compile_schema
from llm_yaml_models.loading.loader import load_file
from llm_yaml_models.loading.patterns import search

LOOK_AROUND = "look-around, including look-ahead and look-behind, is not supported"


@pytest.fixture
def validate(run_llm):
    def validate(*paths):
        result = run_llm("yaml-models", "validate", *map(str, paths))
        return result.exit_code, result.stdout.splitlines()

    return validate


def option_file(write, spec: str, name: str = "a.yaml"):
    return write(name, f"- model_id: m\n  backend: {{type: markov}}\n  options:\n    {spec}\n")


# -- patterns: the linear-time engine or nothing -----------------------------


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        # look-around that backtracks in Python's re: 2^41 steps on the default
        (r"^(?=a)(a+)+$", f"{LOOK_AROUND} (at position 1)"),
        # no look-around, only too big for the engine's size limit
        (r"(?:a{1,1000}){1,1000}$", "it compiles to more than the 10 MiB limit"),
        (r"^(a)\1$", "backreferences are not supported (at position 4)"),
        (r"^(?!x)", f"{LOOK_AROUND} (at position 1)"),
    ],
)
def test_a_pattern_the_linear_engine_cannot_compile_is_refused_at_its_line(
    write, llm_exe, pattern, why
):
    """In subprocesses (with the fixture's timeout): these hung every llm
    command once matched with Python's re."""
    default = "a" * 40 + "!"
    path = option_file(write, f"o: {{type: string, pattern: '{pattern}', default: '{default}'}}")
    write("b.yaml", "- model_id: other\n  backend: {type: markov}\n")
    validated = llm_exe("yaml-models", "validate")
    assert validated.stdout == (
        f"{path}:4:32: [0].options.o.pattern: "
        f"the linear-time regex engine cannot take this pattern: {why}\n"
    )
    assert validated.returncode == 1
    listed = llm_exe("models", "list")
    assert listed.returncode == 0
    assert "YAML markov: other\n" in listed.stdout
    assert listed.stderr == (
        f"llm-yaml-models: skipped {path}:1; run 'llm yaml-models validate' for details\n"
    )


def test_an_items_pattern_is_held_to_the_same_engine(write, validate):
    path = option_file(write, "o: {type: array, items: {type: string, pattern: '(?<=a)b'}}")
    assert validate() == (
        1,
        [
            f"{path}:4:53: [0].options.o.items.pattern: the linear-time regex engine "
            f"cannot take this pattern: {LOOK_AROUND} (at position 0)"
        ],
    )


def test_a_pattern_the_engine_takes_still_works(write, run_llm):
    option_file(write, r"o: {type: string, pattern: '^\p{L}+$', default: abc}")
    assert run_llm("yaml-models", "validate").exit_code == 0
    assert run_llm("-m", "m", "-o", "o", "yes", "a b c").exit_code == 0
    result = run_llm("-m", "m", "-o", "o", "x1", "a b c")
    assert result.exit_code == 1
    assert result.stderr == "Error: o\n  String should match pattern '^\\p{L}+$'\n"


# -- numbers a float cannot hold ---------------------------------------------

HUGE = "9" * 401


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        (f"o: {{type: number, maximum: {HUGE}}}", "4:32: [0].options.o.maximum"),
        (f"o: {{type: integer, minimum: -{HUGE}}}", "4:33: [0].options.o.minimum"),
        (f"o: {{type: integer, default: {HUGE}}}", "4:33: [0].options.o.default"),
        (f"o: {{type: integer, enum: [1, {HUGE}]}}", "4:34: [0].options.o.enum[1]"),
        (
            f"o: {{type: array, items: {{type: number, exclusiveMinimum: {HUGE}}}}}",
            "4:62: [0].options.o.items.exclusiveMinimum",
        ),
    ],
)
def test_an_integer_too_large_for_a_float_is_refused_at_its_line(
    write, validate, run_llm, spec, where
):
    """It validated, then crashed `llm models list --options` with
    OverflowError, hiding every model declared after it."""
    path = option_file(write, spec)
    write("b.yaml", "- model_id: after\n  backend: {type: markov}\n")
    assert validate() == (
        1,
        [
            f"{path}:{where}: a 401-digit integer is too large: "
            "a number must lie between -1.8e308 and 1.8e308"
        ],
    )
    listed = run_llm("models", "list", "--options")
    assert listed.exit_code == 0
    assert "YAML markov: after\n" in listed.stdout


def test_the_limit_holds_in_the_backend_and_past_pythons_int_digits(write, validate):
    """Every number goes through one converter: timeouts, retries and an
    integer longer than Python will convert (4,300 digits) alike."""
    path = write(
        "a.yaml",
        f"- model_id: h\n  backend: {{type: http, url: 'http://127.0.0.1:9/', timeout: {HUGE}}}\n"
        f"- model_id: m\n  backend: {{type: markov, order: {'1' * 5000}}}\n",
    )
    message = "-digit integer is too large: a number must lie between -1.8e308 and 1.8e308"
    assert validate() == (
        1,
        [
            f"{path}:2:12: [0].backend: needs response.text: "
            "where the reply's text is (a JMESPath)",
            f"{path}:2:62: [0].backend.timeout: a 401{message}",
            f"{path}:4:34: [1].backend.order: a 5000{message}",
        ],
    )
    path.write_text(f"- model_id: m\n  backend: {{type: markov, order: {'1' * 5000}}}\n")
    assert validate() == (1, [f"{path}:2:34: [0].backend.order: a 5000{message}"])


@pytest.mark.parametrize(
    ("spec", "col", "message"),
    [
        (
            "s: {type: string, maxLength: 1000000000000000000000000000000}",
            34,
            "[0].options.s.maxLength: 1000000000000000000000000000000 is greater than "
            "the maximum of 2147483647",
        ),
        (
            "a: {type: array, items: {type: string, minLength: 3000000000}}",
            55,
            "[0].options.a.items.minLength: 3000000000 is greater than the maximum of 2147483647",
        ),
    ],
)
def test_lengths_past_what_pydantic_takes_are_refused(write, validate, spec, col, message):
    """They validated, then crashed --options with 'int too big to convert'."""
    path = option_file(write, spec)
    assert validate() == (1, [f"{path}:4:{col}: {message}"])


def test_a_timeout_past_a_day_is_refused(write, validate):
    """1e300 validated, then every prompt failed with 'timestamp out of range'."""
    path = write(
        "a.yaml",
        "- model_id: h\n  backend: {type: http, preset: openai-chat, timeout: 1.0e+10,"
        " base_url: 'http://127.0.0.1:9/'}\n",
    )
    assert validate() == (
        1,
        [f"{path}:2:55: [0].backend.timeout: 10000000000.0 is greater than the maximum of 86400"],
    )


# -- bounded work: problems capped, suggestions once -------------------------


def test_problems_are_capped_per_file_with_one_final_line(write, validate):
    path = write("a.yaml", "- {}\n" * 150 + "- model_id: fine\n  backend: {type: markov}\n")
    code, lines = validate()
    assert code == 1
    assert len(lines) == 100
    assert lines[0] == f"{path}:1:3: [0]: 'model_id' is a required property"
    assert lines[98] == f"{path}:99:3: [98]: 'model_id' is a required property"
    assert lines[99] == (
        f"{path}:100:3: 1 more problem and 50 more declarations with problems not shown: "
        "at most 100 problems are reported per file"
    )
    assert model_ids() == ["fine"]  # past the cap, declarations are still checked


def test_unknown_keys_past_the_cap_are_counted_not_explained(write, validate):
    keys = "".join(f"  zz{i:03d}: 1\n" for i in range(150))
    path = write("a.yaml", "- model_id: m\n  backend: {type: markov}\n" + keys)
    code, lines = validate()
    assert len(lines) == 100
    assert lines[98].startswith(f"{path}:101:3: [0].zz098: unknown key 'zz098'")
    assert lines[99] == (
        f"{path}:102:3: 51 more problems not shown: at most 100 problems are reported per file"
    )


def test_a_suggestion_is_worked_out_once(write, monkeypatch):
    """difflib ran 4 times per misspelt key, and again in every model that
    merges a misspelt default."""
    calls = []
    real = difflib.get_close_matches

    def counting(word, *args, **kwargs):
        calls.append(word)
        return real(word, *args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", counting)
    schema._close.cache_clear()
    models = "".join(f"  - modle_id: m{i}\n    backend: {{type: markov}}\n" for i in range(3))
    path = write("a.yaml", "defaults:\n  descripton: x\nmodels:\n" + models)
    result = load_file(str(path))
    assert [p.message for p in result.problems][:2] == [
        "unknown key 'descripton'; did you mean 'description'?",
        "unknown key 'modle_id'; did you mean 'model_id'?",
    ]
    assert sorted(calls) == ["descripton", "descripton", "modle_id"]  # as written, then merged


def test_a_file_of_100000_empty_entries_is_refused_with_100_lines(write):
    """It took 14 s at 8,000 entries (quadratic); the time is in
    benchmarks/hostile.py, this checks the result."""
    path = write("a.yaml", "- {}\n" * 99_999)
    result = load_file(str(path))
    assert len(result.problems) == 100
    assert str(result.problems[-1]) == (
        f"{path}:100:3: 1 more problem and 99899 more declarations with problems not shown: "
        "at most 100 problems are reported per file"
    )
    assert len(result.skipped) == 99_999


# -- the cache is a cache ----------------------------------------------------


def _names(loaded) -> list[str]:
    return [entry.model_id for entry in loaded.entries]


def test_a_change_whose_mtime_is_put_back_is_seen(write):
    """cp -p, touch -r and rsync -t put the mtime back; the size is the same."""
    path = write("a.yaml", "- model_id: before\n  backend: {type: markov}\n")
    assert _names(registry.load([path])) == ["before"]
    info = os.stat(path)
    for _ in range(100):  # until the clock the kernel stamps ctime with has moved on
        time.sleep(0.01)
        path.write_text("- model_id: after!\n  backend: {type: markov}\n")
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
        if os.stat(path).st_ctime_ns != info.st_ctime_ns:
            break
    after = os.stat(path)
    assert (after.st_mtime_ns, after.st_size, after.st_ino) == (
        info.st_mtime_ns,
        info.st_size,
        info.st_ino,
    )
    assert _names(registry.load([path])) == ["after!"]


def _cached_entry(user_dir, path) -> tuple[dict, dict]:
    cache = json.loads((user_dir / registry.CACHE_NAME).read_text())
    return cache, cache["files"][str(path)]


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda m: m[0]["options"]["length"].update(type="bogus"), id="bogus-type"),
        pytest.param(lambda m: m[0].update(model_id="forged"), id="renamed"),
        pytest.param(lambda m: m[0]["options"].update(extra={}), id="option-without-type"),
    ],
)
def test_an_entry_edited_by_hand_is_a_miss(write, user_dir, run_llm, llm_exe, edit):
    """A bogus option type was served, and crashed --options with KeyError: 'bogus'."""
    path = write("markov.yaml", MARKOV)
    assert run_llm("models", "list").exit_code == 0  # writes the cache
    cache, entry = _cached_entry(user_dir, path)
    edit(entry["result"]["models"][0])
    (user_dir / registry.CACHE_NAME).write_text(json.dumps(cache))
    listed = llm_exe("models", "list", "--options")
    assert (listed.returncode, listed.stderr) == (0, "")
    assert "YAML markov: markov (aliases: chain)\n" in listed.stdout
    assert "    length: int\n" in listed.stdout
    assert "forged" not in listed.stdout


def test_an_entry_whose_signature_is_edited_is_a_miss(write, user_dir):
    path = write("a.yaml", "- model_id: one\n  backend: {type: markov}\n")
    registry.load([path])
    path.write_text("- model_id: two\n  backend: {type: markov}\n")
    cache, entry = _cached_entry(user_dir, path)
    entry["sig"] = registry.signature(str(path))  # as if the file were unchanged
    (user_dir / registry.CACHE_NAME).write_text(json.dumps(cache))
    assert _names(registry.load([path])) == ["two"]


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "link-to-fifo"])
def test_a_cache_path_that_is_not_a_regular_file_is_ignored(write, user_dir, llm_exe, kind):
    """A FIFO hung `llm models list`; a link to /dev/zero reached 1.9 GB.
    In a subprocess, so that a hang fails by the fixture's timeout."""
    write("markov.yaml", MARKOV)
    cache = user_dir / registry.CACHE_NAME
    if kind == "fifo":
        os.mkfifo(cache)
    elif kind == "link-to-fifo":
        os.mkfifo(user_dir / "fifo")
        cache.symlink_to(user_dir / "fifo")
    else:
        cache.symlink_to("/dev/zero")
    for _ in range(2):  # neither read nor replaced: the warning each time
        listed = llm_exe("models", "list")
        assert listed.returncode == 0
        assert listed.stderr == (
            f"llm-yaml-models: not using the cache {cache}: not a regular file\n"
        )
        assert "YAML markov: markov (aliases: chain)\n" in listed.stdout
    mode = os.stat(cache).st_mode
    assert stat.S_ISCHR(mode) if kind == "link-to-dev-zero" else stat.S_ISFIFO(mode)


def test_the_cache_warning_is_given_once_per_process(write, user_dir, capsys):
    write("markov.yaml", MARKOV)
    os.mkfifo(user_dir / registry.CACHE_NAME)
    registry._state["cache_warned"] = False
    try:
        assert _names(registry.load()) == ["markov"]
        write("b.yaml", "- model_id: b\n  backend: {type: markov}\n")
        assert _names(registry.load()) == ["b", "markov"]
        assert model_ids() == ["b", "markov"]
    finally:
        registry._state["cache_warned"] = False
    cache = user_dir / registry.CACHE_NAME
    warning = f"llm-yaml-models: not using the cache {cache}: not a regular file\n"
    assert capsys.readouterr().err == warning
    assert llm.get_model("b").model_id == "b"


# -- the quick check: never a yes that jsonschema would not give -------------

DEFINITIONS = sorted(schema.schema()["definitions"])


def _values_in(value):
    """``value`` and every value inside it."""
    yield value
    children = value.values() if isinstance(value, dict) else value
    if isinstance(value, (dict, list)):
        for child in children:
            yield from _values_in(child)


_SEEN: set = set()


def _assert_quick_implies_full(value) -> None:
    # A value met again (the same key in two models, or in another example:
    # the checks are pure functions) is checked once. repr tells 1, 1.0 and
    # True apart, as the schema does.
    for sub in _values_in(value):
        shown = repr(sub)
        if shown in _SEEN:
            continue
        _SEEN.add(shown)
        for name in DEFINITIONS:
            quick = schema._quick(name)(sub)
            full = _full(sub, name, quick)
            if schema._surely_invalid(sub, name):
                assert not full, (name, sub)
            assert schema.is_valid(sub, name) == full, (name, sub)
            if quick:
                assert full, (name, False, sub)
            if schema._quick(name, True)(sub):
                assert schema._validator(name, True).is_valid(sub), (name, True, sub)


_BY_TYPE: dict = {}


def _full(sub, name: str, quick: bool) -> bool:
    """jsonschema's answer. A value that is not a mapping, against a
    definition of a mapping (``type: object``), fails that keyword whatever
    it holds: jsonschema is asked once per Python type there, not once per
    value (most values inside a file are scalars, most definitions mappings)."""
    rules = schema._definitions(False)[name]
    if type(sub) is not dict and rules.get("type") == "object" and not quick:
        key = (type(sub), name)
        if key not in _BY_TYPE:
            _BY_TYPE[key] = schema._validator(name).is_valid(sub)
        return _BY_TYPE[key]
    return schema._validator(name).is_valid(sub)


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_LENGTHS = ("minLength", "maxLength")


def _number(value) -> bool:
    return type(value) in (int, float)


def _near(spec: dict) -> st.SearchStrategy:
    """Values at and either side of the bounds and lengths in ``spec``."""
    numbers = [spec[k] + d for k in _BOUNDS if _number(spec.get(k)) for d in (-1, -0.5, 0, 0.5, 1)]
    lengths = [
        spec[k] + d
        for k in _LENGTHS
        if _number(spec.get(k, 99)) and spec.get(k, 99) < 99
        for d in (-1, 0, 1)
    ]
    texts = ["a" * n for n in lengths if n >= 0]
    return st.sampled_from(numbers + texts) if numbers or texts else st.nothing()


NEAR_THE_SCHEMAS_BOUNDS = st.sampled_from(
    [
        (key, sub)
        for definition in schema.schema()["definitions"].values()
        for key, sub in definition.get("properties", {}).items()
        if any(k in sub for k in _BOUNDS + _LENGTHS)
    ]
).flatmap(lambda pair: _near(pair[1]).map(lambda value: {"type": "http", pair[0]: value}))


@tp.props(400)
@given(
    value=NEAR_THE_SCHEMAS_BOUNDS
    | tp.file_ish
    | tp.model_ish
    | tp.ANY
    | tp.valid_markov_file().map(lambda declared: declared.doc)
    | tp.valid_markov_file().flatmap(lambda declared: tp.mutated_data(declared.doc))
    | tp.EXAMPLE_NAME.flatmap(lambda name: tp.mutated_data(yaml.safe_load(tp.EXAMPLE_TEXTS[name])))
)
def test_the_quick_check_never_accepts_what_jsonschema_rejects(value):
    """Against every definition of the schema, for every value inside
    generated, valid and mutated files: quick-valid implies valid."""
    _assert_quick_implies_full(value)


def test_the_quick_check_accepts_what_it_should():
    """Else the fast path would quietly be the slow one: every example, and
    every subtle value it is unsure of, still gets the right answer."""
    for text in tp.EXAMPLE_TEXTS.values():
        data = yaml.safe_load(text)
        assert schema._quick("fileMapping" if isinstance(data, dict) else "modelList")(data)
    unsure = [
        ("name", "x y"),  # pattern
        ("markovBackend", {"type": "markov", "order": 2.0}),  # an integer, to jsonschema
        ("aliases", ["a", "a"]),
        ("optionFields", {"enum": [1, True]}),  # unique to jsonschema, not to Python
    ]
    for name, value in unsure:
        assert not schema._quick(name)(value)
    assert [schema._validator(n).is_valid(v) for n, v in unsure] == [False, True, False, True]


@tp.props(300)
@given(data=st.data(), kind=tp.OPTION_TYPE)
def test_the_quick_check_of_option_rules_never_accepts_what_jsonschema_rejects(data, kind):
    spec, _ = data.draw(tp.option_spec(kind, exotic=True))
    spec = data.draw(tp.mutated_data(spec, max_ops=2)) if data.draw(st.booleans()) else spec
    try:
        rules = OptionSpec.from_data("o", {k: v for k, v in spec.items() if k != "default"})
        rules = rules.json_schema()
    except (TypeError, ValueError, AttributeError):
        return  # not a spec the loader would get this far with
    items = rules.get("items")
    near = _near(rules) | _near(items if isinstance(items, dict) else {})
    value = data.draw(st.just(spec.get("default")) | near | tp.ANY | tp.NUMBER | tp.SCALAR)
    if compile_schema(rules, {}, search)(value):
        assert schema._option_validator()(rules).is_valid(value), (rules, value)


def test_valid_files_never_import_jsonschema(python_exe):
    """The cold start: a changed valid file is checked without jsonschema."""
    code = (
        "import sys\n"
        "from llm_yaml_models.loading.loader import load_file\n"
        f"for name in {sorted(tp.EXAMPLE_TEXTS)!r}:\n"
        f"    result = load_file({str(EXAMPLES)!r} + '/' + name)\n"
        "    assert not result.problems, result.problems\n"
        "print('jsonschema' in sys.modules)\n"
    )
    assert python_exe(code).stdout == "False\n"

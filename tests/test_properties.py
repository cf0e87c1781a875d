"""Property-based tests (hypothesis) over arbitrary and mutated model files.

For every document: the plugin's hook never raises (nor reports an internal
error), `llm models list` still works, and `llm yaml-models validate` gives
a located `FILE:LINE:COL: ...` line for each problem and exit status 1, or a
one-line OK and exit status 0. Documents valid by construction must pass;
documents with one known mistake must fail at the line of that mistake.

Hostile files (alias and merge-key bombs, deep nesting, more than 1 MiB) are
refused with a clear message within a memory bound; their timing is in
benchmarks/hostile.py, since the tests never time anything.

Cases worth keeping live in tests/corpus/ (see its README.md) and go through
the same checks.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import re
import shutil
import tracemalloc
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import llm
import pytest
import yaml
from click.testing import CliRunner
from conftest import EXAMPLES, SCHEMA_FILE, reset_plugin_state
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from llm.cli import cli

from llm_yaml_models import plugin, registry
from llm_yaml_models.loading.loader import load_file, reserved_option_name
from llm_yaml_models.loading.source import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, MAX_TEXT, parse

# On a failure, hypothesis's pytest plugin imports its patch writer, which
# imports libcst, which warns (DeprecationWarning from mypy_extensions): with
# warnings as errors, pytest would then stop with an INTERNALERROR instead
# of showing the falsifying example. Import it now, quietly.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

CORPUS = Path(__file__).resolve().parent / "corpus"
EXAMPLE_TEXTS = {
    p.name: p.read_text("utf-8") for p in sorted(EXAMPLES.glob("*.yaml")) if p.is_file()
}
BOMB_MESSAGE = f"document expands to more than {MAX_NODES} nodes (an alias bomb?)"
DEPTH_MESSAGE = f"nested more than {MAX_DEPTH} levels deep"
MEMORY_LIMIT_MIB = 50
PROMPT = "the cat sat on the mat and the dog sat on the log"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """A discovery template fetches its list as it loads, and a mutated
    example's URL could name any host: no list is fetched here."""
    monkeypatch.setenv("LLM_YAML_MODELS_OFFLINE", "1")


def props(examples: int) -> settings:
    """Bounded, reproducible runs: a fixed seed and no example database."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ],
    )


# -- running one file through the plugin -------------------------------------


def llm_cli(*args: str):
    """llm's CLI in this process; an exception escaping it fails the test."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, prog_name="llm")


def call_hook() -> tuple[list[tuple[str, tuple[str, ...]]], str]:
    """Call the plugin's register_models and register_embedding_models hooks
    directly: (model id, aliases) for each registration, and what they wrote
    on stderr."""
    registered = []

    def register(model, async_model=None, aliases=None):
        assert async_model is not None and async_model.model_id == model.model_id
        registered.append((model.model_id, tuple(aliases or ())))

    def register_embedding(model, aliases=None):
        assert isinstance(model, llm.EmbeddingModel)
        registered.append((model.model_id, tuple(aliases or ())))

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        plugin.register_models(register, model_aliases=[])
        plugin.register_embedding_models(register_embedding)
    return registered, err.getvalue()


def ours(models) -> dict[str, tuple[str, ...]]:
    return {
        m.model.model_id: tuple(m.aliases)
        for m in models
        if type(m.model).__module__.startswith("llm_yaml_models")
    }


@dataclass
class Checked:
    exit_code: int
    problems: list[tuple[int, int, str]]  # (line, col, "path: message")
    usable: int
    registered: list[tuple[str, tuple[str, ...]]]
    in_llm: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Workspace:
    """A fresh directory for each example, holding the files that model
    files may refer to: examples/python_models.py and corpus/alice.txt."""

    def __init__(self, root: Path):
        self.root = root
        self.count = 0

    def write(self, content: str | bytes, name: str = "models.yaml") -> Path:
        self.count += 1
        folder = self.root / f"case-{self.count:04d}"
        (folder / "corpus").mkdir(parents=True)
        shutil.copy(EXAMPLES / "python_models.py", folder)
        shutil.copy(EXAMPLES / "corpus" / "alice.txt", folder / "corpus")
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return path


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace(tmp_path / "cases")


def check(path: Path) -> Checked:
    """Load ``path`` every way llm does and check the properties that hold
    for any file at all. Returns what was found, for further assertions."""
    data = path.read_bytes()
    with contextlib.suppress(InvalidArgument):  # outside @given there is nothing to note
        note(f"file: {data!r}")
    reset_plugin_state()  # the autouse fixture resets per test, not per example
    os.environ["LLM_YAML_MODELS_PATH"] = str(path)  # restored by the autouse fixture

    # The hook never raises, never reports an internal error, and warns in one line.
    registered, err = call_hook()
    assert "internal error" not in err, err
    assert err == "" or re.fullmatch(r"llm-yaml-models: skipped .*\n", err), err
    # The same models come back from the on-disk cache in a new "process".
    registry.forget()
    registry._state.update(warned=False)
    assert call_hook()[0] == registered

    # llm itself still works, and lists what was registered.
    with contextlib.redirect_stderr(io.StringIO()):
        in_llm = ours(llm.get_models_with_aliases())
    assert set(in_llm) <= {model_id for model_id, _ in registered}
    listed = llm_cli("models", "list")
    assert listed.exit_code == 0, listed.output
    for model_id in in_llm:
        assert f": {model_id}" in listed.stdout
    assert llm_cli("embed-models", "list").exit_code == 0
    if in_llm:  # every registered model can build its Options class
        args = [a for model_id in in_llm for a in ("-m", model_id)]
        with_options = llm_cli("models", "list", "--options", *args)
        assert with_options.exit_code == 0, with_options.output

    # validate: located problems and exit 1, or one OK line and exit 0.
    result = llm_cli("yaml-models", "validate", str(path))
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    # Lines as a terminal shows them: "\x1e" or "\u2028" in a message must not
    # count as a line break here, but "\n" must.
    lines = result.stdout.split("\n")
    assert lines.pop() == "", result.stdout
    text = data.decode("utf-8", "replace")
    max_line = max(len(text.splitlines()), data.count(b"\n")) + 1
    max_col = max(len(line) for line in data.split(b"\n")) + 1  # bytes >= characters
    located = re.compile(re.escape(str(path)) + r":(\d+):(\d+): (.+)")
    problems = []
    for line in lines if result.exit_code else []:
        match = located.fullmatch(line)
        assert match, f"not a located problem: {line!r}"
        row, col = int(match[1]), int(match[2])
        assert 1 <= row <= max_line, line
        assert 1 <= col <= max_col, line
        problems.append((row, col, match[3]))
    if result.exit_code == 1:
        assert problems, result.output
        # Warnings (a byte order mark, say) come first on stderr, located too.
        *warnings, tail = result.stderr.split("\n", result.stderr.count("\n") - 1)
        assert all(located.fullmatch(w) and ": warning: " in w for w in warnings), warnings
        summary = re.fullmatch(r"Error: (\d+) problems? \((\d+) models? in 1 file usable\)\n", tail)
        assert summary, result.stderr
        assert int(summary[1]) == len(problems)
        usable = int(summary[2])
        # validate also imports code and checks llm's names; the hook does neither.
        assert len(registered) >= usable
    else:
        summary = re.fullmatch(r"OK: (\d+) models? in 1 file, no problems\n", result.stdout)
        assert summary, result.output
        usable = int(summary[1])
        assert len(registered) == usable
        assert err == ""
    return Checked(result.exit_code, problems, usable, registered, in_llm)


# -- strategies: arbitrary YAML ------------------------------------------------

KEYWORDS = [
    "models",
    "defaults",
    "version",
    "model_id",
    "aliases",
    "description",
    "backend",
    "options",
    "attachment_types",
    "can_stream",
    "key",
    "replace",
    "supports_tools",
    "supports_schema",
    "type",
    "corpus",
    "order",
    "callable",
    "arguments",
    "preset",
    "base_url",
    "url",
    "body",
    "response",
    "stream",
    "default",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "minLength",
    "maxLength",
    "pattern",
    "items",
    "send",
    "name",
    "env",
    "length",
    "seed",
    "delay",
    "<<",
]
WORDS = [
    "markov",
    "http",
    "python",
    "integer",
    "number",
    "string",
    "boolean",
    "array",
    "object",
    "text/plain",
    "image/png",
    "openai-chat",
    "ollama-chat",
    "corpus/alice.txt",
    "./python_models.py:shout",
    "./nowhere.py:f",
    "json:loads",
    "math:pi",
    "{{ prompt }}",
    "{{ nope }}",
    "${HOME}",
    "${NOPE_UNSET_VAR}",
    "output.text",
    "a[",
    "(?P<x>a)",
    "[",
    "gpt-4o",
    "4o",
]
TOKENS = [
    *KEYWORDS,
    *WORDS,
    ": ",
    ":",
    " ",
    "  ",
    "\n",
    "\n  ",
    "\n    ",
    "\n- ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "'",
    '"',
    "# ",
    "|\n  ",
    ">-\n  ",
    "? ",
    "\t",
    "\r\n",
    "\r",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: *a",
    "<<: [*a, *b]",
    "!!python/object/apply:os.system ",
    "!!python/name:os.system ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "!!str ",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!null ",
    "!!timestamp ",
    "!!map ",
    "!!seq ",
    "!custom ",
    "!<tag:yaml.org,2002:str> ",
    "%YAML 1.1\n",
    "%TAG !e! tag:example.com,2000:\n",
    "---\n",
    "...\n",
    "~",
    "null",
    "true",
    "yes",
    "Off",
    "0",
    "1",
    "-1",
    "2",
    "1.5",
    "1e400",
    ".inf",
    ".nan",
    "0x1F",
    "0o17",
    "0b101",
    "1_000",
    "190:20:30",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "''",
    '""',
    "\ufeff",
    "\x00",
    "\x85",
    "\u2028",
    "é",
    "\U0001f600",
    "\\",
    "\\u0000",
    "@",
    "`",
    "%",
]
SNIPPET = st.sampled_from(TOKENS) | st.text(max_size=4)
yaml_ish_text = st.lists(SNIPPET, max_size=60).map("".join)

SCALAR = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(WORDS + KEYWORDS)
)
KEY = st.sampled_from(KEYWORDS) | st.text(max_size=8)
ANY = st.recursive(
    SCALAR,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEY, kids, max_size=4),
    max_leaves=20,
)

# Things shaped like declarations, with arbitrary parts, to reach the checks
# that only run once a file gets past the schema.
OPTION_TYPE = st.sampled_from(["string", "integer", "number", "boolean", "array", "object"])
NUMBER = st.integers(-100, 100) | st.floats(-100, 100) | st.floats() | st.integers()
option_ish = st.fixed_dictionaries(
    {},
    optional={
        "type": OPTION_TYPE | SCALAR,
        "default": ANY,
        "minimum": NUMBER | SCALAR,
        "maximum": NUMBER,
        "exclusiveMinimum": NUMBER,
        "exclusiveMaximum": NUMBER,
        "minLength": st.integers(-2, 20),
        "maxLength": st.integers(-2, 20),
        "pattern": st.sampled_from(["^a+$", "[", "(?P<x>a)(?P=x)", r"\d", "a{2,1}"]) | st.text(),
        "enum": st.lists(ANY, max_size=3),
        "items": st.fixed_dictionaries(
            {"type": OPTION_TYPE},
            optional={"minimum": NUMBER, "enum": st.lists(ANY, max_size=3)},
        )
        | ANY,
        "description": st.text(max_size=10),
        "send": st.booleans(),
    },
)
OPTION_NAME = st.sampled_from(["length", "seed", "delay", "temperature", "x", "1bad"]) | st.text(
    max_size=6
)
backend_ish = st.fixed_dictionaries(
    {"type": st.sampled_from(["markov", "http", "python", "markvo"]) | SCALAR},
    optional={
        "order": st.integers(-1, 5) | SCALAR,
        "corpus": st.sampled_from(["corpus/alice.txt", "missing.txt", ""]),
        "callable": st.sampled_from(
            ["./python_models.py:shout", "./python_models.py:nope", "json:loads", "math:pi", "x"]
        ),
        "arguments": st.dictionaries(st.text(max_size=5), SCALAR, max_size=2),
        "preset": st.sampled_from(["openai-chat", "ollama-chat", "anthropic-messages", "x"]),
        "base_url": st.sampled_from(["http://127.0.0.1:9/v1", "${NOPE_UNSET}", "${X:-http://h}"]),
        "body": ANY,
        "response": st.dictionaries(
            st.sampled_from(["text", "error", "usage", "x"]),
            st.sampled_from(["output.text", "a[", "`x`", ""]) | ANY,
            max_size=2,
        ),
        "stream": st.dictionaries(
            st.sampled_from(["format", "text", "done"]),
            st.sampled_from(["sse", "ndjson", "none", "delta.text", "[DONE]"]) | SCALAR,
            max_size=2,
        ),
        "method": st.sampled_from(["POST", "GET", "PATCH"]),
        "timeout": NUMBER,
    },
)
model_ish = st.fixed_dictionaries(
    {},
    optional={
        "model_id": st.sampled_from(["m1", "m2", "gpt-4o", "with space", ""]) | SCALAR,
        "aliases": st.lists(st.sampled_from(["a1", "a2", "m1", "4o"]) | SCALAR, max_size=3)
        | SCALAR,
        "description": st.text(max_size=10) | SCALAR,
        "backend": backend_ish | SCALAR,
        "options": st.dictionaries(OPTION_NAME, option_ish | SCALAR, max_size=3),
        "attachment_types": st.lists(
            st.sampled_from(["text/plain", "text/csv", "image/png", "nope"]), max_size=3
        ),
        "can_stream": st.booleans() | SCALAR,
        "key": st.fixed_dictionaries(
            {}, optional={"name": st.sampled_from(["k", "a b"]), "env": st.sampled_from(["K", "1"])}
        ),
        "replace": st.booleans(),
        "supports_tools": st.booleans(),
        "x_unknown": SCALAR,
    },
)
file_ish = st.lists(model_ish | SCALAR, max_size=3) | st.fixed_dictionaries(
    {"models": st.lists(model_ish, max_size=3) | SCALAR},
    optional={
        "defaults": st.fixed_dictionaries(
            {},
            optional={
                "backend": backend_ish,
                "options": st.dictionaries(OPTION_NAME, option_ish, max_size=2),
                "model_id": st.just("m9"),
            },
        )
        | SCALAR,
        "version": st.sampled_from([1, 2, "1"]),
    },
)


@st.composite
def dumped(draw, value_strategy=ANY) -> str:
    """A value dumped as YAML in a random style."""
    value = draw(value_strategy)
    if draw(st.booleans()) and isinstance(value, list) and value:
        value.append(value[0])  # the same object twice: safe_dump writes an anchor and alias
    return yaml.safe_dump(
        value,
        sort_keys=False,
        allow_unicode=draw(st.booleans()),
        default_flow_style=draw(st.sampled_from([False, None, True])),
        width=draw(st.sampled_from([80, 20, 4096])),
    )


TEXT_OPS = [
    "delete",
    "insert",
    "replace",
    "truncate",
    "drop-line",
    "dup-line",
    "swap-lines",
    "indent",
    "dedent",
]


@st.composite
def mutated_text(draw, text: str, max_ops: int = 4) -> str:
    """``text`` with a few character- and line-level edits."""
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(TEXT_OPS))
        if op in ("delete", "insert", "replace", "truncate"):
            i = draw(st.integers(0, len(text)))
            if op == "delete":
                text = text[:i] + text[i + draw(st.integers(1, 8)) :]
            elif op == "insert":
                text = text[:i] + draw(SNIPPET) + text[i:]
            elif op == "replace":
                text = text[:i] + draw(SNIPPET) + text[i + 1 :]
            else:
                text = text[:i]
            continue
        lines = text.splitlines(keepends=True)
        if not lines:
            continue
        k = draw(st.integers(0, len(lines) - 1))
        if op == "drop-line":
            del lines[k]
        elif op == "dup-line":
            lines.insert(k, lines[k])
        elif op == "swap-lines":
            j = draw(st.integers(0, len(lines) - 1))
            lines[k], lines[j] = lines[j], lines[k]
        elif op == "indent":
            lines[k] = draw(st.sampled_from([" ", "  ", "\t", "- "])) + lines[k]
        else:
            lines[k] = lines[k][min(2, len(lines[k]) - len(lines[k].lstrip(" "))) :]
        text = "".join(lines)
    return text


@st.composite
def typo(draw, word: str) -> str:
    i = draw(st.integers(0, max(0, len(word) - 1)))
    op = draw(st.sampled_from(["insert", "delete", "swap", "replace", "case"]))
    letter = draw(st.sampled_from("aeiost_-"))
    if op == "insert" or not word:
        return word[:i] + letter + word[i:]
    if op == "delete" and len(word) > 1:
        return word[:i] + word[i + 1 :]
    if op == "swap" and i + 1 < len(word) and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "case" and word[i].upper() != word[i]:
        return word[:i] + word[i].upper() + word[i + 1 :]
    return word[:i] + letter + word[i + 1 :] if word[i] != letter else word + letter


def walk(value, prefix=()):
    """Every path in a plain value, the value itself first."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, prefix + (i,))


def at(value, path):
    for part in path:
        value = value[part]
    return value


DATA_OPS = ["drop", "retype", "typo", "subtree", "add-key", "duplicate-model"]


@st.composite
def mutated_data(draw, data, max_ops: int = 3):
    """``data`` with a few mutations: keys dropped, renamed with typos or
    added, values of another type, subtrees replaced, models duplicated."""
    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(DATA_OPS))
        paths = [p for p in walk(data) if p]
        if not paths:
            return draw(ANY)
        path = draw(st.sampled_from(paths))
        parent, last = at(data, path[:-1]), path[-1]
        if op == "drop":
            del parent[last]
        elif op == "retype":
            parent[last] = draw(SCALAR | st.lists(SCALAR, max_size=2) | st.just({}))
        elif op == "subtree":
            parent[last] = draw(ANY)
        elif op == "typo" and isinstance(parent, dict):
            renamed = draw(typo(str(last)))
            parent[renamed] = parent.pop(last)
        elif op == "add-key":
            target = at(data, path)
            if isinstance(target, dict):
                target[draw(st.sampled_from(KEYWORDS) | st.text(max_size=6))] = draw(ANY)
        elif op == "duplicate-model":
            models = data.get("models") if isinstance(data, dict) else data
            if isinstance(models, list) and models:
                model = draw(st.sampled_from(models))
                models.append(model if draw(st.booleans()) else copy.deepcopy(model))
    return data


EXAMPLE_NAME = st.sampled_from(sorted(EXAMPLE_TEXTS))


@st.composite
def example_mutated_as_data(draw) -> str:
    original = yaml.safe_load(EXAMPLE_TEXTS[draw(EXAMPLE_NAME)])
    return draw(dumped(mutated_data(original)))


@st.composite
def example_mutated_as_text(draw) -> str:
    return draw(mutated_text(EXAMPLE_TEXTS[draw(EXAMPLE_NAME)]))


# -- properties over arbitrary documents ---------------------------------------


@props(150)
@given(text=yaml_ish_text)
def test_arbitrary_yaml_ish_text(workspace, text):
    check(workspace.write(text))


@props(60)
@given(text=st.text(max_size=200))
def test_arbitrary_unicode_text(workspace, text):
    check(workspace.write(text))


@props(60)
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes(workspace, data):
    check(workspace.write(data))


@props(100)
@given(text=dumped(ANY))
def test_arbitrary_yaml_values(workspace, text):
    check(workspace.write(text))


@props(150)
@given(text=dumped(file_ish))
def test_declaration_shaped_values(workspace, text):
    check(workspace.write(text))


@props(100)
@given(text=dumped(file_ish).flatmap(mutated_text))
def test_declaration_shaped_values_mutated_as_text(workspace, text):
    check(workspace.write(text))


@props(150)
@given(text=example_mutated_as_data())
def test_examples_mutated_as_data(workspace, text):
    check(workspace.write(text))


@props(150)
@given(text=example_mutated_as_text())
def test_examples_mutated_as_text(workspace, text):
    check(workspace.write(text))


# -- documents valid by construction -------------------------------------------

# Model ids and aliases: any non-space characters; the prefix keeps them clear
# of the names llm's own models use.
NAME = st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=10).map(
    lambda s: "y-" + s
)
MARKOV_READS = {"length", "delay", "seed"}
OPTION_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: (
        n not in MARKOV_READS
        and not n.startswith("zd_")
        and n != "zzbad"
        and reserved_option_name(n) is None
    )  # such as 'schema' or 'json'
)


def _matching(pattern: str):
    """Strings that match ``pattern`` in every engine: Python's ``re`` (which
    hypothesis follows) takes '²' as ``\\w``, Rust's regex (the loader's) does not."""
    return st.from_regex(pattern, fullmatch=True, alphabet=st.characters(codec="ascii"))


STRING_PATTERNS = [None, r"^[a-z]+$", r"^\d{1,4}$", r"^(yes|no|maybe)$", r"^\w*$"]


def safe_text(max_size: int) -> st.SearchStrategy[str]:
    """Text that PyYAML's emitter round-trips: with allow_unicode it writes
    NEL and the Unicode line and paragraph separators raw, and reads them
    back as line breaks. (A PyYAML quirk, not the plugin's.)"""
    chars = st.characters(codec="utf-8", exclude_characters="\x85\u2028\u2029")
    return st.text(chars, max_size=max_size)


SIMPLE_JSON = st.none() | st.booleans() | st.integers(-1000, 1000) | safe_text(8)


LIMIT = 10**6  # numbers stay within +-LIMIT unless the backend needs less


def _values_of(spec: dict, kind: str, low=None, high=None) -> st.SearchStrategy:
    """Values that keep a spec's bounds (and the backend's ``low``/``high``)."""
    low = -LIMIT if low is None else low
    high = LIMIT if high is None else high
    if kind in ("integer", "number"):
        bounds = {
            "minimum": spec.get("minimum", low),
            "maximum": spec.get("maximum", high),
            "exclusiveMinimum": spec.get("exclusiveMinimum", low - 1),
            "exclusiveMaximum": spec.get("exclusiveMaximum", high + 1),
        }

        def keeps(value) -> bool:
            return (
                max(low, bounds["minimum"]) <= value <= min(high, bounds["maximum"])
                and bounds["exclusiveMinimum"] < value < bounds["exclusiveMaximum"]
            )

        if kind == "integer":
            least = max(
                low, math.ceil(bounds["minimum"]), math.floor(bounds["exclusiveMinimum"]) + 1
            )
            most = min(
                high, math.floor(bounds["maximum"]), math.ceil(bounds["exclusiveMaximum"]) - 1
            )
            return st.integers(least, most).filter(keeps)
        least = max(low, bounds["minimum"], bounds["exclusiveMinimum"])
        most = min(high, bounds["maximum"], bounds["exclusiveMaximum"])
        return st.floats(least, most, allow_nan=False).filter(keeps)
    if kind == "string":
        pattern = spec.get("pattern")
        text = safe_text(8) if pattern is None else _matching(pattern)
        return text.filter(
            lambda s: spec.get("minLength", 0) <= len(s) <= spec.get("maxLength", math.inf)
        )
    return st.booleans()


@st.composite
def numeric_constraints(draw, kind: str, low=None, high=None, exotic=False) -> dict:
    """Bounds for an integer or number option, around a value that keeps
    them, within what the backend needs (``low``/``high``). Bounds of a
    number option may be integers or floats; with ``exotic``, those of an
    integer option too (they are JSON Schema numbers)."""
    lo = -LIMIT if low is None else low
    hi = LIMIT if high is None else high
    if kind == "integer":
        centre = draw(st.integers(lo, hi))
    else:
        centre = draw(st.floats(lo, hi, allow_nan=False) | st.integers(lo, hi))
    fractions = kind == "number" or exotic
    spec: dict = {}
    if draw(st.booleans()):
        below = st.integers(lo, math.floor(centre))
        spec["minimum"] = draw(below | st.floats(lo, centre) if fractions else below)
    if draw(st.booleans()):
        above = st.integers(math.ceil(centre), hi)
        spec["maximum"] = draw(above | st.floats(centre, hi) if fractions else above)
    if draw(st.booleans()):
        gap = st.integers(1, 100) | st.floats(0.5, 100) if fractions else st.integers(1, 100)
        spec["exclusiveMinimum"] = centre - draw(gap)
    if draw(st.booleans()):
        gap = st.integers(1, 100) | st.floats(0.5, 100) if fractions else st.integers(1, 100)
        spec["exclusiveMaximum"] = centre + draw(gap)
    return spec


@st.composite
def option_spec(draw, kind: str, low=None, high=None, exotic=False) -> tuple[dict, object]:
    """A valid option spec of ``kind`` and the value its default has (or a
    marker when it has none). ``exotic`` adds what the README allows but
    few files will use: fractional bounds on integers, enums of arrays and
    objects."""
    spec: dict = {"type": kind}
    if kind in ("integer", "number"):
        spec.update(draw(numeric_constraints(kind, low, high, exotic)))
        values = _values_of(spec, kind, low, high)
    elif kind == "string":
        pattern = draw(st.sampled_from(STRING_PATTERNS))
        text = safe_text(8) if pattern is None else _matching(pattern)
        sample = draw(text)
        if draw(st.booleans()):
            spec["minLength"] = draw(st.integers(0, len(sample)))
        if draw(st.booleans()):
            spec["maxLength"] = draw(st.integers(len(sample), len(sample) + 20))
        if pattern is not None:
            spec["pattern"] = pattern
        values = _values_of(spec, kind) | st.just(sample)
    elif kind == "boolean":
        values = st.booleans()
    elif kind == "array":
        item_kind = draw(st.sampled_from([None, "string", "integer", "number", "boolean"]))
        if item_kind is None:
            values = st.lists(SIMPLE_JSON, max_size=3)
        else:
            item_spec, _ = draw(option_spec(item_kind, exotic=exotic))
            item_spec.pop("default", None)
            item_spec.pop("description", None)
            item_spec.pop("send", None)
            item_spec.pop("enum", None)
            spec["items"] = item_spec
            values = st.lists(_values_of(item_spec, item_kind), max_size=3)
    else:  # object
        values = st.dictionaries(safe_text(5), SIMPLE_JSON, max_size=3)
    if draw(st.integers(0, 3)) == 0 and (exotic or kind not in ("array", "object")):
        choices = draw(st.lists(values, min_size=1, max_size=4, unique_by=_identity))
        spec["enum"] = choices
        values = st.sampled_from(choices)
    default = NO_DEFAULT
    if draw(st.booleans()):
        default = spec["default"] = draw(values)
    if draw(st.booleans()):
        spec["description"] = draw(safe_text(20))
    if draw(st.integers(0, 4)) == 0:
        spec["send"] = draw(st.booleans())
    return spec, default


NO_DEFAULT = object()


def _identity(value) -> str:
    """Values that JSON Schema's uniqueItems would call equal map alike."""
    return yaml.safe_dump(value) if not isinstance(value, (int, float)) else repr(float(value))


@st.composite
def markov_options(draw, exotic=False) -> tuple[dict, int]:
    """Valid options for a markov model, and the length its output has."""
    options: dict = {}
    length = 20
    if draw(st.booleans()):
        spec, default = draw(option_spec("integer", 2, 40, exotic))
        options["length"] = spec
        length = 20 if default is NO_DEFAULT else default
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["number", "integer"]))
        options["delay"] = draw(option_spec(kind, 0, 10, exotic))[0]
    if draw(st.booleans()):
        options["seed"] = draw(option_spec("integer", exotic=exotic))[0]
    for name in draw(st.lists(OPTION_NAMES, max_size=3, unique=True)):
        options[name] = draw(option_spec(draw(OPTION_TYPE), exotic=exotic))[0]
    order = draw(st.permutations(list(options)))
    return {name: options[name] for name in order}, length


TEXT_TYPES = st.lists(
    st.sampled_from(["text/plain", "text/markdown", "text/csv", "text/x-python"]),
    unique=True,
    max_size=3,
)


@dataclass
class Declared:
    """A document valid by construction, and what it declares."""

    doc: object
    ids: list[str]
    aliases: dict[str, tuple[str, ...]]
    lengths: dict[str, int]
    keyed: set[str]

    def models(self) -> list[dict]:
        return self.doc["models"] if isinstance(self.doc, dict) else self.doc

    def model_path(self, k: int) -> tuple:
        return ("models", k) if isinstance(self.doc, dict) else (k,)


@st.composite
def valid_markov_file(draw) -> Declared:
    n = draw(st.integers(1, 4))
    alias_counts = [draw(st.integers(0, 3)) for _ in range(n)]
    names = draw(
        st.lists(NAME, min_size=n + sum(alias_counts), max_size=n + sum(alias_counts), unique=True)
    )
    as_mapping = draw(st.booleans())
    defaults: dict = {}
    if as_mapping and draw(st.booleans()):
        if draw(st.booleans()):
            defaults["backend"] = {"type": "markov"}
        if draw(st.booleans()):
            defaults["description"] = draw(safe_text(20))
        if draw(st.booleans()):
            names_d = draw(st.lists(OPTION_NAMES, min_size=1, max_size=2, unique=True))
            defaults["options"] = {
                "zd_" + name: draw(option_spec(draw(OPTION_TYPE)))[0] for name in names_d
            }
        if draw(st.booleans()):
            defaults["attachment_types"] = draw(TEXT_TYPES)
        if draw(st.booleans()):
            defaults["can_stream"] = draw(st.booleans())
    models, ids, aliases, lengths, keyed = [], [], {}, {}, set()
    for i in range(n):
        model_id, *own = names[: 1 + alias_counts[i]]
        names = names[1 + alias_counts[i] :]
        model: dict = {"model_id": model_id}
        if own or draw(st.booleans()):
            model["aliases"] = own
        if draw(st.booleans()):
            model["description"] = draw(safe_text(30))
        if "backend" not in defaults or draw(st.booleans()):
            model["backend"] = {"type": "markov"}
            if draw(st.booleans()):
                model["backend"]["order"] = draw(st.integers(1, 3))
            if draw(st.booleans()):
                model["backend"]["corpus"] = "corpus/alice.txt"
        options, length = draw(markov_options())
        if options or draw(st.booleans()):
            model["options"] = options
        if draw(st.booleans()):
            model["attachment_types"] = draw(TEXT_TYPES)
        for key in ("can_stream", "supports_tools", "supports_schema", "replace"):
            if draw(st.integers(0, 3)) == 0:
                model[key] = draw(st.booleans())
        if draw(st.integers(0, 4)) == 0:
            model["key"] = {"name": f"key-{i}"}
            if draw(st.booleans()):
                model["key"]["env"] = f"Y_KEY_{i}"
            keyed.add(model_id)
        order = draw(st.permutations(list(model)))
        models.append({key: model[key] for key in order})
        ids.append(model_id)
        aliases[model_id] = tuple(own)
        lengths[model_id] = length
    if not as_mapping:
        return Declared(models, ids, aliases, lengths, keyed)
    doc: dict = {"models": models}
    if defaults:
        doc["defaults"] = defaults
    if draw(st.booleans()):
        doc["version"] = 1
    order = draw(st.permutations(list(doc)))
    return Declared({key: doc[key] for key in order}, ids, aliases, lengths, keyed)


def dump_block(doc) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)


@st.composite
def dump_any_style(draw, doc) -> str:
    return yaml.safe_dump(
        doc,
        sort_keys=False,
        allow_unicode=draw(st.booleans()),
        default_flow_style=draw(st.sampled_from([False, None, True])),
        width=draw(st.sampled_from([80, 30, 4096])),
    )


@props(100)
@given(declared=valid_markov_file(), data=st.data())
def test_valid_documents_pass_and_their_models_work(workspace, declared, data):
    text = data.draw(dump_any_style(declared.doc))
    assert yaml.safe_load(text) == declared.doc  # the dump round-trips
    checked = check(workspace.write(text))
    assert checked.exit_code == 0, checked.problems
    assert checked.usable == len(declared.ids)
    assert checked.registered == [(i, declared.aliases[i]) for i in declared.ids]
    assert checked.in_llm == declared.aliases
    for model_id in declared.ids:
        model = llm.get_model(model_id)
        for alias in declared.aliases[model_id]:
            assert llm.get_model(alias).model_id == model_id
        key = {"key": "sekrit"} if model_id in declared.keyed else {}
        words = model.prompt(PROMPT, stream=False, **key).text().split()
        assert len(words) == declared.lengths[model_id]


@props(150)
@given(options=markov_options(exotic=True))
def test_every_kind_of_valid_option_gives_a_usable_model(workspace, options):
    """Option specs the README allows, including the rarer ones (fractional
    bounds on an integer, enums of arrays or objects), one model at a time
    so that a failure shrinks fast. Either validate reports the spec, or
    the model works: never an OK followed by a traceback."""
    spec, length = options
    doc = [{"model_id": "y-options", "backend": {"type": "markov"}, "options": spec}]
    checked = check(workspace.write(dump_block(doc)))  # includes `llm models list --options`
    if checked.exit_code == 1:
        assert all(rest.startswith("[0].options.") for *_, rest in checked.problems)
        return
    model = llm.get_model("y-options")
    assert model.Options().model_dump() == {
        name: option.get("default") for name, option in spec.items()
    }
    assert len(model.prompt(PROMPT, stream=False).text().split()) == length


# -- documents with exactly one known mistake ------------------------------------


def node_at(text: str, path: tuple, *, key: bool = False):
    """The YAML node at ``path`` (or the key node naming its last part)."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    key_node = None
    for part in path:
        if isinstance(node, yaml.SequenceNode):
            node = node.value[part]
            continue
        key_node, node = next((k, v) for k, v in node.value if k.value == str(part))
    return key_node if key else node


MISTAKES = [
    "missing model_id",
    "aliases as a string",
    "unknown key",
    "typo in a key",
    "default below minimum",
    "wrong type",
    "duplicate model",
    "unknown top-level key",
]
MODEL_KEYS = set(
    yaml.safe_load(SCHEMA_FILE.read_text("utf-8"))["definitions"]["modelEntry"]["properties"]
)


@st.composite
def one_mistake(draw):
    """A valid document with one mistake: (text, path of the mistake, is it
    at a key, words the message has, ids that must still load)."""
    declared = draw(valid_markov_file())
    doc = copy.deepcopy(declared.doc)
    models = doc["models"] if isinstance(doc, dict) else doc
    mistakes = MISTAKES if isinstance(doc, dict) else MISTAKES[:-1]
    mistake = draw(st.sampled_from(mistakes))
    k = draw(st.integers(0, len(models) - 1))
    model = models[k]
    where = declared.model_path(k)
    survivors = [i for i in declared.ids if i != declared.ids[k]]
    at_key = False
    if mistake == "missing model_id":
        del model["model_id"]
        path, words = where, ["'model_id' is a required property"]
    elif mistake == "aliases as a string":
        model["aliases"] = declared.ids[k] + "-alias"
        path, words = where + ("aliases",), ["is not of type 'array'", "write a list"]
    elif mistake == "unknown key":
        name = draw(st.sampled_from(["colour", "modelid", "alias", "x_extra", "backends"]))
        model[name] = draw(SCALAR)
        path, words, at_key = where + (name,), [f"unknown key '{name}'"], True
    elif mistake == "typo in a key":
        old = draw(st.sampled_from(sorted(model)))
        new = draw(typo(old).filter(lambda w: w not in MODEL_KEYS and w != "<<"))
        model[new] = model.pop(old)
        path, words, at_key = where + (new,), [f"unknown key '{new}'"], True
    elif mistake == "default below minimum":
        minimum = draw(st.integers(-100, 100))
        default = minimum - draw(st.integers(1, 100))
        spec = {"type": "integer", "minimum": minimum, "default": default}
        model.setdefault("options", {})["zzbad"] = spec
        path = where + ("options", "zzbad", "default")
        words = [f"default {default} is less than the minimum of {minimum}"]
    elif mistake == "wrong type":
        choice = draw(st.integers(0, 5))
        if choice == 0:
            model["can_stream"] = "sometimes"
            path, words = where + ("can_stream",), ["'sometimes' is not of type 'boolean'"]
        elif choice == 1:
            model["description"] = 42
            path, words = where + ("description",), ["42 is not of type 'string'"]
        elif choice == 2:
            model["model_id"] = 7
            path, words = where + ("model_id",), ["7 is not of type 'string'"]
        elif choice == 3:
            model["backend"] = {"type": "markov", "order": "2"}
            path, words = where + ("backend", "order"), ["'2' is not of type 'integer'"]
        elif choice == 4:
            model["attachment_types"] = "text/plain"
            path, words = where + ("attachment_types",), ["is not of type 'array'"]
        else:
            model.setdefault("options", {})["zzbad"] = {"type": "number", "minimum": "two"}
            path = where + ("options", "zzbad", "minimum")
            words = ["'two' is not of type 'number'"]
    elif mistake == "duplicate model":
        models.append(copy.deepcopy(model))
        path = declared.model_path(len(models) - 1) + ("model_id",)
        words = [f"'{declared.ids[k]}' is already declared at "]
        survivors = declared.ids
    else:  # unknown top-level key: the whole file is skipped
        doc["model"] = []
        path, words, at_key, survivors = ("model",), ["unknown key 'model'"], True, []
    return dump_block(doc), path, at_key, words, survivors


@props(150)
@given(case=one_mistake())
def test_one_mistake_is_reported_at_its_line(workspace, case):
    text, path, at_key, words, survivors = case
    note(f"mistake at {path} (key: {at_key}), expecting {words}")
    checked = check(workspace.write(text))
    assert checked.exit_code == 1
    line = node_at(text, path, key=at_key).start_mark.line + 1
    here = [rest for row, _, rest in checked.problems if row == line]
    assert here, f"no problem at line {line}: {checked.problems}"
    assert any(all(w in rest for w in words) for rest in here), here
    assert [model_id for model_id, _ in checked.registered] == survivors


# -- the corpus ------------------------------------------------------------------

INVALID = "invalid"  # any located problem will do
CORPUS_EXPECTED: dict[str, str | tuple[int, str] | None] = {
    # None: valid, validate exits 0. A string: validate exits 1 with a
    # problem containing it; (line, string): a problem at that line.
    "bom.yaml": None,
    "merge-keys.yaml": None,
    "merge-override-aliased.yaml": None,
    "crlf.yaml": None,
    "billion-laughs.yaml": BOMB_MESSAGE,
    "merge-key-bomb.yaml": "unknown key 'x'",
    "deep-nesting.yaml": DEPTH_MESSAGE,
    "deep-merge-keys.yaml": INVALID,
    "recursive-alias.yaml": DEPTH_MESSAGE,
    "python-object-tag.yaml": "unsupported YAML tag '!!python/object/apply:os.system'",
    "non-utf8.yaml": "not valid UTF-8: byte 0xe9 cannot be decoded",
    "empty.yaml": "the file is empty",
    "bool-tag-maybe.yaml": "bad !!bool value 'maybe'",
    "int-tag-empty.yaml": "bad !!int value ''",
    "float-tag-empty.yaml": "bad !!float value ''",
    "control-character.yaml": (3, ""),
    "key-with-newline.yaml": "unknown key",
    "aliases-string-with-newline.yaml": (3, "is not of type 'array'"),
    "markov-length-default-1.yaml": (4, "default 1: the markov backend needs length >= 2"),
    "markov-delay-default-20.yaml": (4, "default 20: the markov backend needs delay <= 10"),
}
CORPUS_FILES = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".yaml", ".yml"))


def test_the_corpus_is_described():
    readme = (CORPUS / "README.md").read_text("utf-8")
    assert CORPUS_FILES
    for name in CORPUS_FILES:
        assert f"`{name}`" in readme, f"tests/corpus/README.md does not describe {name}"


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_file(workspace, name):
    path = workspace.write((CORPUS / name).read_bytes(), name)
    checked = check(path)
    expected = CORPUS_EXPECTED.get(name, INVALID if checked.exit_code else None)
    if expected is None:
        assert checked.exit_code == 0, checked.problems
        return
    assert checked.exit_code == 1
    line, words = expected if isinstance(expected, tuple) else (None, expected)
    assert words == INVALID or any(
        words in rest and line in (None, row) for row, _, rest in checked.problems
    ), checked.problems


# -- hostile files: alias bombs, merge-key bombs, size -------------------------


def peak_mib(fn):
    """Run ``fn`` and return its result and the peak memory it allocated."""
    load_file(str(CORPUS / "merge-keys.yaml"))  # imports and caches done beforehand
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak / 2**20


def refusal(path: Path) -> str:
    """The one problem validate reports for ``path``."""
    result = llm_cli("yaml-models", "validate", str(path))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_billion_laughs_is_refused_at_its_location(workspace):
    path = workspace.write((CORPUS / "billion-laughs.yaml").read_bytes())
    assert refusal(path) == f"{path}:1:62: e[7][8][8][8][9]: {BOMB_MESSAGE}"


def test_an_alias_bomb_is_refused_in_bounded_memory():
    result, peak = peak_mib(lambda: load_file(str(CORPUS / "billion-laughs.yaml")))
    assert [p.message for p in result.problems] == [BOMB_MESSAGE]
    assert peak < MEMORY_LIMIT_MIB, f"peak {peak:.1f} MiB"


TEXT_BOMB_MESSAGE = f"document expands to more than {MAX_TEXT} characters (an alias bomb?)"


def text_bomb(references: int = 90_000) -> str:
    """Few nodes, much text: one 600,000-character string named thousands of
    times. 90,000 references once passed validate after 27 s and needed
    about 54 GB in `llm models list`."""
    refs = ", ".join(["*s"] * references)
    return (
        "- model_id: text-bomb\n  backend: {type: markov}\n"
        f'  description: &s "{"x" * 600_000}"\n'
        f"  options:\n    o: {{type: array, default: [{refs}]}}\n"
    )


def test_a_text_alias_bomb_is_refused_in_bounded_memory(workspace):
    path = workspace.write(text_bomb())
    assert path.stat().st_size < MAX_FILE_BYTES
    result, peak = peak_mib(lambda: load_file(str(path)))
    assert [(p.line, p.col, p.path, p.message) for p in result.problems] == [
        (3, 16, "[0].options.o.default[5]", TEXT_BOMB_MESSAGE)
    ]
    assert peak < MEMORY_LIMIT_MIB, f"peak {peak:.1f} MiB"


def test_long_keys_reused_through_an_alias_are_counted_too(workspace):
    text = "x: &m\n  ? " + "k" * 100_000 + "\n  : 1\n" + "".join(f"y{i}: *m\n" for i in range(60))
    path = workspace.write(text)
    assert refusal(path) == f"{path}:2:5: y40.{'k' * 40}...: {TEXT_BOMB_MESSAGE}"


def test_a_merge_key_bomb_is_never_expanded():
    """Each mapping's merged keys are worked out once, so 19 levels of
    `{<<: [&aN {...}, *aN]}` give the 10 keys they name, in bounded memory;
    the file is then reported for what it is (not a model file)."""
    text = (CORPUS / "merge-key-bomb.yaml").read_text("utf-8")
    doc, peak = peak_mib(lambda: parse("bomb.yaml", text))
    assert doc.value == {"x": {f"k{i}": i for i in range(10)}}
    assert peak < MEMORY_LIMIT_MIB, f"peak {peak:.1f} MiB"
    result = load_file(str(CORPUS / "merge-key-bomb.yaml"))
    assert [p.message for p in result.problems] == [
        "'models' is a required property",
        "unknown key 'x'; expected one of: defaults, embedding_models, models, version",
    ]


def test_a_file_over_1_mib_is_refused_unread(workspace):
    body = "- model_id: big\n  backend: {type: markov}\n"
    filler = "#" * 79 + "\n"
    text = body + filler * ((2 * MAX_FILE_BYTES) // len(filler))
    path = workspace.write(text)
    size = path.stat().st_size
    assert size > MAX_FILE_BYTES
    assert refusal(path) == f"{path}:1:1: file is {size} bytes; model files are limited to 1 MiB"
    result, peak = peak_mib(lambda: load_file(str(path)))
    assert [p.message for p in result.problems] == [
        f"file is {size} bytes; model files are limited to 1 MiB"
    ]
    assert peak < MEMORY_LIMIT_MIB
    checked = check(path)
    assert (checked.exit_code, checked.registered) == (1, [])


def test_a_file_of_exactly_1_mib_loads(workspace):
    body = "- model_id: just-fits\n  backend: {type: markov}\n"
    padding = MAX_FILE_BYTES - len(body)
    text = body + "#" * (padding - 1) + "\n"
    path = workspace.write(text)
    assert path.stat().st_size == MAX_FILE_BYTES
    checked = check(path)
    assert (checked.exit_code, checked.registered) == (0, [("just-fits", ())])


@pytest.mark.parametrize(
    ("bomb", "line"), [("billion-laughs.yaml", 1), ("merge-key-bomb.yaml", 1), ("text-bomb", 3)]
)
def test_a_bomb_beside_good_files_skips_only_itself(workspace, bomb, line):
    good = workspace.write("- model_id: good-one\n  backend: {type: markov}\n", "good.yaml")
    text = text_bomb() if bomb == "text-bomb" else (CORPUS / bomb).read_text("utf-8")
    (good.parent / "bomb.yaml").write_text(text)
    reset_plugin_state()
    os.environ["LLM_YAML_MODELS_PATH"] = str(good.parent)
    registered, err = call_hook()
    assert registered == [("good-one", ())]
    assert err == (
        f"llm-yaml-models: skipped {good.parent / 'bomb.yaml'}:{line}; "
        "run 'llm yaml-models validate' for details\n"
    )


def test_ordinary_anchors_and_merge_keys_still_work(workspace):
    path = workspace.write((CORPUS / "merge-keys.yaml").read_bytes())
    checked = check(path)
    assert checked.exit_code == 0, checked.problems
    assert checked.registered == [
        ("anchored", ("anchored-alias",)),
        ("merged", ()),
        ("merged-list", ()),
        ("shared-options", ()),
    ]
    assert llm.get_model("merged").Options().model_dump()["length"] == 7
    assert llm.get_model("merged-list").Options().model_dump()["length"] == 9
    assert llm.get_model("shared-options").Options().model_dump()["length"] == 5


def test_an_aliased_mapping_that_overrides_a_merged_key(workspace):
    """A mapping with `<<` and a key of its own, used again through an
    alias, is the same mapping the second time (no 'duplicate key')."""
    path = workspace.write((CORPUS / "merge-override-aliased.yaml").read_bytes())
    checked = check(path)
    assert checked.exit_code == 0, checked.problems
    lengths = {m: llm.get_model(m).Options().model_dump()["length"] for m in ("short", "long")}
    assert lengths == {"short": 10, "long": 50}
    assert llm.get_model("long-too").Options().model_dump()["length"] == 50


def test_merge_keys_nested_deeper_than_the_depth_limit(workspace):
    path = workspace.write((CORPUS / "deep-merge-keys.yaml").read_bytes())
    good = workspace.write("- model_id: still-here\n  backend: {type: markov}\n", "good.yaml")
    reset_plugin_state()
    os.environ["LLM_YAML_MODELS_PATH"] = f"{path}{os.pathsep}{good}"
    registered, err = call_hook()
    assert "internal error" not in err, err
    assert registered == [("still-here", ())]
    line = refusal(path)
    assert re.fullmatch(re.escape(str(path)) + r":\d+:\d+: .+", line), line


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda n: "[" * n + "]" * n, id="flow-sequences"),
        pytest.param(lambda n: "{a: " * n + "1" + "}" * n, id="flow-mappings"),
        pytest.param(lambda n: "- " * n + "x\n", id="block-sequences"),
    ],
)
def test_nesting_too_deep_for_the_parser_is_refused_without_crashing(shape, llm_exe):
    """Tens of thousands of levels (100 KB): llm must not crash, in a
    subprocess, since a crash here would take pytest down with it."""
    models = Path(os.environ["LLM_YAML_MODELS_PATH"])
    deep = models / "deep.yaml"
    deep.write_text(shape(50_000))
    (models / "good.yaml").write_text("- model_id: survivor\n  backend: {type: markov}\n")
    listed = llm_exe("models", "list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "YAML markov: survivor" in listed.stdout
    assert f"skipped {deep}:" in listed.stderr
    validated = llm_exe("yaml-models", "validate", str(deep))
    assert validated.returncode == 1, validated.stderr[-2000:]
    assert re.fullmatch(
        re.escape(str(deep)) + r":\d+:\d+: .*" + re.escape(DEPTH_MESSAGE) + "\n", validated.stdout
    ), validated.stdout[:2000]


# -- validated declarations that llm then cannot use ------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("{type: object, enum: [{a: 1}, {b: 2}]}", id="object-enum"),
        pytest.param("{type: array, enum: [[1, 2], [3]]}", id="array-enum"),
        pytest.param("{type: integer, minimum: 1.5}", id="integer-with-a-fractional-minimum"),
        pytest.param("{type: integer, exclusiveMinimum: 1.5, default: 2}", id="exclusive"),
        pytest.param(
            "{type: array, items: {type: integer, maximum: 9.5}}", id="integer-items-fractional"
        ),
    ],
)
def test_an_option_that_validates_gives_a_usable_model(workspace, spec):
    """Either validate reports the spec, or the model works: never 'OK'
    followed by a traceback from `llm models list --options` or a prompt."""
    text = f"- model_id: opt-model\n  backend: {{type: markov}}\n  options:\n    x: {spec}\n"
    path = workspace.write(text)
    checked = check(path)  # includes `llm models list --options -m opt-model`
    if checked.exit_code == 0:
        model = llm.get_model("opt-model")
        assert len(model.prompt(PROMPT, stream=False).text().split()) == 20

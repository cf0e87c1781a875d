"""The JSON Schema of a model file, and validation against it with locations.

``schemas/llm-yaml-models.schema.json`` is the single source of truth: the
wheel carries a copy inside the package, a checkout reads it from the
repository. jsonschema is imported only when a file must be validated,
never on the cached path that ordinary ``llm`` commands take.
"""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any

from .search_path import schema_path

if TYPE_CHECKING:
    from ..errors import Problem
    from .source import Document


@functools.cache
def schema_text() -> str:
    return schema_path().read_text("utf-8")


@functools.cache
def schema() -> dict:
    return json.loads(schema_text())


# Problems reported per file (and per value validated): past this many, a
# file says how many more there were in one line, and builds no more
# messages, so a hostile file costs no more than a few hundred problems.
MAX_PROBLEMS = 100
_MORE = f" not shown: at most {MAX_PROBLEMS} problems are reported per file"
_COUNT = re.compile(r"(\d+) more problems?" + re.escape(_MORE))


@functools.cache
def _definitions(shallow: bool) -> dict:
    definitions = schema()["definitions"]
    if not shallow:
        return definitions
    # A model entry that is a mapping is checked whole once defaults are
    # merged in (config.check_document): as written, only that it is one.
    entries = {"type": "array", "items": {"type": "object"}}
    return {**definitions, "modelList": entries, "embeddingModelList": entries}


@functools.cache
def _validator(definition: str, shallow: bool = False):
    import jsonschema

    return jsonschema.Draft7Validator(
        {"definitions": _definitions(shallow), "$ref": f"#/definitions/{definition}"}
    )


@functools.cache
def _quick(definition: str, shallow: bool = False):
    from .fastschema import compile_schema

    return compile_schema({"$ref": f"#/definitions/{definition}"}, _definitions(shallow))


def validate(
    value: Any, definition: str, doc: Document, origin=lambda path: path, *, shallow=False
) -> list[Problem]:
    """Problems of ``value`` against ``#/definitions/<definition>``.

    ``origin`` maps a path inside ``value`` to the path in ``doc`` it came
    from; merged models use it to point at the defaults that supplied a key.
    ``shallow`` checks of each model entry only that it is a mapping. The
    quick check answers for a valid value, jsonschema explains the rest; past
    MAX_PROBLEMS, the last problem says how many more there were.
    """
    unusable = _unusable(value, shallow) if doc.unusable else {}
    if not unusable and _quick(definition, shallow)(value):
        return []
    errors = [
        e for e in _validator(definition, shallow).iter_errors(value) if _at(e) not in unusable
    ]
    misspelt = _misspellings(errors)
    problems = [doc.problem(origin(path), found.message) for path, found in unusable.items()]
    more = 0
    for error in errors:
        # "did you mean 'model_id'?" already says that model_id is missing.
        if error.validator == "required" and (_at(error), _missing(error)) in misspelt:
            continue
        found = _located(error, doc, origin, room=MAX_PROBLEMS + 1 - len(problems))
        problems += found
        more += _weight(error) - len(found)
    if len(problems) > MAX_PROBLEMS or more:
        shown = problems[: MAX_PROBLEMS - 1]
        return [*shown, more_problems(problems[len(shown)], len(problems) - len(shown) + more)]
    return problems


def _unusable(value: Any, shallow: bool) -> dict:
    """path -> each ``Unusable`` number in ``value``, wherever it is (even
    where the schema takes any value, as in a ``body``). ``shallow``: not in
    the model entries, which are checked whole, each on its own."""
    from .source import Unusable

    found: dict = {}
    stack: list = [((), value, shallow)]
    while stack:
        path, item, skip_entries = stack.pop()
        if isinstance(item, Unusable):
            found[path] = item
        elif isinstance(item, dict):
            stack += [
                (path + (k,), v, skip_entries and k in ("models", "embedding_models"))
                for k, v in item.items()
            ]
        elif isinstance(item, list) and not skip_entries:
            stack += [(path + (i,), v, False) for i, v in enumerate(item)]
    return found


def errors_of(value: Any, definition: str) -> list:
    """The raw jsonschema errors of ``value``, for checks that need their paths."""
    return list(_validator(definition).iter_errors(value))


def more_problems(at: Problem, count: int, declarations: int = 0) -> Problem:
    """The one line that stands for ``count`` problems not shown (and
    ``declarations`` whose problems were not worked out), at the first of them."""
    parts = [_more(count, "problem")] if count else []
    parts += [_more(declarations, "declaration") + " with problems"] if declarations else []
    return at._replace(path="", message=f"{' and '.join(parts)}{_MORE}")


def _more(n: int, noun: str) -> str:
    return f"{n} more {noun}" + ("" if n == 1 else "s")


def count_more(problem: Problem) -> int | None:
    """How many problems a ``more_problems`` line from ``validate`` stands
    for (None for any other problem)."""
    found = _COUNT.fullmatch(problem.message)
    return int(found.group(1)) if found and not problem.path else None


def is_valid(value: Any, definition: str) -> bool:
    """Whether ``value`` has no problems against ``#/definitions/<definition>``."""
    if _quick(definition)(value):
        return True
    return not _surely_invalid(value, definition) and _deciding(definition).is_valid(value)


def _surely_invalid(value: Any, definition: str) -> bool:
    """A definite no from the definition's own root keywords, which apply
    unconditionally: not a mapping, a required key missing, an unknown key."""
    rules = _definitions(False)[definition]
    if not isinstance(rules, dict) or "$ref" in rules:
        return False
    if type(value) is not dict:
        return rules.get("type") == "object"
    known = rules.get("properties", {})
    return any(k not in value for k in rules.get("required", ())) or (
        rules.get("additionalProperties") is False and any(k not in known for k in value)
    )


@functools.cache
def _deciding(definition: str):
    """A validator that only decides: the definition itself at the root, so
    that no ``$ref`` is resolved before the first keyword is checked."""
    import jsonschema

    definitions = _definitions(False)
    return jsonschema.Draft7Validator({**definitions[definition], "definitions": definitions})


def _at(error) -> tuple:
    return tuple(error.absolute_path)


def _extras(error) -> list[str]:
    known = error.schema.get("properties", {})
    return [k for k in error.instance if k not in known]


def _weight(error) -> int:
    """How many problems an error makes: one per key for unknown keys."""
    return len(_extras(error)) if error.validator == "additionalProperties" else 1


def _misspellings(errors: list) -> set[tuple]:
    """(path, key) for each unknown key that looks like a misspelt key,
    where a ``required`` error might be about it: only those are worth a
    difflib call, and only for keys that will be shown."""
    wanted = {_at(e) for e in errors if e.validator == "required"}
    return {
        (_at(e), _close(k, allowed))
        for e in errors
        if e.validator == "additionalProperties" and _at(e) in wanted
        for allowed in [tuple(_allowed(e))]
        for k in _extras(e)[:MAX_PROBLEMS]
        # never called a misspelling (unknown_key)
        if k not in _JSON_SCHEMA_KEYWORDS and not _belongs(k, allowed)
    }


def _missing(error) -> str | None:
    """The property a ``required`` error is about (one error per property)."""
    for name in error.validator_value:
        if error.message == f"{name!r} is a required property":
            return name
    return None


def _located(error, doc: Document, origin, room: int) -> list[Problem]:
    """At most ``room`` problems for one error (past that, they are only counted)."""
    if room <= 0:
        return []
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = _allowed(error)
        return [
            doc.problem(origin(path + (k,)), unknown_key(k, allowed), key=True)
            for k in _extras(error)[:room]
        ]
    if error.validator == "pattern":
        # Every pattern in the schema says in words what it wants (a test
        # checks): a regular expression is no message for a user.
        wanted = error.schema.get("patternErrorMessage", "is not in the form expected here")
        message = f"{error.instance!r} {wanted}"
        if "propertyNames" in error.schema_path:  # the name is a key, not a value
            return [doc.problem(origin(path + (error.instance,)), message, key=True)]
        return [doc.problem(origin(path), message)]
    if error.validator == "minLength" and error.instance == "":
        return [doc.problem(origin(path), "must not be empty")]
    if error.validator == "anyOf" and all("required" in a for a in error.validator_value):
        # a key: {name} or {command}; "not valid under any of the given schemas" says neither
        needs = " or ".join(repr(a["required"][0]) for a in error.validator_value)
        return [doc.problem(origin(path), f"needs {needs}")]
    if error.validator == "enum" and isinstance(error.instance, str):
        choices = [c for c in error.validator_value if isinstance(c, str)]
        message = f"{error.instance!r} is not one of {', '.join(choices)}"
        return [doc.problem(origin(path), message + did_you_mean(error.instance, choices))]
    if error.validator == "type" and error.instance is None:
        expected = error.validator_value
        return [doc.problem(origin(path), f"is empty; expected a value of type {expected!r}")]
    if (
        error.validator == "type"
        and error.validator_value == "array"
        and isinstance(error.instance, str)
    ):
        # extra-openai-models.yaml turns `aliases: x` into one alias per character.
        hint = f"; write a list, e.g. [{error.instance}]"
        return [doc.problem(origin(path), error.message + hint)]
    return [doc.problem(origin(path), error.message)]


# Option keywords that apply only to some option types.
KEYWORD_TYPES = {
    "minimum": ("integer", "number"),
    "maximum": ("integer", "number"),
    "exclusiveMinimum": ("integer", "number"),
    "exclusiveMaximum": ("integer", "number"),
    "minLength": ("string",),
    "maxLength": ("string",),
    "pattern": ("string",),
    "items": ("array",),
}


def _allowed(error) -> list[str]:
    """The keys valid where an unknown key was found: those of the schema
    there, less the option keywords that do not apply to the spec's type
    (a string option is never told "did you mean 'items'?")."""
    kind = error.instance.get("type")
    return sorted(
        key
        for key in error.schema.get("properties", {})
        if kind in KEYWORD_TYPES.get(key, (kind,)) or kind not in _OPTION_TYPES
    )


_OPTION_TYPES = ("string", "integer", "number", "boolean", "array", "object")


@functools.lru_cache(maxsize=4096)
def _close(word: str, choices: tuple[str, ...]) -> str | None:
    """The closest of ``choices`` to ``word``: worked out once per pair, as
    a key misspelt in ``defaults`` is met again in every model."""
    import difflib

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: list[str]) -> str:
    close = _close(word, tuple(choices))
    return f"; did you mean '{close}'?" if close else ""


# JSON Schema's own words: a user who writes one means it, so it is no
# misspelling of a key we take ('maxItems' is not a typo of 'items').
_JSON_SCHEMA_KEYWORDS = frozenset(
    [
        "$ref",
        "$schema",
        "$id",
        "$comment",
        "additionalItems",
        "additionalProperties",
        "allOf",
        "anyOf",
        "const",
        "contains",
        "contentEncoding",
        "contentMediaType",
        "default",
        "definitions",
        "dependencies",
        "description",
        "else",
        "enum",
        "examples",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "format",
        "if",
        "items",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "multipleOf",
        "not",
        "oneOf",
        "pattern",
        "patternProperties",
        "properties",
        "propertyNames",
        "readOnly",
        "required",
        "then",
        "title",
        "type",
        "uniqueItems",
        "writeOnly",
    ]
)


def unknown_key(key: str, allowed: list[str]) -> str:
    expected = f"; expected one of: {', '.join(allowed)}"
    if key in _JSON_SCHEMA_KEYWORDS:
        return f"unknown key '{key}': a JSON Schema keyword this place does not take{expected}"
    belongs = _belongs(key, tuple(allowed))
    if belongs:
        return f"unknown key '{key}' here; write it as {belongs}"
    return f"unknown key '{key}'" + (did_you_mean(key, allowed) or expected)


# Keys that other tools' model files (llm's extra-openai-models.yaml,
# LiteLLM's) write beside the model's name, and this format's names for them.
_ELSEWHERE = {"api_base": "backend.base_url", "api_key_name": "key.name"}


@functools.lru_cache(maxsize=256)
def _belongs(key: str, allowed: tuple[str, ...]) -> str | None:
    """Where a key written at a model's level (a place that takes
    ``backend``) belongs, if it is a backend's key or another tool's name for
    one of ours: a misspelling of a model key it is not."""
    if "backend" not in allowed or key in allowed:
        return None
    if key in _ELSEWHERE:
        return _ELSEWHERE[key]
    definitions = _definitions(False)
    backend_keys = {
        k
        for name in ("anyBackend", "httpEmbeddingBackend")
        for k in definitions[name]["properties"]
    }
    return f"backend.{key}" if key in backend_keys else None


def check_value(value: Any, spec: dict) -> list[str]:
    """Messages for ``value`` against a plain JSON Schema ``spec`` (an
    option's own rules, so its ``pattern`` is the user's: see patterns.py).
    The quick check answers for a valid value, jsonschema explains the rest."""
    from .fastschema import compile_schema
    from .patterns import search

    if compile_schema(spec, {}, search)(value):
        return []
    return [e.message for e in _option_validator()(spec).iter_errors(value)]


@functools.cache
def _option_validator():
    import jsonschema

    from .patterns import search

    def pattern(validator, pattern: str, instance, schema):
        if validator.is_type(instance, "string") and not search(pattern, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    return jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": pattern})

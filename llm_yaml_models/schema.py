"""The JSON Schema of a model file, and validation against it with locations.

``schemas/llm-yaml-models.schema.json`` is the single source of truth: the
wheel carries a copy inside the package, a checkout reads it from the
repository. jsonschema is imported only when a file must be validated,
never on the cached path that ordinary ``llm`` commands take.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from .paths import schema_path

if TYPE_CHECKING:
    from .errors import Problem
    from .source import Document


@functools.cache
def schema_text() -> str:
    return schema_path().read_text("utf-8")


@functools.cache
def schema() -> dict:
    return json.loads(schema_text())


@functools.cache
def _validator(definition: str):
    import jsonschema

    root = schema()
    return jsonschema.Draft7Validator(
        {"definitions": root["definitions"], "$ref": f"#/definitions/{definition}"}
    )


def validate(value: Any, definition: str, doc: Document, origin=lambda path: path) -> list[Problem]:
    """Problems of ``value`` against ``#/definitions/<definition>``.

    ``origin`` maps a path inside ``value`` to the path in ``doc`` it came
    from; merged models use it to point at the defaults that supplied a key.
    """
    errors = list(_validator(definition).iter_errors(value))
    misspelt = {
        (tuple(e.absolute_path), _close(k, _allowed(e)))
        for e in errors
        if e.validator == "additionalProperties"
        for k in e.instance
        if k not in e.schema.get("properties", {})
    }
    problems = []
    for error in errors:
        # "did you mean 'model_id'?" already says that model_id is missing.
        if (
            error.validator == "required"
            and (tuple(error.absolute_path), _missing(error)) in misspelt
        ):
            continue
        problems.extend(_located(error, doc, origin))
    return problems


def errors_of(value: Any, definition: str) -> list:
    """The raw jsonschema errors of ``value``, for checks that need their paths."""
    return list(_validator(definition).iter_errors(value))


def _missing(error) -> str | None:
    """The property a ``required`` error is about (one error per property)."""
    for name in error.validator_value:
        if error.message == f"{name!r} is a required property":
            return name
    return None


def _located(error, doc: Document, origin) -> list[Problem]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = _allowed(error)
        extras = [k for k in error.instance if k not in error.schema.get("properties", {})]
        return [doc.problem(origin(path + (k,)), unknown_key(k, allowed), key=True) for k in extras]
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


def _close(word: str, choices: list[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: list[str]) -> str:
    close = _close(word, choices)
    return f"; did you mean '{close}'?" if close else ""


def unknown_key(key: str, allowed: list[str]) -> str:
    hint = did_you_mean(key, allowed)
    return f"unknown key '{key}'" + (hint or f"; expected one of: {', '.join(allowed)}")


def check_value(value: Any, spec: dict) -> list[str]:
    """Messages for ``value`` against a plain JSON Schema ``spec`` (an
    option's own rules, so its ``pattern`` is the user's: see patterns.py)."""
    return [e.message for e in _option_validator()(spec).iter_errors(value)]


@functools.cache
def _option_validator():
    import jsonschema

    from .patterns import search

    def pattern(validator, pattern: str, instance, schema):
        if validator.is_type(instance, "string") and not search(pattern, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")

    return jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": pattern})

"""A quick yes for valid data, so that jsonschema runs only for a file with problems.

jsonschema resolves every ``$ref`` and builds a validator per subschema as
it descends, which is most of the cost of loading a changed file. Here the
schema is compiled once into plain closures that answer one question: is
the value valid? They are conservative by construction: where JSON Schema's
rules are subtle (``1.0`` as an integer, ``True`` beside ``1`` in an enum,
unhashable items under ``uniqueItems``) they answer "not sure" (False), and
the caller runs jsonschema, which decides and explains. So a True here
always means jsonschema finds nothing (``tests/test_loader_limits.py``
checks that on generated and mutated files); a False costs only time.

Only the keywords the plugin's schema and option specs use are compiled; a
schema with any other keyword compiles to "not sure".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..errors import Signal

Check = Callable[[Any], bool]

# Keywords that never constrain a value.
# patternErrorMessage is ours: the words a failed pattern is reported with.
_ANNOTATIONS = {
    "$schema",
    "$id",
    "title",
    "description",
    "default",
    "examples",
    "$comment",
    "patternErrorMessage",
}


def _never(value: Any) -> bool:
    return False


def _always(value: Any) -> bool:
    return True


def _number(value: Any) -> bool:
    return type(value) in (int, float)


# Exact types only: jsonschema's "integer" also takes 1.0, which is "not sure" here.
_TYPES: dict[str, Check] = {
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,
    "number": _number,
    "boolean": lambda v: type(v) is bool,
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "null": lambda v: v is None,
}
_SCALARS = (str, int, float, bool, type(None))


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values, for scalars of one type; "not sure" otherwise."""
    return type(a) is type(b) and type(a) in _SCALARS and a == b


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]

    def check(value: Any) -> bool:
        for one in checks:  # noqa: SIM110 - faster than all() over a generator
            if not one(value):
                return False
        return True

    return check


class Unsupported(Signal):
    """The schema uses a keyword compiled here does not know."""


def _expect(arg: Any, *kinds: type) -> None:
    """A keyword's argument of another type (a schema gone wrong) is not
    compiled: a check never raises."""
    if type(arg) not in kinds:
        raise Unsupported(repr(arg))


class Compiler:
    """Compiles a JSON Schema (draft 7) with local ``#/definitions/`` refs.

    ``search(pattern, text)`` matches a ``pattern`` keyword: jsonschema's own
    ``re.search`` for the plugin's schema, the linear-time engine for an
    option's rules (see patterns.py)."""

    def __init__(self, definitions: dict, search: Callable[[str, str], bool] | None = None):
        self.definitions = definitions
        self.search = search or (lambda p, text: re.search(p, text) is not None)
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise Unsupported(repr(schema))
        if "$ref" in schema:  # draft 7 ignores a $ref's siblings
            return self.ref(schema["$ref"])
        checks = [self.keyword(k, v, schema) for k, v in schema.items() if k not in _ANNOTATIONS]
        return _all([c for c in checks if c is not None])

    def ref(self, ref: str) -> Check:
        name = ref.removeprefix("#/definitions/")
        if name == ref or name not in self.definitions:
            raise Unsupported(ref)
        refs = self.refs
        if name in refs and refs[name] is not _never:
            return refs[name]
        if name in refs:  # a recursive ref, being compiled: look it up when used
            return lambda value: refs[name](value)
        refs[name] = _never
        refs[name] = self.compile(self.definitions[name])
        return refs[name]

    def keyword(self, key: str, arg: Any, schema: dict) -> Check | None:
        method = getattr(self, "k_" + key.replace("$", ""), None)
        if method is None:
            raise Unsupported(key)
        return method(arg, schema)

    def k_type(self, arg, schema) -> Check:
        if isinstance(arg, str):
            return _TYPES[arg]
        checks = [_TYPES[k] for k in arg]
        return lambda v: any(check(v) for check in checks)

    def k_enum(self, arg, schema) -> Check:
        _expect(arg, list)
        return lambda v: any(_same(v, e) for e in arg)

    def k_const(self, arg, schema) -> Check:
        return lambda v: _same(v, arg)

    def k_properties(self, arg, schema) -> Check:
        """``properties`` and ``additionalProperties`` in one pass over the keys."""
        if "patternProperties" in schema:
            raise Unsupported("patternProperties")
        props = {k: self.compile(s) for k, s in arg.items()}
        extra = schema.get("additionalProperties", True)
        other = None if extra is False else self.compile(extra)

        def check(v) -> bool:
            if type(v) is not dict:
                return True
            for key, item in v.items():
                found = props.get(key, other)
                if found is None or not found(item):
                    return False
            return True

        return check

    def k_additionalProperties(self, arg, schema) -> Check | None:  # noqa: N802 - its name
        if "properties" in schema:
            return None  # compiled with "properties"
        return self.k_properties({}, schema)

    def k_required(self, arg, schema) -> Check:
        _expect(arg, list)
        return lambda v: type(v) is not dict or all(k in v for k in arg)

    def k_propertyNames(self, arg, schema) -> Check:  # noqa: N802
        check = self.compile(arg)
        return lambda v: type(v) is not dict or all(check(k) for k in v)

    def k_items(self, arg, schema) -> Check:
        if isinstance(arg, list):
            raise Unsupported("items as a list")
        check = self.compile(arg)
        return lambda v: type(v) is not list or all(check(item) for item in v)

    def k_uniqueItems(self, arg, schema) -> Check | None:  # noqa: N802
        if not arg:
            return None

        def unique(v) -> bool:
            if type(v) is not list:
                return True
            # Python's == merges more values than JSON's (1, 1.0 and True), never fewer.
            if not all(type(item) in _SCALARS for item in v):
                return False
            return len(set(v)) == len(v)

        return unique

    def k_minItems(self, arg, schema) -> Check:  # noqa: N802
        _expect(arg, int)
        return lambda v: type(v) is not list or len(v) >= arg

    def k_minProperties(self, arg, schema) -> Check:  # noqa: N802
        _expect(arg, int)
        return lambda v: type(v) is not dict or len(v) >= arg

    def k_minLength(self, arg, schema) -> Check:  # noqa: N802
        _expect(arg, int)
        return lambda v: type(v) is not str or len(v) >= arg

    def k_maxLength(self, arg, schema) -> Check:  # noqa: N802
        _expect(arg, int)
        return lambda v: type(v) is not str or len(v) <= arg

    def k_pattern(self, arg, schema) -> Check:
        _expect(arg, str)
        search = self.search
        return lambda v: type(v) is not str or search(arg, v)

    def k_minimum(self, arg, schema) -> Check:
        _expect(arg, int, float)
        return lambda v: not _number(v) or v >= arg

    def k_maximum(self, arg, schema) -> Check:
        _expect(arg, int, float)
        return lambda v: not _number(v) or v <= arg

    def k_exclusiveMinimum(self, arg, schema) -> Check:  # noqa: N802
        _expect(arg, int, float)
        return lambda v: not _number(v) or v > arg

    def k_exclusiveMaximum(self, arg, schema) -> Check:  # noqa: N802
        _expect(arg, int, float)
        return lambda v: not _number(v) or v < arg

    def k_allOf(self, arg, schema) -> Check:  # noqa: N802
        return _all([self.compile(s) for s in arg])

    def k_anyOf(self, arg, schema) -> Check:  # noqa: N802
        checks = [self.compile(s) for s in arg]
        return lambda v: any(check(v) for check in checks)

    def k_if(self, arg, schema) -> Check:
        test = self.compile(arg)
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))
        return lambda v: then(v) if test(v) else otherwise(v)

    def k_then(self, arg, schema) -> None:
        return None  # compiled with "if"

    def k_else(self, arg, schema) -> None:
        return None


def compile_schema(
    schema: Any, definitions: dict, search: Callable[[str, str], bool] | None = None
) -> Check:
    """A quick validity check for ``schema``; "not sure" for every value if
    the schema uses a keyword this module does not compile."""
    try:
        return Compiler(definitions, search).compile(schema)
    except (Unsupported, KeyError, TypeError):
        return _never

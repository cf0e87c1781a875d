"""The ``pattern`` of an option, matched in linear time where possible.

A pattern is the user's own, but defaults and enum values are matched
against it whenever a file is loaded, which is any llm command after the
file changes: a pattern that backtracks catastrophically (``(a+)+$``
against ``"aaaa...!"``) must not hang llm. pydantic-core's Rust engine does
not backtrack; Python's ``re`` is used only for what it cannot compile
(look-around and back-references).
"""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=256)
def _rust(pattern: str):
    from pydantic_core import SchemaError, SchemaValidator, core_schema

    try:
        schema = core_schema.str_schema(pattern=pattern, regex_engine="rust-regex")
        return SchemaValidator(schema)
    except SchemaError:
        return None


def linear(pattern: str) -> bool:
    """Whether the Rust engine takes ``pattern``."""
    return _rust(pattern) is not None


def search(pattern: str, text: str) -> bool:
    """``re.search`` semantics, as JSON Schema's ``pattern`` has."""
    validator = _rust(pattern)
    if validator is None:
        return re.search(pattern, text) is not None
    return validator.isinstance_python(text)

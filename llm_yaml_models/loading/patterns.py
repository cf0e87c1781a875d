"""The ``pattern`` of an option, matched only in linear time.

A pattern is the user's own, but defaults and enum values are matched
against it whenever a file is loaded, which is any llm command after the
file changes: a pattern that backtracks catastrophically (``(a+)+$``
against ``"aaaa...!"``) must not hang llm. So every pattern is matched by
pydantic-core's Rust engine, which does not backtrack, and a pattern it
cannot compile (look-around, back-references, or one that compiles past
its size limit) is a problem at the ``pattern:`` line, never handed to
Python's ``re``.
"""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str):
    """A validator for ``pattern``, or the Rust engine's error message."""
    from pydantic_core import SchemaError, SchemaValidator, core_schema

    try:
        return SchemaValidator(core_schema.str_schema(pattern=pattern, regex_engine="rust-regex"))
    except SchemaError as exc:
        return str(exc)


def problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be an option's pattern, if it cannot."""
    compiled = _compiled(pattern)
    if not isinstance(compiled, str):
        return None
    try:
        re.compile(pattern)
    except re.error as exc:  # invalid anywhere: Python's message says where
        return f"not a valid regular expression: {exc}"
    return f"the linear-time regex engine cannot take this pattern: {_reason(compiled, pattern)}"


def _reason(message: str, pattern: str) -> str:
    """The Rust engine's error in one line, with the position it points at."""
    if "exceeds size limit" in message:
        return "it compiles to more than the 10 MiB limit"
    lines = message.splitlines()
    reason = lines[-1].strip().removeprefix("error: ")
    carets = [line for line in lines[:-1] if line.strip() and set(line.strip()) == {"^"}]
    if len(carets) == 1 and "\n" not in pattern:  # the engine indents the pattern by 4
        return f"{reason} (at position {len(carets[0]) - len(carets[0].lstrip()) - 4})"
    return reason


def search(pattern: str, text: str) -> bool:
    """``re.search`` semantics, as JSON Schema's ``pattern`` has; only for a
    pattern that ``problem`` passed."""
    compiled = _compiled(pattern)
    if isinstance(compiled, str):
        raise ValueError(f"pattern {pattern!r} was not checked: {compiled}")
    return compiled.isinstance_python(text)

"""JMESPath expressions of ``response:`` and ``stream:``, compiled once:
plain paths become direct lookups, as they run once per streamed event."""

from __future__ import annotations

import functools
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from .outcome import WireError, simplified


def _steps(node: dict) -> list | None:
    """A plain path (fields and indexes) as lookup steps, or None."""
    kind = node["type"]
    if kind == "field":
        return [node["value"]]
    if kind == "index":
        return [node["value"]]
    if kind in ("subexpression", "index_expression"):
        steps: list = []
        for child in node["children"]:
            part = _steps(child)
            if part is None:
                return None
            steps += part
        return steps
    return None


def _walk(steps: list, data: Any) -> Any:
    for step in steps:
        if isinstance(step, str):
            if not isinstance(data, dict):
                return None
            data = data.get(step)
        else:
            if not isinstance(data, list) or not -len(data) <= step < len(data):
                return None
            data = data[step]
    return data


def _false(value: Any) -> bool:
    # JMESPath's idea of false, for ||
    return value is None or value is False or value in ("", [], {})


def compile_path(expr: str):
    """A JMESPath expression as a function of the data.

    Plain paths (``choices[0].delta.content``) and ``a || b`` of them become
    direct lookups: they run once per streamed event, and jmespath's
    interpreter costs microseconds each. Anything else uses jmespath."""
    compiled = jmespath.compile(expr)
    node = compiled.parsed
    alternatives = node["children"] if node["type"] == "or_expression" else [node]
    paths = [_steps(n) for n in alternatives]
    if any(p is None for p in paths):
        return compiled.search
    if len(paths) == 1:
        return functools.partial(_walk, paths[0])

    def first(data: Any) -> Any:
        value = None
        for path in paths:
            value = _walk(path, data)
            if not _false(value):
                return value
        return value

    return first


class Paths:
    """Compiled JMESPath expressions from a ``response:`` or ``stream:`` spec.

    An expression that fails on the data it meets (``join()`` of a null, say)
    is a WireError naming it, like any other reply we cannot read."""

    def __init__(self, spec, where: str = ""):
        self.spec = spec
        self.where = where
        self._finders: dict[str, tuple] = {}
        names = ("text", "reasoning", "finish_reason", "error", "id", "model", "tool_calls")
        for name in (*names, "done_when"):
            expr = getattr(spec, name, None)
            if expr:
                self._finders[name] = (expr, compile_path(expr))
        usage = getattr(spec, "usage", None)
        self._usage = [
            (part, getattr(usage, part), compile_path(getattr(usage, part)))
            for part in ("input", "output", "details")
            if usage is not None and getattr(usage, part)
        ]

    def _failed(self, expr: str, exc: Exception) -> WireError:
        message = str(exc).replace("\n", " ")
        return WireError(f"cannot apply '{expr}' to the reply from {self.where}: {message}")

    def find(self, name: str, data: Any) -> Any:
        found = self._finders.get(name)
        if found is None:
            return None
        try:
            return found[1](data)
        except JMESPathError as exc:
            raise self._failed(found[0], exc) from exc

    def usage(self, data: Any, into: dict) -> None:
        """Usage found in ``data``, over what earlier events said: the last
        value wins, but a count of 0 never hides an earlier one (LiteLLM's
        Anthropic stream says 0 input tokens first, and the count later)."""
        for part, expr, finder in self._usage:
            try:
                found = finder(data)
            except JMESPathError as exc:
                raise self._failed(expr, exc) from exc
            if found is None or (found == 0 and part != "details" and into.get(part)):
                continue
            into[part] = simplified(found) if part == "details" else found

"""JMESPath expressions of ``response:`` and ``stream:``, compiled once:
plain paths become direct lookups, as they run once per streamed event."""

from __future__ import annotations

import functools
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from .outcome import WireError, cut, simplified


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


def _false(value: Any) -> bool:
    # JMESPath's idea of false, for ||
    return value is None or value is False or value in ("", [], {})


@functools.cache  # a Decoder per request compiles its paths: once per expression
def compile_path(expr: str):
    """A JMESPath expression as a function of the data.

    Plain paths (``choices[0].delta.content``) and ``a || b`` of them become
    direct lookups: they run once per streamed event, and jmespath's
    interpreter costs microseconds each. Anything else uses jmespath."""
    compiled = jmespath.compile(expr)
    node = compiled.parsed
    alternatives = node["children"] if node["type"] == "or_expression" else [node]
    paths = [_steps(n) for n in alternatives]
    read = _reader((expr,)) if all(p is not None for p in paths) else None
    if read is None:
        return compiled.search

    def walk(data: Any) -> Any:
        return read(data)[0]

    walk.plain = True  # it never fails: no error to translate
    return walk


def _nothing(data: Any) -> None:
    return None


# The order of Paths.read()'s tuple; the error first, as it is looked at first.
NAMES = ("error", "text", "reasoning", "finish_reason", "id", "model", "tool_calls", "done_when")
USAGE = ("input", "output", "details")


def _plain(expr: str | None) -> list[list] | None:
    """The alternatives of a plain path (``a.b || c[0]``) as steps, [] for
    no path, or None for any other expression."""
    if not expr:
        return []
    node = jmespath.compile(expr).parsed
    alternatives = node["children"] if node["type"] == "or_expression" else [node]
    paths = [_steps(n) for n in alternatives]
    return None if any(p is None for p in paths) else paths


@functools.cache
def _reader(exprs: tuple):
    """One function that finds every path of ``exprs`` in an event, as a
    tuple in their order: the steps the paths share are walked once
    (``choices[0]`` serves the text, the reasoning, the finish reason and the
    tool calls). None if one of them is not a plain path."""
    plains = [_plain(e) for e in exprs]
    if any(p is None for p in plains):
        return None
    trie: dict = {"leaves": [], "children": {}}
    results = []
    for paths in plains:
        if not paths:
            results.append("None")
            continue
        names = []
        for steps in paths:
            node = trie
            for step in steps:
                node = node["children"].setdefault(repr(step), {"leaves": [], "children": {}})
            names.append(f"v{len(list(_leaves(trie)))}")
            node["leaves"].append(names[-1])
        results.append(_either(names))
    lines = ["def read(n0):", *(f"    {v} = None" for v in _leaves(trie))]
    _branch(trie, "n0", "    ", lines, [0])
    lines.append(f"    return ({', '.join(results)},)")
    namespace: dict = {}
    try:
        exec("\n".join(lines), namespace)  # noqa: S102 - the steps are literals
    except (SyntaxError, RecursionError, MemoryError):  # a path ~100 steps deep
        return None  # each path is then looked up on its own
    return namespace["read"]


def _leaves(node: dict):
    yield from node["leaves"]
    for child in node["children"].values():
        yield from _leaves(child)


def _branch(node: dict, var: str, indent: str, lines: list[str], count: list[int]) -> None:
    """The code for one trie node: its leaves take ``var``; its fields are
    looked up under one dict test, each index under its own list test."""
    for leaf in node["leaves"]:
        lines.append(f"{indent}{leaf} = {var}")
    fields = {k: c for k, c in node["children"].items() if k[0] in "'\""}
    if fields:
        lines.append(f"{indent}if type({var}) is dict:")
        for step, child in fields.items():
            count[0] += 1
            lines.append(f"{indent}    n{count[0]} = {var}.get({step})")
            _branch(child, f"n{count[0]}", indent + "    ", lines, count)
    for step, child in node["children"].items():
        if step in fields:
            continue
        count[0] += 1
        lines.append(f"{indent}if type({var}) is list and -len({var}) <= {step} < len({var}):")
        lines.append(f"{indent}    n{count[0]} = {var}[{step}]")
        _branch(child, f"n{count[0]}", indent + "    ", lines, count)


def _either(names: list[str]) -> str:
    """``a || b || ...`` of found values, as an expression (JMESPath's
    false: null, false, "", [], {})."""
    if len(names) == 1:
        return names[0]
    first, rest = names[0], _either(names[1:])
    true = f"{first} is not None and {first} is not False and {first} not in ('', [], {{}})"
    return f"({first} if {true} else {rest})"


class Paths:
    """Compiled JMESPath expressions from a ``response:`` or ``stream:`` spec.

    ``read(data)`` finds them all at once, as a tuple in the order of
    ``NAMES`` then ``USAGE``: the decoder calls it once per streamed event,
    and where all are plain paths it is one function written out for them
    (``_reader``). ``get[name]`` finds one.

    An expression that fails on the data it meets is a WireError, like any
    other reply we cannot read: what it found missing (``join()`` of a null),
    or jmespath's message, cut as a provider's is (it quotes the value met,
    however large)."""

    def __init__(self, spec, where: str = "", hide=str):
        self.spec = spec
        self.where = where
        self.hide = hide  # stars the secrets in a message (before it is cut)
        usage = getattr(spec, "usage", None)
        exprs = [getattr(spec, name, None) for name in NAMES]
        exprs += [getattr(usage, part) if usage is not None else None for part in USAGE]
        finders = [self._finder(e) for e in exprs]
        self.get = dict(zip(NAMES, finders, strict=False))
        self.read = _reader(tuple(exprs)) or functools.partial(_each, finders)

    def _finder(self, expr: str | None):
        if not expr:
            return _nothing
        search = compile_path(expr)
        if getattr(search, "plain", False):
            return search  # a plain path: it never fails

        def find(data: Any) -> Any:
            try:
                return search(data)
            except JMESPathError as exc:
                raise WireError(self._failure(expr, data, exc)) from exc

        return find

    def _failure(self, expr: str, data: Any, exc: JMESPathError) -> str:
        steps = _first_path(jmespath.compile(expr).parsed)
        if steps and _lookup(data, steps) is None:
            return f"nothing at '{_dotted(steps)}' in the reply from {self.where}"
        message = cut(str(exc).replace("\n", " "), self.hide)
        return f"cannot apply '{expr}' to the reply from {self.where}: {message}"

    def find(self, name: str, data: Any) -> Any:
        return self.get[name](data)


def _first_path(node: dict) -> list | None:
    """The plain path an expression reads first from the data it is given
    (``content`` in ``join('', content[?type=='text'].text)``), or None."""
    steps = _steps(node)
    if steps is not None:
        return steps
    children = node.get("children") or []
    # A function reads each argument; any other node, its left side first.
    for child in children if node["type"] == "function_expression" else children[:1]:
        if found := _first_path(child):
            return found
    return None


def _lookup(data: Any, steps: list) -> Any:
    for step in steps:
        if isinstance(step, str):
            data = data.get(step) if isinstance(data, dict) else None
        else:
            data = data[step] if isinstance(data, list) and -len(data) <= step < len(data) else None
    return data


def _dotted(steps: list) -> str:
    text = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)
    return text.removeprefix(".")


def _each(finders: list, data: Any) -> tuple:
    """Paths.read() where some paths are not plain: one at a time, and none
    after an error (a path may fail on an error's shape)."""
    error = finders[0](data)
    if not _false(error):
        return (error, *(None for _ in finders[1:]))
    return (error, *(f(data) for f in finders[1:]))


def merge_usage(found: list[tuple[str, Any]], into: dict) -> None:
    """Usage found, (part, value) pairs, over what earlier events said: the
    last value wins, but a count of 0 never hides an earlier one (LiteLLM's
    Anthropic stream says 0 input tokens first, and the count later)."""
    for part, value in found:
        # Details with nothing in them (a multiselect's nulls) say nothing.
        value = simplified(value) if part == "details" else value
        if value is None or (value == 0 and part != "details" and into.get(part)):
            continue
        into[part] = value

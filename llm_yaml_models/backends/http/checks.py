"""What a schema cannot see in an HTTP backend: names its templates use,
JMESPath that does not compile, and keys that need others."""

from __future__ import annotations

from typing import Any

from ...templates import check_name, names_in
from . import wire
from .config import merged


def problems(data: dict, doc, origin) -> list:
    """Problems of a merged model that uses the HTTP backend."""
    backend = merged(data["backend"])

    def at(*path):
        return origin(("backend", *path))

    found = []
    if not backend.get("url") and not backend.get("base_url"):
        message = "an http backend needs 'url', or 'base_url' (with 'path'), or a 'preset'"
        found.append(doc.problem(at(), message))
    found += _template_names(backend, data.get("options", {}), doc, at)
    found += _paths(backend, doc, at)
    found += _capabilities(data, backend, doc, origin)
    found += _reasoning(backend, doc, at)
    return found


def _reasoning(backend: dict, doc, at) -> list:
    """Reasoning keys where they cannot apply: think_tags on a backend that
    never streams, send_reasoning with messages no family sends it in."""
    found = []
    stream = backend.get("stream") or {}
    if stream.get("think_tags") and stream.get("format", "none") == "none":
        message = "think_tags needs stream.format: sse or ndjson (a backend that streams)"
        found.append(doc.problem(at("stream", "think_tags"), message))
    sent = backend.get("send_reasoning", "never")
    families = wire.names("send_reasoning")
    if sent != "never" and backend.get("messages", "text") not in families:
        message = f"send_reasoning needs backend.messages: {' or '.join(families)}"
        found.append(doc.problem(at("send_reasoning"), message))
    return found


def _template_names(backend: dict, options: dict, doc, at) -> list:
    found = []
    for path, text in _strings(backend, ("url", "base_url", "path", "headers", "params", "body")):
        for name in names_in(text):
            why = check_name(name, options)
            if why:
                found.append(doc.problem(at(*path), why))
    return found


_NOT_PATHS = ("format", "done", "done_events", "skip_events")


def _paths(backend: dict, doc, at) -> list:
    """Every JMESPath of ``response:`` and ``stream:``, and the text paths they need."""
    found = []
    for section in ("response", "stream"):
        for path, expr in _strings(backend.get(section) or {}, None):
            if path[-1] not in _NOT_PATHS and path[0] != "body":
                found += _check_jmespath(expr, doc, at(section, *path))
    stream = backend.get("stream") or {}
    if not (backend.get("response") or {}).get("text"):
        message = "needs response.text: where the reply's text is (a JMESPath)"
        found.append(doc.problem(at(), message))
    if stream.get("format", "none") != "none" and not stream.get("text"):
        message = "needs stream.text: where each event's text is (a JMESPath)"
        found.append(doc.problem(at("stream"), message))
    return found


def _capabilities(data: dict, backend: dict, doc, origin) -> list:
    """supports_tools and supports_schema need a family that can."""
    found = []
    for key, capability, example in (
        ("supports_tools", "tools", " (the openai-chat preset has it)"),
        ("supports_schema", "schema", ""),
    ):
        families = wire.names(capability)
        if data.get(key) and backend.get(capability) not in families:
            message = f"{key} needs backend.{capability}: {' or '.join(families)}{example}"
            found.append(doc.problem(origin((key,)), message))
    return found


def _strings(value: Any, keys, path: tuple = ()):
    """(path, string) for every string under ``value`` (only ``keys`` at the top)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if keys is None or k in keys:
                yield from _strings(v, None, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, None, path + (i,))
    elif isinstance(value, str):
        yield path, value


def _check_jmespath(expr: str, doc, path) -> list:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(expr)
    except JMESPathError as exc:
        return [doc.problem(path, f"not a valid JMESPath expression: {exc}".splitlines()[0])]
    return []

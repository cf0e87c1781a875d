"""What a schema cannot see in an HTTP backend: names its templates use,
JMESPath that does not compile, and keys that need others."""

from __future__ import annotations

from typing import Any

from ...templates import check_name, names_in
from . import wire
from .config import merged, preset


def problems(data: dict, doc, origin) -> list:
    """Problems of a merged model that uses the HTTP backend."""
    backend = merged(data["backend"])

    def at(*path):
        return origin(("backend", *path))

    found = []
    if not backend.get("url") and not backend.get("base_url"):
        message = "an http backend needs 'url', or 'base_url' (with 'path'), or a 'preset'"
        found.append(doc.problem(at(), message))
    # A preset's own templates may name an option the model removed: that
    # option is then never set, and its key never sent.
    found += _template_names(data["backend"], data.get("options", {}), doc, origin)
    found += _removals(data["backend"], doc, at)
    found += _paths(backend, doc, at)
    found += _capabilities(data, backend, doc, origin)
    return found


def _template_names(backend: dict, options: dict, doc, origin) -> list:
    """Names the templates use that do not exist: the backend's as written,
    and each option's ``body:``."""
    keys = ("url", "base_url", "path", "headers", "params", "body")
    places = [(("backend", *p), text) for p, text in _strings(backend, keys)]
    for name, spec in options.items():
        places += [(("options", name, *p), text) for p, text in _strings(spec, ("body",))]
    return [
        doc.problem(origin(path), why)
        for path, text in places
        for why in _unknown_names(text, options)
    ]


def _unknown_names(text: str, options: dict) -> list[str]:
    return [why for name in names_in(text) if (why := check_name(name, options))]


def _removals(written: dict, doc, at) -> list:
    """A null header or done sentinel removes the preset's; one the preset
    does not have is a mistake (a misspelling, or no preset)."""
    name = written.get("preset")
    base = preset(name) if name else {}
    what = f"the {name} preset" if name else "the preset, and this model has none"
    found = []
    headers = {h.lower() for h in base.get("headers", {})}
    for header, value in (written.get("headers") or {}).items():
        if value is None and header.lower() not in headers:
            message = f"null removes a header of {what}" + (
                f", which has no '{header}'" if name else ""
            )
            found.append(doc.problem(at("headers", header), message))
    stream = written.get("stream") or {}
    if "done" in stream and stream["done"] is None and not (base.get("stream") or {}).get("done"):
        message = f"null removes the done sentinel of {what}" + (", which has none" if name else "")
        found.append(doc.problem(at("stream", "done"), message))
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

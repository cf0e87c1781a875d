"""Templates that cannot break JSON, and ``${VAR}`` expansion.

A string that is exactly ``{{ name }}`` becomes the value itself, with its
JSON type (list, number, object). ``{{ name }}`` inside a longer string is
interpolated as text. Values are never pasted into JSON text, so a prompt
with quotes, newlines, braces or non-ASCII arrives exactly as typed.

Names: ``prompt``, ``system``, ``messages``, ``model``, ``stream``,
``options`` (all that are set) and ``options.NAME``, ``key``, ``env.VAR``;
where a model is served: ``region`` (AWS), ``project``, ``location`` and
``vertex_host`` (Google Cloud's Vertex AI).
A whole-string placeholder whose value is unset (an option not given)
removes its key from the enclosing mapping (or its item from a list), and
so does a mapping or list left empty by that (``options: {temperature: ...}``
with no option set sends no ``"options": {}``). ``{{ options }}`` is the
options that no template places by name (``TemplateOptions``), and is unset
when there are none.

In a URL, a value placed in the path, query or fragment is percent-encoded,
so that it stays one segment (or one value): ``../admin?x#`` cannot climb
the path nor add to the query. A value in the scheme and host is taken as
written (``{{ env.BASE_URL }}/v1``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .errors import TemplateError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}\}")
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
NAMES = (
    *("prompt", "system", "messages", "model", "stream", "options", "key", "env", "region"),
    *("project", "location", "vertex_host"),
)
# An embedding model's templates: ``items`` is the batch (texts, and bytes as base64).
EMBEDDING_NAMES = ("items", "model", "options", "key", "env")

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()


class TemplateOptions(dict):
    """``{{ options }}``: the options that no template places by name;
    ``{{ options.NAME }}`` reads ``every`` option that is set."""

    def __init__(self, rest: dict, every: dict):
        super().__init__(rest)
        self.every = every


def names_in(value: Any) -> list[str]:
    """Every placeholder name used anywhere in a template."""
    if isinstance(value, str):
        return PLACEHOLDER.findall(value)
    if isinstance(value, Mapping):
        return [n for v in value.values() for n in names_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in names_in(v)]
    return []


def env_names(value: Any) -> list[str]:
    """Every environment variable a template reads: ``${VAR}`` and ``{{ env.VAR }}``."""
    if isinstance(value, str):
        placed = [n.partition(".")[2] for n in PLACEHOLDER.findall(value) if n.startswith("env.")]
        return [m.group(1) for m in ENV_REF.finditer(value)] + placed
    if isinstance(value, Mapping):
        return [n for v in value.values() for n in env_names(v)]
    if isinstance(value, list):
        return [n for v in value for n in env_names(v)]
    return []


def check_name(name: str, options: Mapping, names: tuple[str, ...] = NAMES) -> str | None:
    """Why ``name`` cannot be used in a template, or None if it can."""
    head, _, tail = name.partition(".")
    if head not in names:
        return f"unknown template name '{name}'; names are: {', '.join(names)}"
    if head == "options" and tail and tail not in options:
        return f"'{name}' names no declared option"
    if head == "env" and not tail:
        return "write env.VARIABLE"
    if tail and head not in ("options", "env"):
        return f"'{head}' has no parts: write {{{{ {head} }}}}"
    return None


def lookup(name: str, context: Mapping) -> Any:
    head, _, tail = name.partition(".")
    if head == "env":
        return os.environ.get(tail, UNSET)
    value = context.get(head, UNSET)
    if tail:
        value = getattr(value, "every", value)
        return value.get(tail, UNSET) if isinstance(value, Mapping) else UNSET
    if isinstance(value, TemplateOptions) and not value:
        return UNSET
    return value


def _text(value: Any) -> str:
    if value is UNSET or value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render(template: Any, context: Mapping) -> Any:
    """The template with every placeholder filled from ``context``."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole:
            return lookup(whole.group(1), context)
        return PLACEHOLDER.sub(lambda m: _text(lookup(m.group(1), context)), template)
    if isinstance(template, Mapping):
        out = {}
        for key, value in template.items():
            rendered = render(value, context)
            if not _emptied(value, rendered):
                out[key] = rendered
        return out
    if isinstance(template, list):
        rendered = ((item, render(item, context)) for item in template)
        return [v for item, v in rendered if not _emptied(item, v)]
    return template


def _emptied(template: Any, rendered: Any) -> bool:
    """Unset, or a mapping or list that had entries and lost them all to
    unset values (``generationConfig: {topK: "{{ options.top_k }}"}``)."""
    if rendered is UNSET:
        return True
    return isinstance(template, Mapping | list) and bool(template) and rendered in ({}, [])


def render_url(template: str, context: Mapping) -> str:
    """A URL template filled in, each value encoded for the part it lands in."""

    def fill(match: re.Match) -> str:
        text = _text(lookup(match.group(1), context))
        before = template[: match.start()]
        rest = before[m.end() :] if (m := SCHEME.match(before)) else before
        if "/" in rest or "?" in rest or "#" in rest:
            # "." and ".." are the segments a URL's path resolves away
            return quote(text, safe="") if text.strip(".") else text.replace(".", "%2E")
        return text if m is None else quote(text, safe=":[]")

    return PLACEHOLDER.sub(fill, template)


def expand_env(value: Any, where: str = "") -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in every string, from the environment."""
    if isinstance(value, str):

        def replace(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            found = os.environ.get(name)
            if found is None or (found == "" and default is not None):
                if default is None:
                    raise TemplateError(f"environment variable {name} is not set ({where})")
                return default
            return found

        return ENV_REF.sub(replace, value)
    if isinstance(value, Mapping):
        return {k: expand_env(v, f"{where}.{k}" if where else k) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value

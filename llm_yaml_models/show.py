"""Render a resolved declaration as YAML, each value marked with its source.

Secrets the declaration holds (a password in a URL, as written or from the
environment) are starred."""

from __future__ import annotations

import yaml

from .config import merge
from .entries import ModelEntry
from .source import Document, PathT, parse, read_text


def render(entry: ModelEntry) -> str:
    doc = parse(entry.file, read_text(entry.file, entry.file))
    entries = doc.value.get("models", []) if isinstance(doc.value, dict) else doc.value
    defaults = doc.value.get("defaults", {}) if isinstance(doc.value, dict) else {}
    prefix: PathT = ("models",) if isinstance(doc.value, dict) else ()
    for i, item in enumerate(entries):
        if isinstance(item, dict) and item.get("model_id") == entry.model_id:
            merged, origin = merge(defaults, ("defaults",), item, prefix + (i,))
            lines = [f"# {entry.model_id}, declared at {entry.source}"]
            _emit(merged, (), 0, lines, doc, origin)
            return _secrets(entry).hide("\n".join(lines) + "\n")
    raise LookupError(entry.model_id)


def _secrets(entry: ModelEntry):
    """The backend configuration's secrets (``BackendConfig.secrets``); if
    it cannot be built (a variable unset), a URL's password as written."""
    from .backends.base import Secrets
    from .declarations import Declaration
    from .errors import BackendError

    try:
        return Declaration.from_entry(entry).backend.secrets()
    except BackendError:
        secrets = Secrets()
        backend = entry.data.get("backend", {})
        for name in ("url", "base_url"):
            if isinstance(backend.get(name), str):
                secrets.add_url(backend[name])
        return secrets


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _where(path: PathT, doc: Document, origin) -> str:
    source = origin(path)
    loc = doc.loc(source)
    note = " (defaults)" if source[:1] == ("defaults",) else ""
    return f"# {doc.file}:{loc.line}{note}"


def _emit(value: dict, path: PathT, indent: int, lines: list, doc: Document, origin) -> None:
    pad = " " * indent
    for key, item in value.items():
        child = path + (key,)
        if isinstance(item, dict) and item:
            lines.append(f"{pad}{_flow(key)}:")
            _emit(item, child, indent + 2, lines, doc, origin)
        else:
            lines.append(f"{pad}{_flow(key)}: {_flow(item)}  {_where(child, doc, origin)}")

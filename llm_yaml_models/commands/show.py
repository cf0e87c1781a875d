"""Render a resolved declaration as YAML, each value marked with its source.

Secrets the declaration holds (a password in a URL, as written or from the
environment, a credential header written in the file) are starred."""

from __future__ import annotations

import re

import yaml

from ..errors import Problem, printable
from ..loading.loader import merge
from ..loading.source import Document, PathT, format_path, parse, read_text


def render(found, problems: list[Problem]) -> str:
    """``found`` (a cli.Found: a declaration, and why it did not load if it
    did not) as YAML; ``problems``: those of the files checked. A loaded
    model's warnings (``tls.verify: false``, say) head it."""
    from ..loading.loader import LISTS, defaults_for, notes_of, under_preset

    doc = parse(found.file, read_text(found.file, found.file))
    mapping = isinstance(doc.value, dict)
    listed = LISTS[found.named.kind]
    entries = doc.value.get(listed) if mapping else doc.value
    defaults = doc.value.get("defaults") if mapping else None
    prefix: PathT = (listed,) if mapping else ()
    defaults = defaults_for(found.named.kind, defaults if isinstance(defaults, dict) else {})
    for i, item in enumerate(entries if isinstance(entries, list) else []):
        at = doc.loc(prefix + (i,))
        if at.line == found.line and isinstance(item, dict) and _names(item, found.named):
            merged, origin = under_preset(*merge(defaults, ("defaults",), item, prefix + (i,)))
            notes = notes_of(merged, doc, origin, found.named.kind) if found.error is None else []
            lines = _heading(found, format_path(prefix + (i,)), problems, notes)
            _emit(merged, (), 0, lines, doc, origin)
            text = "".join(printable(line) + "\n" for line in lines)
            return _secrets(merged, found.file, found.named.kind).hide(text)
    raise LookupError(found.named.model_id)


def _names(item: dict, named) -> bool:
    return item.get("model_id", named.model_id) == named.model_id


def _heading(found, path: str, problems: list[Problem], notes: list[Problem]) -> list[str]:
    where = f"{found.file}:{found.line}"
    if found.error is None:
        return [f"# {found.named.model_id}, declared at {where}", *(f"#   {n}" for n in notes)]
    why = found.problems or _stopping(found.file, path, problems)
    return [
        f"# {found.named.model_id}, declared at {where}, is not loaded:",
        *(f"#   {problem}" for problem in why),
    ]


def _stopping(file: str, path: str, problems: list[Problem]) -> list[Problem]:
    """The problems of the declaration at ``path``, or, if it has none of
    its own, those of the file around it (its defaults, say)."""
    mine = [p for p in problems if p.file == file]
    inside = [p for p in mine if _inside(p.path, path)]
    return inside or [p for p in mine if not _MODEL_PATH.match(p.path)]


def _inside(found: str, path: str) -> bool:
    """Whether the path ``found`` is ``path`` or below it."""
    return found == path or found.startswith((path + ".", path + "["))


_MODEL_PATH = re.compile(r"^(models|embedding_models)?\[\d+\]")


def _secrets(data: dict, file: str, kind: str):
    """The backend configuration's secrets (``BackendConfig.secrets``); if
    it cannot be built (a variable unset, or a declaration that did not
    load), a URL's password and a credential header as written."""
    from ..backends import configure
    from ..backends.base import Secrets
    from ..loading.loader import declare

    try:
        return configure(declare(data, kind), file).secrets()
    except Exception:  # noqa: BLE001 - shown anyway, with what can be found
        backend = data.get("backend")
        backend = backend if isinstance(backend, dict) else {}
        secrets = Secrets()
        for name in ("url", "base_url"):
            if isinstance(backend.get(name), str):
                secrets.add_url(backend[name])
        headers = backend.get("headers")
        for name, value in (headers if isinstance(headers, dict) else {}).items():
            if isinstance(value, str) and not ("{{" in value or "${" in value):
                secrets.add_header(str(name), value)
        return secrets


def _flow(value) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _where(path: PathT, doc: Document, origin) -> str:
    source = origin(path)
    loc = doc.loc(source)
    note = " (defaults)" if source[:1] == ("defaults",) else ""
    # What the preset brought comes from the line that names it.
    if path[:2] != ("backend", "preset") and source == origin(("backend", "preset")):
        note = " (the preset)"
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

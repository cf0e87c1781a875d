"""``metadata:`` and ``pricing:`` as a file wrote them: a fault is a warning.

What a model's metadata says is informational (but for the defaults a preset
takes from it), so a wrong value in it costs that value only, never the
model: ``soften`` cuts every faulty field out of the document, each with one
located warning line, before anything else reads a declaration. It runs on
the document as written, so a faulty value in ``defaults:`` warns once, not
once for every model that merges it.
"""

from __future__ import annotations

import datetime

from ..errors import Problem
from .source import Document, PathT

SECTIONS = ("metadata", "pricing")  # each the name of its schema definition

# USD per million tokens. Above the ceiling no model has ever charged (o1-pro
# asks 600 for output); below the floor is what a price per token looks like
# (3e-06 is $3 per million): each warns, and the price is kept as written.
PRICE_CEILING = 1000
PRICE_FLOOR = 0.001


def soften(doc: Document) -> list[Problem]:
    """One warning for each faulty field of every ``metadata:`` and
    ``pricing:`` in ``doc``, whose value loses those fields (a section that is
    not a mapping goes whole); and one for each price that looks like
    another unit, which stays."""
    warnings = []
    for at, holder in _holders(doc.value):
        for section in SECTIONS:
            if section not in holder:
                continue
            kept, found = _checked(holder[section], section, doc, at + (section,))
            warnings += found
            if kept is None:
                del holder[section]
            else:
                holder[section] = kept
    return sorted(warnings, key=lambda p: (p.line, p.col))


def _holders(value) -> list[tuple[PathT, dict]]:
    """(path, mapping) of every place a file may write metadata and pricing:
    ``defaults``, each chat model, and each of a template's overrides."""
    if isinstance(value, list):
        entries = [((i,), entry) for i, entry in enumerate(value)]
        found = []
    elif isinstance(value, dict):
        models = value.get("models")
        entries = [
            (("models", i), e) for i, e in enumerate(models if isinstance(models, list) else [])
        ]
        defaults = value.get("defaults")
        found = [(("defaults",), defaults)] if isinstance(defaults, dict) else []
    else:
        return []
    for at, entry in entries:
        if isinstance(entry, dict):
            found.append((at, entry))
            found += _overrides(at, entry)
    return found


def _overrides(at: PathT, entry: dict) -> list[tuple[PathT, dict]]:
    discover = entry.get("discover")
    overrides = discover.get("overrides") if isinstance(discover, dict) else None
    if not isinstance(overrides, dict):
        return []
    at = at + ("discover", "overrides")
    return [(at + (glob,), o) for glob, o in overrides.items() if isinstance(o, dict)]


def _checked(value, section: str, doc: Document, at: PathT) -> tuple[dict | None, list[Problem]]:
    """``value`` less its faulty fields (None: it is no mapping), and the warnings."""
    from .schema import validate

    problems = validate(value, section, doc, lambda path: at + path)
    faulty = _faulty_fields(value, section) if problems else set()
    warnings = [_ignored(p) for p in problems]
    if not isinstance(value, dict) or None in faulty:
        return None, warnings
    kept = {k: v for k, v in value.items() if k not in faulty}
    meaning = _price_warning if section == "pricing" else _metadata_fault
    for name, item in list(kept.items()):
        message = meaning(name, item)
        if message is None:
            continue
        warnings.append(doc.problem(at + (name,), message))
        if message.startswith("warning: ignored: "):
            del kept[name]
    return kept, warnings


def _faulty_fields(value, section: str) -> set:
    """The fields the schema finds fault with; None: the section itself."""
    from .schema import errors_of

    found: set = set()
    for error in errors_of(value, section):
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            known = error.schema.get("properties", {})
            found.update(k for k in error.instance if k not in known)
        else:
            found.add(path[0] if path else None)
    return found


def _ignored(problem: Problem) -> Problem:
    return problem._replace(message=f"warning: ignored: {problem.message}")


def _metadata_fault(name: str, value) -> str | None:
    """What the schema cannot see: a date's pattern with no such day."""
    if name != "deprecated":
        return None
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return f"warning: ignored: {value!r} is not a date"
    return None


def _price_warning(name: str, value) -> str | None:
    if value > PRICE_CEILING:
        return (
            f"warning: {value:g} USD per million tokens is above {PRICE_CEILING}: "
            "is it in another unit? It is kept"
        )
    if 0 < value < PRICE_FLOOR:
        return (
            f"warning: {value:g} USD per million tokens: a price per token where per million "
            f"was meant ({value * 1e6:g} per million)? It is kept"
        )
    return None

"""Backends by ``backend.type``; each module is imported on first use."""

from __future__ import annotations

import importlib

from .base import Backend

_MODULES = {
    "markov": "llm_yaml_models.backends.markov",
    "python": "llm_yaml_models.backends.python",
    "http": "llm_yaml_models.backends.http",
}


def backend_class(backend_type: str) -> type[Backend]:
    return importlib.import_module(_MODULES[backend_type]).BACKEND


def declared_options(data: dict) -> dict:
    """A model's options: its backend's standard ones (an HTTP preset's)
    under its own. The model's entry for a name replaces the standard one
    whole, and a null removes it."""
    backend = data.get("backend")
    kind = backend.get("type") if isinstance(backend, dict) else None
    standard = backend_class(kind).standard_options(backend) if kind in _MODULES else {}
    own = data.get("options")
    every = {**standard, **(own if isinstance(own, dict) else {})}
    return {name: spec for name, spec in every.items() if spec is not None}


def with_declared_options(data: dict) -> dict:
    """``data`` with ``options`` as ``declared_options`` works them out."""
    options = declared_options(data)
    if not options and "options" not in data:
        return data
    return {**data, "options": options}

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

"""Backends by ``backend.type``, for each kind of model; each module is
imported on first use. A module serves chat models with ``BACKEND`` and
embedding models with ``EMBEDDING_BACKEND``."""

from __future__ import annotations

import importlib

from .base import Backend

_MODULES = {
    "markov": "llm_yaml_models.backends.markov",
    "python": "llm_yaml_models.backends.python",
    "http": "llm_yaml_models.backends.http",
}
_ATTRIBUTES = {"chat": "BACKEND", "embedding": "EMBEDDING_BACKEND"}


def backend_class(backend_type: str, kind: str = "chat") -> type[Backend]:
    return getattr(importlib.import_module(_MODULES[backend_type]), _ATTRIBUTES[kind])

"""Backends by ``backend.type``, for each kind of model; each module is
imported on first use. A module serves chat models with ``BACKEND`` and
embedding models with ``EMBEDDING_BACKEND``."""

from __future__ import annotations

import importlib

from .base import Backend

_MODULES = {
    ("markov", "chat"): "llm_yaml_models.backends.markov",
    ("python", "chat"): "llm_yaml_models.backends.python",
    ("http", "chat"): "llm_yaml_models.backends.http",
    ("python", "embedding"): "llm_yaml_models.backends.python",
    ("http", "embedding"): "llm_yaml_models.backends.http.embeddings",
}
_ATTRIBUTES = {"chat": "BACKEND", "embedding": "EMBEDDING_BACKEND"}


def backend_class(backend_type: str, kind: str = "chat") -> type[Backend]:
    module = importlib.import_module(_MODULES[backend_type, kind])
    return getattr(module, _ATTRIBUTES[kind])

"""Backends by ``backend.type``, for each kind of model; each module is
imported on first use. A module serves chat models with ``BACKEND`` and
embedding models with ``EMBEDDING_BACKEND``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BackendError
from ..templates import TemplateError
from .base import Backend, BackendConfig

if TYPE_CHECKING:
    from ..declarations import Declaration, EmbeddingDeclaration

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


def configure(
    declaration: Declaration | EmbeddingDeclaration, source: str, error=BackendError
) -> BackendConfig:
    """The backend's typed Config, the environment read in now (this is the
    moment of use); a variable that is unset is the model's one-line error
    (``error``: its class). ``source``: the file that declares the model."""
    try:
        backend = declaration.expanded_backend()
    except TemplateError as exc:
        raise error(declaration.model_id, str(exc)) from exc
    config_class = backend_class(declaration.backend_type, declaration.kind).Config
    return config_class.from_data(backend, Path(source), declaration)


def standard_options(backend, kind: str = "chat") -> dict:
    """The options a backend gives every model that uses it (an HTTP
    preset's ``options:``); {} for an unknown type or kind."""
    backend_type = backend.get("type") if isinstance(backend, dict) else None
    if (backend_type, kind) not in _MODULES:
        return {}
    found = getattr(backend_class(backend_type, kind), "standard_options", None)
    return found(backend) if found else {}


def with_metadata_defaults(specs: tuple, data: dict) -> tuple:
    """A chat model's typed options, each one its backend's preset takes
    from the metadata marked with the field (``OptionSpec.default_from``),
    unless the model wrote that option with a default of its own: a
    declared default wins."""
    backend = data["backend"]
    if (backend["type"], "chat") not in _MODULES:
        return specs
    table = backend_class(backend["type"]).metadata_defaults(backend)
    own = data.get("options")
    own = own if isinstance(own, dict) else {}
    return tuple(
        spec._replace(default_from=table[spec.name])
        if spec.name in table and "default" not in (own.get(spec.name) or {})
        else spec
        for spec in specs
    )


def notes(data: dict, doc, origin, kind: str = "chat") -> list:
    """A sound chat model's warnings, as its backend sees them."""
    backend = data.get("backend")
    backend_type = backend.get("type") if isinstance(backend, dict) else None
    if kind != "chat" or (backend_type, kind) not in _MODULES:
        return []
    return backend_class(backend_type).notes(data, doc, origin)


def converses(data: dict) -> bool:
    """Whether a chat model sends the conversation (its backend says)."""
    backend = data.get("backend")
    backend_type = backend.get("type") if isinstance(backend, dict) else None
    if (backend_type, "chat") not in _MODULES:
        return True
    return backend_class(backend_type).converses(data)


def declared_options(data: dict, kind: str = "chat") -> dict:
    """A model's options: its backend's standard ones (an HTTP preset's)
    under its own. The model's entry for a name replaces the standard one
    whole, and a null removes it."""
    standard = standard_options(data.get("backend"), kind)
    own = data.get("options")
    every = {**standard, **(own if isinstance(own, dict) else {})}
    return {name: spec for name, spec in every.items() if spec is not None}


def declared_server_tools(data: dict) -> dict:
    """A model's server-side tools: its backend's standard ones (an HTTP
    preset's) under its own, as ``declared_options`` works out options."""
    backend = data.get("backend")
    backend_type = backend.get("type") if isinstance(backend, dict) else None
    known = (backend_type, "chat") in _MODULES
    standard = backend_class(backend_type).standard_server_tools(backend) if known else {}
    own = data.get("server_tools")
    every = {**standard, **(own if isinstance(own, dict) else {})}
    return {name: spec for name, spec in every.items() if spec is not None}


def with_declared_options(data: dict, kind: str = "chat") -> dict:
    """``data`` with ``options`` as ``declared_options`` works them out."""
    options = declared_options(data, kind)
    if not options and "options" not in data:
        return data
    return {**data, "options": options}

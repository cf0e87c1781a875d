"""Typed declarations: the one shape everything after validation reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .entries import ModelEntry

_MISSING: Any = object()

NUMERIC = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
TEXTUAL = ("minLength", "maxLength", "pattern")


@dataclass(frozen=True)
class OptionSpec:
    """One declared option, in JSON Schema's vocabulary."""

    name: str
    type: str
    description: str | None = None
    default: Any = _MISSING
    enum: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusiveMinimum: float | None = None  # noqa: N815 - JSON Schema's name
    exclusiveMaximum: float | None = None  # noqa: N815
    minLength: int | None = None  # noqa: N815
    maxLength: int | None = None  # noqa: N815
    pattern: str | None = None
    items: OptionSpec | None = None
    send: bool = True  # HTTP: put the option in the body when the template has no place for it
    # HTTP: body keys (a template) sent when the option is set and not false
    body: Any = field(default=None, hash=False)

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    @classmethod
    def from_data(cls, name: str, data: dict) -> OptionSpec:
        fields = {k: v for k, v in data.items() if k not in ("items", "enum")}
        if "enum" in data:
            fields["enum"] = tuple(data["enum"])
        if "items" in data:
            fields["items"] = cls.from_data(name, data["items"])
        return cls(name=name, **fields)

    def json_schema(self) -> dict:
        """This spec as plain JSON Schema (without default and description)."""
        out: dict[str, Any] = {"type": self.type}
        for key in (*NUMERIC, *TEXTUAL):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.items is not None:
            out["items"] = self.items.json_schema()
        return out


def option_specs(data: dict) -> tuple[OptionSpec, ...]:
    """A model's options, from its validated data. They never depend on
    the environment, so ``llm models list --options`` can show a model
    whose ``${VAR}`` is unset."""
    return tuple(OptionSpec.from_data(n, s) for n, s in data.get("options", {}).items())


@dataclass(frozen=True)
class KeySpec:
    """Which llm key the model uses: ``llm keys set NAME``, or ``env``."""

    name: str
    env: str | None = None


@dataclass(frozen=True)
class Declaration:
    """A validated model declaration, defaults merged in."""

    model_id: str
    backend_type: str
    backend: Any  # the backend's own typed Config
    file: str
    line: int
    aliases: tuple[str, ...] = ()
    description: str | None = None
    options: tuple[OptionSpec, ...] = ()
    attachment_types: frozenset[str] = frozenset()
    can_stream: bool = True
    key: KeySpec | None = None
    replace: bool = False
    supports_tools: bool = False

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    @classmethod
    def from_entry(cls, entry: ModelEntry) -> Declaration:
        from .backends import with_declared_options

        data = with_declared_options(entry.data)
        return cls(
            model_id=entry.model_id,
            backend_type=entry.backend_type,
            backend=backend_config(entry),
            file=entry.file,
            line=entry.line,
            aliases=tuple(data.get("aliases", ())),
            description=data.get("description"),
            options=option_specs(data),
            attachment_types=frozenset(data.get("attachment_types", ())),
            can_stream=entry.can_stream,
            key=KeySpec(**data["key"]) if "key" in data else None,
            replace=data.get("replace", False),
            supports_tools=bool(data.get("supports_tools")),
        )


def backend_config(entry: ModelEntry, error=None) -> Any:
    """The backend's typed Config, ``${VAR}`` expanded; a variable that is
    unset is the model's one-line error (``error``: its class)."""
    from .backends import backend_class, with_declared_options
    from .errors import BackendError
    from .templates import TemplateError, expand_env

    data = with_declared_options(entry.data, entry.kind)
    try:
        backend = expand_env(data["backend"], "backend")
        config_class = backend_class(entry.backend_type, entry.kind).Config
        return config_class.from_data(backend, Path(entry.file), data)
    except TemplateError as exc:
        raise (error or BackendError)(entry.model_id, str(exc)) from exc


# An embedding model's batch size when its declaration gives none, as llm's
# own OpenAI embedding models.
BATCH_SIZE = 100


@dataclass(frozen=True)
class EmbeddingDeclaration:
    """A validated embedding model declaration, defaults merged in.

    llm's embed commands take no ``-o``: an option's value is its default."""

    model_id: str
    backend_type: str
    backend: Any  # the backend's own typed Config
    file: str
    line: int
    aliases: tuple[str, ...] = ()
    options: tuple[OptionSpec, ...] = ()
    key: KeySpec | None = None
    prefix: str = ""
    batch_size: int = BATCH_SIZE

    @property
    def values(self) -> dict[str, Any]:
        """The options' values: those with a default."""
        return {spec.name: spec.default for spec in self.options if spec.has_default}

    @classmethod
    def from_entry(cls, entry: ModelEntry) -> EmbeddingDeclaration:
        from .errors import EmbeddingError

        data = entry.data
        return cls(
            model_id=entry.model_id,
            backend_type=entry.backend_type,
            backend=backend_config(entry, EmbeddingError),
            file=entry.file,
            line=entry.line,
            aliases=entry.aliases,
            options=option_specs(data),
            key=KeySpec(**data["key"]) if "key" in data else None,
            prefix=data.get("prefix", ""),
            batch_size=data.get("batch_size", BATCH_SIZE),
        )

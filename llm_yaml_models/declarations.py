"""Typed declarations: the one shape everything after validation reads.

The loader (``config.declare``) makes one per declaration, with the
defaults and the preset's options merged in, and the cache keeps it as
JSON (``to_json`` / ``from_json``). Nothing after the loader reads the
mapping a file wrote, but for one part, which its type marks:

``Written`` is the backend mapping as a trusted model file wrote it, the
one place where ``${VAR}`` expands. It is expanded at the moment of use
(``Written.expand``), never before, so a declaration does not depend on
the environment it was loaded in. Text from anywhere else (an id a server
listed, a cached list of them) is a plain ``str`` in a field of its own
(``model_id``, ``model_name``), and is never expanded.

The startup path reads these on every llm command, so they are NamedTuples
(a dataclass costs ten times as much to define and to make), and what only
some declarations need is imported when one does. For the same reason this
module, unlike the others, has no ``from __future__ import annotations``:
with it, typing compiles every field's annotation as a string when the
classes are made (0.8 ms on every command); a name defined further down is
quoted instead.
"""

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .routing.limits import Limits

_MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()

NUMERIC = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
TEXTUAL = ("minLength", "maxLength", "pattern")

# An embedding model's batch size when its declaration gives none, as llm's
# own OpenAI embedding models.
BATCH_SIZE = 100


class Written:
    """A mapping a trusted model file wrote where ``${VAR}`` and
    ``${VAR:-default}`` expand (``backend:``). Only the loader makes one,
    from the file's own text (the cache gives back what the loader made);
    text a server sent is never put in one."""

    __slots__ = ("as_written",)

    def __init__(self, as_written: dict):
        self.as_written = as_written

    def expand(self, where: str = "backend") -> dict:
        """The mapping with the environment read in, now; raises
        ``TemplateError`` naming a variable that is not set."""
        from .templates import expand_env  # at use: not on every llm command

        return expand_env(self.as_written, where)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Written) and other.as_written == self.as_written

    __hash__ = None  # type: ignore[assignment] - it holds a mapping

    def __repr__(self) -> str:
        return f"Written({self.as_written!r})"


class OptionSpec(NamedTuple):
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
    items: "OptionSpec | None" = None
    send: bool = True  # HTTP: put the option in the body when the template has no place for it
    body: Any = None  # HTTP: body keys (a template) sent when the option is set and not false

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    @classmethod
    def from_data(cls, name: str, data: dict) -> "OptionSpec":
        if "enum" not in data and "items" not in data:  # most options: read on every command
            return cls(name, **data)
        fields = {k: v for k, v in data.items() if k not in ("items", "enum")}
        if "enum" in data:
            fields["enum"] = tuple(data["enum"])
        if "items" in data:
            fields["items"] = cls.from_data(name, data["items"])
        return cls(name=name, **fields)

    def to_json(self) -> dict:
        """The spec as a file writes it (``from_data`` reads it back)."""
        out = _changed(self)
        del out["name"]
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.items is not None:
            out["items"] = self.items.to_json()
        return out

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


def option_specs(options: dict) -> tuple[OptionSpec, ...]:
    """Typed options from validated ones (name -> spec; a null, which
    removes a preset's option, is no option). They never depend on the
    environment, so ``llm models list --options`` can show a model whose
    ``${VAR}`` is unset."""
    return tuple(OptionSpec.from_data(n, s) for n, s in options.items() if s is not None)


class KeySpec(NamedTuple):
    """Which llm key the model uses: ``llm keys set NAME``, or ``env``."""

    name: str
    env: str | None = None


class Override(NamedTuple):
    """What a template's ``overrides: {GLOB: ...}`` merges into each model
    it discovers whose id GLOB matches. None: not given."""

    glob: str
    description: str | None = None
    attachment_types: frozenset[str] | None = None
    can_stream: bool | None = None
    supports_tools: bool | None = None
    supports_schema: bool | None = None
    # (option name, the keys merged into its spec, or None: the option is removed)
    options: tuple[tuple[str, dict | None], ...] = ()

    def apply(self, declaration: "Declaration", own: set[str]) -> "Declaration":
        """``declaration`` with this merged in. An option in ``own`` (the
        template wrote it, or an earlier override did) takes the keys
        given; any other (a preset's) is replaced whole, as a model's own
        option replaces the preset's. Updates ``own``."""
        changes = {
            name: getattr(self, name) for name in _CHANGES if getattr(self, name) is not None
        }
        if self.options:
            changes["options"] = _patched(declaration.options, self.options, own)
        return declaration._replace(**changes)

    def to_json(self) -> dict:
        out = _changed(self)
        if self.attachment_types is not None:
            out["attachment_types"] = sorted(self.attachment_types)
        if self.options:
            out["options"] = [list(pair) for pair in self.options]
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Override":
        data = dict(data)
        if data.get("attachment_types") is not None:
            data["attachment_types"] = frozenset(data["attachment_types"])
        data["options"] = tuple((name, keys) for name, keys in data.get("options", ()))
        return cls(**data)


# What an override may set on the model itself, besides options.
_CHANGES = ("description", "attachment_types", "can_stream", "supports_tools", "supports_schema")


def _patched(specs: tuple[OptionSpec, ...], patch, own: set[str]) -> tuple[OptionSpec, ...]:
    options = {spec.name: spec for spec in specs}
    for name, keys in patch:
        if keys is None:
            options.pop(name, None)
            own.discard(name)
            continue
        base = options[name].to_json() if name in own and name in options else {}
        merged = deep_merge(base, keys)
        if "type" in merged:  # else it amends what an earlier override removed
            options[name] = OptionSpec.from_data(name, merged)
            own.add(name)
    return tuple(options.values())


def deep_merge(low: dict, high: dict) -> dict:
    """``high`` over ``low``: mappings merge, lists and scalars are replaced."""
    out = dict(low)
    for key, value in high.items():
        old = out.get(key)
        out[key] = (
            deep_merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return out


# The sources a ``discover:`` may name: source -> (path under the backend's
# base_url, JMESPath to the ids). Fetching (``discovery.fetch``) and the
# loader's checks of a template both read it here.
SOURCES = {
    "openai": ("/models", "data[].id"),
    "ollama": ("/api/tags", "models[].name"),
    "anthropic": ("/models?limit=1000", "data[].id"),
    # Gemini's models.list: the models that generate content (not embedders).
    "gemini": (
        "/models?pageSize=1000",
        "models[?contains(supportedGenerationMethods, 'generateContent')].name",
    ),
}

# What a source's ids start with that the API's paths put back: Gemini
# lists ``models/gemini-2.5-flash``, and its preset's path is
# ``/models/{{ model }}:generateContent``. Cut from each id it lists.
NAMESPACES = {"gemini": "models/"}


class DiscoverSpec(NamedTuple):
    """``discover:``: where a template's list of models is, and what each
    model it lists becomes. None: the default applies."""

    source: str | None = None
    url: str | None = None
    ids: str | None = None  # a JMESPath to the ids in the list
    prefix: str = ""
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    overrides: tuple[Override, ...] = ()
    ttl: float | None = None
    connect_timeout: float | None = None
    timeout: float | None = None
    # The options the template wrote itself: an override amends these, and
    # replaces a preset's whole.
    own_options: frozenset[str] = frozenset()

    @classmethod
    def from_data(cls, data: dict, own_options) -> "DiscoverSpec":
        """From a validated ``discover:`` and the options the template wrote."""
        overrides = [
            {"glob": glob, **override, "options": list(override.get("options", {}).items())}
            for glob, override in data.get("overrides", {}).items()
        ]
        return cls.from_json({**data, "overrides": overrides, "own_options": list(own_options)})

    def to_json(self) -> dict:
        out = _changed(self)
        for name in ("include", "exclude"):
            if name in out and out[name] is not None:
                out[name] = list(out[name])
        if self.overrides:
            out["overrides"] = [o.to_json() for o in self.overrides]
        if self.own_options:
            out["own_options"] = sorted(self.own_options)
        return out

    @classmethod
    def from_json(cls, data: dict) -> "DiscoverSpec":
        data = dict(data)
        for name in ("include", "exclude"):
            if data.get(name) is not None:
                data[name] = tuple(data[name])
        data["overrides"] = tuple(map(Override.from_json, data.get("overrides", ())))
        data["own_options"] = frozenset(data.get("own_options", ()))
        return cls(**data)


class Metadata(NamedTuple):
    """What is known about the model behind a declaration (``metadata:``),
    declared or discovered; informational but for the defaults a preset
    takes from it (``max_tokens``, ``num_ctx``). None: not known."""

    context_window: int | None = None  # tokens in
    max_output_tokens: int | None = None
    knowledge_cutoff: str | None = None  # as written: 2025-03
    deprecated: str | None = None  # an ISO date; after it a prompt warns once
    capabilities: tuple[str, ...] | None = None  # vision, tools, reasoning, pdf, ...
    # field -> where its value came from: "declared at FILE:LINE", or
    # "discovered from URL at TIME"
    origins: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict:
        out = _changed(self)
        for name in ("capabilities", "origins"):
            if out.get(name) is not None:
                out[name] = [list(x) if isinstance(x, tuple) else x for x in out[name]]
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Metadata":
        data = dict(data)
        if data.get("capabilities") is not None:
            data["capabilities"] = tuple(data["capabilities"])
        data["origins"] = tuple(tuple(pair) for pair in data.get("origins", ()))
        return cls(**data)


class Pricing(NamedTuple):
    """``pricing:``: USD per million tokens. None: no price (never 0)."""

    input: float | None = None
    output: float | None = None
    cached_input: float | None = None  # read from the cache
    cache_write: float | None = None
    reasoning: float | None = None  # None: the output price
    # field -> where its value came from, as ``Metadata.origins``
    origins: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict:
        out = _changed(self)
        if self.origins:
            out["origins"] = [list(pair) for pair in self.origins]
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Pricing":
        data = dict(data)
        data["origins"] = tuple(tuple(pair) for pair in data.get("origins", ()))
        return cls(**data)


class Declaration(NamedTuple):
    """A validated chat model declaration, defaults and preset options merged in."""

    model_id: str
    backend_type: str
    backend: Written
    aliases: tuple[str, ...] = ()
    description: str | None = None
    options: tuple[OptionSpec, ...] = ()
    attachment_types: frozenset[str] = frozenset()
    can_stream: bool = True
    supports_tools: bool = False
    supports_schema: bool = False
    # llm's supports_conversation: does the request place the earlier turns?
    supports_conversation: bool = True
    key: KeySpec | None = None
    replace: bool = False
    fallbacks: tuple[str, ...] = ()
    limits: "Limits | None" = None
    discover: DiscoverSpec | None = None  # a template's: it is no model itself
    # What the server calls the model, when a template discovered it: the
    # server's text, never expanded; else the backend's model_name applies.
    model_name: str | None = None
    metadata: Metadata | None = None
    pricing: Pricing | None = None

    kind = "chat"

    def expanded_backend(self) -> dict:
        """The backend mapping with the environment read in, now, and a
        discovered model's name put in after: that is never expanded."""
        backend = self.backend.expand()
        return backend if self.model_name is None else {**backend, "model_name": self.model_name}

    def discovered(self, model_id: str, model_name: str) -> "Declaration":
        """The model a template (this, its overrides applied) makes of an
        id its server listed."""
        return self._replace(model_id=model_id, model_name=model_name, discover=None, replace=False)

    def to_json(self) -> dict:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: dict) -> "Declaration":
        return cls(**_from_json(data))


class EmbeddingDeclaration(NamedTuple):
    """A validated embedding model declaration, defaults merged in.

    llm's embed commands take no ``-o``: an option's value is its default."""

    model_id: str
    backend_type: str
    backend: Written
    aliases: tuple[str, ...] = ()
    description: str | None = None
    options: tuple[OptionSpec, ...] = ()
    key: KeySpec | None = None
    replace: bool = False
    prefix: str = ""
    batch_size: int = BATCH_SIZE
    supports_text: bool = True
    supports_binary: bool = False

    kind = "embedding"

    @property
    def values(self) -> dict[str, Any]:
        """The options' values: those with a default."""
        return {spec.name: spec.default for spec in self.options if spec.has_default}

    def expanded_backend(self) -> dict:
        """The backend mapping with the environment read in, now."""
        return self.backend.expand()

    def to_json(self) -> dict:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: dict) -> "EmbeddingDeclaration":
        return cls(**_from_json(data))


# -- JSON, for the cache ---------------------------------------------------------


def _limits_from_json(data: dict) -> "Limits":
    from .routing.limits import Limits  # the limiter's module: only a model with limits needs it

    return Limits(**data)


def options_to_json(specs: tuple[OptionSpec, ...]) -> dict:
    return {spec.name: spec.to_json() for spec in specs}


def options_from_json(data: dict) -> tuple[OptionSpec, ...]:
    return tuple(OptionSpec.from_data(name, spec) for name, spec in data.items())


def _changed(value: NamedTuple) -> dict:
    """The fields of ``value`` that are not their defaults."""
    defaults = value._field_defaults
    return {
        name: item
        for name, item in zip(value._fields, value, strict=True)
        if name not in defaults or item is not defaults[name] and item != defaults[name]
    }


def _to_json(declaration: "Declaration | EmbeddingDeclaration") -> dict:
    out = _changed(declaration)
    for name, (encode, _) in _CODECS.items():
        if out.get(name) is not None:
            out[name] = encode(out[name])
    return out


def _from_json(data: dict) -> dict:
    out = dict(data)
    for name, (_, decode) in _CODECS.items():
        if out.get(name) is not None:
            out[name] = decode(out[name])
    return out


# field -> (to JSON, from JSON), for the fields that are not JSON as they are
_CODECS: dict[str, tuple] = {
    "backend": (lambda written: written.as_written, Written),
    "aliases": (list, tuple),
    "options": (options_to_json, options_from_json),
    "attachment_types": (sorted, frozenset),
    "key": (lambda key: key._asdict(), lambda data: KeySpec(**data)),
    "fallbacks": (list, tuple),
    "limits": (asdict, _limits_from_json),
    "discover": (DiscoverSpec.to_json, DiscoverSpec.from_json),
    "metadata": (Metadata.to_json, Metadata.from_json),
    "pricing": (Pricing.to_json, Pricing.from_json),
}

"""What a server publishes about each model it lists, as flat fields that
the lists file holds and each discovered declaration takes in.

    an item of the list (or Ollama's /api/show reply for one model)
      -> the source's reader, and the template's own ``metadata:`` paths
      -> raw fields -> ``checked``: values kept (prices per million), the
         rest named in one warning line for the template
      -> cached with the list (``intact`` when read back) -> ``Known``: the
         model's Metadata and Pricing, a declared value winning field by field

A reader only picks values out of the server's JSON (``_dig`` never
raises on a shape it did not expect); ``checked`` is the one place that
decides whether a value is one. Fields: Metadata's (``context_window``,
...), the prices as ``pricing.input`` ..., and ``chat`` (False: a model
that cannot chat, such as an embedding model, which is not registered).
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..declarations import Declaration

METADATA = ("context_window", "max_output_tokens", "knowledge_cutoff", "deprecated", "capabilities")
PRICES = ("input", "output", "cached_input", "cache_write", "reasoning")
# What a template's ``discover: {metadata: {FIELD: JMESPath}}`` may name.
FIELDS = (*METADATA, *(f"pricing.{name}" for name in PRICES))
IMAGE_TYPES = ("image/gif", "image/jpeg", "image/png", "image/webp")
# A capability -> the attachment types a model with it takes.
ATTACHES = {"vision": IMAGE_TYPES, "pdf": ("application/pdf",)}
MAX_TEXT = 64  # characters of a text field (a cutoff, a capability) a server may send
MAX_CAPABILITIES = 32
MAX_PRICE = 1000  # USD per million tokens: more is a price per token given as per million


class Source(NamedTuple):
    """How a source's server says what each model is: ``item`` reads an item
    of the list; ``details``, on a refresh, reads the reply to POST
    ``{"model": ID}`` at ``details_path``. ``name`` makes an id of a listed
    name; ``per_token``: its prices are USD per token."""

    item: Callable[[object], dict] | None = None
    details: Callable[[object], dict] | None = None
    details_path: str | None = None
    name: Callable[[str], str] | None = None
    per_token: bool = False


# -- readers ---------------------------------------------------------------------


def _dig(value, *keys):
    """``value[k1][k2]...``, or None where a step is no mapping or no key."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _names(value) -> set[str]:
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def _capabilities(pairs) -> list[str]:
    return [name for name, yes in pairs if yes]


def openrouter(item) -> dict:
    """OpenRouter's ``GET /api/v1/models``: prices are USD per token, as strings."""
    modalities = _names(_dig(item, "architecture", "input_modalities"))
    parameters = _names(_dig(item, "supported_parameters"))
    capabilities = _capabilities(
        (
            ("vision", "image" in modalities),
            ("pdf", "file" in modalities),
            ("tools", "tools" in parameters),
            ("reasoning", "reasoning" in parameters),
        )
    )
    prices = _dig(item, "pricing")
    return {
        "context_window": _dig(item, "context_length"),
        "max_output_tokens": _dig(item, "top_provider", "max_completion_tokens"),
        "capabilities": capabilities,
        "pricing.input": _dig(prices, "prompt"),
        "pricing.output": _dig(prices, "completion"),
        "pricing.cached_input": _dig(prices, "input_cache_read"),
        "pricing.cache_write": _dig(prices, "input_cache_write"),
    }


def gemini(item) -> dict:
    """Gemini's ``GET /v1beta/models``: only a generateContent model chats."""
    methods = _names(_dig(item, "supportedGenerationMethods"))
    return {
        "chat": None if "generateContent" in methods else False,
        "context_window": _dig(item, "inputTokenLimit"),
        "max_output_tokens": _dig(item, "outputTokenLimit"),
        "capabilities": _capabilities((("reasoning", _dig(item, "thinking") is True),)),
    }


def ollama(reply) -> dict:
    """Ollama's ``POST /api/show``: capabilities, and the context length
    under the model's architecture in ``model_info``."""
    said = _names(_dig(reply, "capabilities"))
    info = _dig(reply, "model_info")
    arch = _dig(info, "general.architecture")
    return {
        "chat": None if "completion" in said or "embedding" not in said else False,
        "context_window": _dig(info, f"{arch}.context_length") if isinstance(arch, str) else None,
        "capabilities": _capabilities(
            (
                ("vision", "vision" in said),
                ("tools", "tools" in said),
                ("reasoning", "thinking" in said),
            )
        ),
    }


_LITELLM_FLAGS = (
    ("vision", "supports_vision"),
    ("pdf", "supports_pdf_input"),
    ("tools", "supports_function_calling"),
    ("reasoning", "supports_reasoning"),
)


def litellm(item) -> dict:
    """A LiteLLM proxy's ``GET /model/info``: each deployment's model_info,
    prices USD per token; a mode other than chat (embedding, ...) does not chat."""
    info = _dig(item, "model_info")
    return {
        "chat": None if _dig(info, "mode") in (None, "chat", "responses") else False,
        "context_window": _dig(info, "max_input_tokens"),
        "max_output_tokens": _dig(info, "max_output_tokens"),
        "capabilities": _capabilities((c, _dig(info, key) is True) for c, key in _LITELLM_FLAGS),
        "pricing.input": _dig(info, "input_cost_per_token"),
        "pricing.output": _dig(info, "output_cost_per_token"),
        "pricing.cached_input": _dig(info, "cache_read_input_token_cost"),
        "pricing.cache_write": _dig(info, "cache_creation_input_token_cost"),
        "pricing.reasoning": _dig(info, "output_cost_per_reasoning_token"),
    }


SOURCES = {
    "openrouter": Source(item=openrouter, per_token=True),
    "gemini": Source(item=gemini, name=lambda name: name.removeprefix("models/")),
    "litellm": Source(item=litellm, per_token=True),
    "ollama": Source(details=ollama, details_path="/api/show"),
}


def declared(paths: tuple[tuple[str, str], ...], item) -> tuple[dict, list[str]]:
    """The fields a template's ``metadata:`` JMESPaths find in ``item``, and
    what could not be applied."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    found, bad = {}, []
    for field, path in paths:
        try:
            found[field] = jmespath.search(path, item)
        except JMESPathError as exc:
            bad.append(f"{field}: {str(exc).splitlines()[0]}")
    return found, bad


# -- checking ----------------------------------------------------------------------


def checked(raw: dict, per_token: bool = False) -> tuple[dict, list[str]]:
    """The fields of ``raw`` that hold what they should (prices made USD per
    million), and a phrase for each that does not; a None is no value."""
    good, bad = {}, []
    for field, value in raw.items():
        if value is None:
            continue
        check = _CHECKS.get(field) or (_price if field.startswith("pricing.") else None)
        if check is None:
            continue
        kept, why = check(value)
        if why is None and check is _price:
            kept, why = _per_million(kept * 1e6 if per_token else kept)
        if why is not None:
            bad.append(f"{field} {why}: {_short(value)}")
        else:
            good[field] = kept
    return good, bad


def _per_million(price: float) -> tuple:
    """A price per million tokens, if it can be one: over MAX_PRICE it was
    most likely given per token where per million was meant."""
    price = float(f"{price:.12g}")  # 3e-06 per token: 3.0, not 2.9999999999999996
    if price > MAX_PRICE:
        return None, f"is over {MAX_PRICE:,} USD per million tokens"
    return price, None


def _count(value) -> tuple:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, None
    return None, "is not a positive integer"


def _price(value) -> tuple:
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    ok = isinstance(number, int | float) and not isinstance(number, bool)
    if ok and math.isfinite(number) and number >= 0:
        return float(number), None
    return None, "is not a non-negative number"


def _text(value) -> tuple:
    if isinstance(value, str) and 0 < len(value) <= MAX_TEXT and value.isprintable():
        return value, None
    return None, f"is not a line of text (at most {MAX_TEXT} characters)"


def _date(value) -> tuple:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            datetime.date.fromisoformat(value)  # the pattern, and a day there is
        except ValueError:
            pass
        else:
            return value, None
    return None, "is not a date (YYYY-MM-DD)"


def _listed(value) -> tuple:
    if isinstance(value, list) and len(value) <= MAX_CAPABILITIES:
        texts = [_text(v)[0] for v in value]
        if None not in texts:
            return sorted(set(texts)), None
    return None, "is not a list of words"


def _chat(value) -> tuple:
    return (value, None) if value is False else (None, "is not false")


_CHECKS = {
    "chat": _chat,
    "context_window": _count,
    "max_output_tokens": _count,
    "knowledge_cutoff": _text,
    "deprecated": _date,
    "capabilities": _listed,
}


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def malformed(url: str, problems: dict[str, list[str]], shown: int = 3) -> str | None:
    """The one warning line for what a server said wrong of its models: id ->
    phrases (the models are registered without those fields)."""
    if not problems:
        return None
    named = [f"{name}: {', '.join(why)}" for name, why in list(problems.items())[:shown]]
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    count = f"{len(problems)} model{'' if len(problems) == 1 else 's'}"
    return f"left out metadata from {url} for {count}: {'; '.join(named)}{more}"


# -- in the lists file ---------------------------------------------------------------

# field -> the type of what ``checked`` keeps: every llm command reads them all
# back from the lists file, so each is tested by its type and its range only.
_KINDS = {
    "chat": bool,
    "context_window": int,
    "max_output_tokens": int,
    "knowledge_cutoff": str,
    "deprecated": str,
    "capabilities": list,
    **{f"pricing.{name}": float for name in PRICES},
}


def intact(about) -> bool:
    """Whether a list's ``about`` (id -> fields) read back from the lists
    file is as ``checked`` wrote it; a damaged one is no list at all."""
    if type(about) is not dict:
        return False
    for said in about.values():
        if type(said) is not dict:
            return False
        for key, value in said.items():
            kind = _KINDS.get(key)
            if kind is not type(value) or not _sound(kind, value):
                return False
    return True


def _sound(kind: type, value) -> bool:
    if kind is float:
        return 0 <= value < math.inf
    if kind is int:
        return value > 0
    if kind is list:
        return all(type(item) is str for item in value)
    return kind is str or value is False


# -- into a declaration --------------------------------------------------------------

_TAKES: dict[tuple, tuple[frozenset[str], bool]] = {}


def capabilities_of(about: dict | None) -> tuple[frozenset[str], bool]:
    """(the attachment types, whether it takes tools) that what the server
    says of a model implies: what decides its class."""
    said = tuple(about.get("capabilities") or ()) if about else ()
    if said not in _TAKES:
        types = frozenset(t for c in said for t in ATTACHES.get(c, ()))
        _TAKES[said] = types, "tools" in said
    return _TAKES[said]


_PRICING_KEYS = tuple(f"pricing.{name}" for name in PRICES)


class Known:
    """Makes the Metadata and Pricing of each model one template discovered:
    what the server said, under what the template (or an override) declared,
    field by field. Startup makes 500 of them on every llm command, so the
    origins of each set of fields said are made once."""

    def __init__(self, origin: str):
        from ..declarations import Metadata, Pricing

        self.origin = origin
        self._kinds = ((Metadata, METADATA), (Pricing, _PRICING_KEYS))
        self._origins: dict[tuple, tuple] = {}

    def of(self, declaration: Declaration, about: dict) -> dict:
        """``metadata`` and ``pricing`` for ``declaration``, the server having said ``about``."""
        origins = self._origins.get(tuple(about)) or self._origins_of(tuple(about))
        declared = (declaration.metadata, declaration.pricing)
        (metadata, keys), (pricing, price_keys) = self._kinds
        return {
            "metadata": self._fields(metadata, keys, declared[0], about, origins[0]),
            "pricing": self._fields(pricing, price_keys, declared[1], about, origins[1]),
        }

    def _origins_of(self, said: tuple) -> tuple:
        made = tuple(
            tuple(
                (name, self.origin)
                for name, key in zip(kind._fields[:-1], keys, strict=True)
                if key in said
            )
            for kind, keys in self._kinds
        )
        self._origins[said] = made
        return made

    def _fields(self, kind, keys: tuple[str, ...], declared, about: dict, origins: tuple):
        if declared is None and not origins:
            return None
        found = list(map(about.get, keys))
        if found[-1].__class__ is list:  # capabilities, the last of Metadata's
            found[-1] = tuple(found[-1])
        if declared is None:
            return kind._make((*found, origins))
        return self._under(kind, declared, found)

    def _under(self, kind, declared, found: list):
        """``found`` where ``declared`` gives no value, with where each came from."""
        origins = dict(declared.origins)
        values = list(declared[:-1])
        for i, value in enumerate(found):
            if value is not None and values[i] is None:
                values[i] = value
                origins[kind._fields[i]] = self.origin
        return kind._make((*values, tuple(origins.items())))

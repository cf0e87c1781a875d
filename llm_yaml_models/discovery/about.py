"""What a server publishes about each model it lists, as flat fields that
the lists file holds and each discovered declaration takes in.

    an item of the list (or Ollama's /api/show reply for one model)
      -> the source's reader, and the template's own ``metadata:`` paths
      -> raw fields -> ``checked``: values kept (prices per million), the
         rest named in one warning line for the template
      -> cached with the list -> ``merged`` into the model's Metadata and
         Pricing, a declared value winning field by field

A reader only picks values out of the server's JSON (``_dig`` never
raises on a shape it did not expect); ``checked`` is the one place that
decides whether a value is one. Fields: Metadata's (``context_window``,
...), the prices as ``pricing.input`` ..., and ``chat`` (False: a model
that cannot chat, such as an embedding model, which is not registered).
"""

from __future__ import annotations

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
        if why is not None:
            bad.append(f"{field} {why}: {_short(value)}")
        elif field.startswith("pricing.") and per_token:
            good[field] = float(
                f"{kept * 1e6:.12g}"
            )  # 3e-06 per token: 3.0, not 2.9999999999999996
        else:
            good[field] = kept
    return good, bad


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


# -- into a declaration --------------------------------------------------------------


def capabilities_of(about: dict) -> tuple[frozenset[str], bool]:
    """(the attachment types, whether it takes tools) that what the server
    says of a model implies: what decides its class."""
    said = about.get("capabilities") or ()
    types = frozenset(t for c in said for t in ATTACHES.get(c, ()))
    return types, "tools" in said


def merged(declaration: Declaration, about: dict, origin: str) -> Declaration:
    """``declaration`` with what the server says of it, each field declared
    in the template (or an override) kept as declared."""
    from ..declarations import Metadata, Pricing

    metadata = _fields(Metadata, declaration.metadata, about, "", origin)
    pricing = _fields(Pricing, declaration.pricing, about, "pricing.", origin)
    return declaration._replace(metadata=metadata, pricing=pricing)


def _fields(kind, declared, about: dict, prefix: str, origin: str):
    values = dict(declared._asdict()) if declared is not None else {}
    origins = dict(declared.origins) if declared is not None else {}
    for name in kind._fields[:-1]:  # the last is origins
        found = about.get(prefix + name)
        if found is not None and values.get(name) is None:
            values[name] = tuple(found) if isinstance(found, list) else found
            origins[name] = origin
    if not origins:
        return declared
    values["origins"] = tuple(origins.items())
    return kind(**values)

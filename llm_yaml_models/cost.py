"""What a response cost: a model's ``pricing:`` applied to the usage its
server reported. One pure function, ``cost``, for every backend, sync and
async, streamed and not (``models.chat`` records it in ``response_json``).

A usage is ``input`` and ``output`` counts, and ``details`` as the preset
keeps them. Where the details break out cached or reasoning tokens, those
are priced at their own rates, and taken out of the count that already
holds them, so that no token is priced twice. Which count holds which
part is each API's own rule (``SHAPES``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends.base import Usage
    from .declarations import Pricing

PER = 1_000_000  # prices are USD per million tokens

# The parts of a usage a price may apply to, in the order ``cost`` lists them.
PARTS = ("input", "output", "cached_input", "cache_write", "reasoning")

# A part with no price of its own is priced as another: a cache read or
# write as input (what those tokens would cost uncached), reasoning as output.
FALLBACK = {"cached_input": "input", "cache_write": "input", "reasoning": "output"}

# Each API's usage, as its preset's ``details`` keeps it: the first shape
# with any of its paths in the details is the one read, so that a server
# which reports the same tokens twice (LiteLLM's OpenAI shape carries
# Anthropic's cache counts too) is read once. Each rule: (path in the
# details, the part it counts, the count that already holds it: "input",
# "output", or None where the API counts it apart).
SHAPES: tuple[tuple[tuple[tuple[str, ...], str, str | None], ...], ...] = (
    (  # OpenAI chat and completions (and OpenRouter): prompt_tokens holds
        # cache reads and writes, completion_tokens holds reasoning
        (("prompt_tokens_details", "cached_tokens"), "cached_input", "input"),
        (("prompt_tokens_details", "cache_write_tokens"), "cache_write", "input"),
        (("completion_tokens_details", "reasoning_tokens"), "reasoning", "output"),
    ),
    (  # OpenAI responses: input_tokens and output_tokens hold them likewise
        (("input_tokens_details", "cached_tokens"), "cached_input", "input"),
        (("input_tokens_details", "cache_write_tokens"), "cache_write", "input"),
        (("output_tokens_details", "reasoning_tokens"), "reasoning", "output"),
    ),
    (  # DeepSeek: prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens
        (("prompt_cache_hit_tokens",), "cached_input", "input"),
    ),
    (  # Anthropic: input_tokens excludes what was read from or written to the cache
        (("cache_read_input_tokens",), "cached_input", None),
        (("cache_creation_input_tokens",), "cache_write", None),
    ),
    (  # Bedrock Converse: inputTokens excludes them likewise
        (("cacheReadInputTokens",), "cached_input", None),
        (("cacheWriteInputTokens",), "cache_write", None),
    ),
    (  # Gemini: promptTokenCount holds cachedContentTokenCount; the preset
        # counts thoughtsTokenCount in output, as llm-gemini does
        (("cachedContentTokenCount",), "cached_input", "input"),
        (("thoughtsTokenCount",), "reasoning", "output"),
    ),
)


def cost(pricing: Pricing | None, usage: Usage | None) -> dict | None:
    """``{"usd": total, PART: usd, ...}`` (and ``server_usd``, what the
    server says it cost), or None: no price, no usage, an input or output
    count missing, or tokens of a part that has no price."""
    if pricing is None or usage is None or usage.input is None or usage.output is None:
        return None
    counts = tokens(usage.input, usage.output, usage.details)
    parts = {}
    for part, count in counts.items():
        price = _price(pricing, part)
        if count and price is None:
            return None
        parts[part] = round(count * (price or 0) / PER, 12)
    out = {"usd": round(sum(parts.values()), 12), **parts}
    server = server_usd(usage.details)
    if server is not None:
        out["server_usd"] = server
    return out


def tokens(input: int, output: int, details: Any) -> dict[str, int]:
    """The tokens of each part: ``input`` and ``output`` always, the
    others where the details break them out, each token in one part."""
    counts = {"input": input, "output": output}
    for path, part, within in _shape(details):
        count = _count(details, path)
        if count is None:
            continue
        if within is not None:
            count = min(count, counts[within])  # a server's nonsense priced once
            counts[within] -= count
        counts[part] = counts.get(part, 0) + count
    return {part: counts[part] for part in PARTS if part in counts}


def _shape(details: Any) -> tuple:
    if not isinstance(details, dict):
        return ()
    for shape in SHAPES:
        if any(_count(details, path) is not None for path, _, _ in shape):
            return shape
    return ()


def _count(details: dict, path: tuple[str, ...]) -> int | None:
    """A token count at ``path``, or None: absent, or not a count."""
    value: Any = details
    for step in path:
        value = value.get(step) if isinstance(value, dict) else None
    return value if type(value) is int and value >= 0 else None


def _price(pricing: Pricing, part: str) -> float | None:
    price = getattr(pricing, part)
    if price is None and part in FALLBACK:
        price = getattr(pricing, FALLBACK[part])
    return price


def server_usd(details: Any) -> float | None:
    """The cost the server reported itself (OpenRouter's ``usage.cost``)."""
    value = details.get("cost") if isinstance(details, dict) else None
    if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
        return None
    return value

"""What a model's metadata and pricing say to people: one short summary (for
``llm models list`` and ``llm yaml-models list``), every field with where it
came from (``show``), and the line a deprecated model's prompt warns with.
Pure functions of the typed ``Metadata`` and ``Pricing``."""

from __future__ import annotations

import datetime
import functools
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..declarations import Metadata, Pricing


def usd(price: float) -> str:
    """A price as people write it: 3 -> $3, 0.075 -> $0.075, 1500 -> $1,500."""
    return f"${price:,.6f}".rstrip("0").rstrip(".") if price else "$0"


@functools.lru_cache(maxsize=1024)  # the models a template discovers share theirs
def summary(metadata: Metadata | None, pricing: Pricing | None) -> str:
    """``context 200,000; $3/M in, $15/M out``, of what is known ('' for nothing)."""
    parts = []
    if metadata is not None and metadata.context_window is not None:
        parts.append(f"context {metadata.context_window:,}")
    prices = [
        f"{usd(price)}/M {side}"
        for side, price in (("in", pricing and pricing.input), ("out", pricing and pricing.output))
        if price is not None
    ]
    if prices:
        parts.append(", ".join(prices))
    return "; ".join(parts)


def fields(metadata: Metadata | None, pricing: Pricing | None) -> list[tuple[str, object, str]]:
    """(``metadata.context_window``, value, where it came from) for every
    field that is known."""
    out = []
    for section, facts in (("metadata", metadata), ("pricing", pricing)):
        if facts is None:
            continue
        origins = dict(facts.origins)
        for name, value in facts._asdict().items():
            if name != "origins" and value is not None:
                out.append((f"{section}.{name}", value, origins.get(name, "")))
    return out


def deprecation(model_id: str, metadata: Metadata | None, today: datetime.date) -> str | None:
    """The line a prompt of a model deprecated on or before ``today`` warns with."""
    when = metadata.deprecated if metadata is not None else None
    if when is None or datetime.date.fromisoformat(when) > today:
        return None
    return f"llm-yaml-models: {model_id} was deprecated on {when}"


_WARNED: set[tuple[str, str]] = set()  # (model id, line): each said once per process


def warn_if_deprecated(model_id: str, metadata: Metadata | None) -> None:
    """Say ``deprecation``'s line on stderr, the first time in this process."""
    line = deprecation(model_id, metadata, datetime.date.today())
    if line is not None and (model_id, line) not in _WARNED:
        from ..errors import printable

        _WARNED.add((model_id, line))
        sys.stderr.write(printable(line) + "\n")

"""Embedding functions for examples/embeddings.yaml: each takes a list of
items (texts, with the declared prefix, and bytes) and returns one vector
per item. No model, no server: words are hashed into a few dimensions."""

from __future__ import annotations

import hashlib
import math


def _vector(item: str | bytes, dimensions: int) -> list[float]:
    words = (
        item.split() if isinstance(item, str) else [item[i : i + 4] for i in range(0, len(item), 4)]
    )
    vector = [0.0] * dimensions
    for word in words:
        digest = hashlib.blake2b(
            word.lower().encode() if isinstance(word, str) else word, digest_size=4
        )
        vector[int.from_bytes(digest.digest(), "little") % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def hashed_words(items, dimensions=16):
    """A plain function. ``items.options`` holds the declared options."""
    size = items.options.get("dimensions", dimensions)
    return [_vector(item, size) for item in items]


async def hashed_words_async(items):
    """The same as an ``async def``."""
    return [_vector(item, 8) for item in items]

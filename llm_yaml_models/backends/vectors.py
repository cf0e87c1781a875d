"""What an embedding backend gave back, checked before llm stores any of it.

Every backend's vectors go through ``checked``: one vector per item, all of
one length, every value a finite number that llm can store as a float32
(``llm.encode`` packs them so), and no vector that is zero as stored (llm's
cosine similarity divides by its length: every later ``llm similar`` on the
collection would fail). A batch that breaks any of these is refused whole,
so nothing of it is stored. Pure functions: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
import sys
from array import array
from typing import Any

from ..errors import VectorError

_NUMBERS = frozenset((float, int))


def checked(vectors: Any, count: int, source: str, floats: bool = False) -> list[list[float]]:
    """``vectors`` as ``count`` lists of floats of one length, or a
    VectorError naming ``source`` (the reply's URL, or the callable).
    ``floats``: every vector is a list of floats already (decoded from
    base64), so only its length and finiteness are left to check."""
    vectors = _plain(vectors)
    if not isinstance(vectors, list):
        raise VectorError(f"{source} gave {_kind(vectors)}, not a list of vectors")
    if len(vectors) != count:
        raise VectorError(f"{source} gave {len(vectors)} vectors for {_items(count)}")
    if floats:
        out = [_finite(v, i, source) if v else _vector(v, i, source) for i, v in enumerate(vectors)]
    else:
        out = [_vector(_plain(v), i, source) for i, v in enumerate(vectors)]
    for i, vector in enumerate(out):
        _storable(vector, i, source)
    sizes = {len(v) for v in out}
    if len(sizes) > 1:
        first = len(out[0])
        odd = next(i for i, v in enumerate(out) if len(v) != first)
        raise VectorError(
            f"{source} gave vectors of different lengths: "
            f"vector 0 has {first} numbers, vector {odd} has {len(out[odd])}"
        )
    return out


def _plain(value: Any) -> Any:
    """A numpy array or a tuple, as a list."""
    if isinstance(value, tuple):
        return list(value)
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) and not isinstance(value, list | str | bytes) else value


def _vector(vector: Any, i: int, source: str) -> list[float]:
    if not isinstance(vector, list):
        raise VectorError(f"{source} gave {_kind(vector)} as vector {i}, not a list of numbers")
    if not vector:
        raise VectorError(f"{source} gave an empty vector {i}")
    kinds = set(map(type, vector))
    if not kinds <= _NUMBERS:
        bad = next(v for v in vector if type(v) not in _NUMBERS)
        raise VectorError(f"{source} gave {_shown(bad)} in vector {i}, not a number")
    if int in kinds:
        if any(abs(v) > sys.float_info.max for v in vector if type(v) is int):
            raise VectorError(f"{source} gave a number too large for a float in vector {i}")
        vector = [float(v) for v in vector]
    return _finite(vector, i, source)


def _finite(vector: list[float], i: int, source: str) -> list[float]:
    # A sum of finite floats is finite, unless it overflows: then look closer.
    if not math.isfinite(sum(vector)):
        bad = next((v for v in vector if not math.isfinite(v)), None)
        if bad is not None:
            raise VectorError(f"{source} gave {bad!r} in vector {i}, not a finite number")
    return vector


def _storable(vector: list[float], i: int, source: str) -> None:
    """As ``llm.encode`` stores it: float32 values, not all of them zero."""
    try:
        packed = struct.pack(f"<{len(vector)}f", *vector)
    except OverflowError:
        bad = next(v for v in vector if not _fits_float32(v))
        raise VectorError(
            f"{source} gave {bad!r} in vector {i}, too large for a float32 (llm stores float32)"
        ) from None
    if not any(array("f", packed)):  # -0.0 and values too small for float32 count as zero
        raise VectorError(
            f"{source} gave vector {i} with every number zero as a float32: "
            "llm cannot compare it with any other"
        )


def _fits_float32(value: float) -> bool:
    try:
        struct.pack("<f", value)
    except OverflowError:
        return False
    return True


def from_base64(vectors: Any, source: str) -> Any:
    """Vectors written as base64 of little-endian float32 (OpenAI's
    ``encoding_format: base64``), as lists of floats. A vector that is not a
    string is left for ``checked`` to judge: some servers that speak
    OpenAI's API send numbers whatever they are asked."""
    if not isinstance(vectors, list):
        return vectors
    return [_decoded(v, i, source) if isinstance(v, str) else v for i, v in enumerate(vectors)]


def all_base64(vectors: Any) -> bool:
    """Whether every vector is a base64 string: decoded, all are floats."""
    return isinstance(vectors, list) and all(isinstance(v, str) for v in vectors)


def _decoded(text: str, i: int, source: str) -> list[float]:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VectorError(f"{source} gave vector {i} that is not base64") from None
    if len(raw) % 4:
        raise VectorError(f"{source} gave vector {i} of {len(raw)} bytes, not float32 values")
    values = array("f")
    values.frombytes(raw)
    if sys.byteorder != "little":
        values.byteswap()
    return values.tolist()


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _items(count: int) -> str:
    return f"{count} item" + ("" if count == 1 else "s")

"""A cache file in the user's directory: read only when it can be trusted,
never past a size, never waiting; written whole. Both on-disk caches use it
(the registry's validated model files, discovery's lists of models), each
with its own format and its own words for a refusal.

- A file that others could write, or one in a directory they could write
  (``trust.loose``), is ``Untrusted``: neither read nor written, as they
  could plant what it says (the digest of a cached entry holds no secret).
- A path that is not a regular file (a FIFO, a device, a link to one) is
  never opened in a way that waits, nor read past ``limit``. It is
  ``Untrusted`` too (a link to /dev/null, say, that turns a cache off is
  left alone), unless the cache ``replaces_odd``: then it is no file at
  all, and the next write puts a regular one in its place.
- A file larger than ``limit``, or one that cannot be read, is a miss: the
  next write replaces it.
- A write is atomic: a private temporary file beside it, renamed over it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import Signal

READ_SIZE = 1 << 20


class Untrusted(Signal):
    """The file is neither read nor written; ``why`` says why, with the fix."""

    def __init__(self, why: str):
        self.why = why


def read_trusted(path: Path, limit: int, *, replaces_odd: bool = False) -> bytes | None:
    """The bytes of the cache file at ``path``; None for a miss (no file, one
    larger than ``limit``, one that cannot be read, or an odd one this cache
    replaces). Raises Untrusted."""
    from .trust import loose

    info = _stat(path)
    odd = info is not None and not stat.S_ISREG(info.st_mode)
    if odd and not replaces_odd:
        raise Untrusted("not a regular file")
    why = loose(path)  # nor written, when its directory is loose
    if why:
        raise Untrusted(why)
    if info is None or odd or info.st_size > limit:
        return None
    try:
        return _bounded(path, limit, replaces_odd)
    except OSError:
        return None


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _bounded(path: Path, limit: int, replaces_odd: bool) -> bytes | None:
    """The file's bytes, up to ``limit`` (None past it): opened without
    waiting for a writer, and checked again once open (it may have been
    swapped since it was looked at)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            if replaces_odd:
                return None
            raise Untrusted("not a regular file")
        chunks, size = [], 0
        while chunk := os.read(fd, min(READ_SIZE, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return None
        return b"".join(chunks)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """``data`` as ``path``'s whole content, never half written: a private
    temporary file beside it (created anew, so never another's file or a
    link), then renamed over it. Best effort: an OSError leaves ``path`` as
    it was."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)  # whatever it was: O_EXCL below never opens it
        # Readable by this user only: a cache holds what a model file wrote,
        # and that file may be readable by no one else.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)

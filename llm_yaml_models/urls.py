"""URLs, as every module that builds or compares them reads them: a base
URL and a path joined, and whether two URLs share an origin (what a secret
is bound to). A ground floor: the HTTP backend and discovery both use it,
and it imports nothing of the package."""

from __future__ import annotations

from urllib.parse import urlsplit


def joined(base: str, path: str) -> str:
    """``base`` and ``path`` with one slash between them (``base`` alone
    without a path)."""
    return base.rstrip("/") + ("/" + path.lstrip("/") if path else "")


def origin(url: str) -> tuple[str, str, int | None] | None:
    """Scheme, host and port (as compared: lower case); None for a URL that
    cannot be read (a port that is not a number, say)."""
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None


def same_origin(url: str, other: str) -> bool:
    """Whether a secret bound to ``url`` may go to ``other``: both are read,
    and their scheme, host and port are the same."""
    found = origin(url)
    return found is not None and found == origin(other)

"""Fetching a template's list of models: one GET, small and bounded.

The floor under ``discovery``, which decides what the ids found become.
The key (and every header that reads it) goes only to the origin of the
template's own backend URL; redirects are not followed. What fetching
needs beyond this module is imported when a list is fetched: llm imports
``discovery``, and so this, on every command.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import llm

from ..declarations import NAMESPACES, SOURCES
from ..errors import DiscoveryError, printable
from ..loading.entries import ModelEntry

if TYPE_CHECKING:
    from ..backends.base import Secrets
    from ..declarations import KeySpec

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 10.0
MAX_LIST_BYTES = 8 * 2**20  # a list of models is a few KiB; past this it is not read


class Listing:
    """Where a template's list is, what to send, and what never to show."""

    def __init__(self, template: ModelEntry, deadline: float):
        from ..backends.base import Secrets
        from ..backends.http import merged
        from ..templates import TemplateError, env_names

        declaration = template.declaration
        spec = declaration.discover
        written = merged(declaration.backend.as_written)
        try:
            backend = merged(declaration.backend.expand())
        except TemplateError as exc:
            raise DiscoveryError(str(exc)) from None
        path, ids = SOURCES.get(spec.source, ("", None))
        self.ids = ids if spec.ids is None else spec.ids
        self.namespace = NAMESPACES.get(spec.source, "")
        self.home = backend.get("url") or _join(
            backend.get("base_url", ""), backend.get("path", "")
        )
        self.url = listing_url(spec.url or path, backend)
        # every wait, and the whole fetch, ends by the deadline
        self.deadline = deadline
        self.timeout = min(_given(spec.timeout, READ_TIMEOUT), deadline)
        self.connect_timeout = min(_given(spec.connect_timeout, CONNECT_TIMEOUT), deadline)
        key = _key(declaration.key)
        self.headers = _headers(
            backend.get("headers", {}),
            written.get("headers", {}),
            key,
            _origin(self.url) == _origin(self.home),
        )
        self.secrets = Secrets(key)
        self.secrets.add_url(self.url)
        for name in env_names(declaration.backend.as_written.get("headers", {})):
            value = os.environ.get(name) or ""
            if len(value.strip()) >= 4:
                self.secrets.add(value)

    @property
    def shown(self) -> str:
        """The URL as messages show it: no query string, no password."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return self.secrets.hide(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def listing_url(url: str, backend: dict) -> str:
    """An absolute ``url`` as written; a path under the backend's base_url."""
    if "://" in url:
        return url
    base = backend.get("base_url") or ""
    if not base:
        raise DiscoveryError("the backend has no base_url to list the models under")
    return _join(base, url)


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + ("/" + path.lstrip("/") if path else "")


def _origin(url: str) -> tuple:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return ("", "", None)


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def _key(spec: KeySpec | None) -> str | None:
    if spec is None:
        return None
    key = llm.get_key(alias=spec.name, env=spec.env)
    return key.strip() if key else None


def _headers(templates: dict, written: dict, key: str | None, same_origin: bool) -> dict:
    """The backend's headers that a list request can fill in: those that
    read only the key and the environment. One that reads a secret (the
    key, ``{{ env.X }}`` or ``${X}``, as written, before ``${X}`` is
    expanded) goes only to the backend's own origin, and one that reads the
    key only with a key."""
    from ..templates import ENV_REF, PLACEHOLDER, render

    out = {}
    for name, value in templates.items():
        used = {n.partition(".")[0] for n in PLACEHOLDER.findall(value)}
        secret = bool(used) or ENV_REF.search(str(written.get(name, ""))) is not None
        if not used <= {"key", "env"} or (secret and not same_origin):
            continue
        if "key" in used and not key:
            continue
        out[name] = render(value, {"key": key})
    return out


def fetch_list(template: ModelEntry, deadline: float) -> tuple[str, list, Secrets]:
    """(the URL as messages show it, what the list holds where its ids are,
    the secrets to star in anything said about them)."""
    listing = Listing(template, deadline)
    body = _get(listing)
    try:
        data = json.loads(body)
    except RecursionError:
        raise DiscoveryError(f"the list from {listing.shown} is nested too deeply") from None
    except ValueError:
        snippet = body[:60].decode("utf-8", "replace")
        raise DiscoveryError(f"the list from {listing.shown} is not JSON: {snippet!r}") from None
    return listing.shown, _search(listing, data), listing.secrets


def _search(listing: Listing, data) -> list:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        found = jmespath.search(listing.ids, data)
    except JMESPathError as exc:
        message = f"cannot apply {listing.ids!r} to the list from {listing.shown}: {exc}"
        raise DiscoveryError(message) from None
    if found is None:
        raise DiscoveryError(f"nothing at {listing.ids!r} in the list from {listing.shown}")
    if not isinstance(found, list):
        kind = type(found).__name__.replace("str", "string")
        message = f"{listing.ids!r} in the list from {listing.shown} is a {kind}, not a list"
        raise DiscoveryError(message)
    return [_outside(listing.namespace, item) for item in found]


def _outside(namespace: str, item):
    """An id without its source's namespace (anything else as it is)."""
    if namespace and isinstance(item, str) and item.startswith(namespace):
        return item[len(namespace) :]
    return item


def _get(listing: Listing) -> bytes:
    """The list's bytes, through the clients prompts use (``transport.py``):
    certificates and proxies from the environment, and one deadline per
    phase, none past the whole fetch's."""
    import httpx2

    from ..backends.http.transport import Deadline, TooLarge, expiry, sync_client

    deadline = Deadline(
        listing.connect_timeout,
        listing.timeout,
        listing.timeout,
        max_bytes=MAX_LIST_BYTES,
        within=listing.deadline,
    )
    timeout = httpx2.Timeout(listing.timeout, connect=listing.connect_timeout)
    limits = httpx2.Limits(max_connections=1)
    try:
        with (
            sync_client(limits=limits, timeout=timeout, follow_redirects=False) as client,
            client.stream(
                "GET", listing.url, headers=listing.headers, extensions={"deadline": deadline}
            ) as response,
        ):
            if response.status_code != 200:
                raise DiscoveryError(f"HTTP {response.status_code} from {listing.shown}")
            return _bounded(response, listing)
    except httpx2.TimeoutException as exc:
        why = _late(listing, exc, expiry(exc))
    except TooLarge:
        why = _too_large(listing)
    except httpx2.ConnectError as exc:
        why = f"cannot connect to {listing.shown}: {_reason(exc)}"
    except (httpx2.HTTPError, httpx2.InvalidURL, ValueError) as exc:
        why = f"cannot list models from {listing.shown}: {_reason(exc)}"
    raise DiscoveryError(printable(listing.secrets.hide(why)))


def _late(listing: Listing, exc: Exception, expired) -> str:
    import httpx2

    if expired is not None and expired.whole:
        return f"the list from {listing.shown} took longer than {listing.deadline:g}s; not read"
    if isinstance(exc, httpx2.ConnectTimeout):
        return f"timed out connecting to {listing.shown} after {listing.connect_timeout:g}s"
    return f"timed out waiting for {listing.shown} after {listing.timeout:g}s"


def _too_large(listing: Listing) -> str:
    return f"the list from {listing.shown} is larger than {MAX_LIST_BYTES} bytes; not read"


def _bounded(response, listing: Listing) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_LIST_BYTES:
            raise DiscoveryError(_too_large(listing))
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(exc: Exception) -> str:
    from ..backends.http.transport import certificate_refused

    text = certificate_refused(exc) or str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text

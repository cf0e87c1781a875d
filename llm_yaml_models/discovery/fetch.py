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
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import llm

from ..declarations import SOURCES
from ..errors import DiscoveryError, WireError, printable
from ..loading.entries import ModelEntry
from ..urls import joined, same_origin

if TYPE_CHECKING:
    from ..backends.base import Secrets
    from ..declarations import KeySpec

CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 10.0
MAX_LIST_BYTES = 8 * 2**20  # a list of models is a few KiB; past this it is not read
MAX_IN_FLIGHT = 8  # requests for each model's details at once


class Listing:
    """Where a template's list is, what to send, and what never to show."""

    def __init__(self, template: ModelEntry, deadline: float, *, refused: str | None = None):
        """``refused``: the key a server refused; a key command is run again."""
        from ..backends.base import Secrets
        from ..backends.http import merged
        from ..backends.http.auth import declared
        from ..backends.http.tls import TlsSettings
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
        self.home = backend.get("url") or joined(
            backend.get("base_url", ""), backend.get("path", "")
        )
        self.url = listing_url(spec.url or path, backend)
        self.base_url = backend.get("base_url") or ""
        # every wait, and the whole fetch, ends by the deadline
        self.deadline = deadline
        self.started = time.monotonic()
        self.timeout = min(_given(spec.timeout, READ_TIMEOUT), deadline)
        self.connect_timeout = min(_given(spec.connect_timeout, CONNECT_TIMEOUT), deadline)
        self.key = key = _key(declaration.key, template.file, refused, deadline)
        # a key its command printed: run again once, should the server refuse it
        self.renewable = bool(key) and not refused and declaration.key.command is not None
        home = same_origin(self.home, self.url)
        self.headers = _headers(backend.get("headers", {}), written.get("headers", {}), key, home)
        # ``auth:`` (a signature, a cloud token) goes, as the key does, only to that origin
        self.auth = declared(backend.get("auth")) if home else None
        self.secrets = Secrets(key)
        self.secrets.add_url(self.url)
        # The list is asked for as the models' prompts are sent: their TLS and proxy.
        self.tls = TlsSettings.from_data(backend.get("tls"), Path(template.file).parent)
        self.proxy = backend.get("proxy")
        if self.proxy:
            self.secrets.add_url(self.proxy)
        for name in env_names(declaration.backend.as_written.get("headers", {})):
            value = os.environ.get(name) or ""
            if len(value.strip()) >= 4:
                self.secrets.add(value)

    @property
    def shown(self) -> str:
        return _shown(self.url, self.secrets)


def _shown(url: str, secrets: Secrets) -> str:
    """A URL as messages show it: no query string, no password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return secrets.hide(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def listing_url(url: str, backend: dict) -> str:
    """An absolute ``url`` as written; a path under the backend's base_url."""
    if "://" in url:
        return url
    base = backend.get("base_url") or ""
    if not base:
        raise DiscoveryError("the backend has no base_url to list the models under")
    return joined(base, url)


def _given(value: float | None, default: float) -> float:
    return default if value is None else value


def _key(spec: KeySpec | None, source, refused: str | None, within: float) -> str | None:
    """The template's key: its command's output, or llm's stored key."""
    if spec is None:
        return None
    if spec.command is not None:
        from ..keys import KeyCommandError, command_key

        try:
            return command_key(spec, source, refused=refused, within=within)
        except KeyCommandError as exc:
            raise DiscoveryError(str(exc)) from None
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


def fetch_list(template: ModelEntry, deadline: float) -> tuple[Listing, list, list | None]:
    """(where the list is, what it holds where its ids are, and the item each
    of them was read from: None when the ids are no projection of items)."""
    listing = Listing(template, deadline)
    with _client(listing, 1) as client:
        try:
            body = _get(listing, client, "GET", listing.url)
        except _Refused:
            if not listing.renewable:
                raise
            # its command runs again, within what is left of the deadline
            left = deadline - (time.monotonic() - listing.started)
            listing = Listing(template, max(left, 0.0), refused=listing.key)
            body = _get(listing, client, "GET", listing.url)
    try:
        data = json.loads(body)
    except RecursionError:
        raise DiscoveryError(f"the list from {listing.shown} is nested too deeply") from None
    except ValueError:
        snippet = body[:60].decode("utf-8", "replace")
        raise DiscoveryError(f"the list from {listing.shown} is not JSON: {snippet!r}") from None
    found, items = _search(listing, data)
    return listing, found, items


def _search(listing: Listing, data) -> tuple[list, list | None]:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        paired = projected(listing.ids, data)
        found = [i for i, _ in paired] if paired is not None else jmespath.search(listing.ids, data)
    except JMESPathError as exc:
        message = f"cannot apply {listing.ids!r} to the list from {listing.shown}: {exc}"
        raise DiscoveryError(message) from None
    if found is None:
        raise DiscoveryError(f"nothing at {listing.ids!r} in the list from {listing.shown}")
    if not isinstance(found, list):
        kind = type(found).__name__.replace("str", "string")
        message = f"{listing.ids!r} in the list from {listing.shown} is a {kind}, not a list"
        raise DiscoveryError(message)
    return found, None if paired is None else [item for _, item in paired]


def projected(expression: str, data) -> list[tuple] | None:
    """(id, the item it was read from) for each id a projection such as
    ``data[].id`` or ``data[?type=='chat'].id`` finds, in JMESPath's order;
    None when ``expression`` is no projection (its ids have no items) or
    projects from no list (``jmespath.search`` says what it finds).
    Raises JMESPathError as ``jmespath.search`` would."""
    import jmespath
    from jmespath.visitor import TreeInterpreter

    node = jmespath.compile(expression).parsed
    if node["type"] not in ("projection", "filter_projection"):
        return None
    visit = TreeInterpreter().visit
    items = visit(node["children"][0], data)
    if not isinstance(items, list):
        return None
    if node["type"] == "filter_projection":
        truthy = TreeInterpreter()._is_true
        items = [i for i in items if truthy(visit(node["children"][2], i))]
    pairs = ((visit(node["children"][1], item), item) for item in items)
    return [(found, item) for found, item in pairs if found is not None]


def fetch_details(listing: Listing, path: str, names: list[str]) -> dict[str, object]:
    """POST ``{"model": NAME}`` to ``path`` under the backend's base_url for
    each name, at most MAX_IN_FLIGHT at once, all within what is left of the
    listing's deadline: name -> the reply's JSON, or the DiscoveryError
    saying why there is none."""
    from concurrent.futures import ThreadPoolExecutor

    url = listing_url(path, {"base_url": listing.base_url})

    def one(client, name: str):
        try:
            body = _get(listing, client, "POST", url, {"model": name})
            return json.loads(body)
        except DiscoveryError as exc:
            return exc
        except (ValueError, RecursionError):
            return DiscoveryError(f"the reply from {_shown(url, listing.secrets)} is not JSON")

    with (
        _client(listing, MAX_IN_FLIGHT) as client,
        ThreadPoolExecutor(MAX_IN_FLIGHT) as pool,
    ):
        return dict(zip(names, pool.map(lambda n: one(client, n), names), strict=True))


def _client(listing: Listing, connections: int):
    import httpx2

    from ..backends.http.transport import sync_client

    timeout = httpx2.Timeout(listing.timeout, connect=listing.connect_timeout)
    limits = httpx2.Limits(max_connections=connections)
    return sync_client(
        limits=limits,
        timeout=timeout,
        follow_redirects=False,
        tls=listing.tls,
        proxy=listing.proxy,
    )


def _get(listing: Listing, client, method: str, url: str, body=None) -> bytes:
    """A reply's bytes, through the clients prompts use (``transport.py``):
    certificates and proxies from the environment, and one deadline per
    phase, none past what is left of the whole fetch's."""
    import httpx2

    from ..backends.http.transport import Deadline, TooLarge, expiry

    left = listing.deadline - (time.monotonic() - listing.started)
    deadline = Deadline(
        listing.connect_timeout,
        listing.timeout,
        listing.timeout,
        max_bytes=MAX_LIST_BYTES,
        within=max(left, 0.0),
    )
    shown = listing.shown if url == listing.url else _shown(url, listing.secrets)
    what = f"the list from {shown}" if url == listing.url else f"the reply from {shown}"
    try:
        if left <= 0:
            raise httpx2.ReadTimeout("no time left")
        built = client.build_request(
            method, url, headers=listing.headers, json=body, extensions={"deadline": deadline}
        )
        response = client.send(_authorised(built, listing), stream=True)
        try:
            return _read(response, shown, what)
        finally:
            response.close()
    except httpx2.TimeoutException as exc:
        why = _late(listing, exc, expiry(exc), shown, what, left <= 0)
    except TooLarge:
        why = _too_large(what)
    except httpx2.ConnectError as exc:
        why = f"cannot connect to {shown}: {_reason(exc)}"
    except (httpx2.HTTPError, httpx2.InvalidURL, ValueError, WireError) as exc:
        why = f"cannot list models from {shown}: {_reason(exc)}"
    raise DiscoveryError(printable(listing.secrets.hide(why)))


def _authorised(built, listing: Listing):
    """The request, signed or given its cloud token if the template's
    backend declares ``auth:``; that credential is a secret of the listing."""
    if listing.auth is not None:
        try:
            listing.auth.apply(built, listing.secrets)
        except WireError as exc:
            raise DiscoveryError(str(exc)) from None
    return built


def _read(response, shown: str, what: str) -> bytes:
    if response.status_code != 200:
        kind = _Refused if response.status_code in (401, 403) else DiscoveryError
        raise kind(f"HTTP {response.status_code} from {shown}")
    return _bounded(response, what)


class _Refused(DiscoveryError):
    """HTTP 401 or 403: the key was refused."""


def _late(listing: Listing, exc: Exception, expired, shown: str, what: str, spent: bool) -> str:
    import httpx2

    if spent or expired is not None and expired.whole:
        return f"{what} took longer than {listing.deadline:g}s; not read"
    if isinstance(exc, httpx2.ConnectTimeout):
        return f"timed out connecting to {shown} after {listing.connect_timeout:g}s"
    return f"timed out waiting for {shown} after {listing.timeout:g}s"


def _too_large(what: str) -> str:
    return f"{what} is larger than {MAX_LIST_BYTES} bytes; not read"


def _bounded(response, what: str) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_LIST_BYTES:
            raise DiscoveryError(_too_large(what))
        chunks.append(chunk)
    return b"".join(chunks)


def _reason(exc: Exception) -> str:
    from ..backends.http.transport import certificate_refused

    text = certificate_refused(exc) or str(exc) or type(exc).__name__
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    return text

"""httpx2 clients whose TLS context is made by the first https request,
and whose every wait ends by a deadline, whatever the server does.

httpx2 builds a TLS context, loading every certificate the system trusts,
whenever a client is made: 50 ms or more, even for a client that only ever
talks plain http to a server on this machine (the common case here). These
clients route each request by its scheme to a transport made on first use:
plain http to one whose TLS context is never used (it trusts nothing, so it
could not verify a thing if it were), https to httpx2's own default, made
the first time an https URL is asked for (a redirect to one included), with
certificates checked exactly as a plain ``httpx2.Client()`` checks them
(``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` included). Proxies from the
environment (``HTTPS_PROXY``, ``NO_PROXY``...) are mounted as httpx2 mounts
them for a client of its own: httpx2 ignores them once a transport is given.

A backend may bring its own TLS settings (``tls:``, ``TlsSettings``): its
clients' https transport gets a context of its own, made the same way on
first use; plain http stays as cheap. A backend's own ``proxy:`` takes every
request, whatever the environment says. A proxy that does not take the
request (no connection, a refused CONNECT) is named, its password starred
(``ProxyFailed``).

Deadlines. A request waits in three phases: connect (the name lookup, the
TCP connection, the TLS handshake), head (sending the request, reading the
reply's head) and body. Each phase has one deadline on the monotonic clock,
set when it begins (``Deadline``). The network layer under httpcore2 holds
every name lookup, connect, handshake, read and write to it (``_Network``,
``_Stream``), so a head sent one byte at a time, a gzip body of empty
blocks or a name server that never answers cannot outlive it. A stream's
body deadline moves on when its reader says an event came
(``Deadline.renew``). The reply's bytes on the wire, compressed, are
counted against a limit as they come (``_Body``).

Connection limits apply per scheme.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import ipaddress
import math
import re
import socket
import ssl
import threading
import time

import httpcore2
import httpx2

from ...errors import Expired, Signal, WireError
from .tls import TlsSettings

WRITE_PIECE = 64 * 1024  # a write waits for the peer at most this much at a time


def sync_client(**kwargs) -> httpx2.Client:
    return _client(httpx2.Client, _Transport, httpx2.HTTPTransport, **kwargs)


def async_client(**kwargs) -> httpx2.AsyncClient:
    return _client(httpx2.AsyncClient, _AsyncTransport, httpx2.AsyncHTTPTransport, **kwargs)


def _client(
    client_class,
    transport_class,
    base,
    *,
    limits: httpx2.Limits,
    trust_env: bool = True,
    max_reply_bytes: int | None = None,
    tls: TlsSettings | None = None,
    proxy: str | None = None,
    **kwargs,
):
    """A client whose every transport (the environment's proxies too) is
    ours: the TLS context made on first use, the deadline enforced.
    ``tls``: the backend's own TLS settings; ``proxy``: its own proxy, in
    place of the environment's."""

    def transport(proxy=None):
        return transport_class(base, limits, trust_env, max_reply_bytes, proxy, tls)

    if proxy:
        main, mounts = transport(_own_proxy(proxy)), {}
    else:
        main = transport()
        mounts = {k: transport(p) if p else None for k, p in _proxies(trust_env).items()}
    return client_class(transport=main, mounts=mounts, limits=limits, trust_env=trust_env, **kwargs)


def _own_proxy(url: str) -> httpx2.Proxy:
    """A backend's ``proxy:``, once its variables are filled in: an http or
    https URL, else the model's one line (the password starred)."""
    try:
        proxy = httpx2.Proxy(url)
    except (ValueError, httpx2.InvalidURL):
        proxy = None
    if proxy is None or proxy.url.scheme not in ("http", "https") or not proxy.url.host:
        shown = re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", url)
        raise WireError(f"proxy {shown!r} is not an http or https URL with a host")
    return proxy


def _proxies(trust_env: bool) -> dict:
    """The environment's proxies, as httpx2 reads them for a client without
    a transport of its own (a pattern mapped to None goes direct)."""
    if not trust_env:
        return {}
    from httpx2._utils import get_environment_proxies

    return {k: httpx2.Proxy(url) if url else None for k, url in get_environment_proxies().items()}


# -- deadlines ---------------------------------------------------------------------


class ConnectExpired(Expired, httpcore2.ConnectTimeout):
    pass


class ReadExpired(Expired, httpcore2.ReadTimeout):
    pass


class TooLarge(Signal, httpx2.TransportError):
    """The reply brought more bytes on the wire than it may."""

    def __init__(self, limit: int):
        super().__init__(f"the reply is larger than {limit} bytes")
        self.limit = limit


class Deadline:
    """When each wait of one request ends, and how many bytes its reply may
    bring on the wire. Each phase (connect, head, body) may last its own
    number of seconds from when it begins; ``within``, if given, ends every
    phase that many seconds after the deadline was made."""

    def __init__(
        self,
        connect: float | None,
        head: float | None,
        body: float | None,
        *,
        max_bytes: int | None = None,
        within: float | None = None,
    ):
        self.allowed = {"connect": connect, "head": head, "body": body}
        self.max_bytes = max_bytes
        self.within = within
        self._cap = math.inf if within is None else time.monotonic() + within
        self.begin("connect")

    @classmethod
    def of(cls, request: httpx2.Request, max_bytes: int | None) -> Deadline:
        """The deadline a request carries (extension ``deadline``), or one
        made from its timeouts: connect, then read for the head and the body."""
        given = request.extensions.get("deadline")
        if given is not None:
            return given
        timeout = request.extensions.get("timeout", {})
        read = timeout.get("read")
        return cls(timeout.get("connect"), read, read, max_bytes=max_bytes)

    def begin(self, phase: str) -> None:
        self.phase = phase
        self.renew()

    def renew(self) -> None:
        """Progress (a stream's event): the phase's time starts again."""
        allowed = self.allowed[self.phase]
        self.ends = min(math.inf if allowed is None else time.monotonic() + allowed, self._cap)
        self.arrived = False  # bytes came since: the server is sending, slowly

    def left(self, timeout: float | None) -> float | None:
        """How long the next wait may last (``timeout`` at most); raises the
        phase's Expired once its deadline has passed."""
        left = self.ends - time.monotonic()
        if left <= 0:
            raise self.expired()
        if timeout is None:
            return None if math.isinf(left) else left
        return min(timeout, left)

    def expired(self) -> Expired:
        whole = self.ends == self._cap
        seconds = self.within if whole else self.allowed[self.phase]
        kind = ConnectExpired if self.phase == "connect" else ReadExpired
        return kind(self.phase, seconds, whole, self.arrived)


def expiry(exc: BaseException) -> Expired | None:
    """The deadline that ended a request, if one did (httpx2 wraps it)."""
    return _behind(exc, Expired)


def certificate_refused(exc: BaseException) -> str | None:
    """Why the server's TLS certificate was not accepted, if that is what failed."""
    refused = _behind(exc, ssl.SSLCertVerificationError)
    if refused is None:
        return None
    return (
        f"TLS certificate not accepted: {refused.verify_message or refused.reason or 'not trusted'}"
    )


class ProxyFailed(httpx2.ConnectError):
    """The proxy did not take the request: no connection to it, or it
    refused to open the tunnel (CONNECT) or to forward the request."""


def proxy_failed(exc: BaseException) -> str | None:
    """What the proxy did, if a proxy is why the request failed."""
    failed = _behind(exc, ProxyFailed)
    return str(failed) if failed is not None else None


@contextlib.contextmanager
def _blaming(proxy: httpx2.Proxy | None):
    """A failure to connect through ``proxy`` as a ProxyFailed that names it
    (a TLS failure past the tunnel is the server's, not the proxy's)."""
    if proxy is None:
        yield
        return
    try:
        yield
    except (httpx2.ProxyError, httpx2.ConnectError) as exc:
        if isinstance(exc, ProxyFailed) or _behind(exc, ssl.SSLError) is not None:
            raise
        said = _proxy_said(exc)
        raise ProxyFailed(f"the proxy {shown_proxy(proxy)} {said}") from exc


def _proxy_said(exc: Exception) -> str:
    """What the proxy did: refused a connection, could not be reached, or
    answered the tunnel (CONNECT) with an error status."""
    if isinstance(exc, httpx2.ProxyError):
        return f"did not take the request: {exc or type(exc).__name__}"
    if _behind(exc, ConnectionRefusedError) is not None or "refused" in str(exc).lower():
        return "refused the connection"
    return f"cannot be reached: {exc or type(exc).__name__}"


def shown_proxy(proxy: httpx2.Proxy) -> str:
    """A proxy for a message: its user named, its password starred (httpx2
    keeps them apart from its URL), no path or query."""
    url = proxy.url
    user, password = proxy.auth or (url.username, url.password)
    userinfo = f"{user}:***@" if password else f"{user}@" if user else ""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{userinfo}{url.host}{port}"


def _behind(exc: BaseException | None, kind: type):
    """The first exception of ``kind`` in what caused ``exc`` (``exc`` included)."""
    for _ in range(10):
        if exc is None or isinstance(exc, kind):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "llm_yaml_models_deadline", default=None
)


@contextlib.contextmanager
def _holding(deadline: Deadline):
    """Every wait in this block (this thread's, this task's) is held to ``deadline``."""
    token = _CURRENT.set(deadline)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _timed_out(deadline: Deadline | None) -> None:
    """A wait timed out: the deadline's own error if it has passed, so the
    message says what happened; else the wait's own timeout stands."""
    if deadline is not None:
        deadline.left(None)


# -- name lookup -------------------------------------------------------------------


def _lookup(host: str, port: int) -> concurrent.futures.Future:
    """The addresses to connect to, looked up in a thread of its own: a name
    server that never answers holds that thread, not the request (nor, in
    async code, the event loop's shutdown, which waits for its executor)."""
    found: concurrent.futures.Future = concurrent.futures.Future()
    try:
        found.set_result([str(ipaddress.ip_address(host.strip("[]")))])
        return found
    except ValueError:
        pass

    def look_up():
        # An async waiter that gave up cancelled the future: nothing to hand over.
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiter
                found.set_exception(exc)
            else:
                found.set_result(list(dict.fromkeys(info[4][0] for info in infos)))

    threading.Thread(target=look_up, name=f"lookup {host}", daemon=True).start()
    return found


def _not_found(exc: BaseException) -> httpcore2.ConnectError:
    return httpcore2.ConnectError(str(exc) or type(exc).__name__)


# -- sync network layer --------------------------------------------------------------


class _Network(httpcore2.NetworkBackend):
    """httpcore2's network backend, each wait held to the current deadline."""

    def __init__(self, inner: httpcore2.NetworkBackend):
        self._inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        deadline = _CURRENT.get()
        if deadline is None:
            return self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = _lookup(host, port).result(deadline.left(timeout))
        except concurrent.futures.TimeoutError:
            raise deadline.expired() from None
        except OSError as exc:
            raise _not_found(exc) from exc
        failure: Exception = httpcore2.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address, port, deadline.left(timeout), local_address, socket_options
                )
                return _Stream(stream)
            except httpcore2.ConnectTimeout:
                _timed_out(deadline)
                raise
            except httpcore2.ConnectError as exc:
                failure = exc
        raise failure

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Stream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = _CURRENT.get()
        if deadline is None:
            return self._inner.read(max_bytes, timeout)
        try:
            data = self._inner.read(max_bytes, deadline.left(timeout))
        except httpcore2.ReadTimeout:
            _timed_out(deadline)
            raise
        deadline.arrived = deadline.arrived or bool(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        deadline = _CURRENT.get()
        if deadline is None:
            return self._inner.write(buffer, timeout)
        if deadline.phase == "connect":
            deadline.begin("head")
        try:
            for start in range(0, len(buffer), WRITE_PIECE):
                self._inner.write(buffer[start : start + WRITE_PIECE], deadline.left(timeout))
        except httpcore2.WriteTimeout:
            _timed_out(deadline)
            raise
        return None

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        deadline = _CURRENT.get()
        wait = deadline.left(timeout) if deadline is not None else timeout
        try:
            return _Stream(self._inner.start_tls(ssl_context, server_hostname, wait))
        except httpcore2.ConnectTimeout:
            _timed_out(deadline)
            raise

    def close(self) -> None:
        self._inner.close()

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _Body(httpx2.SyncByteStream):
    """A reply's body: each read held to the request's deadline, and no read
    once the bytes on the wire (compressed, as they come) pass the limit."""

    def __init__(self, stream, deadline: Deadline):
        self._stream, self._deadline, self._size = stream, deadline, 0
        # httpx2's own name, kept: the parser is reached through it (backend._buffered)
        self._httpcore_stream = getattr(stream, "_httpcore_stream", None)

    def __iter__(self):
        pieces = iter(self._stream)
        while True:
            _check_size(self._size, self._deadline)
            with _holding(self._deadline):
                piece = next(pieces, None)
            if piece is None:
                return
            self._size += len(piece)
            yield piece

    def close(self) -> None:
        self._stream.close()


def _check_size(size: int, deadline: Deadline) -> None:
    if deadline.max_bytes is not None and size > deadline.max_bytes:
        raise TooLarge(deadline.max_bytes)


# -- async network layer -----------------------------------------------------------


async def _wait_for(future: concurrent.futures.Future, seconds: float | None):
    return await asyncio.wait_for(asyncio.wrap_future(future), seconds)


class _AsyncNetwork(httpcore2.AsyncNetworkBackend):
    def __init__(self, inner: httpcore2.AsyncNetworkBackend):
        self._inner = inner

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        deadline = _CURRENT.get()
        if deadline is None:
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = await _wait_for(_lookup(host, port), deadline.left(timeout))
        except asyncio.TimeoutError:
            raise deadline.expired() from None
        except OSError as exc:
            raise _not_found(exc) from exc
        failure: Exception = httpcore2.ConnectError(f"no address for {host}")
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address, port, deadline.left(timeout), local_address, socket_options
                )
                return _AsyncStream(stream)
            except httpcore2.ConnectTimeout:
                _timed_out(deadline)
                raise
            except httpcore2.ConnectError as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        stream = await self._inner.connect_unix_socket(path, timeout, socket_options)
        return _AsyncStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _AsyncStream(httpcore2.AsyncNetworkStream):
    def __init__(self, inner: httpcore2.AsyncNetworkStream):
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = _CURRENT.get()
        if deadline is None:
            return await self._inner.read(max_bytes, timeout)
        try:
            data = await self._inner.read(max_bytes, deadline.left(timeout))
        except httpcore2.ReadTimeout:
            _timed_out(deadline)
            raise
        deadline.arrived = deadline.arrived or bool(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        deadline = _CURRENT.get()
        if deadline is None:
            return await self._inner.write(buffer, timeout)
        if deadline.phase == "connect":
            deadline.begin("head")
        try:
            for start in range(0, len(buffer), WRITE_PIECE):
                piece = buffer[start : start + WRITE_PIECE]
                await self._inner.write(piece, deadline.left(timeout))
        except httpcore2.WriteTimeout:
            _timed_out(deadline)
            raise
        return None

    async def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        deadline = _CURRENT.get()
        wait = deadline.left(timeout) if deadline is not None else timeout
        try:
            return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, wait))
        except httpcore2.ConnectTimeout:
            _timed_out(deadline)
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _AsyncBody(httpx2.AsyncByteStream):
    def __init__(self, stream, deadline: Deadline):
        self._stream, self._deadline, self._size = stream, deadline, 0
        self._httpcore_stream = getattr(stream, "_httpcore_stream", None)

    async def __aiter__(self):
        pieces = aiter(self._stream)
        while True:
            _check_size(self._size, self._deadline)
            with _holding(self._deadline):
                piece = await anext(pieces, None)
            if piece is None:
                return
            self._size += len(piece)
            yield piece

    async def aclose(self) -> None:
        await self._stream.aclose()


# -- transports ----------------------------------------------------------------------


class _ByScheme:
    """A transport per scheme, each made on first use (threads may ask at
    once), its network layer held to each request's deadline."""

    _network: type = _Network

    def __init__(
        self, make, limits: httpx2.Limits, trust_env: bool, max_bytes, proxy=None, tls=None
    ):
        self._make, self._limits, self._trust_env = make, limits, trust_env
        self._max_bytes, self._proxy, self._tls = max_bytes, proxy, tls
        self._made: dict[bool, object] = {}
        self._lock = threading.Lock()

    def _for(self, request: httpx2.Request):
        tls = request.url.scheme == "https"
        transport = self._made.get(tls)
        if transport is None:
            with self._lock:
                transport = self._made.get(tls)
                if transport is None:
                    transport = self._made[tls] = self._guarded(tls, request.url.host)
        return transport

    def _guarded(self, tls: bool, host: str):
        verify = _trusts_nothing()
        if tls:
            verify = self._tls.context(host) if self._tls is not None else True
        made = self._make(
            verify=verify, limits=self._limits, trust_env=self._trust_env, proxy=self._proxy
        )
        pool = made._pool  # httpx2 takes no network backend: its pool's is wrapped
        pool._network_backend = self._network(pool._network_backend)
        return made

    def _taken(self) -> list:
        with self._lock:
            made, self._made = list(self._made.values()), {}
        return made


class _Transport(_ByScheme, httpx2.BaseTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = Deadline.of(request, self._max_bytes)
        deadline.begin("connect")
        with _holding(deadline), _blaming(self._proxy):
            response = self._for(request).handle_request(request)
        deadline.begin("body")
        response.stream = _Body(response.stream, deadline)
        response.extensions["deadline"] = deadline
        return response

    def close(self) -> None:
        for transport in self._taken():
            transport.close()


class _AsyncTransport(_ByScheme, httpx2.AsyncBaseTransport):
    _network = _AsyncNetwork

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = Deadline.of(request, self._max_bytes)
        deadline.begin("connect")
        with _holding(deadline), _blaming(self._proxy):
            response = await self._for(request).handle_async_request(request)
        deadline.begin("body")
        response.stream = _AsyncBody(response.stream, deadline)
        response.extensions["deadline"] = deadline
        return response

    async def aclose(self) -> None:
        for transport in self._taken():
            await transport.aclose()


def _trusts_nothing() -> ssl.SSLContext:
    """A TLS context for the plain-http transport, which never starts TLS:
    it verifies certificates and host names and trusts no certificate, so
    a handshake through it could only fail."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

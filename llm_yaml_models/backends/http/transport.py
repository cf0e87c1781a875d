"""httpx2 clients whose TLS context is made by the first https request.

httpx2 builds a TLS context, loading every certificate the system trusts,
whenever a client is made: 50 ms or more, even for a client that only ever
talks plain http to a server on this machine (the common case here). These
clients route each request by its scheme to a transport made on first use:
plain http to one whose TLS context is never used (it trusts nothing, so it
could not verify a thing if it were), https to httpx2's own default, made
the first time an https URL is asked for (a redirect to one included), with
certificates checked exactly as a plain ``httpx2.Client()`` checks them
(``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` included). Proxies from the
environment are httpx2's own mounts, unchanged.

Connection limits apply per scheme.
"""

from __future__ import annotations

import ssl
import threading

import httpx2


def sync_client(*, limits: httpx2.Limits, trust_env: bool = True, **kwargs) -> httpx2.Client:
    transport = _Transport(httpx2.HTTPTransport, limits, trust_env)
    return httpx2.Client(transport=transport, limits=limits, trust_env=trust_env, **kwargs)


def async_client(*, limits: httpx2.Limits, trust_env: bool = True, **kwargs) -> httpx2.AsyncClient:
    transport = _AsyncTransport(httpx2.AsyncHTTPTransport, limits, trust_env)
    return httpx2.AsyncClient(transport=transport, limits=limits, trust_env=trust_env, **kwargs)


class _ByScheme:
    """A transport per scheme, each made on first use (threads may ask at once)."""

    def __init__(self, make, limits: httpx2.Limits, trust_env: bool):
        self._make, self._limits, self._trust_env = make, limits, trust_env
        self._made: dict[bool, object] = {}
        self._lock = threading.Lock()

    def _for(self, request: httpx2.Request):
        tls = request.url.scheme == "https"
        transport = self._made.get(tls)
        if transport is None:
            with self._lock:
                transport = self._made.get(tls)
                if transport is None:
                    verify = True if tls else _trusts_nothing()
                    transport = self._made[tls] = self._make(
                        verify=verify, limits=self._limits, trust_env=self._trust_env
                    )
        return transport

    def _taken(self) -> list:
        with self._lock:
            made, self._made = list(self._made.values()), {}
        return made


class _Transport(_ByScheme, httpx2.BaseTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self._for(request).handle_request(request)

    def close(self) -> None:
        for transport in self._taken():
            transport.close()


class _AsyncTransport(_ByScheme, httpx2.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self._for(request).handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self._taken():
            await transport.aclose()


def _trusts_nothing() -> ssl.SSLContext:
    """A TLS context for the plain-http transport, which never starts TLS:
    it verifies certificates and host names and trusts no certificate, so
    a handshake through it could only fail."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

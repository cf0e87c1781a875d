"""The HTTP backend's I/O: one sync and one async path over the same call
and decoder.

The sync model uses ``httpx2.Client`` and the async model
``httpx2.AsyncClient``: llm's own HTTP client. Each model creates its
client once per process (per event loop, for async) and reuses it across
prompts, so a prompt costs a request, not a new connection pool and SSL
context; and the SSL context is made only when an https URL is first asked
for (``transport.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import ssl
import sys
import time
import weakref
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2
import llm

from ...errors import SHOWN, Signal, printable
from ..base import Backend, Request
from .call import KEY_MARK, Call, build_call, carried_to, moved, origin, redacted, signed
from .checks import notes, places_conversation, problems
from .config import HttpConfig, preset_options
from .decode import Decoder, StreamException
from .deployments import Balancer, Route, Target
from .outcome import WireError, tool_arguments
from .transport import TooLarge, async_client, certificate_refused, expiry, sync_client

MAX_REDIRECTS = 5
MAX_RETRY_WAIT = 60.0
MAX_REPLY_BYTES = 64 * 2**20
# A stream that said it is complete: how many more pieces are read, so that
# the connection can be reused; and, for async, how long its body's end may
# take to come (awaiting it costs no other prompt anything). A server that
# holds the connection open is left at once.
END_GRACE = 0.05
END_PIECES = 4


_WARNED_CLEAR: set[str] = set()


def _in_the_clear(url: str) -> bool:
    """Plain http to a host other than this machine."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def warned(call: Call, model_id: str) -> Call:
    """``call``, after one warning per model per process if it sends a key
    over plain http to another machine."""
    if call.key and _in_the_clear(call.url) and model_id not in _WARNED_CLEAR:
        _WARNED_CLEAR.add(model_id)
        host = urlsplit(call.url).hostname
        sys.stderr.write(
            f"llm-yaml-models: warning: {model_id} sends its key to {host} "
            "over plain http, unencrypted\n"
        )
    return call


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it, outermost first (async errors often
    say nothing themselves)."""
    chain = [exc]
    while (nxt := chain[-1].__cause__ or chain[-1].__context__) and len(chain) < 10:
        chain.append(nxt)
    return chain


def _retry_after(headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class _Unreachable(WireError):
    """No answer at all: no connection, a timeout, or 429/5xx after the
    retries. A model with fallbacks asks the next one."""


class _Retry(Signal):
    """Raised inside an attempt: wait ``delay`` seconds, then try again."""

    def __init__(self, delay: float, failure: str):
        self.delay = delay
        self.failure = failure


class HttpBackend(Backend):
    Config = HttpConfig

    def __init__(self, config):
        super().__init__(config)
        self._clients: dict[int | None, httpx2.Client] = {}  # one per deployment
        self._async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        config = self.config
        self.balancer = (
            Balancer(config.deployments, config.strategy, config.cooldown)
            if config.deployments
            else None
        )
        self._targets: dict[int, HttpConfig] = {}

    @classmethod
    def check(cls, data, doc, origin, base_dir, deep=False) -> list:
        return problems(data, doc, origin)

    @classmethod
    def standard_options(cls, backend: dict) -> dict:
        return preset_options(backend)

    @classmethod
    def converses(cls, data: dict) -> bool:
        return places_conversation(data)

    @classmethod
    def notes(cls, data, doc, origin) -> list:
        return notes(data, doc, origin)

    # -- shared by sync and async ------------------------------------------------

    def route(self, request: Request, *, dry: bool = False) -> Route:
        """``dry``: for the dry run, where a missing key is shown as a mark."""
        targets = self._target_for(request, dry)
        return Route(self.balancer, Target(self.config, request.key), targets)

    def _target_for(self, request: Request, dry: bool):
        def target(deployment) -> Target:
            index = deployment.index
            if index not in self._targets:
                self._targets[index] = self.config.for_deployment(deployment.spec)
            key = request.key
            if deployment.spec.key is not None:
                key = _deployment_key(deployment, KEY_MARK if dry else None)
                request.secrets.add(key)
            return Target(self._targets[index], key, deployment)

        return target

    def call(self, request: Request, target: Target | None = None) -> Call:
        target = target or Target(self.config, request.key)
        return warned(build_call(target.config, request, target.key), request.model_id)

    def dry_run(self, request: Request) -> str:
        """The request as it would be sent, secrets starred: nothing is sent;
        with deployments, a first line says which would be chosen."""
        with _building(request):
            target = self.route(request, dry=True).peek()
            call = self.call(request, target)
            shown = redacted(_authorised(_build(self.client(target.index), call)), call.secrets)
        if target.deployment is None:
            return shown
        count, strategy = len(self.balancer.deployments), self.config.strategy
        head = f"# deployment {target.index + 1} of {count} ({strategy}): {target.deployment.name}"
        return f"{request.secrets.hide(head)}\n{shown}"

    def deployment_names(self) -> list[str]:
        """For ``check``: each deployment, by its base URL (a password starred)."""
        hide = self.config.secrets().hide
        return [hide(d.name) for d in self.balancer.deployments] if self.balancer else []

    @staticmethod
    def pinned(index: int):
        """For ``check``: every request inside this block goes to the
        deployment ``index`` (of ``deployment_names``)."""
        from .deployments import pinned

        return pinned(index)

    def _limits(self) -> dict:
        return {
            "timeout": httpx2.Timeout(self.config.timeout),
            "limits": httpx2.Limits(max_connections=self.config.max_connections),
            "max_reply_bytes": self.config.max_reply_bytes,
            "follow_redirects": False,
        }

    def _attempt_failed(self, status: int | None, headers, failure: str, attempt: int) -> None:
        """Raise _Retry if this failure is worth another attempt, else WireError."""
        retryable = status is None or status == 429 or status >= 500
        if not retryable:
            raise WireError(failure)
        if attempt >= self.config.retries:
            raise _Unreachable(failure)
        wait = _retry_after(headers) if headers is not None else None
        if wait is not None and wait > MAX_RETRY_WAIT:
            raise _Unreachable(f"{failure} (the server asked to retry after {wait:.0f}s)")
        raise _Retry(wait if wait is not None else 0.5 * 2**attempt, failure)

    def _redirect(self, call: Call, response, hops: int) -> Call:
        """The call that follows a redirect: only a 307 or 308, which keep
        the method and body (a 301, 302 or 303 would turn a POST into a GET
        without its prompt), but any of them for a GET. Another origin never
        gets a secret: headers that carry credentials, or hold any secret of
        the call (the key, a value from the environment), are dropped."""
        if hops >= MAX_REDIRECTS:
            raise WireError(f"too many redirects from {call.where}")
        target = urljoin(str(response.request.url), response.headers["location"])
        if response.status_code not in (307, 308) and call.method not in ("GET", "HEAD"):
            raise WireError(moved(call, response.status_code, target))
        headers, secrets = carried_to(call, target), call.secrets
        followed = Call(
            call.method,
            target,
            headers,
            {},
            call.body,
            call.streaming,
            call.key,
            call.framing,
            secrets,
        )
        followed.preface = call.preface
        if origin(target) == origin(call.url):  # signed again there; never elsewhere
            followed.auth = call.auth
        return followed

    def _ended(self, response, decoder: Decoder, attempt: int) -> list[str]:
        """The reply has been read: what is left to show, or, for an error
        status, a retry (raise _Retry) or a failure (raise WireError)."""
        if response.status_code >= 400:
            failure = decoder.status_error()
            self._attempt_failed(response.status_code, response.headers, failure, attempt)
        return decoder.finish()

    @contextlib.contextmanager
    def _translated(self, call: Call, attempt: int):
        """httpx2's errors, as a retry or as the one line the user sees."""
        try:
            yield
        except StreamException as exc:  # throttled mid-stream, as a 429 says it
            if not exc.retryable:
                raise
            self._attempt_failed(503, None, str(exc), attempt)
        except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
            if _untrusted(exc):  # the same certificate again would fail the same way
                raise WireError(self._failure(exc, call)) from exc
            self._attempt_failed(None, None, self._failure(exc, call), attempt)
        except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
            raise _Unreachable(self._failure(exc, call)) from exc
        except httpx2.HTTPError as exc:
            raise WireError(self._failure(exc, call)) from exc

    def _failure(self, exc: Exception, call: Call) -> str:
        if isinstance(exc, httpx2.ConnectTimeout):
            return f"timed out connecting to {call.where} after {self.config.timeout:g}s"
        if isinstance(exc, httpx2.TimeoutException):
            slow = (expired := expiry(exc)) is not None and expired.slow
            note = ": the reply is arriving too slowly" if slow else ""
            return f"timed out waiting for {call.where} after {self.config.timeout:g}s{note}"
        if isinstance(exc, TooLarge):
            return f"reply from {call.where} is larger than {exc.limit} bytes (max_reply_bytes)"
        causes = _causes(exc)
        untrusted = certificate_refused(exc)
        if untrusted is not None:
            return f"cannot connect to {call.where}: {untrusted}"
        if isinstance(exc, httpx2.ConnectError):
            refused = any(isinstance(c, ConnectionRefusedError) for c in causes)
            reason = "connection refused" if refused or "refused" in str(exc).lower() else exc
            return f"cannot connect to {call.where}: {reason}"
        if isinstance(exc, httpx2.RemoteProtocolError | httpx2.ReadError):
            reason = next((str(c) for c in causes if str(c)), type(causes[-1]).__name__)
            return f"connection to {call.where} broke off: {reason}"
        return f"request to {call.where} failed: {type(exc).__name__}: {exc}"

    def _finish(self, decoder: Decoder, request: Request, target: Target) -> None:
        outcome = decoder.outcome
        dropped = outcome.drop_bad_counts()
        if dropped:
            warning = (
                f"llm-yaml-models: warning: {request.model_id}: usage from {decoder.where} "
                f"is not a token count, not logged: {', '.join(dropped)}"
            )
            sys.stderr.write(printable(request.secrets.hide(warning)) + "\n")
        if outcome.usage:
            request.set_usage(**{k: outcome.usage.get(k) for k in ("input", "output", "details")})
        request.set_resolved_model(outcome.model)
        # A server may echo the key (in an id, say): the log must not keep it.
        log = outcome.log()
        if target.deployment is not None:
            log = {**log, "deployment": target.deployment.name}
        request.response_json = log or None  # starred as it is logged (Request.logged)
        for slot in outcome.tool_calls.values():
            arguments = tool_arguments(str(slot["arguments"]))
            request.add_tool_call(slot["name"], arguments, slot["id"], slot.get("metadata"))

    # -- sync --------------------------------------------------------------------

    def client(self, index: int | None = None) -> httpx2.Client:
        """The client of a deployment (``index``), or of the one URL."""
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = sync_client(**self._limits())
            weakref.finalize(self, client.close)  # at the latest, at exit
        return client

    def close(self) -> None:
        # Async clients close with their event loop (_close_at_shutdown).
        clients, self._clients = self._clients, {}
        for client in clients.values():
            client.close()

    def _start(self, request: Request, target: Target) -> tuple[Call, Decoder]:
        with _building(request):
            call = self.call(request, target)
        return call, Decoder(target.config, call.where, call.secrets)

    def stream(self, request: Request):
        route, retries = self.route(request), self.config.retries
        for attempt in range(retries + 1):
            with _building(request):
                target = route.choose()
            with route.trying(target, lambda: _tokens(request)) as trial:
                if target.limiter:
                    target.ticket = target.limiter.wait(_estimate(request))
                call, decoder = self._start(request, target)
                with _sending(request, call):
                    try:
                        for text in self._attempt(call, decoder, attempt, target.index):
                            trial.output = True
                            yield text
                        self._finish(decoder, request, target)
                        return
                    except (_Retry, _Unreachable) as failure:
                        delay = _next_delay(route, trial, failure, attempt, retries)
            time.sleep(delay)  # the deployment is free meanwhile

    def _attempt(self, call: Call, decoder: Decoder, attempt: int, index: int | None):
        with self._translated(call, attempt), self._send(call, index) as response:
            yield from _begin(decoder, call, response)
            with contextlib.closing(response.iter_bytes()) as pieces:
                for data in pieces:
                    yield from decoder.receive(data)
                    if decoder.done:
                        _drain(pieces, response)
                        break
            yield from self._ended(response, decoder, attempt)

    @contextlib.contextmanager
    def _send(self, call: Call, index: int | None):
        client = self.client(index)
        for hops in range(MAX_REDIRECTS + 1):
            response = client.send(_build(client, call), stream=True)
            if not response.is_redirect:
                break
            response.close()
            call = self._redirect(call, response, hops)
        try:
            yield response
        finally:
            response.close()

    # -- async -------------------------------------------------------------------

    async def async_client(self, index: int | None = None) -> httpx2.AsyncClient:
        """This event loop's client of a deployment (``index``), closed when
        the loop shuts down."""
        loop = asyncio.get_running_loop()
        clients = self._async_clients.setdefault(loop, {})
        found = clients.get(index)
        if found is None:
            client = async_client(**self._limits())
            keeper = _close_at_shutdown(client)
            await keeper.__anext__()
            found = clients[index] = (client, keeper)
        return found[0]

    async def astream(self, request: Request):
        route, retries = self.route(request), self.config.retries
        for attempt in range(retries + 1):
            with _building(request):
                target = route.choose()
            with route.trying(target, lambda: _tokens(request)) as trial:
                if target.limiter:
                    target.ticket = await target.limiter.await_turn(_estimate(request))
                call, decoder = self._start(request, target)
                with _sending(request, call):
                    try:
                        async for text in self._aattempt(call, decoder, attempt, target.index):
                            trial.output = True
                            yield text
                        self._finish(decoder, request, target)
                        return
                    except (_Retry, _Unreachable) as failure:
                        delay = _next_delay(route, trial, failure, attempt, retries)
            await asyncio.sleep(delay)  # the deployment is free meanwhile

    async def _aattempt(self, call: Call, decoder: Decoder, attempt: int, index: int | None):
        with self._translated(call, attempt):
            async with self._asend(call, index) as response:
                for text in _begin(decoder, call, response):
                    yield text
                async with contextlib.aclosing(response.aiter_bytes()) as pieces:
                    async for data in pieces:
                        for text in decoder.receive(data):
                            yield text
                        if decoder.done:
                            await _adrain(pieces, response)
                            break
                for text in self._ended(response, decoder, attempt):
                    yield text

    @contextlib.asynccontextmanager
    async def _asend(self, call: Call, index: int | None):
        client = await self.async_client(index)
        for hops in range(MAX_REDIRECTS + 1):
            response = await client.send(_build(client, call), stream=True)
            if not response.is_redirect:
                break
            await response.aclose()
            call = self._redirect(call, response, hops)
        try:
            yield response
        finally:
            await response.aclose()


def _untrusted(exc: Exception) -> ssl.SSLCertVerificationError | None:
    """The certificate failure behind a connect error, if that is what it is."""
    return next((c for c in _causes(exc) if isinstance(c, ssl.SSLCertVerificationError)), None)


def _next_delay(route, trial, failure: Exception, attempt: int, retries: int) -> float:
    """This attempt failed before any output: how long to wait before the
    next (none, while another deployment is untried); or, for a deployment
    that cannot be reached and nowhere else to go, the failure itself."""
    trial.replica_failed = True
    if isinstance(failure, _Retry):
        return 0 if route.untried() else failure.delay
    if not route.elsewhere(trial, attempt, retries):
        raise failure
    return 0


async def _close_at_shutdown(client: httpx2.AsyncClient):
    """Suspended for the life of the event loop: asyncio.run() closes every
    async generator when the loop shuts down, and this one closes the client."""
    try:
        yield
    finally:
        await client.aclose()


def _deployment_key(deployment, missing: str | None = None) -> str:
    """A deployment's own key; without it (and no ``missing`` to show in its
    place), the deployment cannot be used."""
    name, env = deployment.spec.key
    key = llm.get_key(key_alias=name, env_var=env) or missing
    if not key:
        raise _Unreachable(f"no key for the deployment {deployment.name}: 'llm keys set {name}'")
    return key.strip()


def _estimate(request: Request) -> int:
    from ...routing.limits import estimate_tokens

    return estimate_tokens(request.system, *(m.content for m in request.messages))


def _tokens(request: Request) -> int | None:
    usage = request.usage
    if usage is None or (usage.input is None and usage.output is None):
        return None
    return (usage.input or 0) + (usage.output or 0)


def _build(client, call: Call):
    # Merged, so that a query written in the url is kept beside params.
    try:
        url = httpx2.URL(call.url)
    except httpx2.InvalidURL as exc:
        raise WireError(f"cannot send to {call.where}: {exc}") from None
    url = url.copy_merge_params(call.params) if call.params else url
    kwargs: dict[str, Any] = {"headers": call.headers}
    if call.body is not None:
        kwargs["json"] = call.body  # the one serialisation, sent and shown
    return signed(call, client.build_request(call.method, url, **kwargs))


def _authorised(built):
    """The built request as the client sends it: for a URL with userinfo,
    ``Client.send`` adds Basic credentials (``_build_request_auth``)."""
    url = built.url
    if url.username or url.password:
        return next(httpx2.BasicAuth(url.username, url.password).sync_auth_flow(built))
    return built


def _h11(response):
    """The HTTP/1.1 parser (h11's) under this response: reaching into
    httpcore2, so anything unexpected reads as None."""
    parser = response.stream
    for name in ("_stream", "_httpcore_stream", "_stream", "_connection", "_h11_state"):
        parser = getattr(parser, name, None)
    return parser


def _end_is_here(response) -> bool:
    """Can the rest of this body be read without the network? The HTTP
    parser knows, the socket does not: every byte of a Content-Length body
    has come (its end is then read at once), or the parser holds bytes the
    reader has not taken (a chunked body's final chunk, typically)."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and response.num_bytes_downloaded >= int(length):
        return True
    try:
        # A chunk's closing CRLF is left there after its data: that is not more.
        return bool(_h11(response).trailing_data[0].lstrip(b"\r\n"))
    except (AttributeError, TypeError, IndexError):
        return False


def _arrived(response) -> bool:
    """Has more of the body reached this machine, unread? A look, never a
    wait: ``poll``, which takes any descriptor (``select`` fails above 1023)."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return False
    sock = stream.get_extra_info("socket")
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    return bool(stream.get_extra_info("is_readable"))


def _drain(pieces, response) -> None:
    """The stream is complete: read the end of its body if it is here, so
    the connection goes back to the pool; else leave it at once. Nothing
    waits: a Content-Length body's end was read with its last byte. Best
    effort: the reply is whole already, so a body that breaks off after its
    end (no final chunk) fails nothing."""
    with contextlib.suppress(httpx2.HTTPError):
        for _ in range(END_PIECES):
            if not (_end_is_here(response) or _arrived(response)):
                return
            if next(pieces, None) is None:
                return


async def _adrain(pieces, response) -> None:
    # Buffered bytes come at once; a wait is never longer than END_GRACE.
    with contextlib.suppress(StopAsyncIteration, asyncio.TimeoutError, httpx2.HTTPError):
        for _ in range(END_PIECES):
            await asyncio.wait_for(anext(pieces), END_GRACE)


@contextlib.contextmanager
def _failures(request: Request, doing: str):
    """Every failure, as the one-line error of this model: a WireError says
    what went wrong itself, and anything else is named after ``doing``
    ("request to URL failed", "cannot build the request")."""
    try:
        yield
    except WireError as exc:
        raise request.fail(str(exc), unavailable=isinstance(exc, _Unreachable)) from exc
    except SHOWN:
        raise
    except Exception as exc:
        message = f"{doing}: {type(exc).__name__}: {exc}"
        raise request.fail(message.removesuffix(": ")) from exc


def _building(request: Request):
    """Building a request: a template, or an attachment that cannot be read."""
    return _failures(request, "cannot build the request")


def _sending(request: Request, call: Call):
    return _failures(request, f"request to {call.where} failed")


def _begin(decoder: Decoder, call: Call, response) -> list[str]:
    """Start reading ``response``; returns the call's preface (a prefill
    shown as the reply's start) when the reply is not an error."""
    kind = response.headers.get("content-type", "")
    decoder.deadline = response.extensions.get("deadline")  # renewed as events come
    decoder.begin(response.status_code, kind, call.streaming)
    return [call.preface] if call.preface and response.status_code < 400 else []

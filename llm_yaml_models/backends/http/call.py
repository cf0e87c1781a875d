"""A request, built: the declared templates rendered for one prompt, in
the API family's shapes, with the secrets the call holds; and the same
call as text for display, secrets starred."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...errors import printable
from ...templates import UNSET, TemplateOptions, names_in, render, render_url
from ...urls import same_origin
from ..base import SECRET_HEADERS, Request, Secrets, credential
from . import vertex
from .auth import AwsAuth, region
from .outcome import WireError
from .wire import wire

KEY_MARK = "\x00key\x00"


@dataclass
class Call:
    """One HTTP request, ready to send (or to print)."""

    method: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]
    body: Any
    streaming: bool
    key: str | None = field(default=None, repr=False)
    framing: str = "none"  # how a streamed reply is framed: sse, ndjson, eventstream or none
    # Never shown, never sent to another origin: the request's secrets.
    secrets: Secrets = field(default_factory=Secrets, repr=False)
    # authorises the request as built (``signed``): AwsAuth, GoogleAuth or AzureAuth
    auth: Any = field(default=None, repr=False)
    preface: str = ""  # text the reply starts with that the server does not send

    @property
    def where(self) -> str:
        """The URL as errors show it: no query string, which may hold secrets."""
        return self.url.partition("?")[0].partition("#")[0]


def moved(call: Call, status: int, location: str) -> str:
    """The one line for a redirect that is not followed (``status`` is a
    301, 302 or 303, answered to a POST): where it points, starred."""
    return (
        f"HTTP {status} from {call.where}: moved to {shown_url(location, call.secrets)}; "
        f"a {call.method} is followed only through a 307 or 308, which keep its body"
    )


def shown_url(url: str, secrets: Secrets) -> str:
    """A URL a server gave, for a message: no query string or fragment, its
    password and every secret of the call starred, one printable line."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password:
            netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
        url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        url = url.partition("?")[0].partition("#")[0]
    return printable(secrets.hide(url))


def build_call(config, request: Request, key: str | None) -> Call:
    """Render the declared templates for one request."""
    streaming = request.stream and config.stream.format != "none"
    every = dict(request.options)
    placed = _placed(config, streaming)
    rest = {k: v for k, v in every.items() if k not in placed and k not in config.unsent}
    context = {
        "prompt": request.prompt,
        "system": request.system or UNSET,
        "messages": wire(config.messages).conversation(request.messages, config),
        "model": config.model_name,
        "stream": streaming,
        "options": TemplateOptions(rest, every),
        "key": key if key is not None else UNSET,
    }
    used = set(_names(config, streaming))
    if isinstance(config.auth, AwsAuth) or "region" in used:
        context["region"] = region(config.auth)
    if used.intersection(vertex.NAMES):
        context.update(vertex.served_at(config.project, config.location))
    headers = rendered_headers(config, context, key)
    params = {k: str(v) for k, v in render(_params(config, streaming), context).items()}
    body = render(config.body, context) if config.body is not None else None
    if streaming and config.stream.body:
        body = {**(body or {}), **render(config.stream.body, context)}
    for name, template in config.option_bodies.items():
        if every.get(name) is not None and every.get(name) is not False:  # 0 is a value
            body = _merged(body or {}, render(template, context))
    for name, value in unplaced_options(config, request.options, streaming).items():
        if config.method == "GET":
            params[name] = value if isinstance(value, str) else json.dumps(value)
        else:
            body = {**(body or {}), name: value}
    body = _with_tools_and_schema(config, request, body)
    family = wire(config.messages)
    body = family.finished(body, request)
    url = render_url(config.stream_url if streaming else config.url, context)
    secrets = call_secrets(config, request, url)
    framing = config.stream.format
    call = Call(config.method, url, headers, params, body, streaming, key, framing, secrets)
    call.auth, call.preface = config.auth, family.preface(request)
    return call


def signed(call: Call, built):
    """The built request (``httpx2.Request``), signed if the backend
    declares ``auth``: its bytes as sent, once the templates are filled in."""
    if call.auth is not None:
        call.auth.apply(built, call.secrets)
    return built


def rendered_headers(config, context: dict, key: str | None) -> dict[str, str]:
    """The declared headers filled in; one that uses ``{{ key }}`` is not
    sent without a key, and a value must be ASCII."""
    headers = {
        name: str(value)
        for name, template in config.headers.items()
        if not (key is None and "key" in names_in(template))
        for value in [render(template, context)]
        if value is not UNSET
    }
    for name, value in headers.items():
        if not value.isascii():
            raise WireError(f"header {name!r} is not ASCII once its template is filled in")
    return headers


def _names(config, streaming: bool) -> list[str]:
    """Every name the request's templates use."""
    url = config.stream_url if streaming else config.url
    templates = [url, config.headers, _params(config, streaming), config.body]
    return names_in(templates + ([config.stream.body] if streaming else []))


def _placed(config, streaming: bool) -> set[str]:
    """The options a template places by name (``{{ options.NAME }}``)."""
    names = _names(config, streaming) + names_in(list(config.option_bodies.values()))
    return {n.partition(".")[2] for n in names if n.startswith("options.")}


def unplaced_options(config, options, streaming: bool) -> dict:
    """The options no template places (in the URL, a header, a query
    parameter or the body): they are sent as body keys, or query
    parameters for GET, unless declared ``send: false`` (or ``body:``)."""
    if "options" in _names(config, streaming):
        return {}
    placed = _placed(config, streaming)
    return {k: v for k, v in options.items() if k not in placed and k not in config.unsent}


def _params(config, streaming: bool) -> dict:
    """The query parameters' templates: ``stream.params`` too when streaming."""
    return {**config.params, **(config.stream.params or {})} if streaming else config.params


def _with_tools_and_schema(config, request: Request, body: Any) -> Any:
    if (request.tools or request.server_tools) and config.tools:
        offered = wire(config.tools).offered(request.tools, request.server_tools)
        body = _merged(body or {}, offered)
    if request.schema is not None and config.schema:
        body = _merged(body or {}, wire(config.schema).schema_body(request.schema))
    return body


def _merged(body: dict, keys: dict) -> dict:
    """A family's body keys into the body: into a mapping the templates
    made (Gemini's ``generationConfig``), not over it."""
    out = dict(body)
    for name, value in keys.items():
        both = isinstance(out.get(name), dict) and isinstance(value, dict)
        out[name] = _merged(out[name], value) if both else value
    return out


def call_secrets(config, request: Request, url: str) -> Secrets:
    """The request's secrets, with what this call adds: the configuration's
    (``HttpConfig.secrets``), and a password the URL's template put in."""
    secrets = request.secrets
    secrets.update(config.secrets())
    secrets.add_url(url)
    return secrets


def carried_to(call: Call, url: str) -> dict[str, str]:
    """The headers of ``call`` that may go on to ``url`` (a redirect's
    target). On the same origin, all of them; on another, none that
    carries credentials or holds a secret of the call (the key, a value
    from the environment). A body holding a secret goes to no other
    origin: that is a WireError."""
    if same_origin(call.url, url):
        return call.headers
    secrets = call.secrets
    if call.body is not None and secrets.found_in(json.dumps(call.body, ensure_ascii=False)):
        parts = urlsplit(url)
        where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"  # no password
        raise WireError(
            f"{call.where} redirects to another origin, {where}, "
            "and the request body holds a secret: not followed"
        )
    return {
        k: v
        for k, v in call.headers.items()
        if k.lower() not in SECRET_HEADERS and not secrets.found_in(v)
    }


def _masked(name: str, value: str, secrets: Secrets) -> str:
    """A header's value as shown: a credential header's starred after its
    scheme, any other's where it holds a secret."""
    if name.lower() in SECRET_HEADERS:
        return credential(value)[0] + "***"
    return secrets.hide(value)


def _shown_url(url: str, secrets: Secrets) -> str:
    """The URL with each query value that is a secret starred (a short one
    is only where it stands whole)."""
    head, mark, query = url.partition("?")
    query, hash_, fragment = query.partition("#")
    fields = [name + eq + secrets.hide(value) for name, eq, value in _fields(query)]
    return head + mark + "&".join(fields) + hash_ + fragment


def _fields(query: str) -> list[tuple[str, str, str]]:
    return [field.partition("=") for field in query.split("&")] if query else []


def redacted(built, secrets: Secrets) -> str:
    """A built request (``httpx2.Request``) as text: the request line, every
    header the client sends, and the body bytes as they are sent. Each
    secret is starred, and so is the value of a header that carries
    credentials (Authorization, x-api-key, ...)."""
    lines = [f"{built.method} {_shown_url(str(built.url), secrets)}"]
    for raw_name, raw_value in built.headers.raw:
        name = raw_name.decode("latin-1")
        lines.append(f"{name}: {_masked(name, raw_value.decode('latin-1'), secrets)}")
    if built.content:
        lines += ["", built.content.decode("utf-8", "replace")]
    return "\n".join(printable(secrets.hide(line)) for line in lines)

"""What a schema cannot see in an HTTP backend: names its templates use,
JMESPath that does not compile, and keys that need others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...templates import NAMES, check_name, names_in
from . import wire
from .config import merged, preset, preset_names, preset_options, url_problem
from .outcome import WireError
from .tls import TlsSettings


def problems(data: dict, doc, origin, base_dir: Path) -> list:
    """Problems of a merged model that uses the HTTP backend."""
    backend = merged(data["backend"])

    def at(*path):
        return origin(("backend", *path))

    # The preset's templates may name a preset option the model removed
    # (never set, so never sent): every preset option counts as declared.
    options = {**preset_options(data["backend"]), **data.get("options", {})}
    found = request_problems(backend, options, doc, at, NAMES)
    found += _option_bodies(data.get("options", {}), doc, origin)
    found += _removals(data["backend"], doc, at)
    found += _paths(backend, doc, at)
    found += _capabilities(data, backend, doc, origin)
    found += _reasoning(backend, doc, at)
    return found + tls_problems(backend, doc, at, base_dir)


def notes(data: dict, doc, origin) -> list:
    """Warnings for a model with no problems: not wrong, but worth
    knowing. One that places only ``{{ prompt }}`` is refused ``llm -c``;
    one that does not check certificates (``tls.verify: false``) is named."""
    found = unverified(merged(data["backend"]), doc, origin)
    if places_conversation(data):
        return found
    where = ("backend", "body") if "body" in merged(data["backend"]) else ("backend",)
    return [*found, doc.problem(origin(where), _NO_TURNS)]


def unverified(backend: dict, doc, origin) -> list:
    """The warning for ``tls: {verify: false}``, which is never the default."""
    tls = backend.get("tls")
    if not isinstance(tls, dict) or tls.get("verify", True) is not False:
        return []
    return [doc.problem(origin(("backend", "tls", "verify")), _UNVERIFIED)]


def tls_problems(backend: dict, doc, at, base_dir: Path) -> list:
    """The files of ``tls:``: each one there, yours alone, and PEM, as
    the first https request would find them (``TlsSettings.made``)."""
    written = backend.get("tls")
    if not isinstance(written, dict):
        return []
    if written.get("client_key") and not written.get("client_cert"):
        return [doc.problem(at("tls", "client_key"), "tls.client_key needs tls.client_cert")]
    settings = TlsSettings.from_data(written, base_dir)
    if settings is None:
        return []
    doc.deps.extend(p for p in (settings.ca_bundle, settings.client_cert, settings.client_key) if p)
    try:
        settings.made()
    except WireError as exc:
        return [doc.problem(at("tls"), str(exc))]
    return []


_NO_TURNS = (
    "warning: no template places {{ messages }}, so the model cannot be sent "
    "earlier turns: llm -c and llm chat refuse it"
)
_UNVERIFIED = (
    "warning: tls.verify is false: the server's certificate is not checked, "
    "so anyone on the way can read and change what is sent"
)
_TEMPLATES = ("url", "base_url", "path", "headers", "params", "body")


def places_conversation(data: dict) -> bool:
    """Whether a chat model's request templates place the conversation
    (``{{ messages }}``). One that places only ``{{ prompt }}`` would drop
    the earlier turns of ``llm -c`` without a word."""
    backend = merged(data["backend"])
    stream = backend.get("stream") or {}
    options = {**preset_options(data["backend"]), **(data.get("options") or {})}
    templates = [backend.get(k) for k in _TEMPLATES] + [stream.get(k) for k in _TEMPLATES]
    templates += [spec.get("body") for spec in options.values() if isinstance(spec, dict)]
    return "messages" in names_in(templates)


def _reasoning(backend: dict, doc, at) -> list:
    """Reasoning keys where they cannot apply: think_tags on a backend that
    never streams, send_reasoning with messages no family sends it in."""
    found = []
    stream = backend.get("stream") or {}
    if stream.get("think_tags") and stream.get("format", "none") == "none":
        message = "think_tags needs stream.format: sse or ndjson (a backend that streams)"
        found.append(doc.problem(at("stream", "think_tags"), message))
    sent = backend.get("send_reasoning", "never")
    families = wire.names("send_reasoning")
    if sent != "never" and backend.get("messages", "text") not in families:
        message = f"send_reasoning needs backend.messages: {' or '.join(families)}"
        found.append(doc.problem(at("send_reasoning"), message))
    return found


def request_problems(backend: dict, options: dict, doc, at, names: tuple[str, ...]) -> list:
    """Where the request goes, and the names its templates use (``names``:
    a chat model's, or an embedding model's)."""
    found = []
    if backend.get("url") and backend.get("deployments"):
        message = (
            "'url' and 'deployments' cannot go together: "
            "give each deployment its base_url (and the backend a path)"
        )
        found.append(doc.problem(at("url"), message))
    elif not (backend.get("url") or backend.get("base_url") or backend.get("deployments")):
        message = "an http backend needs 'url', or 'base_url' (with 'path'), or a 'preset'"
        if backend.get("preset"):  # a preset gives the path, not where the server is
            message = f"the {backend['preset']} preset needs 'base_url': where the server is"
        found.append(doc.problem(at(), message))
    found += _auth_keys(backend.get("auth"), doc, at)
    return found + _urls(backend, doc, at) + _template_names(backend, options, doc, at, names)


# The keys of ``auth:`` that only one of its types reads.
_AUTH_KEYS = {"region": "aws-sigv4", "service": "aws-sigv4", "profile": "aws-sigv4"}
_AUTH_KEYS["scopes"] = "google"


def _auth_keys(auth, doc, at) -> list:
    """A key of ``auth:`` that its type does not read (``scopes`` under
    aws-sigv4): one problem each, rather than a key silently ignored."""
    if not isinstance(auth, dict):
        return []
    kind = auth.get("type")
    return [
        doc.problem(at("auth", key), f"'{key}' is for auth type {owner}, not {kind}", key=True)
        for key, owner in _AUTH_KEYS.items()
        if key in auth and owner != kind
    ]


def _urls(backend: dict, doc, at) -> list:
    """Each URL the request may go to: an http(s) scheme and a host."""
    stream = backend.get("stream") or {}
    places = [(("url",), backend.get("url")), (("base_url",), backend.get("base_url"))]
    places.append((("stream", "url"), stream.get("url") if isinstance(stream, dict) else None))
    deployments = backend.get("deployments") or []
    places += [
        (("deployments", i, "base_url"), d.get("base_url"))
        for i, d in enumerate(deployments)
        if isinstance(d, dict)
    ]
    return [
        doc.problem(at(*path), why)
        for path, url in places
        if isinstance(url, str) and (why := url_problem(url))
    ]


def _template_names(backend: dict, options: dict, doc, at, names: tuple[str, ...]) -> list:
    found = []
    templates = ("url", "base_url", "path", "headers", "params", "body")
    stream = list(
        strings_in(backend.get("stream") or {}, ("url", "path", "params", "body"), ("stream",))
    )
    for path, text in [*strings_in(backend, templates), *stream]:
        for name in names_in(text):
            why = check_name(name, options, names)
            if why:
                found.append(doc.problem(at(*path), why))
    return found


def _option_bodies(options: dict, doc, origin) -> list:
    """Names each option's ``body:`` template uses that do not exist."""
    return [
        doc.problem(origin(("options", name, *path)), why)
        for name, spec in options.items()
        for path, text in strings_in(spec, ("body",))
        for n in names_in(text)
        if (why := check_name(n, options))
    ]


def _removals(written: dict, doc, at) -> list:
    """A null header or done sentinel removes the preset's; one the preset
    does not have is a mistake (a misspelling, or no preset)."""
    name = written.get("preset")
    base = preset(name) if name else {}
    what = f"the {name} preset" if name else "the preset, and this model has none"
    found = []
    headers = {h.lower() for h in base.get("headers", {})}
    for header, value in (written.get("headers") or {}).items():
        if value is None and header.lower() not in headers:
            message = f"null removes a header of {what}" + (
                f", which has no '{header}'" if name else ""
            )
            found.append(doc.problem(at("headers", header), message))
    stream = written.get("stream") or {}
    if "done" in stream and stream["done"] is None and not (base.get("stream") or {}).get("done"):
        message = f"null removes the done sentinel of {what}" + (", which has none" if name else "")
        found.append(doc.problem(at("stream", "done"), message))
    return found


_NOT_PATHS = ("format", "done", "done_events", "skip_events", "url", "path")


def _paths(backend: dict, doc, at) -> list:
    """Every JMESPath of ``response:`` and ``stream:``, and the text paths they need."""
    found = []
    for section in ("response", "stream"):
        for path, expr in strings_in(backend.get(section) or {}, None):
            if path[-1] not in _NOT_PATHS and path[0] not in ("body", "params"):
                found += jmespath_problems(expr, doc, at(section, *path))
    stream = backend.get("stream") or {}
    if not (backend.get("response") or {}).get("text"):
        message = "needs response.text: where the reply's text is (a JMESPath)"
        found.append(doc.problem(at(), message))
    if stream.get("format", "none") != "none" and not stream.get("text"):
        message = "needs stream.text: where each event's text is (a JMESPath)"
        found.append(doc.problem(at("stream"), message))
    return found


def _who_sets(capability: str, chosen: str | None) -> str:
    """Which presets set ``backend.<capability>``: not the one chosen, if any."""
    if chosen:
        return f"; the {chosen} preset sets none"
    # The family presets: a provider's (about:) only repeats its family's.
    setting = [n for n in preset_names() if preset(n).get(capability) and "about" not in preset(n)]
    return f" (the presets {', '.join(setting)} set it)"


def _capabilities(data: dict, backend: dict, doc, origin) -> list:
    """supports_tools and supports_schema need a family that can."""
    found = []
    for key, capability in (("supports_tools", "tools"), ("supports_schema", "schema")):
        families = wire.names(capability)
        if data.get(key) and backend.get(capability) not in families:
            message = f"{key} needs backend.{capability}, one of: {', '.join(families)}"
            message += _who_sets(capability, data["backend"].get("preset"))
            found.append(doc.problem(origin((key,)), message))
    if data.get("server_tools") and backend.get("tools") not in wire.names("tools"):
        families = ", ".join(wire.names("tools"))
        message = f"server_tools needs backend.tools, one of: {families}"
        message += _who_sets("tools", data["backend"].get("preset"))
        found.append(doc.problem(origin(("server_tools",)), message))
    return found


def strings_in(value: Any, keys, path: tuple = ()):
    """(path, string) for every string under ``value`` (only ``keys`` at the top)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if keys is None or k in keys:
                yield from strings_in(v, None, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings_in(v, None, path + (i,))
    elif isinstance(value, str):
        yield path, value


def jmespath_problems(expr: str, doc, path) -> list:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(expr)
    except JMESPathError as exc:
        return [doc.problem(path, f"not a valid JMESPath expression: {exc}".splitlines()[0])]
    return []

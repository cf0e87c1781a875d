"""An HTTP backend's declaration, typed: the preset merged under the user's
keys, the paths of ``response:`` and ``stream:``, and the secrets the
configuration itself holds."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ...templates import SCHEME, env_names
from ...urls import joined
from ..base import BackendConfig, Secrets
from .auth import declared
from .deployments import Cooldown, DeploymentSpec
from .tls import TlsSettings

if TYPE_CHECKING:
    from ...declarations import Declaration, EmbeddingDeclaration

PRESETS = Path(__file__).resolve().parent.parent.parent / "presets"
MAX_REPLY_BYTES = 64 * 2**20


# The sections of a preset that are not backend keys: its standard options,
# the declaration defaults it brings (``key:``, ``discover:``; the loader
# merges them under the model's own keys), and what ``presets`` says of it.
NOT_BACKEND = ("options", "declaration", "about", "metadata_defaults", "server_tools")


@functools.cache
def _file(name: str) -> dict:
    return yaml.safe_load((PRESETS / f"{name}.yaml").read_text("utf-8"))


@functools.cache
def preset(name: str) -> dict:
    """A preset file, over the preset it ``extends`` (if it names one)."""
    data = dict(_file(name))
    parent = data.pop("extends", None)
    return _merge(preset(parent), data) if parent else data


def family(name: str) -> str:
    """The family preset at the root of ``name``'s ``extends`` chain."""
    parent = _file(name).get("extends")
    return family(parent) if parent else name


def preset_names() -> list[str]:
    """Every preset that ships, by name."""
    return sorted(path.stem for path in PRESETS.glob("*.yaml"))


def preset_options(backend: dict) -> dict:
    """The standard options of the backend's preset: name -> spec."""
    return preset(backend["preset"]).get("options", {}) if "preset" in backend else {}


def preset_metadata_defaults(backend: dict) -> dict:
    """option name -> the metadata field its default comes from (the
    preset's ``metadata_defaults:``)."""
    return preset(backend["preset"]).get("metadata_defaults", {}) if "preset" in backend else {}


def preset_server_tools(backend: dict) -> dict:
    """The server-side tools of the backend's preset: class name -> spec."""
    return preset(backend["preset"]).get("server_tools", {}) if "preset" in backend else {}


def preset_declaration(backend: object) -> dict:
    """The declaration defaults the backend's preset brings (``key:``,
    ``discover:``), or {} (no preset, or one that does not ship: the
    schema reports that)."""
    name = backend.get("preset") if isinstance(backend, dict) else None
    if not isinstance(name, str) or name not in preset_names():
        return {}
    return preset(name).get("declaration", {})


def merged(backend: dict) -> dict:
    """The backend mapping over its preset's defaults (the user's keys win;
    a null removes the preset's key, as ``headers: {Authorization: null}``)."""
    base = preset(backend["preset"]) if "preset" in backend else {}
    base = {k: v for k, v in base.items() if k not in NOT_BACKEND}
    written = backend.get("headers")
    if isinstance(written, dict) and "headers" in base:
        # Header names are case-insensitive: the user's 'authorization'
        # replaces (or removes) the preset's 'Authorization'.
        mine = {name.lower() for name in written}
        base["headers"] = {k: v for k, v in base["headers"].items() if k.lower() not in mine}
    return _merge(base, backend)


def _merge(low: Any, high: Any) -> Any:
    if isinstance(low, dict) and isinstance(high, dict):
        both = {**low, **{k: _merge(low.get(k), v) for k, v in high.items()}}
        return {k: v for k, v in both.items() if v is not None}
    return high


@dataclass(frozen=True)
class UsageSpec:
    input: str | None = None
    output: str | None = None
    details: str | None = None


@dataclass(frozen=True)
class ReplySpec:
    """Where things are in a JSON reply, or in one stream event (JMESPath)."""

    text: str | None = None
    finish_reason: str | None = None
    error: str | None = None
    id: str | None = None
    model: str | None = None
    tool_calls: str | None = None
    reasoning: str | None = None
    usage: UsageSpec | None = None
    # stream only
    format: str = "none"
    think_tags: bool = False  # <think>...</think> in the text is reasoning
    done: str | None = None
    done_when: str | None = None
    done_events: tuple[str, ...] = ()
    skip_events: tuple[str, ...] = ()
    body: dict | None = field(default=None, hash=False)
    # In place of ``url`` or ``path``, and added to ``params``, when streaming
    # (Gemini streams from another method: ``:streamGenerateContent?alt=sse``).
    url: str | None = None
    path: str | None = None
    params: dict | None = field(default=None, hash=False)

    @classmethod
    def from_data(cls, data: dict | None) -> ReplySpec:
        data = dict(data or {})
        if "usage" in data:
            data["usage"] = UsageSpec(**data["usage"])
        for name in ("done_events", "skip_events"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)


@dataclass(frozen=True)
class HttpConfig(BackendConfig):
    url: str = ""
    stream_url: str = ""  # the URL when streaming (_stream_url)
    method: str = "POST"
    headers: dict = field(default_factory=dict, hash=False)
    params: dict = field(default_factory=dict, hash=False)
    body: Any = field(default=None, hash=False)
    model_name: str = ""
    messages: str = "text"
    timeout: float = 60.0
    retries: int = 2
    max_connections: int = 20
    max_reply_bytes: int = MAX_REPLY_BYTES
    response: ReplySpec = ReplySpec()
    stream: ReplySpec = ReplySpec()
    tools: str | None = None
    schema: str | None = None
    # Which assistant messages carry their reasoning back (DeepSeek needs it
    # in tool-call turns): "tool_calls", "always", or None (never).
    send_reasoning: str | None = None
    unsent: frozenset = frozenset()
    path: str = ""
    deployments: tuple[DeploymentSpec, ...] = ()
    strategy: str = "least-busy"
    cooldown: Cooldown = Cooldown()
    # Option name -> body keys (a template) sent when the option is set and
    # not false, as an option spec's ``body:`` says.
    option_bodies: dict = field(default_factory=dict, hash=False)
    # Environment variables whose values are secrets: those that headers,
    # query parameters and the URL's userinfo read.
    secret_env: tuple[str, ...] = ()
    # requests are signed (aws-sigv4) or carry a cloud token (google, azure-entra)
    auth: Any = None
    # Where a Vertex AI model is served ({{ project }}, {{ location }}): vertex.py.
    project: str | None = None
    location: str | None = None
    tls: TlsSettings | None = None  # the backend's own certificates (tls.py)
    proxy: str | None = None  # the backend's own proxy, in place of the environment's

    @classmethod
    def from_data(
        cls, data: dict, source: Path, model: Declaration | EmbeddingDeclaration | None = None
    ) -> HttpConfig:
        data = merged(data)
        url = data.get("url") or joined(data.get("base_url", ""), data.get("path", ""))
        options = model.options if model is not None else ()
        params = data.get("params", {})
        if "api_version" in data:
            params = {"api-version": data["api_version"], **params}
        return cls(
            url=url,
            stream_url=_stream_url(data, url),
            method=data.get("method", "POST").upper(),
            headers=data.get("headers", {}),
            params=params,
            body=data.get("body"),
            model_name=data.get("model_name", model.model_id if model is not None else ""),
            messages=data.get("messages", "text"),
            timeout=data.get("timeout", 60.0),
            retries=data.get("retries", 2),
            max_connections=data.get("max_connections", 20),
            max_reply_bytes=data.get("max_reply_bytes", MAX_REPLY_BYTES),
            response=ReplySpec.from_data(data.get("response")),
            stream=ReplySpec.from_data(data.get("stream")),
            tools=data.get("tools"),
            schema=data.get("schema"),
            path=data.get("path", ""),
            deployments=tuple(DeploymentSpec.from_data(d) for d in data.get("deployments", ())),
            strategy=data.get("strategy", "least-busy"),
            cooldown=Cooldown.from_data(data.get("cooldown")),
            unsent=frozenset(s.name for s in options if _unsent(s)),
            option_bodies={s.name: s.body for s in options if s.body is not None},
            send_reasoning=data.get("send_reasoning"),
            auth=declared(data.get("auth")),
            project=data.get("project"),
            location=data.get("location"),
            tls=TlsSettings.from_data(data.get("tls"), source.parent),
            proxy=data.get("proxy"),
            secret_env=_secret_env(
                merged(model.backend.as_written) if model is not None else data, options
            ),
        )

    def secrets(self) -> Secrets:
        """The values of ``secret_env``, a password in the URL, and a
        credential header written in the file (``Authorization: Bearer
        sk-...``). A short one (``X-Version: ${V}``, V=1) is starred only
        where it stands whole (``Secrets``)."""
        secrets = Secrets(*(os.environ.get(name) for name in self.secret_env))
        urls = (
            self.url,
            self.stream_url,
            self.proxy or "",
            *(d.base_url for d in self.deployments),
        )
        for url in urls:
            secrets.add_url(url)
        for name, value in self.headers.items():
            if isinstance(value, str) and "{{" not in value:  # a template is filled in later
                secrets.add_header(name, value)
        return secrets

    def for_deployment(self, spec: DeploymentSpec) -> HttpConfig:
        """This configuration with a deployment's URL and model name."""
        url = joined(spec.base_url, self.path)
        stream_url = joined(spec.base_url, self.stream.path) if self.stream.path else url
        model_name = spec.model_name or self.model_name
        return replace(self, url=url, stream_url=stream_url, model_name=model_name)


def _unsent(spec) -> bool:
    """An option never sent by itself: ``send: false``, or its ``body:`` sends it."""
    return spec.send is False or spec.body is not None


_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)@")


def _secret_env(backend: dict, options: tuple) -> tuple[str, ...]:
    """The variables read by the headers, params, body (an option's
    ``body:`` too), URL userinfo and URL query strings of a backend mapping
    and its options as written (before ``${VAR}`` is
    expanded): where credentials go. A variable in a URL's host or path
    (``${BASE_URL}/v1``) is no secret, and starring it would hide the URL."""
    stream = backend.get("stream") or {}
    urls = [u for u in (backend.get("url"), backend.get("base_url"), stream.get("url")) if u]
    urls += [p for p in (backend.get("path"), stream.get("path")) if p]
    parts = [_credential_parts(u) for u in urls if isinstance(u, str)]
    names = env_names(
        [
            *(backend.get(name) for name in ("headers", "params", "body")),
            *(stream.get(name) for name in ("params", "body")),
            [spec.body for spec in options],
            parts,
        ]
    )
    return tuple(dict.fromkeys(names))


def _credential_parts(url: str) -> str:
    """A URL template's userinfo and query string."""
    userinfo = m.group(1) if (m := _USERINFO.match(url)) else ""
    return userinfo + " " + url.partition("?")[2]


def _stream_url(data: dict, url: str) -> str:
    """``stream.url``; else ``base_url`` + ``stream.path``, unless the
    declaration gives a whole ``url`` (a proxy's: never the preset's host)."""
    stream = data.get("stream") or {}
    if stream.get("url"):
        return stream["url"]
    if stream.get("path") and not data.get("url"):
        return joined(data["base_url"], stream["path"])
    return url


def url_problem(url: str) -> str | None:
    """Why a URL as written can take no request (it needs an http or https
    scheme and a host), or None. Where a template writes the scheme or the
    host (``${BASE_URL}/v1``), that is known only when it is used. The URL
    itself is not quoted: its userinfo may hold a password."""
    from urllib.parse import urlsplit

    head = re.split(r"\$\{|\{\{", url, maxsplit=1)[0]
    if head != url and "://" not in head:
        return None
    if not SCHEME.match(url):
        return "not an http(s) URL: it has no scheme; write http:// or https:// before the host"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return f"not an http(s) URL: its scheme is {parts.scheme!r}, not http or https"
    if not parts.hostname:
        return "not an http(s) URL: it names no host"
    return None

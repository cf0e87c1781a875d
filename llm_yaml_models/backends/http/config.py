"""An HTTP backend's declaration, typed: the preset merged under the user's
keys, the paths of ``response:`` and ``stream:``, and the secrets the
configuration itself holds."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...templates import env_names
from ..base import BackendConfig, Secrets

PRESETS = Path(__file__).resolve().parent.parent.parent / "presets"
MAX_REPLY_BYTES = 64 * 2**20


@functools.cache
def preset(name: str) -> dict:
    return yaml.safe_load((PRESETS / f"{name}.yaml").read_text("utf-8"))


def merged(backend: dict) -> dict:
    """The backend mapping over its preset's defaults (the user's keys win)."""
    base = preset(backend["preset"]) if "preset" in backend else {}

    def merge(low: Any, high: Any) -> Any:
        if isinstance(low, dict) and isinstance(high, dict):
            return {**low, **{k: merge(low.get(k), v) for k, v in high.items()}}
        return high

    return merge(base, backend)


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
    # Environment variables whose values are secrets: those that headers,
    # query parameters and the URL's userinfo read.
    secret_env: tuple[str, ...] = ()

    @classmethod
    def from_data(cls, data: dict, source: Path, model: dict | None = None) -> HttpConfig:
        model = model or {}
        data = merged(data)
        url = data.get("url") or _join(data["base_url"], data.get("path", ""))
        options = model.get("options", {})
        return cls(
            url=url,
            method=data.get("method", "POST").upper(),
            headers=data.get("headers", {}),
            params=data.get("params", {}),
            body=data.get("body"),
            model_name=data.get("model_name", model.get("model_id", "")),
            messages=data.get("messages", "text"),
            timeout=data.get("timeout", 60.0),
            retries=data.get("retries", 2),
            max_connections=data.get("max_connections", 20),
            max_reply_bytes=data.get("max_reply_bytes", MAX_REPLY_BYTES),
            response=ReplySpec.from_data(data.get("response")),
            stream=ReplySpec.from_data(data.get("stream")),
            tools=data.get("tools"),
            schema=data.get("schema"),
            send_reasoning=data.get("send_reasoning"),
            unsent=frozenset(n for n, s in options.items() if s.get("send") is False),
            secret_env=_secret_env(merged(model["backend"]) if "backend" in model else data),
        )

    def secrets(self) -> Secrets:
        """The values of ``secret_env`` and a password in the URL. A value
        under 4 characters (``X-Version: ${V}``, V=1) is no credential, and
        starring it would star every "1" of a message."""
        values = (os.environ.get(name) or "" for name in self.secret_env)
        secrets = Secrets(*(v for v in values if len(v.strip()) >= 4))
        secrets.add_url(self.url)
        return secrets


_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)@")


def _secret_env(backend: dict) -> tuple[str, ...]:
    """The variables read by the headers, params and URL userinfo of a
    backend mapping as written (before ``${VAR}`` is expanded)."""
    url = backend.get("url") or backend.get("base_url") or ""
    userinfo = m.group(1) if isinstance(url, str) and (m := _USERINFO.match(url)) else ""
    names = env_names([backend.get("headers", {}), backend.get("params", {}), userinfo])
    return tuple(dict.fromkeys(names))


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + ("/" + path.lstrip("/") if path else "")

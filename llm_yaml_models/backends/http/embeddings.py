"""The HTTP backend for embedding models: a batch of items in, vectors out.

It sends with the chat HTTP backend's engine (``send.py``): the same
client (one per model per process, shared by every batch and by the threads
``embed_multi`` sends batches from), retries, timeouts, redirect rules,
size limits, Secrets and error messages. Only building the request
(``{{ items }}`` in the body) and reading the reply (a JMESPath to the
vectors, optionally base64 of float32) are its own.

    backend:
      type: http
      preset: openai-embeddings          # or ollama-embed, tei, cohere-embed
      base_url: http://127.0.0.1:8080/v1
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...templates import EMBEDDING_NAMES, UNSET, render, render_url
from ..base import EmbeddingBackend, EmbedRequest
from ..vectors import VectorError, all_base64, checked, from_base64
from .call import Call, call_secrets, rendered_headers, unplaced_options
from .checks import jmespath_problems, request_problems, strings_in, tls_problems
from .config import HttpConfig, merged
from .decode import Decoder
from .deployments import Target
from .jmespaths import compile_path
from .outcome import WireError
from .send import Sender


@dataclass(frozen=True)
class VectorSpec:
    """Where the vectors are in the reply (JMESPath), and how each is written."""

    vectors: str = ""
    encoding: str = "float"  # or base64: little-endian float32


@dataclass(frozen=True)
class EmbeddingHttpConfig(HttpConfig):
    vectors: VectorSpec = VectorSpec()

    @classmethod
    def from_data(cls, data: dict, source: Path, model=None) -> EmbeddingHttpConfig:
        full = merged(data)
        response = dict(full.get("response") or {})
        spec = VectorSpec(response.pop("vectors", ""), response.pop("encoding", "float"))
        rest = {k: v for k, v in full.items() if k != "preset"}
        base = HttpConfig.from_data({**rest, "response": response}, source, model)
        shared = {f.name: getattr(base, f.name) for f in dataclasses.fields(HttpConfig)}
        return cls(**shared, vectors=spec)


def _item(item: str | bytes) -> str:
    return item if isinstance(item, str) else base64.b64encode(item).decode("ascii")


def build_embedding_call(config: EmbeddingHttpConfig, request: EmbedRequest) -> Call:
    """Render the declared templates for one batch."""
    key = request.key
    context = {
        "items": [_item(i) for i in request.items],
        "model": config.model_name,
        "options": dict(request.options),
        "key": key if key is not None else UNSET,
    }
    headers = rendered_headers(config, context, key)
    params = {k: str(v) for k, v in render(config.params, context).items()}
    body = render(config.body, context) if config.body is not None else None
    for name, value in unplaced_options(config, request.options, False).items():
        body = {**(body or {}), name: value}
    url = render_url(config.url, context)
    secrets = call_secrets(config, request, url)
    call = Call(config.method, url, headers, params, body, False, key, "none", secrets)
    call.auth = config.auth
    return call


class VectorDecoder(Decoder):
    """Reads a whole reply as the chat backend's Decoder does (size, pace,
    the provider's error message), and finds the vectors in it."""

    vectors: Any = None
    floats = False  # every vector was base64: decoded, they are floats

    def reply(self, body: bytes) -> list:
        data = self.parsed(body)
        error = self.error_message(data, self.reply_paths)
        if error:
            raise WireError(f"error from {self.where}: {error}")
        spec = self.config.vectors
        found = _found(spec.vectors, data, self.where)
        if found is None:
            raise WireError(f"nothing at '{spec.vectors}' in the reply from {self.where}")
        self.floats = spec.encoding == "base64" and all_base64(found)
        try:
            self.vectors = from_base64(found, self.source) if spec.encoding == "base64" else found
        except VectorError as exc:
            raise WireError(str(exc)) from None
        return []

    @property
    def source(self) -> str:
        return f"the reply from {self.where}"


def _found(expr: str, data: Any, where: str) -> Any:
    from jmespath.exceptions import JMESPathError

    try:
        return compile_path(expr)(data)
    except JMESPathError as exc:
        message = str(exc).replace("\n", " ")
        raise WireError(f"cannot apply '{expr}' to the reply from {where}: {message}") from exc


class HttpEmbeddingBackend(EmbeddingBackend):
    Config = EmbeddingHttpConfig

    def __init__(self, config):
        super().__init__(config)
        self.sender = Sender(self.config, self._call, VectorDecoder, self._finish)

    @property
    def concurrency(self) -> int:
        return self.config.max_connections

    @classmethod
    def check(cls, data, doc, origin, base_dir, deep=False) -> list:
        backend = merged(data["backend"])

        def at(*path):
            return origin(("backend", *path))

        options = data.get("options", {})
        problems = request_problems(backend, options, doc, at, EMBEDDING_NAMES)
        response = backend.get("response") or {}
        for path, expr in strings_in(response, None):
            if path[-1] != "encoding":
                problems += jmespath_problems(expr, doc, at("response", *path))
        if not response.get("vectors"):
            message = "needs response.vectors: where the reply's vectors are (a JMESPath)"
            problems.append(doc.problem(at(), message))
        return problems + tls_problems(backend, doc, at, base_dir)

    def dry_run(self, request: EmbedRequest) -> str:
        """The request as it would be sent, secrets starred."""
        return self.sender.dry_run(request)

    def close(self) -> None:
        self.sender.close()

    @staticmethod
    def _call(request: EmbedRequest, target: Target) -> Call:
        return build_embedding_call(target.config, request)

    @staticmethod
    def _finish(decoder: VectorDecoder, request: EmbedRequest, target: Target) -> None:
        request.reply = (decoder.vectors, decoder.source, decoder.floats)

    def embed(self, request: EmbedRequest) -> list[list[float]]:
        for _ in self.sender.stream(request):
            pass
        vectors, source, floats = request.reply
        try:
            return checked(vectors, len(request.items), source, floats)
        except VectorError as exc:
            raise request.fail(str(exc)) from exc


EMBEDDING_BACKEND = HttpEmbeddingBackend

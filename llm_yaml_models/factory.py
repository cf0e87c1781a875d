"""Declaration -> an ``llm.Model`` and an ``llm.AsyncModel`` class of its own.

Each declared model gets its own pair of classes, so that llm shows every
model's option descriptions, and its own Options class (built lazily).
Sync and async share ``_Shared``; they differ only in how they drive the
backend.
"""

from __future__ import annotations

from typing import Any, ClassVar

import llm

from .backends import backend_class
from .backends.base import Backend, Message, OptionValues, Request
from .declarations import Declaration
from .options import LazyOptions, build_options


def _text(message) -> str:
    return "".join(
        getattr(part, "text", None) or getattr(part, "output", "") or "" for part in message.parts
    )


def _attachments(message) -> tuple:
    return tuple(p.attachment for p in message.parts if getattr(p, "attachment", None) is not None)


def to_messages(prompt: llm.Prompt) -> list[Message]:
    """``prompt.messages`` (the whole chain, this turn last) as plain messages."""
    return [Message(m.role, _text(m), _attachments(m)) for m in prompt.messages]


class _Shared:
    declaration: ClassVar[Declaration]
    backend_cls: ClassVar[type[Backend]]
    _backend: ClassVar[Backend | None] = None

    @property
    def backend(self) -> Backend:
        cls = type(self)
        if cls._backend is None:
            cls._backend = cls.backend_cls(cls.declaration)
        return cls._backend

    def __str__(self) -> str:
        suffix = " (async)" if isinstance(self, llm.AsyncModel | llm.AsyncKeyModel) else ""
        return f"YAML {self.declaration.backend_type}{suffix}: {self.model_id}"

    def request(self, prompt: llm.Prompt, stream: bool, key: str | None) -> Request:
        values = {n: v for n, v in prompt.options if v is not None}
        return Request(
            model_id=self.model_id,
            prompt=prompt.prompt,
            system=prompt.system,
            messages=to_messages(prompt),
            attachments=list(prompt.attachments),
            options=OptionValues(values),
            key=key,
            stream=stream,
        )

    @staticmethod
    def report(request: Request, response: Any) -> None:
        if request.usage is not None:
            usage = request.usage
            response.set_usage(input=usage.input, output=usage.output, details=usage.details)
        if request.response_json is not None:
            response.response_json = request.response_json


class _SyncMixin(_Shared):
    def execute(self, prompt, stream, response, conversation, key=None):
        request = self.request(prompt, stream, key)
        try:
            yield from self.backend.stream(request)
        finally:
            self.report(request, response)


class _AsyncMixin(_Shared):
    async def execute(self, prompt, stream, response, conversation, key=None):
        request = self.request(prompt, stream, key)
        try:
            async for chunk in self.backend.astream(request):
                yield chunk
        finally:
            self.report(request, response)


def build_models(declaration: Declaration) -> tuple[llm.Model, llm.AsyncModel]:
    """A new sync and async model instance, each of its own class."""
    backend = backend_class(declaration.backend_type)
    options = LazyOptions(lambda: build_options(declaration, backend.option_rules))
    can_stream = backend.can_stream if declaration.can_stream is None else declaration.can_stream
    namespace = {
        "model_id": declaration.model_id,
        "declaration": declaration,
        "backend_cls": backend,
        "can_stream": can_stream,
        "attachment_types": declaration.attachment_types,
        "Options": options,
        "needs_key": declaration.key.name if declaration.key else None,
        "key_env_var": declaration.key.env if declaration.key else None,
        "__module__": __name__,
    }
    keyed = declaration.key is not None
    sync_base = llm.KeyModel if keyed else llm.Model
    async_base = llm.AsyncKeyModel if keyed else llm.AsyncModel
    name = f"YAMLModel[{declaration.model_id}]"
    sync_cls = type(name, (_SyncMixin, sync_base), dict(namespace))
    async_cls = type("Async" + name, (_AsyncMixin, async_base), dict(namespace))
    return sync_cls(), async_cls()

"""Declaration -> an ``llm.Model`` and an ``llm.AsyncModel`` class of its own.

Each declared model gets its own pair of classes, so that llm shows every
model's option descriptions, and its own Options class (built lazily).
Sync and async share ``_Shared``; they differ only in how they drive the
backend.
"""

from __future__ import annotations

import contextlib
import functools
import json
from typing import TYPE_CHECKING, Any, ClassVar

import llm

from ..errors import BackendError, Unavailable
from ..loading.entries import ModelEntry

if TYPE_CHECKING:
    from ..backends.base import Backend, Message, Request
    from ..declarations import Declaration


def to_messages(prompt: llm.Prompt) -> list[Message]:
    """``prompt.messages`` (the whole chain, this turn last) as plain messages.

    Each tool result becomes a message of its own, as chat APIs expect.
    """
    from llm.parts import AttachmentPart, ReasoningPart, TextPart, ToolCallPart, ToolResultPart

    from ..backends.base import Message

    out = []
    for message in prompt.messages:
        parts = message.parts
        # A server's tool results are part of its reply (Anthropic's web
        # search results), not an answer the next turn gives.
        results = [p for p in parts if isinstance(p, ToolResultPart) and not p.server_executed]
        if results:
            out += [
                Message("tool", r.output, tuple(r.attachments), (), r.tool_call_id) for r in results
            ]
            continue
        text = "".join(p.text for p in parts if isinstance(p, TextPart))
        attachments = tuple(
            p.attachment for p in parts if isinstance(p, AttachmentPart) and p.attachment
        )
        calls = tuple(
            llm.ToolCall(name=p.name, arguments=p.arguments, tool_call_id=p.tool_call_id)
            for p in parts
            if isinstance(p, ToolCallPart) and not p.server_executed
        )
        reasoning = tuple(p for p in parts if isinstance(p, ReasoningPart))
        out.append(Message(message.role, text, attachments, calls, None, reasoning, tuple(parts)))
    return out


class _Shared:
    entry: ClassVar[ModelEntry]
    _limiter: ClassVar[_Once]
    _server_tools: ClassVar[_Once]
    # One backend for the sync and the async model: its connections, and the
    # state of its deployments, are the model's in this process.
    _backends: ClassVar[dict]

    @property
    def declaration(self) -> Declaration:
        return self.entry.declaration

    @property
    def supported_server_side_tools(self) -> tuple[type[llm.ServerSideTool], ...]:
        return self._server_tools()

    @property
    def backend(self) -> Backend:
        backends = self._backends
        if "backend" not in backends:
            from ..backends import backend_class, configure

            config = configure(self.declaration, self.entry.file)
            backends["backend"] = backend_class(self.declaration.backend_type)(config)
        return backends["backend"]

    def release(self) -> None:
        """Close the backend, if one was made: the registry is done with us."""
        backend = self._backends.pop("backend", None)
        if backend is not None:
            backend.close()

    def __str__(self) -> str:
        text = f"YAML {self.entry.backend_type}{self._label}: {self.model_id}"
        declaration = self.declaration
        if declaration.metadata is None and declaration.pricing is None:
            return text
        from .metadata import summary

        known = summary(declaration.metadata, declaration.pricing)
        return f"{text} [{known}]" if known else text

    def _warn_if_deprecated(self) -> None:
        if self.declaration.metadata is not None:
            from .metadata import warn_if_deprecated

            warn_if_deprecated(self.model_id, self.declaration.metadata)

    @property
    def __class__(self) -> type:
        """The model's own class. llm tells models apart by ``__class__``
        (``llm models list --options`` describes the options of the first
        model of each class only), so a model a template discovered, which
        is an instance of its group's class, reports a bare subclass of it,
        made the first time this is asked. ``isinstance(model, Sub)`` holds,
        as Python falls back to ``__class__``; ``type(model)`` is the
        group's class."""
        own = vars(self).get("_own_class", False)
        if own is False:  # a model of its own class
            return type(self)
        if own is None:
            cls = type(self)
            name = f"{cls.__name__.partition('[')[0]}[{self.model_id}]"
            own = self._own_class = type(name, (cls,), {"__module__": cls.__module__})
        return own

    def get_key(self, explicit_key: str | None = None) -> str | None:
        """A missing key is a failure before any output: with fallbacks
        declared, the next model answers (``answer`` says the key is missing)."""
        from ..keys import KeyCommandError, key_of  # at use: not on every llm command

        try:
            return key_of(self, explicit_key, super().get_key)
        except KeyCommandError as exc:
            if not self.declaration.fallbacks:
                raise Unavailable(self.model_id, str(exc)) from None
            self._key_failure = str(exc)
            return None
        except llm.NeedsKeyException as exc:
            if not self.declaration.fallbacks:
                # named as every other error of the model (and its embedding twin)
                raise llm.NeedsKeyException(f"{self.model_id}: {exc}") from None
            return None

    def _no_key(self) -> Unavailable:
        failure = vars(self).pop("_key_failure", None)  # a key command's, just now
        if failure is not None:
            return Unavailable(self.model_id, failure)
        try:
            super().get_key()
        except llm.NeedsKeyException as exc:
            return Unavailable(self.model_id, str(exc))
        return Unavailable(self.model_id, "no key")

    def _falls_back(self) -> bool:
        if not self.declaration.fallbacks:
            return False
        from ..routing.fallbacks import active

        return active()

    def _chain(self, prompt: llm.Prompt, key: str | None, resolve):
        from ..routing.fallbacks import FallbackChain

        return FallbackChain(self, prompt, key, resolve)

    def request(self, prompt: llm.Prompt, stream: bool, key: str | None) -> Request:
        from ..backends.base import OptionValues, Request

        values = {n: v for n, v in prompt.options if v is not None}
        messages = to_messages(prompt)
        # Under `llm -c`, prompt.system is empty: the conversation's system
        # prompt is in its first message.
        system = prompt.system or "\n\n".join(m.content for m in messages if m.role == "system")
        return Request(
            model_id=self.model_id,
            prompt=prompt.prompt,
            system=system,
            messages=messages,
            attachments=list(prompt.attachments),
            options=OptionValues(values),
            key=key,
            stream=stream,
            tools=[t for t in prompt.tools if isinstance(t, llm.Tool)],
            server_tools=[
                t.tool_spec(self) for t in prompt.tools if isinstance(t, llm.ServerSideTool)
            ],
            tool_results=list(prompt.tool_results),
            schema=prompt.schema,
            hide_reasoning=getattr(prompt, "hide_reasoning", False),
            renew=_renewal(self.declaration.key, self.entry.file, key),
        )

    def report(self, request: Request, response: Any) -> None:
        if request.usage is not None:
            usage = request.usage
            response.set_usage(input=usage.input, output=usage.output, details=usage.details)
        log = request.logged()
        priced = self._cost(request)
        if priced is not None:
            log = {**(log or {}), "cost": priced}
        if log is not None:
            response.response_json = log
        if request.resolved_model is not None and request.resolved_model != self.model_id:
            response.set_resolved_model(request.resolved_model)
        for call in request.tool_calls:
            response.add_tool_call(call)

    def _cost(self, request: Request) -> dict | None:
        pricing = self.declaration.pricing
        if pricing is None:  # most models: nothing to import
            return None
        from ..cost import cost

        return cost(pricing, request.usage)


def _named(chunk: Any, named: set) -> Any:
    """Note the id of a tool call whose name the backend streamed."""
    if type(chunk) is not str and chunk.type == "tool_call_name":
        named.add(chunk.tool_call_id)
    return chunk


def _tool_call_events(request: Request, named: set) -> list:
    """llm builds the assistant message from stream events, so a tool call
    must be one too, or the next turn would not say what it answers. A
    backend may have streamed a call's name where it came among the text
    and reasoning (same id, so llm makes one part of them); its arguments
    come here, whole, as the request holds them (secrets starred)."""
    from llm.parts import StreamEvent

    events = []
    for call in request.tool_calls:
        if call.tool_call_id not in named:
            metadata = request.tool_call_metadata.get(call.tool_call_id)
            events.append(
                StreamEvent(
                    "tool_call_name",
                    call.name,
                    tool_call_id=call.tool_call_id,
                    provider_metadata=metadata,
                )
            )
        arguments = json.dumps(call.arguments)
        events.append(StreamEvent("tool_call_args", arguments, tool_call_id=call.tool_call_id))
    return events


class _SyncMixin(_Shared):
    _label = ""

    def execute(self, prompt, stream, response, conversation, key=None):
        if not self._falls_back():
            yield from self.answer(prompt, stream, response, key)
            return
        chain = self._chain(prompt, key, llm.get_model)
        for candidate in chain:
            started = False
            try:
                for chunk in candidate.run(stream, response, conversation):
                    started = True
                    yield chunk
            except Exception as exc:
                chain.failed(candidate, exc, started)
                continue
            chain.answered(candidate, response)
            return
        chain.exhausted()

    def answer(self, prompt, stream, response, key):
        """This model's own answer, fallbacks aside."""
        self._warn_if_deprecated()
        if self.needs_key and key is None:
            raise self._no_key()
        request = self.request(prompt, stream, key)
        limiter = self._limiter()  # the model's own limits: once per prompt
        ticket = limiter.wait(request.estimated_tokens()) if limiter else None
        named: set = set()
        try:
            # closed at once if llm stops reading, as ``yield from`` would
            with contextlib.closing(self._chunks(request)) as chunks:
                for chunk in chunks:
                    yield _named(request.recorded(chunk), named)
        finally:
            if ticket:
                limiter.done(ticket, request.used_tokens())
            self.report(request, response)
        yield from _tool_call_events(request, named)

    def _chunks(self, request: Request):
        """The backend's chunks; once more with a renewed key, if the
        server refused the first (``renew_key``): before any output."""
        from ..backends.base import renew_key

        try:
            yield from self.backend.stream(request)  # closed with this generator
        except BackendError as exc:
            if not renew_key(request, exc):
                raise
            yield from self.backend.stream(request)


class _AsyncMixin(_Shared):
    # Not isinstance(): a negative ABC check walks every generated class.
    _label = " (async)"

    async def execute(self, prompt, stream, response, conversation, key=None):
        if not self._falls_back():
            async with contextlib.aclosing(self.answer(prompt, stream, response, key)) as chunks:
                async for chunk in chunks:
                    yield chunk
            return
        chain = self._chain(prompt, key, llm.get_async_model)
        for candidate in chain:
            started = False
            try:
                async with contextlib.aclosing(
                    candidate.run(stream, response, conversation)
                ) as run:
                    async for chunk in run:
                        started = True
                        yield chunk
            except Exception as exc:
                chain.failed(candidate, exc, started)
                continue
            chain.answered(candidate, response)
            return
        chain.exhausted()

    async def answer(self, prompt, stream, response, key):
        self._warn_if_deprecated()
        if self.needs_key and key is None:
            raise self._no_key()
        request = self.request(prompt, stream, key)
        limiter = self._limiter()  # the model's own limits: once per prompt
        ticket = await limiter.await_turn(request.estimated_tokens()) if limiter else None
        named: set = set()
        try:
            async with contextlib.aclosing(self._chunks(request)) as chunks:
                async for chunk in chunks:
                    yield _named(request.recorded(chunk), named)
        finally:
            if ticket:
                limiter.done(ticket, request.used_tokens())
            self.report(request, response)
        for event in _tool_call_events(request, named):
            yield event

    async def _chunks(self, request: Request):
        """The sync twin's, with the backend's async stream."""
        from ..backends.base import renew_key

        try:
            # closed at once if llm stops reading, as the sync twin's is
            async with contextlib.aclosing(self.backend.astream(request)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except BackendError as exc:
            if not renew_key(request, exc):
                raise
            async with contextlib.aclosing(self.backend.astream(request)) as chunks:
                async for chunk in chunks:
                    yield chunk


class _LazyOptions:
    """The model's Options class, built on first access (class or instance):
    ``llm models list`` without ``--options`` never needs it."""

    def __init__(self, build: _Once):
        self._build = build

    def __get__(self, instance, owner) -> type[llm.Options]:
        return self._build()


class _Once:
    """A value computed on first use and shared by the sync and async class."""

    def __init__(self, compute):
        self._compute = compute
        self._value = None

    def __call__(self):
        if self._value is None:
            self._value = self._compute()
        return self._value


def build_models(entry: ModelEntry) -> tuple[llm.Model, llm.AsyncModel]:
    """A new sync and async model instance, each of its own class.

    Registration needs only the entry and its typed declaration; the
    backend and the Options class are built when the model is first used.
    """
    sync_cls, async_cls = _classes(entry)
    return sync_cls(), async_cls()


def build_class_pair(entries: list[ModelEntry]) -> list[tuple[llm.Model, llm.AsyncModel]]:
    """Models for entries that differ only in their id and the backend's
    model_name (those a template discovered, with the same overrides): one
    class pair is built for them all, and each model is an instance of it
    holding its own entry. Each still reports a class of its own
    (``_Shared.__class__``), made only when something asks: building a
    class costs about 20 us, so 500 discovered models would otherwise add
    20 ms or more to every llm command."""
    sync_cls, async_cls = _classes(entries[0])
    out = []
    for entry in entries:
        # What the sync and the async model of one entry share.
        shared = {
            "_limiter": _Once(functools.partial(_limiter, entry)),
            "_backends": {},
        }
        out.append((_instance(sync_cls, entry, shared), _instance(async_cls, entry, shared)))
    return out


def _instance(cls: type, entry: ModelEntry, shared: dict):
    model = cls()
    vars(model).update(shared, model_id=entry.model_id, entry=entry, _own_class=None)
    return model


def _limiter(entry: ModelEntry):
    """The model's Limiter, or False without ``limits``."""
    from ..routing.limits import Limiter

    limits = entry.declaration.limits
    return Limiter(limits) if limits else False


def _classes(entry: ModelEntry) -> tuple[type, type]:
    """A sync and an async model class for ``entry``."""

    declaration = entry.declaration

    def options() -> type[llm.Options]:
        from ..backends import backend_class
        from .options import build_options

        rules = backend_class(declaration.backend_type).option_rules
        return build_options(declaration.model_id, declaration.options, rules, declaration.metadata)

    def server_tools() -> tuple[type[llm.ServerSideTool], ...]:
        from .server_tools import tool_classes

        return tool_classes(declaration.server_tools)

    key = declaration.key
    namespace = {
        "model_id": declaration.model_id,
        "entry": entry,
        "_limiter": _Once(functools.partial(_limiter, entry)),  # one for sync and async
        "_backends": {},
        "can_stream": declaration.can_stream,
        "supports_tools": declaration.supports_tools,
        "supports_schema": declaration.supports_schema,
        "supports_conversation": declaration.supports_conversation,
        "attachment_types": declaration.attachment_types,
        "Options": _LazyOptions(_Once(options)),
        # one class per tool for the sync and the async model: llm checks isinstance
        "_server_tools": _Once(server_tools),
        "needs_key": key.label if key else None,
        "key_env_var": key.env if key else None,
        "__module__": __name__,
    }
    sync_base = llm.KeyModel if key else llm.Model
    async_base = llm.AsyncKeyModel if key else llm.AsyncModel
    name = f"YAMLModel[{entry.model_id}]"
    sync_cls = type(name, (_SyncMixin, sync_base), dict(namespace))
    async_cls = type("Async" + name, (_AsyncMixin, async_base), dict(namespace))
    return sync_cls, async_cls


def _renewal(spec, source, key):
    """How to renew a refused key (``keys.renewal``): only a key command's."""
    if spec is None or spec.command is None:
        return None
    from ..keys import renewal

    return renewal(spec, source, key)

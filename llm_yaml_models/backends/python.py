"""The Python backend: any function becomes a declared model.

    backend:
      type: python
      callable: my_package.models:shout     # an importable module
      callable: ./helpers.py:shout          # a file beside the YAML file
      arguments: {style: loud}              # fixed keyword arguments

The callable is called as ``fn(request, **arguments)`` and may return a
``str``, return or yield ``str`` chunks, be an ``async def`` returning a
``str``, or be an async generator. A chunk may also be llm's own
``llm.parts.StreamEvent(type="reasoning", chunk=...)``: the model's
reasoning, which llm shows apart from the text (``-R`` hides it) and logs
as its own part. A model that declares ``supports_tools`` may also yield
or return ``llm.ToolCall``s (one, or a list): llm runs them (``-T``,
``--functions``, ``model.chain``) and calls the callable again with their
results in ``request.tool_results``. Both llm APIs serve every shape: the
sync model drives async callables on an event loop of its own, and the
async model runs sync callables in a worker thread, streaming their chunks
as they come, so the event loop is never blocked.

The module is imported on first use, never when llm starts (by the async
model, in a worker thread); ``llm yaml-models validate`` imports it to check
it. A ``./file.py`` is compiled from its source every time it is loaded:
bytecode in ``__pycache__`` is never read, so someone who can write there
cannot swap in code of their own, and none is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llm
from llm.parts import StreamEvent

from ..errors import CallableError, Signal
from .base import Backend, BackendConfig, EmbeddingBackend, EmbedRequest, Request
from .worker import in_thread, second_interrupt_ends, start

_DONE = object()
# What a callable may raise and we report as its failure. KeyboardInterrupt
# and SystemExit are among them: raised by the callable, they would end the
# program (or, in a worker thread, vanish and leave the prompt waiting).
_FAILURES = (Exception, KeyboardInterrupt, SystemExit)


@dataclass(frozen=True)
class PythonConfig(BackendConfig):
    callable: str = ""
    source: Path = Path("models.yaml")  # the YAML file that names the callable
    arguments: dict = field(default_factory=dict, hash=False)
    supports_tools: bool = False  # may the callable call tools (llm.ToolCall)?

    @classmethod
    def from_data(cls, data: dict, source: Path, model=None) -> PythonConfig:
        tools = bool(getattr(model, "supports_tools", False))  # embedding models have none
        return cls(data["callable"], source, dict(data.get("arguments", {})), tools)

    @property
    def base_dir(self) -> Path:
        return self.source.parent


def split_reference(reference: str) -> tuple[str, str]:
    """``"pkg.mod:attr"`` or ``"./file.py:attr"`` -> (where, attribute path)."""
    where, _, attribute = reference.rpartition(":")
    return where, attribute


def is_file_reference(where: str) -> bool:
    return where.endswith(".py") or where.startswith((".", "/", "~"))


def resolve_file(where: str, base_dir: Path) -> Path:
    """The file a ``./relative.py`` reference names, relative to the YAML
    file's directory. Leaving that directory takes an explicit ``..`` or
    absolute path: a plain name that escapes through a symlink is refused."""
    written = Path(where).expanduser()
    path = written if written.is_absolute() else base_dir / written
    explicit = written.is_absolute() or ".." in written.parts
    if not path.is_file():
        raise CallableError(f"no such file: {path}")
    real, root = os.path.realpath(path), os.path.realpath(base_dir)
    if not explicit and os.path.commonpath([real, root]) != root:
        raise CallableError(
            f"{where} resolves to {real}, outside {root}, through a symlink; "
            "write that path explicitly if you mean it"
        )
    return path


_LOADING = threading.RLock()  # a module is in sys.modules before it finishes running


def _module_from_file(path: Path):
    with _LOADING:
        return _load_module(path)


def _load_module(path: Path):
    name = f"llm_yaml_models._callables.{abs(hash(os.path.realpath(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CallableError(f"cannot import {path}")
    spec.cached = None  # no __pycache__: not read, not written
    module = importlib.util.module_from_spec(spec)
    code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def refuse_if_loose(path: Path, reference: str) -> None:
    """Like ssh with a loose ~/.ssh/config: code named by a file that others
    may change is not run (see ``trust``)."""
    from ..trust import loose

    why = loose(path)
    if why:
        raise CallableError(f"refusing to run {reference}: {why}")


def load_callable(config: PythonConfig):
    """Import the declared callable, or raise CallableError saying why. A
    module's code runs here (``validate``, a model's first use): the second
    Ctrl-C ends the process, whatever that code does with the first."""
    with second_interrupt_ends():
        return _load_callable(config)


def _load_callable(config: PythonConfig):
    where, attribute = split_reference(config.callable)
    refuse_if_loose(config.source, config.callable)
    try:
        if is_file_reference(where):
            path = resolve_file(where, config.base_dir)
            refuse_if_loose(path, config.callable)
            module = _module_from_file(path)
        else:
            module = importlib.import_module(where)
    except CallableError:
        raise
    except ModuleNotFoundError as exc:
        raise CallableError(f"cannot import {where}: no module named {exc.name!r}") from exc
    except SystemExit as exc:  # not an Exception: it would end validate, or llm, silently
        code = "" if exc.code is None else repr(exc.code)
        raise CallableError(f"importing {where} failed: it called sys.exit({code})") from exc
    except _FAILURES as exc:
        raise CallableError(f"importing {where} failed: {type(exc).__name__}: {exc}") from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CallableError(f"{where} has no attribute {attribute!r}") from None
    if not callable(target):
        raise CallableError(f"{config.callable} is not callable (it is {type(target).__name__})")
    try:
        inspect.signature(target).bind(object(), **config.arguments)
    except TypeError as exc:
        raise CallableError(f"{config.callable} cannot accept the request: {exc}") from None
    except ValueError:
        pass  # some builtins have no signature to check
    return target


class _Raised(Signal):
    """KeyboardInterrupt or SystemExit from a coroutine, carried as an
    Exception: as itself it would stop the event loop that ran it."""

    def __init__(self, original: BaseException):
        super().__init__(original)
        self.original = original


async def _awaited(awaitable):
    try:
        return await awaitable
    except (KeyboardInterrupt, SystemExit) as exc:
        raise _Raised(exc) from exc


class _PrivateLoop:
    """The sync model's own event loop, on a thread of its own: it works
    whether or not the calling thread is already running a loop (Jupyter)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, awaitable):
        return asyncio.run_coroutine_threadsafe(_awaited(awaitable), self.loop).result()

    def close(self, generator=None) -> None:
        try:
            if generator is not None:
                with contextlib.suppress(Exception):
                    self.run(generator.aclose())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


def _failure(request, exc: BaseException):
    """The callable raised ``exc``: the model's one-line error."""
    if isinstance(exc, _Raised):
        exc = exc.original
    said = str(exc)
    return request.fail(f"{type(exc).__name__}: {said}" if said else type(exc).__name__)


def _tool_call_problem(call: llm.ToolCall, supports_tools: bool, earlier: set) -> str | None:
    """Why llm cannot take ``call`` from this model, which already made
    the calls whose ids are ``earlier`` in this reply; or None."""
    what = f"llm.ToolCall {call.name!r:.60}"
    if not supports_tools:
        return f"{what}, but the model does not declare supports_tools: true"
    if not isinstance(call.name, str) or not call.name:
        return f"{what}, expected a non-empty str name"
    if not isinstance(call.arguments, dict):
        return f"{what} with arguments {call.arguments!r:.60}, expected a dict"
    if call.tool_call_id is not None and not isinstance(call.tool_call_id, str):
        return f"{what} with tool_call_id {call.tool_call_id!r:.60}, expected a str or None"
    if call.tool_call_id in earlier:  # llm would merge the two calls into one
        return f"{what} with the tool_call_id of an earlier one"
    try:
        json.dumps(call.arguments)
    except (TypeError, ValueError) as exc:
        return f"{what} whose arguments are not JSON: {exc}"
    return None


def _loaded(backend, request):
    """The backend's callable, imported on first use."""
    if backend._fn is None:
        try:
            backend._fn = load_callable(backend.config)
        except CallableError as exc:
            raise request.fail(str(exc)) from exc
    return backend._fn


def _is_async(fn) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


class PythonBackend(Backend):
    Config = PythonConfig

    def __init__(self, config):
        super().__init__(config)
        self._fn = None

    @classmethod
    def check(cls, data, doc, origin, base_dir, deep=False) -> list:
        if not deep:
            return []
        try:
            load_callable(PythonConfig.from_data(data["backend"], Path(doc.file)))
        except CallableError as exc:
            return [doc.problem(origin(("backend", "callable")), str(exc))]
        return []

    def function(self, request: Request):
        return _loaded(self, request)

    def _call(self, fn, request: Request):
        try:
            return fn(request, **self.config.arguments)
        except _FAILURES as exc:
            raise self._error(request, exc) from exc

    def _error(self, request: Request, exc: BaseException):
        return _failure(request, exc)

    def _chunk(self, request: Request, chunk: Any) -> str | StreamEvent:
        """A chunk as llm takes it: ``str`` text, or llm's ``StreamEvent`` of
        type text or reasoning (``redacted`` and ``provider_metadata`` kept).
        An ``llm.ToolCall`` is kept on the request (its arguments follow the
        text) and its name streamed where it came."""
        if isinstance(chunk, str):
            return chunk
        if isinstance(chunk, StreamEvent):
            if chunk.type in ("text", "reasoning") and isinstance(chunk.chunk, str):
                return chunk
            raise request.fail(
                f"{self.config.callable} produced a StreamEvent of type {chunk.type!r} "
                f"with chunk {chunk.chunk!r:.60}, expected type 'text' or 'reasoning' "
                "with a str chunk"
            )
        if isinstance(chunk, llm.ToolCall):
            return self._tool_call(request, chunk)
        expected = "str or llm.ToolCall" if self.config.supports_tools else "str"
        raise request.fail(
            f"{self.config.callable} produced {type(chunk).__name__} {chunk!r:.60}, "
            f"expected {expected}"
        )

    def _tool_call(self, request: Request, call: llm.ToolCall) -> StreamEvent:
        """The call, once checked, as llm's event naming it; the request
        mints its id when the callable gave none."""
        earlier = {made.tool_call_id for made in request.tool_calls}
        problem = _tool_call_problem(call, self.config.supports_tools, earlier)
        if problem:
            raise request.fail(f"{self.config.callable} produced {problem}")
        request.add_tool_call(call.name, call.arguments, call.tool_call_id)
        made = request.tool_calls[-1]
        return StreamEvent("tool_call_name", made.name, tool_call_id=made.tool_call_id)

    def _shape(self, request: Request, result: Any) -> str:
        """What the callable gave back: one chunk (text, an event, a tool
        call), awaitable, async or sync iterable."""
        if isinstance(result, str | StreamEvent | llm.ToolCall):
            return "one"
        if inspect.isawaitable(result):
            return "awaitable"
        if hasattr(result, "__aiter__"):
            return "async"
        if hasattr(result, "__iter__") and not isinstance(result, bytes | dict):
            return "sync"
        self._chunk(request, result)  # raises, naming what it was
        raise AssertionError("unreachable")

    # -- sync: async callables run on an event loop of their own -----------

    def stream(self, request: Request) -> Iterator[str]:
        with second_interrupt_ends():
            yield from self._stream(request)

    def _stream(self, request: Request) -> Iterator[str]:
        result = self._call(self.function(request), request)
        shape = self._shape(request, result)
        if shape == "one":
            yield self._chunk(request, result)
        elif shape == "sync":
            yield from self._guarded(request, result)
        else:
            yield from self._on_own_loop(request, result, shape)

    def _guarded(self, request: Request, chunks) -> Iterator[str]:
        iterator = iter(chunks)
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            except _FAILURES as exc:
                raise self._error(request, exc) from exc
            yield self._chunk(request, chunk)

    def _on_own_loop(self, request: Request, result, shape: str) -> Iterator[str]:
        loop = _PrivateLoop()
        try:
            if shape == "awaitable":
                result = self._run(loop, request, result)
                shape = self._shape(request, result)
                if shape != "async":
                    yield from self._guarded(request, [result] if shape == "one" else result)
                    return
            while True:
                try:
                    chunk = self._run(loop, request, result.__anext__())
                except StopAsyncIteration:
                    return
                yield self._chunk(request, chunk)
        finally:
            loop.close(result if hasattr(result, "aclose") else None)

    def _run(self, loop: _PrivateLoop, request: Request, awaitable):
        try:
            return loop.run(awaitable)
        except StopAsyncIteration:
            raise
        except Exception as exc:
            raise self._error(request, exc) from exc

    # -- async: sync callables run in a worker thread -----------------------

    async def astream(self, request: Request) -> AsyncIterator[str]:
        # The first use imports the module: in a worker thread, as a slow
        # import must not stall the event loop.
        fn = self._fn if self._fn is not None else await in_thread(request, self.function, request)
        if _is_async(fn):
            result = self._call(fn, request)
        else:
            result = await in_thread(request, self._call, fn, request)
        shape = self._shape(request, result)
        if shape == "awaitable":
            try:
                result = await result
            except _FAILURES as exc:
                raise self._error(request, exc) from exc
            shape = self._shape(request, result)
        if shape == "one":
            yield self._chunk(request, result)
        elif shape == "async":
            async for chunk in self._aguarded(request, result):
                yield chunk
        else:
            async for chunk in self._from_thread(request, result):
                yield chunk

    async def _aguarded(self, request: Request, chunks) -> AsyncIterator[str]:
        iterator = chunks.__aiter__()
        while True:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                return
            except _FAILURES as exc:
                raise self._error(request, exc) from exc
            yield self._chunk(request, chunk)

    async def _from_thread(self, request: Request, chunks) -> AsyncIterator[str]:
        """Drive a sync iterator in one worker thread, handing chunks over as
        they come, so that a slow generator never blocks the event loop."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def hand_over(item) -> bool:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed: nobody is listening
                return False
            return not stop.is_set()

        def produce() -> None:
            try:
                for chunk in chunks:
                    if not hand_over((chunk, None)):
                        return
                hand_over((_DONE, None))
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop
                hand_over((_DONE, exc))

        start(request, produce)
        try:
            while True:
                chunk, exc = await queue.get()
                if exc is not None:
                    raise self._error(request, exc) from exc
                if chunk is _DONE:
                    return
                yield self._chunk(request, chunk)
        finally:
            stop.set()


class Batch(list):
    """The items an embedding callable is given: a list of texts (the
    declared prefix prepended) and bytes, which also carries the model's
    ``model_id``, its ``options`` and its ``key``."""

    def __init__(self, request: EmbedRequest):
        super().__init__(request.items)
        self.model_id = request.model_id
        self.options = request.options
        self.key = request.key


class PythonEmbeddingBackend(EmbeddingBackend):
    """An embedding model backed by ``fn(items, **arguments)``, which returns
    a list of vectors (or a numpy array), plain or ``async def``. One batch
    at a time: a callable owns its own concurrency."""

    Config = PythonConfig
    check = PythonBackend.check

    def __init__(self, config):
        super().__init__(config)
        self._fn = None
        self._loop: _PrivateLoop | None = None

    def embed(self, request: EmbedRequest) -> list[list[float]]:
        from .vectors import VectorError, checked

        with second_interrupt_ends():  # as a chat prompt's: the callable runs here
            result = self._called(request)
        try:
            return checked(result, len(request.items), self.config.callable)
        except VectorError as exc:
            raise request.fail(str(exc)) from exc

    def _called(self, request: EmbedRequest) -> Any:
        fn = _loaded(self, request)
        try:
            result = fn(Batch(request), **self.config.arguments)
            if inspect.isawaitable(result):
                self._loop = self._loop or _PrivateLoop()
                result = self._loop.run(result)
        except _FAILURES as exc:
            raise _failure(request, exc) from exc
        return result

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None


BACKEND = PythonBackend
EMBEDDING_BACKEND = PythonEmbeddingBackend

"""``fallbacks: [MODEL_ID, ...]``: another model answers when one cannot.

The next model is asked, with the same prompt and the options it takes,
when a model fails before any output for a reason another model may not
share (``Unavailable``: no connection, a timeout, 429 or 5xx after its
retries, no key). A failure after output has begun is never retried
elsewhere: the text shown cannot be taken back. A fallback's own
fallbacks follow it, depth first, each model at most once.

``FallbackChain`` holds everything but the iteration, which the sync and async
models drive (``factory``). The checks ``validate`` runs are here too.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import sys
from collections.abc import Callable, Iterator
from typing import Any

import llm

from ..errors import BackendError, Problem, Unavailable, printable

# Set while only the model itself may answer (``llm yaml-models check``).
_ALONE = contextvars.ContextVar("llm_yaml_models_alone", default=False)


def active() -> bool:
    return not _ALONE.get()


@contextlib.contextmanager
def alone():
    """No fallback answers inside this block."""
    token = _ALONE.set(True)
    try:
        yield
    finally:
        _ALONE.reset(token)


def declared(model) -> list[str]:
    """The fallbacks a model declares (none for a model of another plugin)."""
    entry = getattr(model, "entry", None)
    return list(entry.declaration.fallbacks) if entry is not None else []


class Candidate:
    """One model of the chain, with the prompt as that model takes it."""

    def __init__(self, model, prompt: llm.Prompt, key: str | None, first: bool):
        self.model = model
        self.prompt = prompt
        self.key = key
        self.first = first

    @property
    def ours(self) -> bool:
        return getattr(self.model, "entry", None) is not None

    def run(self, stream: bool, response, conversation):
        """The model's chunks: ours without its own fallbacks (the chain
        has them), another plugin's through its ``execute``."""
        stream = stream and self.model.can_stream
        key = self.key if self.first else _key_of(self.model)
        if self.ours:
            return self.model.answer(self.prompt, stream, response, key)
        kwargs = {"key": key} if isinstance(self.model, llm.KeyModel | llm.AsyncKeyModel) else {}
        return self.model.execute(
            self.prompt, stream=stream, response=response, conversation=conversation, **kwargs
        )


def _key_of(model) -> str | None:
    try:
        return model.get_key()
    except llm.NeedsKeyException as exc:
        if getattr(model, "entry", None) is not None:
            return None  # ours says so itself, as Unavailable
        raise Unavailable(model.model_id, str(exc)) from exc


class FallbackChain:
    """The models to ask in turn, and what failed so far."""

    def __init__(self, first, prompt: llm.Prompt, key: str | None, resolve: Callable):
        self.first = first
        self.prompt = prompt
        self.key = key
        self.resolve = resolve  # llm.get_model or llm.get_async_model
        self.failures: list[Exception] = []

    def __iter__(self) -> Iterator[Candidate]:
        seen: set[str] = set()
        pending: list[Any] = [self.first]
        while pending:
            item = pending.pop(0)
            model = self._model(item) if isinstance(item, str) else item
            if model is None or model.model_id in seen:
                continue
            seen.add(model.model_id)
            candidate = Candidate(model, self._prompt_for(model), self.key, model is self.first)
            yield candidate
            pending[0:0] = declared(model)

    def _model(self, name: str):
        try:
            return self.resolve(name)
        except llm.UnknownModelError as exc:  # a KeyError: str() would quote it
            why = exc.args[0] if exc.args else "unknown model"
            self._note(Unavailable(name, f"cannot fall back to it: {why}"))
            return None

    def _prompt_for(self, model) -> llm.Prompt:
        if model is self.first:
            return self.prompt
        given = {k: v for k, v in self.prompt.options if v is not None}
        kept, dropped = _options_for(model, given)
        # llm's CLI passes every default along with any -o: only values the
        # user chose are worth a word.
        defaults = type(self.prompt.options).model_fields
        dropped = [k for k in dropped if k not in defaults or given[k] != defaults[k].default]
        if dropped:
            _warn(f"{model.model_id} does not take the options {', '.join(dropped)}: not sent")
        prompt = copy.copy(self.prompt)
        prompt.model = model
        prompt.options = model.Options(**kept)
        return prompt

    def failed(self, candidate: Candidate, exc: Exception, started: bool) -> None:
        """Raise unless the next model may answer instead."""
        model_id = candidate.model.model_id
        if started:
            raise after_output(model_id, exc) from exc
        if not isinstance(exc, Unavailable | llm.NeedsKeyException):
            raise self._combined(exc, BackendError) from exc
        self._note(exc if isinstance(exc, Unavailable) else Unavailable(model_id, str(exc)))

    def _note(self, exc: Exception) -> None:
        self.failures.append(exc)
        _warn(f"{_text(exc)}; trying the next model")

    def exhausted(self) -> None:
        last = self.failures.pop() if self.failures else Unavailable(self.first.model_id, "")
        raise self._combined(last, Unavailable) from last

    def _combined(self, last: Exception, kind: type[BackendError]) -> BackendError:
        """One line: each failure in turn, the first model's id first."""
        texts = [_text(e) for e in (*self.failures, last)]
        texts[0] = texts[0].removeprefix(f"{self.first.model_id}: ")
        return kind(self.first.model_id, "; then ".join(texts))

    @staticmethod
    def answered(candidate: Candidate, response) -> None:
        """``llm logs`` shows which model answered, in ``response_json``."""
        log = dict(response.response_json or {})
        response.response_json = {**log, "answered_by": candidate.model.model_id}


def after_output(model_id: str, exc: Exception) -> BackendError:
    detail = exc.detail if isinstance(exc, BackendError) else _text(exc)
    if isinstance(exc, BackendError) and exc.model_id != model_id:
        detail = _text(exc)
    return BackendError(model_id, f"{detail} (output had begun, so no fallback was asked)")


def _text(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _options_for(model, given: dict) -> tuple[dict, list[str]]:
    """The options ``model`` takes of those given, and the names of the rest
    (not declared, or a value it does not accept)."""
    import pydantic

    fields = model.Options.model_fields
    kept = {k: v for k, v in given.items() if k in fields}
    try:
        model.Options(**kept)
    except pydantic.ValidationError as exc:
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        kept = {k: v for k, v in kept.items() if k not in bad}
    return kept, [k for k in given if k not in kept]


def _warn(message: str) -> None:
    sys.stderr.write(printable(f"llm-yaml-models: {message}") + "\n")


# -- validate ---------------------------------------------------------------


def check(entries: list, others: list, locate: Callable) -> tuple[list[Problem], list[Problem]]:
    """Problems (an unknown fallback, a cycle) and warnings (a fallback with
    no async model) of every entry's ``fallbacks``. ``others`` are llm's
    ModelWithAliases of the other plugins; ``locate(entry, i)`` is the
    Problem maker for ``fallbacks[i]`` of an entry."""
    ours = {name: e for e in entries if e.kind == "chat" for name, _, _ in e.names()}
    embedding = {name for e in entries if e.kind == "embedding" for name, _, _ in e.names()}
    theirs = {name: other for other in others for name in _names(other)}
    problems, warnings = [], []
    for entry in entries:
        for i, name in enumerate(_fallbacks(entry)):
            if name in embedding and name not in ours:
                message = f"'{name}' is an embedding model: a chat model cannot fall back to it"
                problems.append(locate(entry, i, message))
            elif name in ours:
                cycle = _cycle(entry, ours[name], ours)
                if cycle:
                    message = f"'{name}' leads back to this model: {' -> '.join(cycle)}"
                    problems.append(locate(entry, i, message))
            elif name not in theirs:
                problems.append(locate(entry, i, f"'{name}' is not a known model"))
            elif theirs[name].async_model is None:
                message = (
                    f"'{name}' has no async model: through the async API, "
                    "the model cannot fall back to it"
                )
                warnings.append(locate(entry, i, message))
    return problems, warnings


def _fallbacks(entry) -> tuple[str, ...]:
    """What a chat model falls back to (an embedding model, nothing)."""
    return entry.declaration.fallbacks if entry.kind == "chat" else ()


def _names(other) -> list[str]:
    model = other.model or other.async_model
    return [model.model_id, *other.aliases]


def _cycle(start, target, ours: dict) -> list[str] | None:
    """The ids from ``start`` through ``target`` back to ``start``, if any."""
    stack, seen = [(target, [start.model_id, target.model_id])], set()
    while stack:
        entry, trail = stack.pop()
        if entry is start:
            return trail
        if id(entry) not in seen:
            seen.add(id(entry))
            nexts = [ours[n] for n in _fallbacks(entry) if n in ours]
            stack += [(n, [*trail, n.model_id]) for n in nexts]
    return None

"""Declaration -> an ``llm.EmbeddingModel`` of a class of its own.

The chat factory's twin (``factory.py``): the same entries, from the same
loader and cache, become embedding models here. Registration needs only the
entry and its typed declaration; the backend (with its client) is made on
first use, the environment read then, and kept for the life of the process.

When llm hands one call more items than ``batch_size`` (the Python API's
``model.embed_multi``), up to the backend's ``concurrency`` batches are in
flight at once, and the vectors come back in input order.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, ClassVar

import llm

from ..loading.entries import ModelEntry

if TYPE_CHECKING:
    from ..backends.base import EmbeddingBackend, EmbedRequest
    from ..declarations import EmbeddingDeclaration


class _EmbeddingMixin:
    entry: ClassVar[ModelEntry]
    _backend: ClassVar[EmbeddingBackend | None] = None
    _length: ClassVar[int | None] = None  # of the vectors it gave first, in this process
    _length_lock: ClassVar[threading.Lock]

    @property
    def declaration(self) -> EmbeddingDeclaration:
        return self.entry.declaration

    @property
    def backend(self) -> EmbeddingBackend:
        cls = type(self)
        if cls._backend is None:
            from ..backends import backend_class, configure
            from ..errors import EmbeddingError

            declaration = self.declaration
            config = configure(declaration, self.entry.file, EmbeddingError)
            cls._backend = backend_class(declaration.backend_type, "embedding")(config)
        return cls._backend

    @classmethod
    def release(cls) -> None:
        """Close the backend, if one was made: the registry is done with us."""
        if cls._backend is not None:
            cls._backend.close()
            cls._backend = None

    def __str__(self) -> str:
        return f"YAML {self.entry.backend_type} embedding: {self.model_id}"

    def get_key(self, explicit_key: str | None = None) -> str | None:
        """llm's key lookup; a missing key is this model's one-line error
        (llm's embed commands would show NeedsKeyException as a traceback)."""
        from ..keys import KeyCommandError, key_of

        try:
            return key_of(self, explicit_key, super().get_key)
        except (llm.NeedsKeyException, KeyCommandError) as exc:
            from ..errors import EmbeddingError

            raise EmbeddingError(self.model_id, str(exc)) from None

    def embed_batch(self, items: Iterable[str | bytes], *, key: str | None = None):
        return iter(self._embed(list(items), key))

    def _embed(self, items: list[str | bytes], key: str | None) -> list[list[float]]:
        """One batch's vectors; sent once more with a renewed key, if the
        server refused the first (``renew_key``)."""
        from ..backends.base import renew_key
        from ..errors import EmbeddingError

        request = self.request(items, key)
        try:
            vectors = self.backend.embed(request)
        except EmbeddingError as exc:
            if not renew_key(request, exc):
                raise
            vectors = self.backend.embed(request)
        return self._same_length(vectors)

    def request(self, items: list[str | bytes], key: str | None) -> EmbedRequest:
        """One batch for the backend (the declared prefix before each text):
        what ``embed_batch`` sends, and what the dry run shows."""
        from ..backends.base import EmbedRequest, OptionValues

        declaration = self.declaration
        prefix = declaration.prefix
        if prefix:
            items = [prefix + i if isinstance(i, str) else i for i in items]
        from ..keys import renewal

        renew = renewal(declaration.key, self.entry.file, key)
        return EmbedRequest(
            self.model_id, items, OptionValues(declaration.values), key, renew=renew
        )

    def _same_length(self, vectors: list[list[float]]) -> list[list[float]]:
        """The vectors, if as long as those the model gave before: a batch of
        another length would land beside them in one collection."""
        if not vectors:
            return vectors
        cls, length = type(self), len(vectors[0])
        with cls._length_lock:
            first = cls._length = cls._length or length
        if length != first:
            from ..errors import EmbeddingError

            raise EmbeddingError(
                self.model_id,
                f"gave vectors of {length} numbers after vectors of {first}: "
                "one collection cannot hold both",
            )
        return vectors

    def embed_multi(
        self, items: Iterable[str | bytes], batch_size: int | None = None, *, key: str | None = None
    ) -> Iterator[list[float]]:
        size = self.batch_size if batch_size is None else batch_size
        if not size or self.backend.concurrency <= 1:
            yield from super().embed_multi(items, batch_size, key=key)
            return
        self.get_key(key)  # a missing key fails here, before any batch is sent
        batches = _batches(map(self._checked, items), size)
        first = next(batches, None)
        second = next(batches, None) if first is not None else None
        if second is None:  # one batch (llm embed-multi hands over one at a time)
            yield from self._embed(first, self.get_key(key)) if first else ()
            return
        everything = itertools.chain([first, second], batches)
        # The key is asked for per batch: a key command's key, renewed after
        # one batch was refused, is the one the later batches send.
        yield from _in_flight(everything, lambda batch: self._embed(batch, self.get_key(key)), self)

    def _checked(self, item: str | bytes) -> str | bytes:
        self._check(item)
        return item

    def _check(self, item: str | bytes) -> None:
        """llm's own check (binary to a text-only model, text to a binary-only
        one), still llm's ValueError, that llm's embed commands print as one
        line (theirs would be a traceback)."""
        try:
            super()._check(item)
        except ValueError as exc:
            from ..errors import UnsupportedItem

            raise UnsupportedItem(self.model_id, str(exc)) from None


def _batches(items: Iterator, size: int) -> Iterator[list]:
    while batch := list(islice(items, size)):
        yield batch


def _in_flight(batches: Iterator[list], embed, model) -> Iterator[list[float]]:
    """Up to ``model.backend.concurrency`` batches at once, their vectors
    yielded in input order. As many again wait their turn, so that no
    thread idles while the oldest batch is slow; the batches are read from
    ``batches`` only that far ahead. A failure stops the rest: batches not
    started are cancelled, those in flight are waited for."""
    from concurrent.futures import ThreadPoolExecutor

    limit = model.backend.concurrency
    pool = ThreadPoolExecutor(limit, thread_name_prefix=f"embed-{model.model_id}")
    pending: deque = deque()
    try:
        for batch in batches:
            pending.append(pool.submit(embed, batch))
            if len(pending) >= 2 * limit:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def build_embedding_model(entry: ModelEntry) -> llm.EmbeddingModel:
    """A new embedding model instance, of its own class."""
    declaration = entry.declaration
    key = declaration.key
    namespace = {
        "model_id": declaration.model_id,
        "entry": entry,
        "supports_text": declaration.supports_text,
        "supports_binary": declaration.supports_binary,
        "batch_size": declaration.batch_size,
        "needs_key": key.label if key else None,
        "_length_lock": threading.Lock(),
        "key_env_var": key.env if key else None,
        "__module__": __name__,
    }
    cls = type(
        f"YAMLEmbeddingModel[{entry.model_id}]", (_EmbeddingMixin, llm.EmbeddingModel), namespace
    )
    return cls()

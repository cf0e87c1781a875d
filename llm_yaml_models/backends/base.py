"""The backend seam: one request object in, text chunks out.

A backend implements ``stream`` (sync) and ``astream`` (async). Both read
the same ``Request`` and should share every piece of logic except I/O.
A backend reports usage and log data through the request, never by
touching llm's Response itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import llm

from ..errors import BackendError

if TYPE_CHECKING:
    from ..declarations import Declaration
    from ..source import Document


@dataclass(frozen=True)
class Message:
    """One turn of the conversation, as text plus any attachments."""

    role: str
    content: str
    attachments: tuple[llm.Attachment, ...] = ()


class OptionValues(Mapping):
    """The validated options: a read-only mapping that also allows ``.name``.

    Options that were not given and have no default are absent.
    """

    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"OptionValues({self._values!r})"


@dataclass
class Usage:
    input: int | None = None
    output: int | None = None
    details: dict | None = None


@dataclass
class Request:
    """Everything a backend needs to answer one prompt."""

    model_id: str
    prompt: str
    system: str
    messages: list[Message]
    attachments: list[llm.Attachment]
    options: OptionValues
    key: str | None
    stream: bool
    usage: Usage | None = None
    response_json: dict | None = None

    @property
    def history(self) -> list[Message]:
        """The earlier turns: every message before this prompt's own."""
        if self.messages and self.messages[-1].role == "user":
            return self.messages[:-1]
        return list(self.messages)

    def set_usage(
        self, *, input: int | None = None, output: int | None = None, details: dict | None = None
    ) -> None:
        self.usage = Usage(input, output, details)

    def fail(self, message: str) -> BackendError:
        """An error for this model, for the backend to raise."""
        return BackendError(self.model_id, message)


@dataclass(frozen=True)
class BackendConfig:
    """A backend's typed configuration, built from the validated mapping."""

    @classmethod
    def from_data(cls, data: dict, base_dir: Path) -> BackendConfig:
        return cls()


class Backend(ABC):
    """One instance per declared model, created on first use."""

    Config: ClassVar[type[BackendConfig]] = BackendConfig
    can_stream: ClassVar[bool] = True
    # Options the backend reads, when declared: {"name": {"types": (...),
    # "minimum": ..., "maximum": ...}}. Missing bounds are enforced anyway.
    option_rules: ClassVar[dict[str, dict]] = {}

    def __init__(self, declaration: Declaration):
        self.declaration = declaration
        self.config = declaration.backend

    @classmethod
    def check(cls, data: dict, doc: Document, origin, base_dir: Path, deep: bool = False) -> list:
        """Problems a schema cannot see, for a merged model using this backend.

        ``origin(path)`` maps a path inside ``data`` to its place in ``doc``.
        ``deep`` checks (imports, for instance) run only for ``validate``,
        never while llm starts.
        """
        return []

    @abstractmethod
    def stream(self, request: Request) -> Iterator[str]:
        """Yield the response text in chunks."""

    @abstractmethod
    def astream(self, request: Request) -> AsyncIterator[str]:
        """The async twin of ``stream``."""

"""Every error llm-yaml-models raises, in one hierarchy.

    YAMLModelsError
     ├── ConfigError         a model file is wrong; carries located Problems
     ├── TemplateError       a template names what does not exist, or a
     │                       variable it reads is unset (templates)
     ├── DiscoveryError      a template's list could not be fetched
     ├── ConversionError     ``import``: a file that is neither format
     ├── CallableError       a declared callable cannot be loaded
     ├── KeyCommandError     a key command failed (keys): the message names
     │                       the command, never its output
     ├── VectorError         an embedding backend's vectors llm cannot store
     ├── FramingError        bytes that are not an event stream (also a
     │                       ValueError)
     ├── Expired             a deadline of a request's phase passed;
     │                       ConnectExpired and ReadExpired are also
     │                       httpcore2's timeouts (backends.http.transport)
     ├── WireError           a reply we cannot use, or a request we will not
     │    │                  send; the HTTP backend makes it a BackendError
     │    ├── _Unreachable   no answer at all (backends.http.send):
     │    │                  a model with fallbacks asks the next one
     │    ├── Denied         HTTP 401 or 403: the credentials were refused;
     │    │                  a key from a command is renewed once (keys)
     │    └── StreamException  an exception an event stream reports
     │                       (backends.http.decode)
     ├── BackendError        a declared model failed while answering a prompt
     │    │                  (also an llm.ModelError, so llm prints one line)
     │    ├── Unavailable    it failed before any output and another model may
     │    │                  answer instead: no connection, a timeout, 429 or
     │    │                  5xx after its retries, no key (see ``fallbacks``)
     │    └── EmbeddingError a declared embedding model failed; also a
     │                       click.ClickException, as llm's embed commands
     │                       catch nothing and would print a traceback
     ├── UnsupportedItem     binary to a text-only embedding model, or text to
     │                       a binary-only one: llm's own ValueError and words,
     │                       that llm's embed commands print as one line
     │                       naming the model (also a click.ClickException)
     └── Signal              control flow inside one module, never shown:
                             _Retry (backends.http.send), TooLarge
                             (backends.http.transport, also an httpx2
                             TransportError), Refused (loading.source),
                             Unsupported (loading.fastschema), NotJSON
                             (models.options, also a ValueError), Raised
                             (backends.python: Ctrl-C or SystemExit carried
                             out of a coroutine), Untrusted (store: a
                             cache file neither read nor written; each
                             cache words its own warning)

Lower-level errors (PyYAML, jsonschema, OS errors, httpx2's, a backend's own
exceptions) are translated into these at the boundary where they happen,
with ``raise Mapped(message) from exc``. Only ``SHOWN`` reach the user:
``ConfigError`` (as located problems), ``BackendError`` and its subclasses,
and ``UnsupportedItem``; every other is translated into one of them first.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

import click
import llm

# Characters that would break one problem over several lines, or hide in a
# terminal or reorder what it shows: controls (C0 and C1, tab excepted),
# format characters (zero-width ones, bidi controls), line and paragraph
# separators, and lone surrogates (from file names that are not UTF-8).
_UNPRINTABLE = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def printable(text: str) -> str:
    """``text`` on one line, its control and invisible characters escaped."""
    if text.isprintable():  # the common case, at C speed
        return text
    return "".join(_escaped(c) for c in text)


def unprintable(char: str) -> bool:
    """Whether ``char`` is one that ``printable`` escapes."""
    return char != "\t" and unicodedata.category(char) in _UNPRINTABLE


def _escaped(char: str) -> str:
    if not unprintable(char):
        return char
    return char.encode("unicode_escape", "backslashreplace").decode("ascii")


class Problem(NamedTuple):
    """One located problem in a model file."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        line = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return printable(line)

    def to_json(self) -> list:
        return [self.line, self.col, self.path, self.message]

    @classmethod
    def from_json(cls, file: str, data: list) -> Problem:
        line, col, path, message = data
        return cls(file, line, col, path, message)


class YAMLModelsError(Exception):
    """Base class of every error this plugin raises."""


class ConfigError(YAMLModelsError):
    """A model file could not be used; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class BackendError(YAMLModelsError, llm.ModelError):
    """A declared model failed; the message starts with the model id and is
    one line, whatever a server put in it (see ``printable``)."""

    refused = False  # the server refused the credentials (``Denied``)

    def __init__(self, model_id: str, message: str):
        self.model_id = model_id
        self.detail = message or "failed, saying nothing"
        super().__init__(printable(f"{model_id}: {self.detail}"))


class Unavailable(BackendError):
    """The model could not answer at all, before any output: a model with
    ``fallbacks`` asks the next one."""


class EmbeddingError(BackendError, click.ClickException):
    """A declared embedding model failed. ``llm embed``, ``embed-multi`` and
    ``similar`` let every exception through; click prints this one as
    ``Error: ...`` and exits 1. Through the Python API it is an llm.ModelError."""

    def __init__(self, model_id: str, message: str):
        BackendError.__init__(self, model_id, message)
        self.message = str(self)


class UnsupportedItem(YAMLModelsError, ValueError, click.ClickException):
    """An item the embedding model does not take. Through the Python API it
    is llm's own ValueError with llm's words; ``llm embed`` prints it as
    ``Error: MODEL_ID: ...`` where llm's own check gives a traceback."""

    def __init__(self, model_id: str, said: str):
        click.ClickException.__init__(self, printable(f"{model_id}: {said}"))
        self.said = said

    def __str__(self) -> str:
        return self.said


class TemplateError(YAMLModelsError):
    """A template names something that does not exist."""


class DiscoveryError(YAMLModelsError):
    """A list could not be fetched; the message is one line, secrets starred."""


class ConversionError(YAMLModelsError):
    """``import``: the file cannot be read as either format; one line."""


class CallableError(YAMLModelsError):
    """The declared callable cannot be loaded; the message says why."""


class VectorError(YAMLModelsError):
    """The vectors cannot be used; the message says why, for the user."""


class FramingError(YAMLModelsError, ValueError):
    """The bytes are not an event stream (the caller says whose)."""


class Expired(YAMLModelsError):
    """A deadline passed: in which phase, after how many seconds, whether the
    deadline of the whole request (``within``) is what ended it, and whether
    bytes were still coming (a server that dribbles)."""

    def __init__(self, phase: str, seconds: float, whole: bool, slow: bool):
        super().__init__(f"the {phase} deadline passed after {seconds:g}s")
        self.phase, self.seconds, self.whole, self.slow = phase, seconds, whole, slow


class WireError(YAMLModelsError):
    """The reply could not be used; the message says how, for the user."""


class Denied(WireError):
    """The server refused the request's credentials (HTTP 401 or 403): a
    key from a command is renewed and the request sent once more."""


class Signal(YAMLModelsError):
    """Control flow inside one module: caught there, never shown."""


# The errors that reach the user as they are; every other is translated
# into one of these where it happens.
SHOWN = (ConfigError, BackendError, UnsupportedItem)

"""Errors raised by llm-yaml-models.

    YAMLModelsError
     ├── ConfigError        a model file is wrong; carries located Problems
     ├── BackendError       a declared model failed while answering a prompt
     │    │                 (also an llm.ModelError, so llm prints one line)
     │    ├── Unavailable   it failed before any output and another model may
     │    │                 answer instead: no connection, a timeout, 429 or
     │    │                 5xx after its retries, no key (see ``fallbacks``)
     │    └── EmbeddingError  a declared embedding model failed; also a
     │                      click.ClickException, as llm's embed commands
     │                      catch nothing and would print a traceback
     └── UnsupportedItem    binary to a text-only embedding model, or text to
                            a binary-only one: llm's own ValueError and words,
                            that llm's embed commands print as one line
                            naming the model (also a click.ClickException)

Lower-level errors (PyYAML, jsonschema, OS errors, a backend's own
exceptions) are translated into these at the boundary where they happen,
with ``raise Mapped(message) from exc``.
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

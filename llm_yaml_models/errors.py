"""Errors raised by llm-yaml-models.

    YAMLModelsError
     ├── ConfigError        a model file is wrong; carries located Problems
     └── BackendError       a declared model failed while answering a prompt
                            (also an llm.ModelError, so llm prints one line)

Lower-level errors (PyYAML, jsonschema, OS errors, a backend's own
exceptions) are translated into these at the boundary where they happen,
with ``raise Mapped(message) from exc``.
"""

from __future__ import annotations

from typing import NamedTuple

import llm

# Characters that would break a message over several lines, or that a
# terminal acts on: C0 and C1 controls (tab excepted; ESC starts CSI and OSC
# sequences, 0x9b and 0x9d are their one-byte forms), DEL, Unicode line
# breaks, and the invisible marks that reorder or hide text (zero-width
# characters, bidirectional overrides and isolates, the byte order mark).
_INVISIBLE = (*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0xFEFF)
_UNPRINTABLE = {
    c: chr(c).encode("unicode_escape").decode("ascii")
    for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *_INVISIBLE)
    if c != 0x09
}


def printable(text: str) -> str:
    """``text`` on one line, safe for a terminal: control and invisible
    characters escaped as Python would (``\\n``, ``\\x1b``, ``\\u202e``)."""
    return text.translate(_UNPRINTABLE)


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
        super().__init__(printable(f"{model_id}: {message or 'failed, saying nothing'}"))

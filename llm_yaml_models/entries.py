"""The validated, cacheable form of a model file.

These are the only types the startup path needs, so they are plain classes
(no dataclasses, no heavy imports): llm imports this plugin on every command.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .errors import Problem


class Loc(NamedTuple):
    line: int
    col: int


class Named(NamedTuple):
    """What a skipped declaration names, as far as it can be read."""

    model_id: str | None
    aliases: tuple[str, ...]
    backend: str | None
    kind: str = "chat"  # or "embedding"

    @classmethod
    def of(cls, data: dict, kind: str = "chat") -> Named:
        def text(value):
            return value if isinstance(value, str) else None

        aliases = data.get("aliases")
        aliases = (
            tuple(a for a in aliases if isinstance(a, str)) if isinstance(aliases, list) else ()
        )
        backend = data.get("backend")
        return cls(
            text(data.get("model_id")),
            aliases,
            text(backend.get("type")) if isinstance(backend, dict) else None,
            kind,
        )


class ModelEntry:
    """A merged, validated model declaration and where it was written."""

    __slots__ = ("data", "file", "path", "line", "col", "id_loc", "alias_locs", "can_stream")

    def __init__(self, data, file, path, line, col, id_loc, alias_locs, can_stream):
        self.data = data  # the merged declaration, valid against the schema
        self.file = file
        self.path = path  # of the entry in its file: "models[0]", or "[0]" in a list
        self.line = line
        self.col = col
        self.id_loc = id_loc
        self.alias_locs = alias_locs
        self.can_stream = can_stream  # resolved against the backend's default

    @property
    def model_id(self) -> str:
        return self.data["model_id"]

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(self.data.get("aliases", ()))

    @property
    def kind(self) -> str:
        """``embedding`` for a declaration under ``embedding_models:``, else ``chat``."""
        return "embedding" if self.path.startswith("embedding_models[") else "chat"

    @property
    def backend_type(self) -> str:
        return self.data["backend"]["type"]

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def base_dir(self) -> Path:
        return Path(self.file).parent

    def names(self):
        """(name, location, path) for the model id and each alias."""
        yield self.model_id, self.id_loc, f"{self.path}.model_id"
        for i, (alias, loc) in enumerate(zip(self.aliases, self.alias_locs, strict=True)):
            yield alias, loc, f"{self.path}.aliases[{i}]"

    def to_json(self) -> list:
        return [
            self.data,
            self.path,
            self.line,
            self.col,
            self.id_loc,
            self.alias_locs,
            self.can_stream,
        ]

    @classmethod
    def from_json(cls, file: str, data: list) -> ModelEntry:
        body, path, line, col, id_loc, alias_locs, can_stream = data
        return cls(
            body, file, path, line, col, Loc(*id_loc), [Loc(*a) for a in alias_locs], can_stream
        )


class FileResult:
    """What one file yielded: the models that loaded, every problem, and
    the lines of the declarations (or the file) that were skipped."""

    __slots__ = ("file", "models", "problems", "skipped", "deps", "named", "warnings", "refused")

    def __init__(
        self, file: str, models=None, problems=None, skipped=None, deps=None, refused=False
    ):
        self.file = file
        self.refused = refused  # whole, unread: others could change it (its one problem says how)
        self.models: list[ModelEntry] = models or []
        self.problems: list[Problem] = problems or []
        self.skipped: list[int] = skipped or []
        self.deps: list[str] = deps or []  # other files whose state the result depends on
        # Read only by `llm yaml-models list` and `validate`, which always load
        # afresh, so not cached: what each skipped declaration (by line) says
        # it is, where that can be read; and warnings, which skip nothing.
        self.named: dict[int, Named] = {}
        self.warnings: list[Problem] = []

    def to_json(self) -> dict:
        return {
            "models": [m.to_json() for m in self.models],
            "problems": [p.to_json() for p in self.problems],
            "skipped": self.skipped,
            "deps": self.deps,
            "refused": self.refused,
        }

    @classmethod
    def from_json(cls, file: str, data: dict) -> FileResult:
        return cls(
            file,
            [ModelEntry.from_json(file, m) for m in data["models"]],
            [Problem.from_json(file, p) for p in data["problems"]],
            data["skipped"],
            data["deps"],
            data["refused"],
        )

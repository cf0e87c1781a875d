"""The validated, cacheable form of a model file: each declaration, typed
(``declarations``), with where it was written.

These are the types the startup path needs, so they import nothing heavy:
llm imports this plugin on every command.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from ..declarations import Declaration, EmbeddingDeclaration, options_from_json
from ..errors import Problem


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
    """A validated model declaration, typed, and where it was written."""

    __slots__ = ("declaration", "file", "path", "line", "col", "id_loc", "alias_locs")

    def __init__(
        self,
        declaration: Declaration | EmbeddingDeclaration,
        file,
        path,
        line,
        col,
        id_loc,
        alias_locs,
    ):
        self.declaration = declaration
        self.file = file
        self.path = path  # of the entry in its file: "models[0]", or "[0]" in a list
        self.line = line
        self.col = col
        self.id_loc = id_loc
        self.alias_locs = alias_locs

    @property
    def model_id(self) -> str:
        return self.declaration.model_id

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.declaration.aliases

    @property
    def kind(self) -> str:
        """``embedding`` for a declaration under ``embedding_models:``, else ``chat``."""
        return self.declaration.kind

    @property
    def backend_type(self) -> str:
        return self.declaration.backend_type

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
            self.declaration.to_json(),
            self.path,
            self.line,
            self.col,
            self.id_loc,
            self.alias_locs,
        ]

    @classmethod
    def from_json(cls, file: str, data: list, tables: list[tuple] = ()) -> ModelEntry:
        """``tables``: the options the declarations of the file share, by index."""
        body, path, line, col, id_loc, alias_locs = data
        kind = "embedding" if path.startswith("embedding_models[") else "chat"
        shared = body.get("options")
        if type(shared) is int:
            if not 0 <= shared < len(tables):
                raise ValueError(f"no shared options {shared}")
            body = {k: v for k, v in body.items() if k != "options"}
            declaration = _DECLARATIONS[kind].from_json(body)._replace(options=tables[shared])
        else:
            declaration = _DECLARATIONS[kind].from_json(body)
        return cls(declaration, file, path, line, col, Loc(*id_loc), [Loc(*a) for a in alias_locs])


# The class of a declaration, by the list it is declared in.
_DECLARATIONS = {"chat": Declaration, "embedding": EmbeddingDeclaration}


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
        models = [m.to_json() for m in self.models]
        return {
            "models": models,
            "options": _shared_options(models),
            "problems": [p.to_json() for p in self.problems],
            "skipped": self.skipped,
            "deps": self.deps,
            "refused": self.refused,
        }

    @classmethod
    def from_json(cls, file: str, data: dict) -> FileResult:
        tables = [options_from_json(table) for table in data["options"]]
        return cls(
            file,
            [ModelEntry.from_json(file, m, tables) for m in data["models"]],
            [Problem.from_json(file, p) for p in data["problems"]],
            data["skipped"],
            data["deps"],
            data["refused"],
        )


def _shared_options(models: list[list]) -> list[dict]:
    """The options that more than one declaration of the file has (a
    preset's, say: ten specs with their descriptions), each written once;
    those declarations name it by its index. Read on every command, a
    hundred copies would cost more than the rest of the cache."""
    bodies = [model[0] for model in models if "options" in model[0]]
    texts = [json.dumps(body["options"]) for body in bodies]
    counts = Counter(texts)
    shared = {text: i for i, text in enumerate(t for t in counts if counts[t] > 1)}
    for body, text in zip(bodies, texts, strict=True):
        if text in shared:
            body["options"] = shared[text]
    return [json.loads(text) for text in shared]

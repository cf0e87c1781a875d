"""From the search path to registered models, cheaply, on every llm command.

llm imports this plugin on every command and calls ``register_models`` on
every ``llm.get_model()``. So:

- validated files are cached on disk, keyed on each file's identity and
  mtime, so an unchanged setup never imports jsonschema or parses YAML;
- the models built are memoised in the process, so a repeated hook call
  only stats the files;
- problems are reported on stderr in one line, once per process.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

import llm

from . import __version__
from .config import FileResult, ModelEntry, discover, load_file
from .declarations import Declaration
from .errors import Problem

CACHE_NAME = "yaml-models-cache.json"


@dataclass
class Loaded:
    """Every declaration that loaded, and every problem found on the way."""

    declarations: list[Declaration] = field(default_factory=list)
    entries: list[ModelEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # FILE:LINE of what was skipped
    files: list[str] = field(default_factory=list)


def signature(path: str) -> list | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_mtime_ns, info.st_size, info.st_ino, info.st_dev]


class Cache:
    """Validated FileResults on disk, keyed on path and file signature."""

    def __init__(self):
        from .schema import schema_digest

        self.path = llm.user_dir() / CACHE_NAME
        self.header = f"{__version__}:{schema_digest()}"
        self.files: dict[str, dict] = {}
        self.dirty = False
        try:
            data = json.loads(self.path.read_text("utf-8"))
            if data.get("header") == self.header:
                self.files = data["files"]
        except (OSError, ValueError, KeyError, AttributeError):
            pass

    def get(self, file: str, sig: list | None) -> FileResult | None:
        entry = self.files.get(file)
        if sig is None or entry is None or entry["sig"] != sig:
            return None
        return FileResult.from_json(file, entry["result"])

    def put(self, file: str, sig: list | None, result: FileResult) -> None:
        if sig is not None:
            self.files[file] = {"sig": sig, "result": result.to_json()}
            self.dirty = True

    def save(self, keep: set[str]) -> None:
        stale = set(self.files) - keep
        if not (self.dirty or stale):
            return
        for file in stale:
            del self.files[file]
        tmp = self.path.with_name(f".{CACHE_NAME}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps({"header": self.header, "files": self.files}), "utf-8")
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)


def load(files: list[str] | None = None, *, use_cache: bool = True) -> Loaded:
    """Load ``files`` (default: the search path) into declarations."""
    names = [str(f) for f in (discover() if files is None else files)]
    cache = Cache() if use_cache else None
    results = []
    for file in names:
        sig = signature(file)
        result = cache.get(file, sig) if cache else None
        if result is None:
            result = load_file(file)
            if cache:
                cache.put(file, sig, result)
        results.append(result)
    if cache:
        cache.save(set(names))
    return _combine(results, names)


def _combine(results: list[FileResult], names: list[str]) -> Loaded:
    loaded = Loaded(files=names)
    declared: dict[str, str] = {}  # name -> FILE:LINE:COL where declared
    for result in results:
        loaded.problems += result.problems
        loaded.skipped += [f"{result.file}:{line}" for line in result.skipped]
        for entry in result.models:
            duplicates = [
                Problem(
                    result.file,
                    loc.line,
                    loc.col,
                    path,
                    f"'{name}' is already declared at {declared[name]}",
                )
                for name, loc, path in _names(entry)
                if name in declared
            ]
            if duplicates:
                loaded.problems += duplicates
                loaded.skipped.append(f"{result.file}:{entry.line}")
                continue
            for name, loc, _ in _names(entry):
                declared.setdefault(name, f"{result.file}:{loc.line}:{loc.col}")
            declaration = Declaration.from_data(
                entry.data, result.file, entry.line, result.base_dir
            )
            loaded.declarations.append(declaration)
            loaded.entries.append(entry)
    return loaded


def _names(entry: ModelEntry):
    """(name, location, path) for the model id and each alias."""
    yield entry.data["model_id"], entry.id_loc, f"{entry.path}.model_id"
    for i, (alias, loc) in enumerate(
        zip(entry.data.get("aliases", ()), entry.alias_locs, strict=True)
    ):
        yield alias, loc, f"{entry.path}.aliases[{i}]"


def collisions(loaded: Loaded, others: list) -> tuple[list[int], list[Problem]]:
    """Indexes of declarations that clash with models registered by llm or
    other plugins (``others``: llm's ModelWithAliases), and the problems."""
    taken: dict[str, str] = {}
    for other in others:
        model = other.model or other.async_model
        owner = f"{type(model).__module__} ({model})"
        for name in (model.model_id, *other.aliases):
            taken.setdefault(name, owner)
    clashing, problems = [], []
    for i, (declaration, entry) in enumerate(zip(loaded.declarations, loaded.entries, strict=True)):
        if declaration.replace:
            continue
        found = [
            Problem(
                declaration.file,
                loc.line,
                loc.col,
                path,
                f"'{name}' is already registered by {taken[name]}; "
                "set 'replace: true' to shadow it",
            )
            for name, loc, path in _names(entry)
            if name in taken
        ]
        if found:
            clashing.append(i)
            problems += found
    return clashing, problems


# -- the hook's side: memoised models and the one warning line -------------

_memo: dict = {}
_state = {"warned": False, "quiet": False, "disabled": False}


def registrations(model_aliases: list) -> list[tuple]:
    """(model, async_model, aliases) for every good declaration."""
    if _state["disabled"]:
        return []
    files = [str(f) for f in discover()]
    key = [(f, signature(f)) for f in files]
    if _memo.get("key") != key:
        from .factory import build_models

        loaded = load(files)
        _memo.update(key=key, loaded=loaded, models=[build_models(d) for d in loaded.declarations])
    loaded, models = _memo["loaded"], _memo["models"]
    clashing, problems = collisions(loaded, model_aliases)
    skipped = loaded.skipped + [loaded.declarations[i].source for i in clashing]
    if skipped:
        warn_once(skipped)
    return [
        (*models[i], declaration.aliases)
        for i, declaration in enumerate(loaded.declarations)
        if i not in clashing
    ]


def warn_once(skipped: list[str]) -> None:
    if _state["warned"] or _state["quiet"]:
        return
    _state["warned"] = True
    shown = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
    sys.stderr.write(
        f"llm-yaml-models: skipped {shown}; run 'llm yaml-models validate' for details\n"
    )

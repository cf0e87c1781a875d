"""From the search path to registered models, cheaply, on every llm command.

llm imports this plugin on every command and calls ``register_models`` on
every ``llm.get_model()``. So:

- validated files are cached on disk, keyed on each file's identity,
  mtime and ctime, so an unchanged setup never imports jsonschema or parses YAML;
- the models built are memoised in the process, so a repeated hook call
  only stats the files;
- problems are reported on stderr in one line, once per process.
"""

from __future__ import annotations

import json
import os
import sys

import llm

from . import __version__
from .errors import Problem, printable
from .loading.entries import FileResult, ModelEntry, Named
from .loading.search_path import discover, missing, schema_stamp
from .store import Untrusted, read_trusted, write_atomically

CACHE_NAME = "yaml-models-cache.json"
CACHE_FORMAT = 5  # bump when FileResult's JSON shape (or a declaration's) changes


class Loaded:
    """Every model entry that passed its file's checks (``settle`` says which
    of them cannot take their names), and every problem found on the way."""

    def __init__(self, files: list[str]):
        self.files = files
        self.entries: list[ModelEntry] = []
        self.problems: list[Problem] = []
        # (file, line, what it names, why) of each skipped declaration or file
        self.rejected: list[tuple[str, int, Named, str]] = []
        self.warnings: list[Problem] = []
        self.refused: list[Problem] = []  # files others could change, unread

    @property
    def skipped(self) -> list[str]:
        """FILE:LINE of each skipped declaration or file."""
        return [f"{file}:{line}" for file, line, _, _ in self.rejected]


def signature(path: str) -> list | None:
    """What says a file is unchanged. mtime and size alone are not enough:
    ``cp -p``, ``touch -r`` and ``rsync -t`` put the mtime back after a
    change, but no one can set the ctime. And the owners, groups, modes and
    ACLs of it and the directories above it: whether a model file, or a
    file it brings in (a corpus), may be trusted depends on them, and chmod
    and setfacl change no mtime."""
    from .trust import stamp

    try:
        info = os.stat(path)
    except OSError:
        return None
    found = [info.st_mtime_ns, info.st_size, info.st_ino, info.st_dev, info.st_ctime_ns]
    return found + stamp(path)


# The cache is read on every llm command: far past what any set of model
# files makes, a cache file is not read at all.
MAX_CACHE_BYTES = 64 * 1024 * 1024


class Cache:
    """Validated FileResults on disk, keyed on path and file signature.

    The cache is never a source of truth: an entry whose digest does not
    match what it holds (damaged, or edited by hand) is a miss, and a cache
    path that is not a regular file (a FIFO, a device, a link to one), or
    that others could write (the digest holds no secret: they could forge
    it), is neither read nor written, with one warning."""

    def __init__(self):
        self.path = llm.user_dir() / CACHE_NAME
        self.header = f"{CACHE_FORMAT}:{__version__}:{schema_stamp()}"
        self.files: dict[str, dict] = {}
        self.dirty = False
        self.usable = True
        try:
            data = json.loads(self._read() or b"{}")
            if data.get("header") == self.header and isinstance(data.get("files"), dict):
                self.files = data["files"]
        except (ValueError, KeyError, AttributeError, TypeError, RecursionError):
            pass  # damaged: a miss for every file, and rewritten

    def _read(self) -> bytes | None:
        try:
            return read_trusted(self.path, MAX_CACHE_BYTES)
        except Untrusted as refused:
            self.usable = False
            if not _state["cache_warned"]:
                _state["cache_warned"] = True
                warning = f"llm-yaml-models: not using the cache {self.path}: {refused.why}"
                sys.stderr.write(printable(warning) + "\n")
            return None

    def get(self, file: str, sig: list | None) -> FileResult | None:
        """The cached result, if the file and every file it depends on (a
        corpus, say) are unchanged; a damaged entry is just a miss."""
        entry = self.files.get(file)
        if sig is None or not isinstance(entry, dict) or entry.get("sig") != sig:
            return None
        try:
            if entry.get("digest") != _digest(file, entry):
                return None
            deps = entry["deps"].items()
            if any(signature(dep) != dep_sig for dep, dep_sig in deps):
                return None
            result = FileResult.from_json(file, entry["result"])
            if all(_intact(model) for model in result.models):
                return result
        except (KeyError, TypeError, ValueError, AttributeError):
            pass
        return None

    def put(self, file: str, sig: list | None, result: FileResult) -> None:
        if sig is not None:
            deps = {dep: signature(dep) for dep in result.deps}
            entry = {"sig": sig, "deps": deps, "result": result.to_json()}
            self.files[file] = {**entry, "digest": _digest(file, entry)}
            self.dirty = True

    def save(self, keep: set[str]) -> None:
        stale = set(self.files) - keep
        if not (self.dirty or stale) or not self.usable:
            return
        for file in stale:
            del self.files[file]
        text = json.dumps({"header": self.header, "files": self.files}).encode("utf-8")
        write_atomically(self.path, text)


def _digest(file: str, entry: dict) -> str:
    """A digest of what an entry holds, for the file it is about: an entry
    damaged or edited by hand no longer matches its digest."""
    import hashlib

    body = json.dumps([file, entry["sig"], entry["deps"], entry["result"]])
    return hashlib.blake2b(body.encode("utf-8"), digest_size=16).hexdigest()


def _intact(model: ModelEntry) -> bool:
    """Whether a cached entry has what registering it reads."""
    names = [model.model_id, *model.aliases]
    return (
        isinstance(model.declaration.backend.as_written, dict)
        and all(isinstance(name, str) for name in names)
        and isinstance(model.backend_type, str)
        and len(model.alias_locs) == len(model.aliases)
    )


def load(
    files: list[str] | None = None,
    *,
    use_cache: bool = True,
    deep: bool = False,
    signatures: dict[str, list | None] | None = None,
) -> Loaded:
    """Load ``files`` (default: the search path) into model entries.

    ``deep`` (which imports declared code) is for ``validate`` and bypasses
    the cache; ``signatures``, where the caller has them already."""
    names = discover() if files is None else [str(f) for f in files]
    cache = Cache() if use_cache and not deep else None
    signatures = signatures or {}
    results = []
    for file in names:
        sig = signatures[file] if file in signatures else signature(file)
        result = cache.get(file, sig) if cache else None
        if result is None:
            from .loading.loader import load_file

            result = load_file(file, deep=deep)
            if cache:
                cache.put(file, sig, result)
        results.append(result)
    if cache:
        cache.save(set(names))
    return _combine(results, names)


def _combine(results: list[FileResult], names: list[str]) -> Loaded:
    loaded = Loaded(names)
    for result in results:
        loaded.problems += result.problems
        loaded.warnings += result.warnings
        if result.refused:
            loaded.refused += result.problems
        for line in result.skipped:
            named = result.named.get(line, Named(None, (), None))
            loaded.rejected.append((result.file, line, named, "see 'llm yaml-models validate'"))
        loaded.entries += result.models
    return loaded


def settle(
    loaded: Loaded, others: list, embedding_others: list = ()
) -> dict[int, tuple[str, list[Problem]]]:
    """The entries that cannot load for their names, each with why and the
    problems: a name llm or another plugin registered (``others``: llm's
    ModelWithAliases; ``embedding_others``: its EmbeddingModelWithAliases),
    unless the entry sets ``replace``, or a name that an earlier declaration
    holds. Chat and embedding models have names of their own, as in llm.
    Only a declaration that loads holds its names: one refused for any
    reason blocks no other. Declarations take their names first, then the
    models templates discovered: a server's id never takes a declared name."""
    from .discovery.discovered import DiscoveredEntry

    takens = {"chat": _registered(others), "embedding": _registered(embedding_others)}
    # name -> the entry and location of the declaration that holds it, per kind
    helds: dict[str, dict[str, tuple]] = {"chat": {}, "embedding": {}}
    refused = {}
    entries = loaded.entries
    order = sorted(range(len(entries)), key=lambda i: isinstance(entries[i], DiscoveredEntry))
    for i in order:
        entry = entries[i]
        taken, held = takens[entry.kind], helds[entry.kind]
        names = list(entry.names())
        replace = entry.declaration.replace
        if not any((name in taken and not replace) or name in held for name, _, _ in names):
            for name, loc, _ in names:
                held[name] = (entry, loc)
            continue
        registered = [
            _problem(
                entry,
                loc,
                path,
                f"'{name}' is already registered by {taken[name]}; "
                "set 'replace: true' to shadow it",
            )
            for name, loc, path in names
            if name in taken and not replace
        ]
        declared = [
            _problem(entry, loc, path, f"'{name}' is already declared at {_at(*held[name])}")
            for name, loc, path in names
            if name in held
        ]
        why = "name already registered" if registered else "name already declared"
        refused[i] = (why, registered + declared)
    return refused


def _at(entry: ModelEntry, loc) -> str:
    return f"{entry.file}:{loc.line}:{loc.col}"


def _registered(others: list) -> dict[str, str]:
    """Each name llm or another plugin registered -> who registered it."""
    taken: dict[str, str] = {}
    for other in others:
        model = other.model or getattr(other, "async_model", None)
        owner = f"{type(model).__module__} ({model})"
        for name in (model.model_id, *other.aliases):
            taken.setdefault(name, owner)
    return taken


def _problem(entry: ModelEntry, loc, path: str, message: str) -> Problem:
    return Problem(entry.file, loc.line, loc.col, path, message)


# -- the hook's side: memoised models and the one warning line -------------

_memo: dict = {}
_state = {"warned": False, "quiet": False, "disabled": False, "cache_warned": False}


def registrations(model_aliases: list) -> list[tuple]:
    """(model, async_model, aliases) for every good chat declaration."""
    return _registrations("chat", model_aliases)


def embedding_registrations() -> list[tuple]:
    """(embedding model, aliases) for every good embedding declaration."""
    return _registrations("embedding", [])


def _registrations(kind: str, others: list) -> list[tuple]:
    if _state["disabled"]:
        return []
    from .discovery import discovered as discovery

    files = discover()
    key = [(f, signature(f)) for f in files]
    if _memo.get("key") != key:
        forget()
        _memo.update(key=key, loaded=load(files, signatures=dict(key)))
    loaded = _memo["loaded"]
    lists = discovery.prepare(loaded.entries, quiet=_state["quiet"])
    if "models" not in _memo or _memo.get("lists") != lists:
        _build(loaded, lists)
    loaded, models = _memo["expanded"], _memo["models"]
    if kind == "embedding":
        refused = settle(loaded, [], _other_embedding_models())
    else:
        refused = settle(loaded, others)
    # A discovered id that another model has is not registered, silently:
    # servers list what they list ('llm yaml-models list' says why).
    unread = {f"{p.file}:{p.line}" for p in loaded.refused}
    skipped = [s for s in loaded.skipped if s not in unread] + [
        loaded.entries[i].source
        for i in sorted(refused)
        if not discovery.is_discovered(loaded.entries[i])
    ]
    warn_once(skipped, loaded.refused)
    return [
        (*models[i], entry.aliases)
        for i, entry in enumerate(loaded.entries)
        if i not in refused and entry.kind == kind
    ]


def _build(loaded: Loaded, lists) -> None:
    """The models of every entry, templates replaced by what they discovered."""
    from .discovery.discovered import expand, shared_classes

    _release(_memo.get("models", []))
    expanded = Loaded(loaded.files)
    expanded.__dict__.update({**loaded.__dict__, "entries": expand(loaded.entries)})
    chat = [e for e in expanded.entries if e.kind != "embedding"]
    built = dict(zip(map(id, chat), shared_classes(chat), strict=True))
    models = [built.get(id(e)) or _embedding_model(e) for e in expanded.entries]
    _memo.update(lists=lists, expanded=expanded, models=models)


def _embedding_model(entry: ModelEntry) -> tuple:
    from .models.embedding import build_embedding_model

    return (build_embedding_model(entry),)


def _other_embedding_models() -> list:
    """The embedding models llm and other plugins register. llm's hook gives
    no list of them, as it does for chat models: ask llm, with ours off."""
    if not any(e.kind == "embedding" for e in _memo["loaded"].entries):
        return []
    _state["disabled"] = True
    try:
        return llm.get_embedding_models_with_aliases()
    finally:
        _state["disabled"] = False


def forget() -> None:
    """Drop the models built so far, closing their backends' connections."""
    _release(_memo.get("models", []))
    _memo.clear()


def _release(models: list) -> None:
    for pair in models:
        for model in pair:
            model.release()


def warn_once(skipped: list[str], unread: list[Problem] = ()) -> None:
    """Once a process: one line for each file others could change (it names
    the fix), one for each search path entry that names nothing, and one
    for every declaration or file skipped for anything else."""
    if _state["warned"] or _state["quiet"]:
        return
    lines = [str(problem) for problem in unread] + [printable(line) for line in missing()]
    if skipped:
        shown = ", ".join(skipped[:3])
        shown += f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        lines.append(f"skipped {printable(shown)}; run 'llm yaml-models validate' for details")
    if lines:
        _state["warned"] = True
        sys.stderr.write("".join(f"llm-yaml-models: {line}\n" for line in lines))

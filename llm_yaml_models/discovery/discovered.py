"""Discovery: a declaration with ``discover:`` is a template that registers
one model for each model its server lists.

    template (a validated ModelEntry) -> the list of ids (cached on disk,
    fetched when missing or stale) -> one DiscoveredEntry per id

The lists are kept in ``<llm user dir>/yaml-models-discovered.json``. While
a list is fresh nothing touches the network; a stale or missing one is
fetched once per process with a short connect timeout, and on any failure
the stale list is used (or, with none, nothing is registered) with one
warning line. httpx2 is imported only to fetch.
"""

from __future__ import annotations

import fnmatch
import json
import os
import sys
import time
from typing import TYPE_CHECKING

import llm

from ..errors import printable
from ..loading.entries import ModelEntry
from ..store import Untrusted, read_trusted, write_atomically
from .fetch import MAX_LIST_BYTES, DiscoveryError, fetch_list

if TYPE_CHECKING:
    from ..declarations import Declaration

LISTS_NAME = "yaml-models-discovered.json"
LISTS_FORMAT = 1
DEFAULT_TTL = 3600
LOAD_DEADLINE = 3.0  # seconds a fetch may take in all while models load
REFRESH_DEADLINE = 60.0  # ... and on 'llm yaml-models refresh'
RETRY_AFTER = 60  # seconds after a failed fetch that no process tries again
MAX_IDS = 2000  # ids taken from one list; the rest are dropped, with a warning
MAX_SHOWN = 5  # ids named in one warning
MAX_ID_CHARS = 256  # a longer id is no model name
SHOWN_CHARS = 40  # of each id a warning names

# Set (to anything but "" or "0"): lists are never fetched while models
# load, only by 'llm yaml-models refresh'; templates give what is cached.
OFFLINE_ENV = "LLM_YAML_MODELS_OFFLINE"

_state: dict = {"tried": set(), "warned": set(), "lists": None}


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "") not in ("", "0")


def is_template(entry: ModelEntry) -> bool:
    return entry.kind == "chat" and entry.declaration.discover is not None


class DiscoveredEntry(ModelEntry):
    """A model a template's server listed: the template's declaration, its
    matching overrides applied, with ``{prefix}{id}`` as its id and the id
    as the name sent to the server (both the server's text: never expanded)."""

    __slots__ = ("template", "shape")

    def __init__(self, template: ModelEntry, declaration: Declaration, shape: tuple = ()):
        super().__init__(
            declaration,
            template.file,
            template.path,
            template.line,
            template.col,
            template.id_loc,
            [],
        )
        self.template = template
        self.shape = shape  # the globs it matched: models of one shape share classes


# -- the lists on disk -------------------------------------------------------


def list_key(entry: ModelEntry) -> str:
    """What a cached list belongs to: the template's name, where the list
    comes from and its backend as written (filters and prefix apply later)."""
    import hashlib

    spec = entry.declaration.discover
    where: dict = {"source": spec.source, "url": spec.url, "ids": spec.ids}
    if spec.metadata or spec.pricing_unit:  # else the key lists had before these were read
        where.update(metadata=spec.metadata, pricing_unit=spec.pricing_unit)
    backend = entry.declaration.backend.as_written
    text = json.dumps([entry.model_id, where, backend], sort_keys=True)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class Lists:
    """The cached lists: key -> {"name", "url", "fetched", "ids", "about"}
    ("about": id -> what the server says of it, ``about.checked``'s fields;
    absent when it says nothing), and the last failed fetch of each: key ->
    {"at", "why"}. A damaged file, or one
    that is not a regular file, is no list at all; one that others could
    write is neither read nor written (lists live in the process only)."""

    def __init__(self, path, lists: dict, sig, failed: dict | None = None, usable=True):
        self.path = path
        self.lists = lists
        self.sig = sig
        self.failed = failed or {}
        self.usable = usable

    @classmethod
    def read(cls) -> Lists:
        path = llm.user_dir() / LISTS_NAME
        sig = _signature(path)
        memo = _state["lists"]
        same = memo is not None and memo.path == path and memo.sig == sig
        if same and (sig is not None or not memo.usable):  # unusable: kept in the process
            return memo
        lists: dict = {}
        failed: dict = {}
        try:  # a FIFO or a device is no file: the next fetch writes one in its place
            body = read_trusted(path, MAX_LIST_BYTES * 4, replaces_odd=True)
        except Untrusted as refused:
            _refused(path, refused.why)
            _state["lists"] = found = cls(path, lists, sig, failed, usable=False)
            return found
        try:
            data = json.loads(body or b"{}")
            if data.get("format") == LISTS_FORMAT and isinstance(data.get("lists"), dict):
                lists = {k: v for k, v in data["lists"].items() if _intact(v)}
                failed = {k: v for k, v in data.get("failed", {}).items() if _a_failure(v)}
        except (ValueError, AttributeError, RecursionError):
            pass  # damaged: no list; the next fetch rewrites the file
        _state["lists"] = found = cls(path, lists, sig, failed)
        return found

    def get(self, entry: ModelEntry) -> dict | None:
        return self.lists.get(list_key(entry))

    def put(self, entry: ModelEntry, url: str, ids: list[str], about: dict | None = None) -> None:
        """Keep a list fetched now; ``about`` None: what the server said of
        each id is not known anew (it is said only on a refresh), so what the
        list held of the ids still listed is kept."""
        key = list_key(entry)
        if about is None:
            old = (self.lists.get(key) or {}).get("about", {})
            about = {name: old[name] for name in ids if name in old}
        item = {"name": entry.model_id, "url": url, "fetched": time.time(), "ids": ids}
        if about:
            item["about"] = about
        self.lists[key] = item
        self.failed.pop(key, None)
        self.save()

    def fail(self, entry: ModelEntry, why: str) -> None:
        """Record a failed fetch: other processes do not try for RETRY_AFTER."""
        self.failed[list_key(entry)] = {"at": time.time(), "why": why}
        self.save()

    def backing_off(self, key: str, now: float | None = None) -> dict | None:
        """The failure that keeps a fetch from being tried now, if one does."""
        item = self.failed.get(key)
        ok = item is not None and 0 <= (now or time.time()) - item["at"] < RETRY_AFTER
        return item if ok else None

    def save(self) -> None:
        if not self.usable:
            return
        data = {"format": LISTS_FORMAT, "lists": self.lists, "failed": self.failed}
        write_atomically(self.path, json.dumps(data).encode("utf-8"))
        self.sig = _signature(self.path)


def _refused(path, why: str) -> None:
    """One warning a process for a lists file that others could write: they
    could add ids, or a failure, to it."""
    warned = _state.setdefault("loose", {})
    if path not in warned:
        warned[path] = why
        sys.stderr.write(printable(f"llm-yaml-models: not using {path}: {why}") + "\n")


def _signature(path) -> tuple | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns


def _intact(item) -> bool:
    from .about import intact  # here: only a lists file needs it, not every llm command

    return (
        isinstance(item, dict)
        and isinstance(item.get("fetched"), int | float)
        and isinstance(item.get("ids"), list)
        and all(isinstance(i, str) and name_problem(i) is None for i in item["ids"])
        and intact(item.get("about", {}))
    )


def _a_failure(item) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("at"), int | float)
        and isinstance(item.get("why"), str)
    )


def fresh(entry: ModelEntry, item: dict | None, now: float | None = None) -> bool:
    ttl = entry.declaration.discover.ttl
    ttl = DEFAULT_TTL if ttl is None else ttl
    return item is not None and 0 <= (now or time.time()) - item["fetched"] < ttl


# -- templates -> entries ------------------------------------------------------


def prepare(entries: list[ModelEntry], *, refresh: bool = True, quiet: bool = False):
    """Fetch the lists of the templates among ``entries`` that are missing
    or stale (each once per process, and not within RETRY_AFTER of a failed
    fetch by any process), warning once for each that fails. Returns what
    the lists now are (None without templates), to memoise on."""
    templates = [e for e in entries if is_template(e)]
    if not templates:
        return None
    lists = Lists.read()
    for template in templates if refresh and not offline() else ():
        key = list_key(template)
        if key in _state["tried"] or fresh(template, lists.lists.get(key)):
            continue
        _state["tried"].add(key)
        last = lists.backing_off(key)
        if last is not None:
            when = _ago(time.time() - last["at"])
            why = f"{last['why']} ({when}; tried again {RETRY_AFTER}s after)"
            _warn(template, _failed(why, lists.lists.get(key)), quiet)
            continue
        try:
            url, ids, about, notes = fetch(template, LOAD_DEADLINE)
        except Exception as exc:  # noqa: BLE001 - one template never costs the others
            lists.fail(template, failure(exc))
            _warn(template, _failed(failure(exc), lists.lists.get(key)), quiet)
            continue
        lists.put(template, url, ids, about)
        for note in notes:
            _warn(template, note, quiet)
    return lists.path, lists.sig


def expand(entries: list[ModelEntry]) -> list[ModelEntry]:
    """``entries`` with each template replaced by the models of its cached list."""
    if not any(is_template(e) for e in entries):
        return entries
    lists = Lists.read()
    out: list[ModelEntry] = []
    for entry in entries:
        if is_template(entry):
            out += of_list(entry, lists.get(entry))
        else:
            out.append(entry)
    return out


def refetch(template: ModelEntry) -> tuple[str, dict | None, dict, list[str]]:
    """Fetch one template's list now, with what its server says of each
    model, and keep it: (the URL, the cached list before, the list now,
    warnings). ``refresh`` and ``add`` both fetch this way. A failure is
    kept too (other processes back off), and raised."""
    lists = Lists.read()
    old = lists.get(template)
    try:
        url, ids, about, notes = fetch(template, REFRESH_DEADLINE, details=True)
    except Exception as exc:
        lists.fail(template, failure(exc))
        raise
    lists.put(template, url, ids, about)
    return url, old, lists.get(template), notes


def of_list(template: ModelEntry, item: dict | None) -> list[DiscoveredEntry]:
    """The models of a template's cached list (None: no list, no models)."""
    if item is None:
        return []
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(item["fetched"]))
    return discovered(
        template, item["ids"], item.get("about"), f"discovered from {item['url']} at {when}"
    )


def discovered(
    template: ModelEntry, ids: list[str], about: dict | None = None, origin: str = ""
) -> list[DiscoveredEntry]:
    """One entry per id that the template's filters let through, and that
    the server does not say cannot chat. The id is the server's text: it
    goes into the typed declaration as the model's id and name, never into
    the mapping the file wrote (which expands). What the server says of it
    (``about``: id -> fields) fills in what the template does not declare;
    ``origin`` says where that came from."""
    from .about import Known, capabilities_of

    spec = template.declaration.discover
    known = Known(origin)
    include, exclude = spec.include, spec.exclude
    shaped: dict[tuple, Declaration] = {}
    out = []
    for name in ids:
        if include is not None and not any(fnmatch.fnmatchcase(name, g) for g in include):
            continue
        if any(fnmatch.fnmatchcase(name, g) for g in exclude):
            continue
        said = about.get(name) if about else None
        if said is not None and said.get("chat") is False:
            continue
        globs = tuple(o.glob for o in spec.overrides if fnmatch.fnmatchcase(name, o.glob))
        shape = (globs, *capabilities_of(said))
        if shape not in shaped:
            shaped[shape] = _shaped(template.declaration, shape)
        merged = known.of(shaped[shape], said) if said else {}
        declaration = shaped[shape].discovered(spec.prefix + name, name, **merged)
        out.append(DiscoveredEntry(template, declaration, shape))
    return out


def _shaped(template: Declaration, shape: tuple) -> Declaration:
    """The template with what its server says a model takes added (the
    attachment types, tools), then the overrides of the shape's globs
    applied in the order written: an override has the last word."""
    globs, types, tools = shape
    template = template._replace(
        attachment_types=template.attachment_types | types,
        supports_tools=template.supports_tools or tools,
    )
    spec = template.discover
    own = set(spec.own_options)
    for override in spec.overrides:
        if override.glob in globs:
            template = override.apply(template, own)
    return template


def shared_classes(entries: list[ModelEntry]) -> list[tuple]:
    """(model, async_model) for each entry, in order: the models one
    template discovered with the same overrides share one pair of classes."""
    from ..models.chat import build_class_pair, build_models

    groups: dict[tuple, list[ModelEntry]] = {}
    reads: dict[int, tuple[str, ...]] = {}  # per options tuple: one per shape, not per model
    for entry in entries:
        if isinstance(entry, DiscoveredEntry):
            declaration = entry.declaration
            fields = reads.get(id(declaration.options))
            if fields is None:
                fields = reads[id(declaration.options)] = _default_fields(declaration.options)
            key = (id(entry.template), entry.shape, _values(declaration.metadata, fields))
            groups.setdefault(key, []).append(entry)
    built = {}
    for group in groups.values():
        built.update(zip(map(id, group), build_class_pair(group), strict=True))
    return [built[id(e)] if id(e) in built else build_models(e) for e in entries]


def _default_fields(options: tuple) -> tuple[str, ...]:
    """The metadata fields some option takes its default from (``num_ctx``
    from ``context_window``, say): a class's options are made once, so
    models that differ in them cannot share one."""
    return tuple(spec.default_from for spec in options if spec.default_from)


def _values(metadata, fields: tuple[str, ...]) -> tuple:
    if metadata is None or not fields:
        return ()
    return tuple(getattr(metadata, name) for name in fields)


def failure(exc: Exception) -> str:
    """What a failed fetch says: a DiscoveryError's line, or which bug it hit."""
    if isinstance(exc, DiscoveryError):
        return str(exc)
    return f"internal error while listing its models: {type(exc).__name__}"


def _failed(why: str, item: dict | None) -> str:
    if item is None:
        return f"{why}; no models registered from it"
    return f"{why}; using the list fetched {age(item)}"


def age(item: dict) -> str:
    """When a cached list was fetched, in words."""
    return _ago(time.time() - item["fetched"])


def _ago(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def _warn(template: ModelEntry, message: str, quiet: bool) -> None:
    line = f"llm-yaml-models: warning: {template.model_id} ({template.source}): {message}"
    if quiet or line in _state["warned"]:
        return
    _state["warned"].add(line)
    sys.stderr.write(printable(line) + "\n")


def forget() -> None:
    """A new process, as far as discovery knows (for tests)."""
    _state.update(tried=set(), warned=set(), lists=None, loose={})


# -- names ---------------------------------------------------------------------


def name_problem(name) -> str | None:
    """Why an id from a server cannot be a model name, if it cannot."""
    if not isinstance(name, str) or not name:
        return "not a non-empty string"
    # isprintable() is False for every control, format and separator but " ".
    if not name.isprintable() or " " in name:
        return "holds spaces or control characters"
    if name.startswith("-"):
        return "starts with '-'"
    if len(name) > MAX_ID_CHARS:
        return f"longer than {MAX_ID_CHARS} characters"
    return None


def usable_ids(found: list, url: str) -> tuple[list[str], list[str]]:
    """The ids that can be model names, at most MAX_IDS of them, each once,
    and a warning for what was left out."""
    ids = list(dict.fromkeys(i for i in found if isinstance(i, str) and name_problem(i) is None))
    bad = [i for i in found if not (isinstance(i, str) and name_problem(i) is None)]
    notes = []
    if bad:
        shown = ", ".join(_short(i) for i in bad[:MAX_SHOWN])
        more = f" and {len(bad) - MAX_SHOWN} more" if len(bad) > MAX_SHOWN else ""
        notes.append(
            f"skipped {len(bad)} {'id' if len(bad) == 1 else 'ids'} from {url} "
            f"with spaces or control characters (or not strings, or too long): {shown}{more}"
        )
    if len(ids) > MAX_IDS:
        notes.append(f"{url} lists {len(ids)} models; only the first {MAX_IDS} are used")
        ids = ids[:MAX_IDS]
    return ids, notes


def _short(value) -> str:
    """An id as a warning names it: at most SHOWN_CHARS of it."""
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return repr(value[:SHOWN_CHARS]) + f"... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


# -- fetching --------------------------------------------------------------------


def fetch(
    template: ModelEntry, deadline: float, details: bool = False
) -> tuple[str, list[str], dict | None, list[str]]:
    """(the URL, the usable ids, what the server says of each, warnings) of
    the template's list, within ``deadline`` seconds in all. With
    ``details`` (a refresh), a source that says more of each model one
    request at a time (Ollama) is asked; without, what it says is None:
    not known anew.

    Raises DiscoveryError with one line, secrets starred."""
    from .about import SOURCES, Source, malformed

    spec = template.declaration.discover
    source = SOURCES.get(spec.source) or Source()
    listing, found, items = fetch_list(template, deadline)
    if source.name is not None:
        found = [source.name(i) if isinstance(i, str) else i for i in found]
    ids, notes = usable_ids(found, listing.shown)
    about, problems = _described(listing, spec, source, ids, found, items)
    if source.details is not None:
        if details:
            _detailed(listing, source, ids, about, problems)
        elif about == {}:
            about = None
    note = malformed(listing.shown, problems)
    notes += [note] if note else []
    return listing.shown, ids, about, [listing.secrets.hide(note) for note in notes]


def _described(listing, spec, source, ids: list[str], found: list, items) -> tuple[dict, dict]:
    """What each item of the list says of its model (the source's reader,
    then the template's own paths): id -> fields, and id -> problems."""
    from .about import checked, declared

    if items is None or (source.item is None and not spec.metadata):
        return {}, {}
    of = {}
    for name, item in zip(found, items, strict=True):
        if isinstance(name, str):
            of.setdefault(name, item)
    about, problems = {}, {}
    for name in ids:
        said, bad = checked(source.item(of[name]), source.per_token) if source.item else ({}, [])
        found_there, unusable = declared(spec.metadata, of[name])
        own, wrong = checked(found_there, spec.pricing_unit == "token")
        if said or own:
            about[name] = {**said, **own}
        if bad or unusable or wrong:
            problems[name] = bad + unusable + wrong
    return about, problems


def _detailed(listing, source, ids: list[str], about: dict, problems: dict) -> None:
    """Ask the server of each model (at most MAX_IN_FLIGHT at once, within
    the listing's deadline) and add what it says to ``about``."""
    from .about import checked
    from .fetch import fetch_details

    for name, reply in fetch_details(listing, source.details_path, ids).items():
        if isinstance(reply, DiscoveryError):
            problems.setdefault(name, []).append(str(reply))
            continue
        said, bad = checked(source.details(reply), source.per_token)
        if said:
            about[name] = {**about.get(name, {}), **said}
        if bad:
            problems.setdefault(name, []).extend(bad)


def is_discovered(entry: ModelEntry) -> bool:
    return isinstance(entry, DiscoveredEntry)

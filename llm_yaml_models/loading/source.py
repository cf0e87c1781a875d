"""Read a model file into plain values and the location of every node.

PyYAML's ``compose()`` gives every node a ``start_mark``; we turn the node
tree into plain Python values ourselves so that each value's path
(``("models", 1, "options")``) maps to the line and column it came from.
Only the safe, JSON-like tags are accepted: nothing here can construct a
Python object.
"""

from __future__ import annotations

import math
import os
import stat
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import ConfigError, Problem, Signal
from .entries import Loc

PathT = tuple  # a tuple of str keys and int indexes

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000
# Characters of text once aliases are expanded: an alias is one node however
# long the string it names, so a node count alone lets a 600 KB string
# referenced thousands of times through.
MAX_TEXT = 4 * MAX_FILE_BYTES
MAX_DEPTH = 64

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STD + t for t in ("str", "null", "bool", "int", "float", "timestamp")}


@dataclass
class Document:
    """A parsed file: its value, and where each path's value and key start."""

    file: str
    value: Any
    locs: dict[PathT, Loc] = field(default_factory=dict)
    key_locs: dict[PathT, Loc] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # worth knowing, not wrong
    deps: list[str] = field(default_factory=list)  # other files the checks looked at
    unusable: int = 0  # how many Unusable values the file holds

    def loc(self, path: PathT, *, key: bool = False) -> Loc:
        """The location of ``path``, or of its nearest located ancestor."""
        table = self.key_locs if key else self.locs
        while path:
            if path in table:
                return table[path]
            if not key and path in self.key_locs:
                return self.key_locs[path]
            path = path[:-1]
        return self.locs.get((), Loc(1, 1))

    def problem(self, path: PathT, message: str, *, key: bool = False) -> Problem:
        loc = self.loc(path, key=key)
        return Problem(self.file, loc.line, loc.col, format_path(path), message)


class Unusable(str):
    """A number that no float can hold (or an infinite one), kept as the
    text written: ``schema.validate`` refuses the declaration it is in, with
    ``message``, and only that one (a file-level error would skip every
    good declaration after it)."""

    def __new__(cls, text: str, message: str):
        self = super().__new__(cls, text)
        self.message = message
        return self


yaml.SafeDumper.add_representer(Unusable, lambda dumper, value: dumper.represent_str(str(value)))


def format_path(path: PathT) -> str:
    """``("models", 1, "options")`` -> ``models[1].options``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = part if len(part) <= 60 else part[:40] + "..."  # one readable line
            out += f".{part}" if out else part
    return out


def _loc(mark) -> Loc:
    return Loc(mark.line + 1, mark.column + 1)


def _display_tag(tag: str) -> str:
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag


def read_text(file: str, path: str) -> str:
    """The file's text, or ConfigError naming what is wrong with it."""

    def fail(message: str, line: int = 1, col: int = 1):
        raise ConfigError([Problem(file, line, col, "", message)])

    try:
        info = os.stat(path)
    except FileNotFoundError:
        fail(
            "broken symlink: its target does not exist" if os.path.islink(path) else "no such file"
        )
    except OSError as exc:
        fail(f"cannot read: {exc.strerror}")
    if stat.S_ISDIR(info.st_mode):
        try:
            os.listdir(path)
        except OSError as exc:
            fail(f"cannot read: {exc.strerror}")
        fail("is a directory, not a YAML file")
    if not stat.S_ISREG(info.st_mode):
        fail("is not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        fail(f"file is {info.st_size} bytes; model files are limited to 1 MiB")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read: {exc.strerror}")
    try:
        return data.decode("utf-8")  # a byte order mark is kept, for parse to warn about
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        fail(f"not valid UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded", line, col)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Composer(yaml.composer.Composer, _Loader):
    """PyYAML's Python composer over libyaml's parser, with limits.

    libyaml's own composer recurses in C: a few kilobytes of ``[[[[`` crash
    the interpreter. Composing in Python lets us stop at MAX_DEPTH levels,
    and at MAX_NODES nodes, before the rest of the file is even parsed.
    """

    def __init__(self, text: str):
        _Loader.__init__(self, text)
        yaml.composer.Composer.__init__(self)
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent, index):
        self.depth += 1
        self.nodes += 1
        if self.depth > MAX_DEPTH:
            message = f"nested more than {MAX_DEPTH} levels deep"
            raise _Refused(self.peek_event().start_mark, message)
        if self.nodes > MAX_NODES:
            message = f"document has more than {MAX_NODES} nodes"
            raise _Refused(self.peek_event().start_mark, message)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Refused(Signal):
    def __init__(self, mark, message: str):
        super().__init__(message)
        self.loc = _loc(mark)
        self.message = message


def _compose(text: str):
    root = _compose_in_c(text) if _small(text) else _UNSURE
    if root is not _UNSURE:
        return root
    loader = _Composer(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


# libyaml's own composer is several times faster, but recurses in C and
# counts nothing. A file this small has fewer than MAX_NODES nodes (at least
# one character each), and one with this few indicators ("[{-:?", one at
# least per level) cannot nest deep enough to exhaust the C stack.
_SMALL_TEXT = 64 * 1024
_SMALL_INDICATORS = 1000
_UNSURE = object()


def _small(text: str) -> bool:
    if _Loader is yaml.SafeLoader or len(text) > _SMALL_TEXT:
        return False
    return sum(text.count(c) for c in "[{-:?") <= _SMALL_INDICATORS


def _compose_in_c(text: str):
    """The node tree from libyaml's composer, or _UNSURE where the composer
    above would refuse or fail: it then runs, and says so at the same place."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except Exception:  # noqa: BLE001 - every error is explained by _Composer
        return _UNSURE
    finally:
        loader.dispose()
    return root if _within_depth(root) else _UNSURE


def _within_depth(root) -> bool:
    """Whether _Composer would find no node deeper than MAX_DEPTH (an alias
    is one node, where it is used: its target is walked once)."""
    seen: set[int] = set()
    stack = [(root, 1)] if root is not None else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack += [(child, depth + 1) for child in node.value]
        elif isinstance(node, yaml.MappingNode):
            stack += [(child, depth + 1) for pair in node.value for child in pair]
    return True


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem and context as one sentence."""
    problem, context = exc.problem or "", exc.context or ""
    if problem == "second occurrence" and exc.context_mark:  # a duplicate anchor
        first = exc.context_mark.line + 1
        return context.replace("; first occurrence", "") + f" (first at line {first})"
    if problem.startswith("but "):  # "expected a single document ... but found another"
        return f"{context} {problem}"
    return " ".join(p for p in (problem, context) if p)


def parse(file: str, text: str) -> Document:
    """Parse YAML text into a Document; syntax errors raise ConfigError."""
    warnings = []
    if text.startswith("\ufeff"):
        text = text[1:]
        message = "warning: the file starts with a UTF-8 byte order mark, which is ignored"
        warnings.append(Problem(file, 1, 1, "", message))
    try:
        root = _compose(text)
    except _Refused as exc:
        raise ConfigError([Problem(file, exc.loc.line, exc.loc.col, "", exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = _syntax_message(exc)
        if "maximum nesting depth" in message:  # libyaml's scanner stops at 1,000 levels
            message = f"nested more than {MAX_DEPTH} levels deep"
        else:
            message = f"YAML syntax error: {message}"
        raise ConfigError([Problem(file, line, col, "", message)]) from exc
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        message = f"character {exc.character!r} is not allowed in YAML"
        raise ConfigError([Problem(file, line, col, "", message)]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, 1, 1, "", f"YAML error: {exc}")]) from exc
    doc = Document(file, None, warnings=warnings)
    if root is None:
        doc.locs[()] = Loc(1, 1)
        return doc
    _Converter(doc).run(root)
    return doc


_MERGE = _STD + "merge"
_FLOAT_MAX = sys.float_info.max
_MAX_INT_TEXT = 400  # characters: 1.8e308 has 309 digits, with room for "_" and a sign


def _too_large(text: str) -> str:
    digits = sum(c.isalnum() for c in text)
    return f"a {digits}-digit integer is too large: a number must lie between -1.8e308 and 1.8e308"


class _Converter:
    """Walks a composed node tree, recording locations as it goes.

    Aliases are the same node object wherever they appear, so the walk
    counts every node it visits (an alias bomb stops at MAX_NODES) and works
    out each mapping's merged keys once, without changing the node tree.
    """

    def __init__(self, doc: Document):
        self.doc = doc
        self.nodes = 0
        self.text = 0  # characters of scalars visited, aliases counted each time
        self.constructor = yaml.SafeLoader("")
        self.merged: dict[int, dict] = {}  # id(mapping node) -> its effective pairs

    def run(self, root) -> None:
        self.doc.value = self.convert(root, (), 0)

    def fail(self, node, path: PathT, message: str):
        loc = _loc(node.start_mark)
        raise ConfigError([Problem(self.doc.file, loc.line, loc.col, format_path(path), message)])

    def convert(self, node, path: PathT, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.fail(
                node, path, f"document expands to more than {MAX_NODES} nodes (an alias bomb?)"
            )
        if depth > MAX_DEPTH:
            self.fail(node, path, f"nested more than {MAX_DEPTH} levels deep")
        self.doc.locs[path] = _loc(node.start_mark)
        if isinstance(node, yaml.ScalarNode):
            self.count_text(node, path)
            return self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            self.check_tag(node, path, _STD + "seq")
            return [self.convert(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        self.check_tag(node, path, _STD + "map")
        out: dict = {}
        for key, (key_node, value_node) in self.pairs(node, path, 0).items():
            child = path + (key,)
            self.count_text(key_node, child)
            self.doc.key_locs[child] = _loc(key_node.start_mark)
            out[key] = self.convert(value_node, child, depth + 1)
        return out

    def count_text(self, node, path: PathT) -> None:
        self.text += len(node.value)
        if self.text > MAX_TEXT:
            message = f"document expands to more than {MAX_TEXT} characters (an alias bomb?)"
            self.fail(node, path, message)

    def check_tag(self, node, path: PathT, expected: str) -> None:
        if node.tag != expected:
            self.fail(node, path, f"unsupported YAML tag '{_display_tag(node.tag)}'")

    def scalar(self, node, path: PathT) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self.fail(node, path, f"unsupported YAML tag '{_display_tag(node.tag)}'")
        if node.tag in (_STD + "str", _STD + "timestamp"):
            return node.value
        if node.tag == _STD + "int" and len(node.value) > _MAX_INT_TEXT:
            return self.unusable(node, _too_large(node.value))  # before int() does the work
        try:
            value = self.constructor.construct_object(node)
        except Exception as exc:  # noqa: BLE001 - PyYAML raises KeyError for !!bool maybe
            self.fail(node, path, f"bad {_display_tag(node.tag)} value {node.value!r}: {exc}")
        if isinstance(value, float) and not math.isfinite(value):
            # JSON has no such numbers, and bounds built from them overflow.
            return self.unusable(node, f"{node.value!r} is not a finite number")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _FLOAT_MAX:
            # Every number may meet a float (a bound, a timeout): one that
            # cannot be one validates, then overflows wherever that happens.
            return self.unusable(node, _too_large(node.value))
        return value

    def unusable(self, node, message: str) -> Unusable:
        self.doc.unusable += 1
        return Unusable(node.value, message)

    def pairs(self, node, path: PathT, merges: int) -> dict:
        """A mapping node's keys -> (key node, value node), merge keys
        resolved: the mapping's own keys win, then earlier merged mappings
        over later ones (as PyYAML's ``flatten_mapping`` does)."""
        found = self.merged.get(id(node))
        if found is not None:
            return found
        if merges > MAX_DEPTH:
            self.fail(node, path, f"merge keys nested more than {MAX_DEPTH} levels deep")
        self.merged[id(node)] = {}  # a mapping that merges itself adds nothing
        own: dict = {}
        sources = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources += self.merge_sources(value_node, path)
                continue
            key = self.key(key_node, path)
            if key in own:
                first = _loc(own[key][0].start_mark)
                message = f"duplicate key '{key}' (first at line {first.line})"
                self.fail(key_node, path + (key,), message)
            own[key] = (key_node, value_node)
        out: dict = {}
        for source in sources:
            for key, pair in self.pairs(source, path, merges + 1).items():
                self.nodes += 1
                if self.nodes > MAX_NODES:
                    message = f"document expands to more than {MAX_NODES} nodes (an alias bomb?)"
                    self.fail(source, path, message)
                if key not in own:
                    out.setdefault(key, pair)
        out.update(own)
        self.merged[id(node)] = out
        return out

    def merge_sources(self, value_node, path: PathT) -> list:
        if isinstance(value_node, yaml.MappingNode):
            return [value_node]
        if isinstance(value_node, yaml.SequenceNode) and all(
            isinstance(n, yaml.MappingNode) for n in value_node.value
        ):
            return list(value_node.value)
        self.fail(value_node, path, "bad merge key: '<<' takes a mapping or a list of mappings")

    def key(self, key_node, path: PathT) -> str:
        if not isinstance(key_node, yaml.ScalarNode):
            self.fail(key_node, path, "mapping keys must be plain strings")
        key = self.scalar(key_node, path)
        if isinstance(key, Unusable):  # a key is text: as written, it is usable
            self.doc.unusable -= 1
            return str.__str__(key)
        if isinstance(key, bool):
            return str(key).lower()
        return key if isinstance(key, str) else str(key)

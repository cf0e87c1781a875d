"""May other users change what a file says? Asked before a declaration in it
sends a key, expands environment variables or runs code.

As OpenSSH's ``safe_path``: the file and every directory above it, up to
``/``, must belong to you or root and be writable by neither group nor
others; otherwise another user could rewrite the file, or swap it or a
directory for their own, and point your key at their server. Both the path
as written and the one its symlinks resolve to are checked.

Two allowances. As Debian's and Ubuntu's ssh, a group may write when its
only member is the owner (a user private group, where umask 002 makes
files 664): nobody else is in it. And a directory with the sticky bit
(``/tmp``) may be writable by others: there only a file's owner (or the
directory's, which must be you or root) can rename or remove it, so others
can add files beside yours but not replace yours or the directories below.
"""

from __future__ import annotations

import functools
import os
import stat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import Problem
    from .source import Document, PathT

_GROUP_OR_OTHERS = stat.S_IWGRP | stat.S_IWOTH


def check_declaration(data: dict, doc: Document, origin) -> list[Problem]:
    """A located refusal if ``data`` (one merged, valid declaration) sends a
    key or the environment, or runs code, and others could change its file."""
    risk = _risk(data)
    why = loose(doc.file) if risk else None
    if not why:
        return []
    path, what = risk
    return [doc.problem(origin(path), f"refusing to {what}: {why}")]


def _risk(data: dict) -> tuple[PathT, str] | None:
    """Where the declaration first sends a secret or names code, and what
    it would do (``"send the key 'openai'"``)."""
    places: list[PathT] = []
    sends = []
    if data.get("key"):
        places.append(("key",))
        sends.append(f"the key '{data['key']['name']}'")
    names: dict[str, None] = {}
    for path, name in _env_refs(data, ()):
        places.append(path)
        names[name] = None
    if names:
        plural = "s" if len(names) > 1 else ""
        sends.append(f"environment variable{plural} {', '.join(names)}")
    actions = [f"send {' and '.join(sends)}"] if sends else []
    if data["backend"]["type"] == "python":
        places.append(("backend", "callable"))
        actions.append(f"run {data['backend']['callable']}")
    return (places[0], " and ".join(actions)) if actions else None


def _env_refs(value: Any, path: PathT):
    """(path, variable) for every ``${VAR}`` and ``{{ env.VAR }}``."""
    from .templates import ENV_REF, PLACEHOLDER

    if isinstance(value, str):
        for match in ENV_REF.finditer(value):
            yield path, match.group(1)
        for name in PLACEHOLDER.findall(value):
            if name.startswith("env."):
                yield path, name[4:]
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _env_refs(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _env_refs(item, (*path, i))


def loose(path: str | os.PathLike) -> str | None:
    """Why others could change what ``path`` holds, with the fix, or None."""
    if os.name != "posix":
        return None
    for i, component in enumerate(_components(path)):
        try:
            info = os.stat(component)
        except OSError:
            continue  # the read itself reports what is missing
        why = _why(info, component, is_file=i == 0)
        if why:
            return why
    return None


def stamp(path: str | os.PathLike) -> list[int]:
    """The owners, groups and modes ``loose`` reads: a cached verdict is stale once
    any of them changes (chmod changes no mtime)."""
    out = []
    for component in _components(path):
        try:
            info = os.stat(component)
        except OSError:
            out += [-1, -1, -1]
            continue
        out += [info.st_uid, info.st_gid, info.st_mode]
    return out


def _components(path: str | os.PathLike) -> list[str]:
    """The file as written (stat follows a symlink to it), then each directory
    above it, along the path as written and along the one it resolves to."""
    written = os.path.abspath(path)
    directories: dict[str, None] = {}
    for start in (written, os.path.realpath(written)):
        current = os.path.dirname(start)
        while current not in directories:  # dirname("/") is "/": the loop ends
            directories[current] = None
            current = os.path.dirname(current)
    return [os.fspath(path), *directories]


def _why(info: os.stat_result, path: str, *, is_file: bool) -> str | None:
    if info.st_uid not in (os.getuid(), 0):
        me = _user(os.getuid())
        return f"{path} belongs to user {_user(info.st_uid)}; fix it with: chown {me} {path}"
    writable = info.st_mode & _GROUP_OR_OTHERS
    sticky_dir = not is_file and stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
    if not writable or sticky_dir:
        return None
    if writable == stat.S_IWGRP and _sole_member(info.st_gid) == info.st_uid:
        return None
    who = "any user" if info.st_mode & stat.S_IWOTH else f"group {_group(info.st_gid)}"
    return f"{who} can write to {path}; fix it with: chmod go-w {path}"


@functools.cache
def _sole_member(gid: int) -> int | None:
    """The uid of a group's one member, counting those it is the primary
    group of, or None if it has none or several."""
    import grp
    import pwd

    try:
        listed = grp.getgrgid(gid).gr_mem
        members = {user.pw_uid for user in pwd.getpwall() if user.pw_gid == gid}
        members |= {pwd.getpwnam(name).pw_uid for name in listed}
    except KeyError:
        return None
    return members.pop() if len(members) == 1 else None


def _user(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)

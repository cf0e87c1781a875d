"""May other users change what a file says? Asked of every model file before
it is read (one that others could change is refused whole), of the cache
files, and of every file a declaration brings in (a corpus, a callable's
module) before it is used.

As OpenSSH's ``safe_path``: the file and every directory above it, up to
``/``, must belong to you or root and be writable by no one else; otherwise
another user could rewrite the file, or swap it or a directory for their
own, and point your key at their server. Both the path as written and the
one its symlinks resolve to are checked. Who may write is read as the
kernel decides it: the mode bits, and the POSIX access ACL where there is
one (a named user or group with write, within the ACL's mask). A default
ACL gives no access to the directory itself; what it gives the files made
there shows in their own access ACLs, which are read.

Two allowances. As Debian's and Ubuntu's ssh, a group may write when its
only member is the owner (a user private group, where umask 002 makes
files 664): nobody else is in it. And a directory with the sticky bit
(``/tmp``) may be writable by others: there only a file's owner (or the
directory's, which must be you or root) can rename or remove it, so others
can add files beside yours but not replace yours or the directories below.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .errors import Problem
    from .loading.source import Document

# linux/posix_acl_xattr.h: a version, then (tag, perm, id) entries.
ACL_XATTR = "system.posix_acl_access"
ACL_VERSION = 2
ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK = 0x02, 0x04, 0x08, 0x10
ACL_WRITE = 0x02
_HEADER, _ENTRY = struct.Struct("<I"), struct.Struct("<HHI")
_NO_ACL = {errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP}


def refuse_file(file: str) -> Problem | None:
    """Why the model file ``file`` is not read at all, if others could change it."""
    from .errors import Problem

    why = loose(file)
    return Problem(file, 1, 1, "", f"refusing the whole file: {why}") if why else None


def check_declaration(data: dict, doc: Document, origin) -> list[Problem]:
    """A located refusal for each file the declaration brings in (its
    corpus) that others could change. The model file itself was vouched for
    before it was read; a callable's module is vouched for as it is imported."""
    corpus = data["backend"].get("corpus") if data["backend"]["type"] == "markov" else None
    if not corpus:
        return []
    path = os.path.join(os.path.dirname(doc.file), corpus)
    why = loose(path) if os.path.exists(path) else None
    if not why:
        return []
    return [doc.problem(origin(("backend", "corpus")), f"refusing to read the corpus: {why}")]


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
    """The owners, groups, modes and ACLs ``loose`` reads: a cached verdict is
    stale once any of them changes (chmod and setfacl change no mtime)."""
    out = []
    for component in _components(path):
        try:
            info = os.stat(component)
        except OSError:
            out += [-1, -1, -1, -1]
            continue
        out += [info.st_uid, info.st_gid, info.st_mode, _acl_stamp(component)]
    return out


def _acl_stamp(path: str) -> int:
    try:
        return zlib.crc32(read_acl(path))
    except OSError:
        return -1


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
    if not is_file and stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX:
        return None
    try:
        entries = acl_entries(read_acl(path))
    except (OSError, ValueError):
        return f"the ACL of {path} cannot be read; fix it with: setfacl -b {path}"
    who = other_writer(info, entries)
    return f"{who} can write to {path}; fix it with: chmod go-w {path}" if who else None


def other_writer(info: os.stat_result, acl: list[tuple[int, int, int]]) -> str | None:
    """Who but the owner and root may write to a file of this mode and access
    ACL: ``"any user"``, ``"user NAME"``, ``"group NAME"``, or None."""
    if info.st_mode & stat.S_IWOTH:
        return "any user"
    masks = [perm for tag, perm, _ in acl if tag == ACL_MASK]
    # Without a mask (no ACL, or one of three entries) the group bits are
    # the owning group's; with one, they are the mask, and the owning group
    # has an entry of its own, within the mask as every named entry is.
    group = ACL_WRITE if info.st_mode & stat.S_IWGRP else 0
    if masks:
        group = next((perm for tag, perm, _ in acl if tag == ACL_GROUP_OBJ), ACL_WRITE)
    mask = masks[0] if masks else ACL_WRITE
    named = [(tag, perm, who) for tag, perm, who in acl if tag in (ACL_USER, ACL_GROUP)]
    for tag, perm, who in [(ACL_GROUP_OBJ, group, info.st_gid), *named]:
        if not perm & mask & ACL_WRITE:
            continue
        if tag == ACL_USER and who not in (info.st_uid, 0):
            return f"user {_user(who)}"
        if tag != ACL_USER and _sole_member(who) != info.st_uid:
            return f"group {_group(who)}"
    return None


def read_acl(path: str | os.PathLike) -> bytes:
    """The file's access ACL as the kernel stores it; empty where it has
    none or the system has no ACLs."""
    getxattr = getattr(os, "getxattr", None)
    if getxattr is None:
        return b""
    try:
        return getxattr(path, ACL_XATTR)
    except OSError as exc:
        if exc.errno in _NO_ACL:
            return b""
        raise


def acl_entries(raw: bytes) -> list[tuple[int, int, int]]:
    """(tag, perm, id) for each entry of ``raw``; ValueError if it is not an ACL."""
    if not raw:
        return []
    if len(raw) < _HEADER.size or (len(raw) - _HEADER.size) % _ENTRY.size:
        raise ValueError(f"an ACL of {len(raw)} bytes")
    (version,) = _HEADER.unpack_from(raw)
    if version != ACL_VERSION:
        raise ValueError(f"an ACL of version {version}")
    return [_ENTRY.unpack_from(raw, at) for at in range(_HEADER.size, len(raw), _ENTRY.size)]


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

"""A model's key from a command: ``key: {command: [ARGV...], ttl: SECONDS}``.

The command is an argv list, run without a shell, its stdin closed and its
stderr discarded; what it prints, trimmed, is the key. The key is kept in
this process's memory only (never in the registry cache, a log or llm's
keys.json), for ``ttl`` seconds (default: the life of the process), and
the command is run again once when a server refuses it (401 or 403): see
``renewal``. A failure is one line that names the command, never what it
printed: its output may be a secret.

A command counts as running code: one declared in a file that others may
change is not run (``trust.loose``), as a python backend's callable is not.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import YAMLModelsError, printable

if TYPE_CHECKING:
    from .declarations import KeySpec

TIMEOUT = 30.0  # seconds a command may take, unless its key says ``timeout:``
MAX_KEY_BYTES = 64 * 1024  # a key is a line; past this the output is not a key

_cache: dict[tuple[str, ...], tuple[str, float]] = {}  # argv -> (key, monotonic expiry)
_lock = threading.Lock()  # embedding batches ask from several threads at once


class KeyCommandError(YAMLModelsError):
    """A key command failed: the message names the command, never its output."""


def key_of(model, explicit_key: str | None, lookup: Callable) -> str | None:
    """A declared model's key: ``--key`` (or ``model.key``, set through
    the Python API), else its command's output, else llm's ``lookup``
    (the key store, then the environment)."""
    spec = model.declaration.key
    if spec is None or spec.command is None or explicit_key is not None or model.key:
        return lookup(explicit_key)
    return command_key(spec, model.entry.file)


def command_key(
    spec: KeySpec,
    source: str | os.PathLike,
    *,
    refused: str | None = None,
    within: float | None = None,
) -> str:
    """The key the command prints: the one kept from an earlier run while
    its ``ttl`` lasts, unless that is the key a server ``refused`` (another
    thread may have renewed it already: then that one is used). ``source``
    is the model file that declares the command, checked as a callable's
    module is. ``within``: seconds the caller can wait at most (discovery
    on startup), when that is less than the command's own timeout."""
    argv = spec.command
    with _lock:
        kept = _cache.get(argv)
        if kept is not None and kept[0] != refused and time.monotonic() < kept[1]:
            return kept[0]
        _refuse_if_loose(argv, source)
        timeout = spec.timeout or TIMEOUT
        key = _run(argv, timeout if within is None else min(timeout, within))
        expiry = time.monotonic() + spec.ttl if spec.ttl is not None else float("inf")
        _cache[argv] = (key, expiry)
        return key


def renewal(spec: KeySpec | None, source, key: str | None) -> Callable[[], str] | None:
    """How to renew ``key`` once a server refuses it: run the command
    again; None unless ``key`` is what the command printed (``--key`` is
    the user's own, and is not replaced)."""
    if spec is None or spec.command is None or key is None:
        return None
    kept = _cache.get(spec.command)
    if kept is None or kept[0] != key.strip():
        return None
    return lambda: command_key(spec, source, refused=kept[0])


def forget() -> None:
    """Drop every kept key (tests; a new process starts without them)."""
    _cache.clear()


def shown(argv: tuple[str, ...]) -> str:
    """The command as a message names it: argv as a shell would quote it."""
    return printable(shlex.join(argv))


def _refuse_if_loose(argv: tuple[str, ...], source) -> None:
    from .trust import loose

    why = loose(source)
    if why:
        raise KeyCommandError(f"refusing to run the key command {shown(argv)}: {why}")


def _run(argv: tuple[str, ...], timeout: float) -> str:
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: its children end with it
        )
    except OSError as exc:
        why = "no such program" if isinstance(exc, FileNotFoundError) else exc.strerror
        raise KeyCommandError(f"the key command {shown(argv)} cannot be run: {why}") from None
    try:
        output = _read(process, argv, timeout)
    finally:
        _end(process)
    if process.returncode != 0:
        raise KeyCommandError(f"the key command {shown(argv)} failed ({_status(process)})")
    return _key_of(output, argv)


def _read(process: subprocess.Popen, argv: tuple[str, ...], timeout: float) -> bytes:
    """What the command prints, until it closes its output: at most
    MAX_KEY_BYTES, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    chunks, size = [], 0
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(max(deadline - time.monotonic(), 0.01))
                    return b"".join(chunks)
                break
            size += len(chunk)
            if size > MAX_KEY_BYTES:
                raise KeyCommandError(
                    f"the key command {shown(argv)} printed more than {MAX_KEY_BYTES} bytes"
                )
            chunks.append(chunk)
    raise KeyCommandError(f"the key command {shown(argv)} did not finish within {timeout:g}s")


def _end(process: subprocess.Popen) -> None:
    """The command and anything it started, ended if still running."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    process.stdout.close()


def _status(process: subprocess.Popen) -> str:
    code = process.returncode
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit status {code}"


def _key_of(output: bytes, argv: tuple[str, ...]) -> str:
    """The key in the output: trimmed, one line of printable text."""
    try:
        key = output.decode("utf-8").strip()
    except UnicodeDecodeError:
        message = f"the key command {shown(argv)} printed bytes that are not UTF-8"
        raise KeyCommandError(message) from None
    if not key:
        raise KeyCommandError(f"the key command {shown(argv)} printed no key")
    if not key.isprintable():
        raise KeyCommandError(
            f"the key command {shown(argv)} printed more than one line, or control characters"
        )
    return key

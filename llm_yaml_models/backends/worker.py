"""Blocking work awaited from an event loop, and Ctrl-C that always works.

``in_thread`` is ``asyncio.to_thread`` without the loop's default executor:
``asyncio.run()`` joins that executor's threads before it returns, so one
call that never returns (a callable stuck in a loop) would hold the program
open after a timeout or Ctrl-C. Here calls run on a pool of daemon threads
that nothing waits for; an abandoned call finishes, or not, in the
background. The pool is bounded (``WORKERS``): a thousand prompts at once
queue for its threads instead of starting a thousand, which is where a
system that limits threads says ``can't start new thread``. If no thread
can start at all, the prompt fails as its model's one-line error.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

WORKERS = 32  # as many as ThreadPoolExecutor starts on a large machine


class _Pool:
    """Daemon threads that take jobs from one queue. A thread starts only
    when none is idle, and never more than ``size``; as in CPython's
    ThreadPoolExecutor, a worker is idle when it has released ``_idle``."""

    def __init__(self, size: int):
        self.size = size
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads = 0

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on a worker; RuntimeError if there is none and none
        can start (a job waits for a busy worker if it must)."""
        if not self._idle.acquire(blocking=False):
            self._grow()
        self._jobs.put(job)

    def _grow(self) -> None:
        with self._lock:
            if self._threads >= self.size:
                return
            thread = threading.Thread(target=self._work, name="llm-yaml-models-worker")
            thread.daemon = True
            try:
                thread.start()
            except RuntimeError:
                if self._threads == 0:
                    raise
                return  # the running ones will take the job
            self._threads += 1

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            job()
            del job  # nothing of it kept alive while idle
            self._idle.release()


_POOL = _Pool(WORKERS)


def start(request, job: Callable[[], None]) -> None:
    """Run ``job()`` on a worker thread; ``job`` must not raise. If no
    thread can run it, ``request``'s model fails with one line."""
    try:
        _POOL.submit(job)
    except RuntimeError as exc:
        raise request.fail(f"cannot start a thread to run it: {exc}") from exc


async def in_thread(request, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` on a worker thread, without blocking the loop; for
    ``request`` (whose model fails if no thread can run it)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: tuple) -> None:
        if not future.done():  # a cancelled wait has stopped listening
            future.set_result(outcome)

    def run() -> None:
        try:
            outcome = (context.run(func, *args), None)
        except BaseException as exc:  # noqa: BLE001 - handed to the event loop
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(settle, outcome)

    start(request, run)
    value, exc = await future
    if exc is not None:
        raise exc
    return value


@contextlib.contextmanager
def second_interrupt_ends() -> Iterator[None]:
    """While the block runs, the first Ctrl-C raises KeyboardInterrupt as
    usual and a second one ends the process, even if code that caught the
    first never returns. Only in the main thread, and only over Python's own
    handler: a handler the program installed is left alone."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    count = 0

    def interrupted(signum, frame):
        nonlocal count
        count += 1
        if count > 1:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, TypeError):
                if signal.getsignal(signal.SIGINT) is interrupted:
                    signal.signal(signal.SIGINT, signal.default_int_handler)

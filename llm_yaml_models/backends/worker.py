"""Blocking work awaited from an event loop, and Ctrl-C that always works.

``in_thread`` is ``asyncio.to_thread`` without the loop's default executor:
``asyncio.run()`` joins that executor's threads before it returns, so one
call that never returns (a callable stuck in a loop) would hold the program
open after a timeout or Ctrl-C. Here each call gets a daemon thread that
nothing waits for; an abandoned call finishes, or not, in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


async def in_thread(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in a daemon thread of its own, without blocking the loop."""
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

    threading.Thread(target=run, name="llm-yaml-models-worker", daemon=True).start()
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

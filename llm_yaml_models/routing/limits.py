"""Client-side limits: ``limits: {rpm, tpm, concurrency}``.

A request waits until it fits: fewer than ``concurrency`` in flight, fewer
than ``rpm`` started in the last minute, and fewer than ``tpm`` tokens used
in the last minute (a request counts its prompt, estimated at four
characters a token, until its usage is reported). The limits hold within
one process: another process has limits of its own.

One ``Limiter`` serves sync and async callers alike; the admission rule is
the pure ``_admit``, and only the waiting differs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

WINDOW = 60.0


@dataclass(frozen=True)
class Limits:
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None

    @classmethod
    def from_data(cls, data: dict | None) -> Limits | None:
        return cls(**data) if data else None


class Ticket:
    """One admitted request: its start, and the tokens it counts for."""

    __slots__ = ("start", "tokens", "counted")

    def __init__(self, start: float, tokens: int):
        self.start = start
        self.tokens = tokens
        self.counted = True  # in the window's token sum (until it leaves the window)


def estimate_tokens(*texts: str | bytes) -> int:
    return sum(len(t) for t in texts) // 4 + 1


class _Waiter:
    """One request waiting its turn. ``wake`` is how the limiter reaches it
    (an event for a thread, a future for a coroutine); ``ticket`` is set,
    under the limiter's lock, when it is let in; ``timeout`` is how long it
    should wait before asking again, when it keeps the time for everyone."""

    __slots__ = ("tokens", "ticket", "timeout", "wake")

    def __init__(self, tokens: int, wake: Callable[[], None]):
        self.tokens = tokens
        self.ticket: Ticket | None = None
        self.timeout: float | None = None
        self.wake = wake


class Limiter:
    """Waiters queue in arrival order. Whoever changes what fits (a request
    that ends, a waiter that gives up, the first waiter when its time comes)
    lets in the waiters that fit now and wakes those alone: the work per
    request stays constant however many wait (waking every waiter to ask
    again made 2,000 queued prompts quadratic)."""

    def __init__(self, limits: Limits, clock=time.monotonic):
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = 0
        self._recent: collections.deque[Ticket] = collections.deque()  # started in the window
        self._used = 0  # the tokens of the tickets in ``_recent``
        self._waiters: dict[_Waiter, None] = {}  # in arrival order, removable at once

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _admit(self, tokens: int) -> float | Ticket:
        """A Ticket if a request may start now, else how long to wait at
        most before asking again (``inf``: until one finishes)."""
        now = self._clock()
        wait = max(self._wait_for_all(now), self._wait_for_tokens(tokens, now))
        if wait > 0:
            return max(wait, 0.001)
        ticket = Ticket(now, tokens)
        self._in_flight += 1
        self._recent.append(ticket)
        self._used += tokens
        return ticket

    def _wait_for_all(self, now: float) -> float:
        """How long every request must wait, whatever its size (0: none)."""
        while self._recent and self._recent[0].start <= now - WINDOW:
            gone = self._recent.popleft()
            gone.counted = False
            self._used -= gone.tokens
        limits = self.limits
        if limits.concurrency and self._in_flight >= limits.concurrency:
            return math.inf
        if limits.rpm and len(self._recent) >= limits.rpm:
            return self._recent[-limits.rpm].start + WINDOW - now
        return 0.0

    def _wait_for_tokens(self, tokens: int, now: float) -> float:
        limits = self.limits
        if not (limits.tpm and self._recent) or self._used + tokens <= limits.tpm:
            return 0.0
        return self._until_tokens_free(self._used + tokens - limits.tpm, now)

    def _until_tokens_free(self, excess: int, now: float) -> float:
        freed = 0
        for ticket in self._recent:
            freed += ticket.tokens
            if freed >= excess:
                return ticket.start + WINDOW - now
        return self._recent[-1].start + WINDOW - now  # then the window is empty

    def done(self, ticket: Ticket, tokens: int | None = None) -> None:
        """The request has ended; ``tokens`` is what it really used, if known."""
        with self._lock:
            self._in_flight -= 1
            if tokens is not None:
                if ticket.counted:
                    self._used += tokens - ticket.tokens
                ticket.tokens = tokens
            self._let_in()

    def _let_in(self, caller: _Waiter | None = None) -> None:
        """Admit, in arrival order, every waiter that fits now, and wake
        each one admitted. A waiter too large for the tokens left is passed
        over (a smaller one behind it may fit); a limit that holds back
        every request ends the pass. The first waiter left, if the wait
        has an end, keeps the time: it asks again when that time comes."""
        let_in, smallest_refused, wait = [], math.inf, math.inf
        for waiter in self._waiters:
            shared = self._wait_for_all(self._clock())
            if shared > 0:
                wait = min(wait, shared)
                break
            if waiter.tokens >= smallest_refused:
                continue  # a smaller one did not fit: neither does this one
            found = self._admit(waiter.tokens)
            if isinstance(found, Ticket):
                waiter.ticket = found
                let_in.append(waiter)
            else:
                smallest_refused, wait = waiter.tokens, min(wait, found)
        for waiter in let_in:
            del self._waiters[waiter]
            if waiter is not caller:
                waiter.wake()
        self._keep_time(wait, caller)

    def _keep_time(self, wait: float, caller: _Waiter | None) -> None:
        first = next(iter(self._waiters), None)
        if first is None or math.isinf(wait):
            return
        first.timeout = wait
        if first is not caller:
            first.wake()

    def _enqueue(self, tokens: int, wake: Callable[[], None]) -> _Waiter | Ticket:
        """A Ticket at once if nobody waits and it fits, else a queued
        waiter (called with the lock held). One that arrives later never
        goes before those already waiting, unless they do not fit."""
        if not self._waiters:
            found = self._admit(tokens)
            if isinstance(found, Ticket):
                return found
        waiter = _Waiter(tokens, wake)
        self._waiters[waiter] = None
        self._let_in(waiter)
        return waiter.ticket or waiter

    def _leave(self, waiter: _Waiter) -> None:
        """The waiter stopped waiting (cancelled, interrupted): out of the
        queue, or, if it was let in meanwhile, its place given back."""
        with self._lock:
            if waiter.ticket is None:
                self._waiters.pop(waiter, None)
                self._let_in()
                return
        self.done(waiter.ticket)

    def _next_timeout(self, waiter: _Waiter, ask: bool = True) -> float | None:
        """With the lock held: ask again (after a wake), and how long to
        wait now (None: until woken)."""
        if ask and waiter.ticket is None:
            self._let_in(waiter)
        timeout, waiter.timeout = waiter.timeout, None
        return timeout

    # -- waiting -------------------------------------------------------------

    def wait(self, tokens: int) -> Ticket:
        """Block until the request may start."""
        woken = threading.Event()
        with self._lock:
            waiter = self._enqueue(tokens, woken.set)
            if isinstance(waiter, Ticket):
                return waiter
            timeout = self._next_timeout(waiter, ask=False)
        try:
            while True:
                woken.wait(timeout)
                with self._lock:
                    woken.clear()
                    timeout = self._next_timeout(waiter)
                    if waiter.ticket is not None:
                        return waiter.ticket
        except BaseException:
            self._leave(waiter)
            raise

    async def await_turn(self, tokens: int) -> Ticket:
        """Wait, without blocking the event loop, until the request may start."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                loop.call_soon_threadsafe(_resolve, future)

        with self._lock:
            waiter = self._enqueue(tokens, wake)
            if isinstance(waiter, Ticket):
                return waiter
            timeout = self._next_timeout(waiter, ask=False)
        try:
            while True:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(future, timeout)
                with self._lock:
                    future = loop.create_future()
                    timeout = self._next_timeout(waiter)
                    if waiter.ticket is not None:
                        return waiter.ticket
        except BaseException:
            self._leave(waiter)
            raise


def _resolve(future) -> None:
    if not future.done():
        future.set_result(None)

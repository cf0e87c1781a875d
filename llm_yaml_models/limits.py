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

    __slots__ = ("start", "tokens")

    def __init__(self, start: float, tokens: int):
        self.start = start
        self.tokens = tokens


def estimate_tokens(*texts: str) -> int:
    return sum(len(t) for t in texts) // 4 + 1


class Limiter:
    def __init__(self, limits: Limits, clock=time.monotonic):
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._in_flight = 0
        self._recent: collections.deque[Ticket] = collections.deque()  # started in the window
        self._waiters: collections.deque = collections.deque()  # (loop, future), first first

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _admit(self, tokens: int) -> float | Ticket:
        """A Ticket if a request may start now, else how long to wait at
        most before asking again (``inf``: until one finishes)."""
        now = self._clock()
        while self._recent and self._recent[0].start <= now - WINDOW:
            self._recent.popleft()
        limits, waits = self.limits, []
        if limits.concurrency and self._in_flight >= limits.concurrency:
            waits.append(math.inf)
        if limits.rpm and len(self._recent) >= limits.rpm:
            waits.append(self._recent[-limits.rpm].start + WINDOW - now)
        if limits.tpm and self._recent:
            used = sum(t.tokens for t in self._recent)
            if used + tokens > limits.tpm:
                waits.append(self._until_tokens_free(used + tokens - limits.tpm, now))
        if waits:
            return max(max(waits), 0.001)
        ticket = Ticket(now, tokens)
        self._in_flight += 1
        self._recent.append(ticket)
        return ticket

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
                ticket.tokens = tokens
            self._wake_all()

    def _wake_all(self) -> None:
        """Every waiter asks again: one woken alone may still not fit (its
        rpm or tpm), and its wake would be lost to a waiter that fits."""
        self._cond.notify_all()
        while self._waiters:
            loop, future = self._waiters.popleft()
            with contextlib.suppress(RuntimeError):  # its loop has closed
                loop.call_soon_threadsafe(_resolve, future)

    # -- waiting -------------------------------------------------------------

    def wait(self, tokens: int) -> Ticket:
        """Block until the request may start."""
        with self._cond:
            while not isinstance(found := self._admit(tokens), Ticket):
                self._cond.wait(None if math.isinf(found) else found)
            return found

    async def await_turn(self, tokens: int) -> Ticket:
        """Wait, without blocking the event loop, until the request may start."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                found = self._admit(tokens)
                if isinstance(found, Ticket):
                    return found
                future = loop.create_future()
                self._waiters.append((loop, future))
            try:
                await asyncio.wait_for(future, None if math.isinf(found) else found)
            except asyncio.TimeoutError:
                pass
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove((loop, future))


def _resolve(future) -> None:
    if not future.done():
        future.set_result(None)

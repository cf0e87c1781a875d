"""``deployments:``: several replicas behind one HTTP model.

Which replica a request goes to, and which are out of rotation: the pure
state the HTTP transport consults before each attempt and tells after it.

- ``least-busy`` (the default) picks the deployment with the fewest
  requests in flight for its weight; ties go round in turn, so equal
  replicas share the work evenly. ``round-robin`` takes them in turn,
  each as often as its weight says (smooth weighted round-robin).
- After ``cooldown.failures`` failures in a row a deployment is out for
  ``cooldown.seconds``; then one request, the probe, decides: success
  puts it back, failure takes it out again.
- A request that failed on one deployment is retried on another, one it
  has not tried, when there is one.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ...routing.limits import Limiter, Limits

STRATEGIES = ("least-busy", "round-robin")
# The index of the one deployment to use (``llm yaml-models check``): two
# deployments may share a base URL (with other model names, say).
_PINNED: contextvars.ContextVar[int | None] = contextvars.ContextVar("pinned", default=None)


@contextlib.contextmanager
def pinned(index: int):
    """Every request inside this block goes to the deployment ``index``."""
    token = _PINNED.set(index)
    try:
        yield
    finally:
        _PINNED.reset(token)


@dataclass(frozen=True)
class DeploymentSpec:
    base_url: str
    key: tuple[str, str | None] | None = None  # (llm key name, environment variable)
    model_name: str | None = None
    weight: float = 1.0
    limits: Limits | None = None

    @classmethod
    def from_data(cls, data: dict) -> DeploymentSpec:
        key = data.get("key")
        return cls(
            base_url=data["base_url"],
            key=(key["name"], key.get("env")) if key else None,
            model_name=data.get("model_name"),
            weight=float(data.get("weight", 1)),
            limits=Limits.from_data(data.get("limits")),
        )


@dataclass(frozen=True)
class Cooldown:
    failures: int = 3
    seconds: float = 30.0

    @classmethod
    def from_data(cls, data: dict | None) -> Cooldown:
        return cls(**(data or {}))


class Deployment:
    """One replica's state in this process."""

    def __init__(self, index: int, spec: DeploymentSpec):
        self.index = index
        self.spec = spec
        self.in_flight = 0
        self.sent = 0
        self.failures = 0  # in a row
        self.out_until: float | None = None  # cooling down until then
        self.probing = False  # its one probe is in flight
        self.current = 0.0  # smooth weighted round-robin
        self.limiter = Limiter(spec.limits) if spec.limits else None

    @property
    def name(self) -> str:
        return self.spec.base_url


class Balancer:
    def __init__(self, specs, strategy: str = "least-busy", cooldown=Cooldown(), clock=None):
        self.deployments = [Deployment(i, s) for i, s in enumerate(specs)]
        self.strategy = strategy
        self.cooldown = cooldown
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._turn = 0

    def choose(self, tried: frozenset[int] = frozenset(), only: int | None = None) -> Deployment:
        """The deployment for the next attempt (``only``: the one of that
        index), counted as in flight."""
        with self._lock:
            chosen = self._pick(tried, reserve=True) if only is None else self.deployments[only]
            chosen.in_flight += 1
            chosen.sent += 1
            return chosen

    def peek(self) -> Deployment:
        """The deployment ``choose`` would give now, changing nothing."""
        with self._lock:
            return self._pick(frozenset(), reserve=False)

    def _pick(self, tried: frozenset[int], reserve: bool) -> Deployment:
        now = self._clock()
        usable = [d for d in self.deployments if self._usable(d, now)]
        fresh = [d for d in usable if d.index not in tried]
        if fresh or usable:
            chosen = self._by_strategy(fresh or usable, reserve)
        else:  # every one is out: the one back soonest, as an early probe
            chosen = min(self.deployments, key=lambda d: (d.probing, d.out_until or 0))
        if reserve and chosen.out_until is not None:
            chosen.probing = True
        return chosen

    def _usable(self, d: Deployment, now: float) -> bool:
        if d.out_until is None:
            return True
        return d.out_until <= now and not d.probing  # its cool-down is over: probe it

    def _by_strategy(self, candidates: list[Deployment], reserve: bool) -> Deployment:
        if self.strategy == "round-robin":
            return self._weighted_turn(candidates, reserve)
        start = self._turn % len(self.deployments)
        order = sorted(candidates, key=lambda d: (d.index - start) % len(self.deployments))
        chosen = min(order, key=lambda d: d.in_flight / d.spec.weight)
        if reserve:
            self._turn = chosen.index + 1
        return chosen

    def _weighted_turn(self, candidates: list[Deployment], reserve: bool) -> Deployment:
        total = sum(d.spec.weight for d in candidates)
        gained = {d.index: d.current + d.spec.weight for d in candidates}
        chosen = max(candidates, key=lambda d: (gained[d.index], -d.index))
        if reserve:
            for d in candidates:
                d.current = gained[d.index] - (total if d is chosen else 0)
        return chosen

    def succeeded(self, d: Deployment) -> None:
        with self._lock:
            d.in_flight -= 1
            d.failures, d.out_until, d.probing = 0, None, False

    def failed(self, d: Deployment) -> None:
        """The attempt failed in a way a replica can (no connection, 429, 5xx)."""
        with self._lock:
            d.in_flight -= 1
            d.failures += 1
            if d.probing or d.failures >= self.cooldown.failures:
                d.out_until = self._clock() + self.cooldown.seconds
            d.probing = False

    def released(self, d: Deployment) -> None:
        """The attempt ended in a way that says nothing of the replica."""
        with self._lock:
            d.in_flight -= 1
            d.probing = False


# -- one request's way through them ---------------------------------------------


class Target:
    """What one attempt uses: the configuration (the deployment's URL and
    model name), the key, and the deployment (None without deployments)."""

    __slots__ = ("config", "key", "deployment", "ticket")

    def __init__(self, config, key: str | None, deployment: Deployment | None = None):
        self.config = config
        self.key = key
        self.deployment = deployment
        self.ticket = None  # from the deployment's limiter, once admitted

    @property
    def index(self) -> int | None:
        return None if self.deployment is None else self.deployment.index

    @property
    def limiter(self) -> Limiter | None:
        return None if self.deployment is None else self.deployment.limiter


class Trial:
    """How an attempt went: whether text came, whether the replica failed."""

    __slots__ = ("output", "replica_failed")

    def __init__(self):
        self.output = False
        self.replica_failed = False


class Route:
    """One request: a deployment for each attempt, never one tried before
    while another is left. Without deployments, the one target each time."""

    def __init__(self, balancer: Balancer | None, single: Target, targets):
        self.balancer = balancer
        self.single = single
        self.targets = targets  # deployment -> Target (its config and key)
        self.tried: set[int] = set()
        self.only = _PINNED.get() if balancer is not None else None

    def choose(self) -> Target:
        """The next target. A deployment that cannot be used (its key is
        missing, say) has failed: the next untried one is taken, and the
        error is raised only when none is left."""
        if self.balancer is None:
            return self.single
        for turn in range(len(self.balancer.deployments), 0, -1):
            deployment = self.balancer.choose(frozenset(self.tried), self.only)
            self.tried.add(deployment.index)
            try:
                return self.targets(deployment)
            except BaseException as error:
                self.balancer.failed(deployment)
                if turn == 1 or not isinstance(error, Exception) or not self.untried():
                    raise
        raise AssertionError("unreachable")  # the last turn returns or raises

    def peek(self) -> Target:
        return self.single if self.balancer is None else self.targets(self.balancer.peek())

    def untried(self) -> bool:
        if self.balancer is None or self.only is not None:
            return False
        return len(self.tried) < len(self.balancer.deployments)

    def elsewhere(self, trial: Trial, attempt: int, retries: int) -> bool:
        """Whether a request that broke before any output goes to another deployment."""
        spread = self.balancer is not None and self.only is None
        return spread and not trial.output and attempt < retries

    @contextlib.contextmanager
    def trying(self, target: Target, tokens) -> Iterator[Trial]:
        trial, failed = Trial(), False
        try:
            yield trial
        except BaseException:
            failed = True
            raise
        finally:
            if target.ticket is not None:
                target.limiter.done(target.ticket, tokens())
            if target.deployment is not None:
                self._ended(target.deployment, trial, failed)

    def _ended(self, deployment: Deployment, trial: Trial, failed: bool) -> None:
        if trial.replica_failed:
            self.balancer.failed(deployment)
        elif failed:
            self.balancer.released(deployment)
        else:
            self.balancer.succeeded(deployment)

"""Work that grows with its input grows linearly, and numbers llm will
store: the limiter's queue, the async worker pool, vectors as float32."""

from __future__ import annotations

import asyncio
import sys
import threading

import llm
import pytest

from llm_yaml_models.backends.vectors import VectorError, checked
from llm_yaml_models.routing.limits import Limiter, Limits


class Counting(Limiter):
    """A Limiter that counts how often it decides, and how often it wakes."""

    def __init__(self, limits: Limits, clock=None):
        super().__init__(limits, *([clock] if clock else []))
        self.asked = 0
        self.woken = 0

    def _admit(self, tokens):
        self.asked += 1
        return super()._admit(tokens)

    def _enqueue(self, tokens, wake):
        def counted():
            self.woken += 1
            wake()

        return super()._enqueue(tokens, counted)


# -- the limiter's queue -----------------------------------------------------


def test_2000_queued_async_prompts_cost_the_limiter_a_constant_each():
    limiter, n = Counting(Limits(concurrency=10)), 2000

    async def prompt() -> None:
        ticket = await limiter.await_turn(1)
        await asyncio.sleep(0)
        limiter.done(ticket)

    async def run() -> None:
        await asyncio.wait_for(asyncio.gather(*(prompt() for _ in range(n))), 60)

    asyncio.run(run())
    assert limiter.in_flight == 0
    # Each one is asked about once when it arrives and once when let in,
    # and woken once: waking every waiter on every end was n * n / 2.
    assert limiter.asked <= 2 * n
    assert limiter.woken <= n


def test_queued_sync_prompts_cost_the_limiter_a_constant_each():
    limiter, n, started = Counting(Limits(concurrency=1)), 40, threading.Barrier(41)
    first = limiter.wait(1)

    def prompt() -> None:
        started.wait(10)
        limiter.done(limiter.wait(1))

    threads = [threading.Thread(target=prompt, daemon=True) for _ in range(n)]
    for thread in threads:
        thread.start()
    started.wait(10)
    limiter.done(first)
    for thread in threads:
        thread.join(30)
    assert (limiter.in_flight, limiter.asked <= 2 * n + 1, limiter.woken <= n) == (0, True, True)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_newcomer_does_not_pass_the_waiter_whose_minute_is_up():
    clock = Clock()
    limiter = Counting(Limits(rpm=1), clock)
    limiter.wait(1)  # the minute's one request
    admitted: list = []
    head = threading.Thread(target=lambda: admitted.append(("head", limiter.wait(1))))
    head.start()
    for _ in range(500):  # until it waits (bounded)
        if limiter._waiters:
            break
        threading.Event().wait(0.01)
    clock.now += 60
    newcomer = threading.Thread(target=lambda: admitted.append(("newcomer", limiter.wait(1))))
    newcomer.daemon = True
    newcomer.start()
    head.join(10)
    assert [name for name, _ in admitted] == ["head"]
    assert [w.tokens for w in limiter._waiters] == [1]  # the newcomer waits its minute


def test_a_cancelled_waiter_leaves_the_queue_and_the_next_one_goes():
    async def run() -> tuple:
        limiter = Limiter(Limits(concurrency=1))
        first = await limiter.await_turn(1)
        gone = asyncio.create_task(limiter.await_turn(1))
        nxt = asyncio.create_task(limiter.await_turn(1))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.sleep(0.01)
        limiter.done(first)
        await asyncio.wait_for(nxt, 5)
        return limiter.in_flight, len(limiter._waiters)

    assert asyncio.run(run()) == (1, 0)


# -- the async worker pool ---------------------------------------------------

COUNTING_CALLABLE = """\
import threading
import time

most = [0]


def reply(request):
    most[0] = max(most[0], threading.active_count())
    time.sleep(0.01)  # so that calls overlap: one thread each would show
    return "ok"


def chunks(request):
    yield "o"
    most[0] = max(most[0], threading.active_count())
    time.sleep(0.01)
    yield "k"
"""

TWO_MODELS = """\
- model_id: counted
  backend: {type: python, callable: ./counting.py:reply}
- model_id: chunked
  backend: {type: python, callable: ./counting.py:chunks}
"""


def _many(model_id: str, n: int) -> list[str]:
    import llm

    async def run() -> list[str]:
        model = llm.get_async_model(model_id)
        return await asyncio.gather(*(model.prompt("hi").text() for _ in range(n)))

    return asyncio.run(run())


def test_1000_async_prompts_share_a_bounded_pool_of_threads(write):
    from llm_yaml_models.backends import worker

    callable_file = write("counting.py", COUNTING_CALLABLE)
    write("m.yaml", TWO_MODELS)
    before = threading.active_count()
    assert _many("counted", 1000) == ["ok"] * 1000
    assert _many("chunked", 1000) == ["ok"] * 1000
    module = next(
        m for m in sys.modules.values() if getattr(m, "__file__", "") == str(callable_file)
    )
    assert module.most[0] <= before + worker.WORKERS
    assert threading.active_count() <= before + worker.WORKERS


def test_no_thread_to_start_is_the_models_one_line_error(write, monkeypatch):
    import llm

    from llm_yaml_models.backends import worker

    write("counting.py", COUNTING_CALLABLE)
    write("m.yaml", TWO_MODELS)
    monkeypatch.setattr(worker, "_POOL", worker._Pool(worker.WORKERS))

    def refused(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refused)
    for model_id in ("counted", "chunked"):
        try:
            _many(model_id, 3)
        except llm.ModelError as exc:
            said = str(exc)
        assert said == f"{model_id}: cannot start a thread to run it: can't start new thread"


# -- numbers llm will store --------------------------------------------------

TOO_LARGE = "too large for a float32 (llm stores float32)"
NO_DIRECTION = "llm cannot compare it with any other"


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        (
            [[1.0, 3.5e39]],
            "f gave 3.5e+39 in vector 0, " + TOO_LARGE,
        ),
        (
            [[1.0], [-3.4028236e38]],
            "f gave -3.4028236e+38 in vector 1, " + TOO_LARGE,
        ),
        ([[10**39, 1]], "f gave 1e+39 in vector 0, " + TOO_LARGE),
        (
            [[0.0, -0.0]],
            "f gave vector 0 with every number zero as a float32: " + NO_DIRECTION,
        ),
        (
            [[1.0], [1e-50]],
            "f gave vector 1 with every number zero as a float32: " + NO_DIRECTION,
        ),
        (
            [[1.0, 1.0], [0, 0]],
            "f gave vector 1 with every number zero as a float32: " + NO_DIRECTION,
        ),
    ],
)
def test_vectors_are_what_llm_can_store_as_float32(vectors, message):
    with pytest.raises(VectorError) as caught:
        checked(vectors, len(vectors), "f")
    assert str(caught.value) == message


def test_the_largest_float32_and_the_smallest_nonzero_are_stored():
    vectors = [[3.4028234663852886e38, -3.4028234663852886e38], [1.401298464324817e-45, 0.0]]
    assert checked(vectors, 2, "f") == vectors
    assert llm.decode(llm.encode(vectors[1]))[0] > 0


EMBED_FUNCTIONS = """\
def huge(items):
    return [[1.0, 3.5e39] for _ in items]


def zeros(items):
    return [[0.0, 0.0] for _ in items]
"""


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (
            "huge",
            "./fns.py:huge gave 3.5e+39 in vector 0, " + TOO_LARGE,
        ),
        (
            "zeros",
            "./fns.py:zeros gave vector 0 with every number zero as a float32: " + NO_DIRECTION,
        ),
    ],
)
def test_llm_embed_refuses_them_with_one_line_and_stores_nothing(
    write, run_llm, tmp_path, function, message
):
    write("fns.py", EMBED_FUNCTIONS)
    write(
        "e.yaml",
        "embedding_models:\n  - model_id: e\n"
        f"    backend: {{type: python, callable: ./fns.py:{function}}}\n",
    )
    db = tmp_path / "e.db"
    result = run_llm("embed", "c", "one", "-m", "e", "-c", "hello", "-d", str(db))
    assert (result.exit_code, result.stderr) == (1, f"Error: e: {message}\n")
    assert run_llm("similar", "c", "-c", "hello", "-d", str(db)).exit_code == 1  # no collection

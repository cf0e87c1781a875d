"""Issue 16: fallbacks between models, client-side limits, deployments.

Every server is a real one on 127.0.0.1 (tests/fakeapi.py), started and
stopped by the test; a dead server is a port nothing listens on.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import llm
import pytest
from fakeapi import REPLY, FakeAPI

from llm_yaml_models.routing.limits import Limiter, Limits


def dead_url() -> str:
    """A base URL where nothing listens: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def chat(model_id: str, url: str, extra: str = "") -> str:
    return f"""\
- model_id: {model_id}
  backend: {{type: http, preset: openai-chat, base_url: "{url}/v1", retries: 0, timeout: 5}}
{extra}"""


# The answer of the fallback: a markov model, seeded, over the prompt's words.
BACKUP = """\
- model_id: backup
  backend: {type: markov}
  options:
    length: {type: integer, minimum: 2, default: 3}
    seed: {type: integer, default: 1}
"""
PROMPT = "one two three four"


@pytest.fixture
def server(fake_api):
    return fake_api


def backup_text() -> str:
    return llm.get_model("backup").prompt(PROMPT).text()


# -- fallbacks ---------------------------------------------------------------


def failing(write, url, extra="", retries=0):
    fallbacks = "  fallbacks: [backup]\n" + extra
    text = chat("main", url, fallbacks).replace("retries: 0", f"retries: {retries}")
    write("m.yaml", text + BACKUP)


def test_a_refused_connection_falls_back_and_logs_who_answered(write, run_llm):
    url = dead_url()
    failing(write, url)
    result = run_llm("-m", "main", PROMPT)
    assert result.exit_code == 0, result.output
    assert result.stdout == backup_text() + "\n"
    assert result.stderr == (
        f"llm-yaml-models: main: cannot connect to {url}/v1/chat/completions: "
        "connection refused; trying the next model\n"
    )
    (row,) = json.loads(run_llm("logs", "--json", "-n", "1").stdout)
    assert row["model"] == "main"
    assert row["response_json"]["answered_by"] == "backup"


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_5xx_fall_back_only_after_the_models_own_retries(write, run_llm, server, status):
    failing(write, server.url, retries=1)
    server.fail_next("status", status=status, times=2)
    result = run_llm("-m", "main", PROMPT, "--no-stream")
    assert result.exit_code == 0, result.output
    assert result.stdout == backup_text() + "\n"
    assert len(server.requests) == 2  # the first try and its one retry
    assert result.stderr == (
        f"llm-yaml-models: main: HTTP {status} from {server.url}/v1/chat/completions: "
        f"fake failure {status}; trying the next model\n"
    )


def test_a_model_that_answers_is_logged_as_the_one_that_answered(write, run_llm, server):
    failing(write, server.url)
    result = run_llm("-m", "main", PROMPT)
    assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    (row,) = json.loads(run_llm("logs", "--json", "-n", "1").stdout)
    assert row["response_json"]["answered_by"] == "main"


def test_a_timeout_falls_back(write, run_llm, server):
    text = chat("main", server.url, "  fallbacks: [backup]\n").replace("timeout: 5", "timeout: 0.3")
    write("m.yaml", text + BACKUP)
    server.fail_next("slow", seconds=2)
    result = run_llm("-m", "main", PROMPT)
    assert result.exit_code == 0, result.output
    assert result.stdout == backup_text() + "\n"
    assert result.stderr == (
        f"llm-yaml-models: main: timed out waiting for {server.url}/v1/chat/completions "
        "after 0.3s; trying the next model\n"
    )


def test_a_missing_key_falls_back(write, run_llm, server, monkeypatch):
    monkeypatch.delenv("MAIN_KEY", raising=False)
    failing(write, server.url, "  key: {name: main, env: MAIN_KEY}\n")
    result = run_llm("-m", "main", PROMPT)
    assert result.exit_code == 0, result.output
    assert result.stdout == backup_text() + "\n"
    assert result.stderr == (
        "llm-yaml-models: main: No key found - add one using 'llm keys set main' "
        "or set the MAIN_KEY environment variable; trying the next model\n"
    )
    assert server.requests == []


def test_an_error_another_model_would_share_is_not_retried_elsewhere(write, run_llm, server):
    failing(write, server.url)
    server.fail_next("status", status=400)
    result = run_llm("-m", "main", PROMPT)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: main: HTTP 400 from {server.url}/v1/chat/completions: fake failure 400\n"
    )


def test_a_failure_after_output_is_not_retried_and_says_output_had_begun(write, run_llm, server):
    failing(write, server.url)
    server.fail_next("cut")
    result = run_llm("-m", "main", PROMPT)
    assert result.exit_code == 1
    assert result.stdout.startswith("Hello")
    assert result.stderr.startswith(
        f"Error: main: connection to {server.url}/v1/chat/completions broke off: "
    )
    assert result.stderr.endswith(" (output had begun, so no fallback was asked)\n")
    assert result.stderr.count("\n") == 1


def test_when_every_model_fails_the_error_names_each_failure(write, run_llm):
    one, two = dead_url(), dead_url()
    write("m.yaml", chat("main", one, "  fallbacks: [second]\n") + chat("second", two))
    result = run_llm("-m", "main", PROMPT)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: main: cannot connect to {one}/v1/chat/completions: connection refused; "
        f"then second: cannot connect to {two}/v1/chat/completions: connection refused"
    )


def test_options_the_fallback_does_not_take_are_dropped_with_one_line(write, run_llm):
    url = dead_url()
    options = (
        "  options:\n    temperature: {type: number}\n"
        "    length: {type: integer, minimum: 2}\n    seed: {type: integer}\n"
    )
    failing(write, url, options)
    result = run_llm("-m", "main", PROMPT, "-o", "temperature", "0.5", "-o", "length", "4")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.split()) == 4  # length was passed on
    assert result.stderr.splitlines()[1:] == [
        "llm-yaml-models: backup does not take the options temperature: not sent"
    ]


def test_a_default_the_fallback_does_not_take_is_dropped_without_a_word(write, run_llm):
    failing(write, dead_url(), "  options:\n    top_k: {type: integer, default: 40}\n")
    result = run_llm("-m", "main", PROMPT, "-o", "top_k", "40")
    assert result.exit_code == 0, result.output
    assert len(result.stderr.splitlines()) == 1  # the fallback, and no word on top_k


def test_a_fallbacks_own_fallbacks_follow_it_and_a_cycle_ends(write, run_llm):
    one, two = dead_url(), dead_url()
    write(
        "m.yaml",
        chat("main", one, "  fallbacks: [second]\n")
        + chat("second", two, "  fallbacks: [main, backup]\n")
        + BACKUP,
    )
    result = run_llm("-m", "main", PROMPT)
    assert result.exit_code == 0, result.output
    assert result.stdout == backup_text() + "\n"
    assert len(result.stderr.splitlines()) == 2  # main, then second, each once


def test_fallbacks_work_through_the_async_api(write, server):
    url = dead_url()
    failing(write, url)

    async def both():
        model = llm.get_async_model("main")
        streamed = await model.prompt(PROMPT).text()
        whole = model.prompt(PROMPT, stream=False)
        return streamed, await whole.text(), whole.response_json

    streamed, whole, logged = asyncio.run(both())
    assert streamed == whole == backup_text()
    assert logged["answered_by"] == "backup"


def test_an_async_failure_after_output_says_output_had_begun(write, server):
    failing(write, server.url)
    server.fail_next("cut")

    async def run():
        return await llm.get_async_model("main").prompt(PROMPT).text()

    with pytest.raises(llm.ModelError) as caught:
        asyncio.run(run())
    assert str(caught.value).endswith("(output had begun, so no fallback was asked)")


# -- validate ------------------------------------------------------------------


def test_validate_reports_an_unknown_fallback_and_a_cycle(write, run_llm):
    path = write(
        "m.yaml",
        """\
        models:
          - model_id: a
            backend: {type: markov}
            fallbacks: [b, nowhere]
          - model_id: b
            backend: {type: markov}
            fallbacks: [a]
          - model_id: c
            backend: {type: markov}
            fallbacks: [c]
        """,
    )
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}:4:17: models[0].fallbacks[0]: 'b' leads back to this model: a -> b -> a\n"
        f"{path}:4:20: models[0].fallbacks[1]: 'nowhere' is not a known model\n"
        f"{path}:7:17: models[1].fallbacks[0]: 'a' leads back to this model: b -> a -> b\n"
        f"{path}:10:17: models[2].fallbacks[0]: 'c' leads back to this model: c -> c\n"
    )


def test_validate_locates_a_fallback_given_in_defaults(write, run_llm):
    path = write(
        "m.yaml",
        """\
        defaults:
          fallbacks: [gone]
        models:
          - model_id: a
            backend: {type: markov}
        """,
    )
    result = run_llm("yaml-models", "validate")
    assert result.stdout == f"{path}:2:15: defaults.fallbacks[0]: 'gone' is not a known model\n"


def test_validate_refuses_an_embedding_model_as_a_fallback(write, run_llm):
    write("fns.py", "def emb(items):\n    return [[1.0] for i in items]\n")
    path = write(
        "m.yaml",
        """\
        models:
          - model_id: a
            backend: {type: markov}
            fallbacks: [e]
        embedding_models:
          - model_id: e
            backend: {type: python, callable: ./fns.py:emb}
        """,
    )
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}:4:17: models[0].fallbacks[0]: 'e' is an embedding model: "
        "a chat model cannot fall back to it\n"
    )


class SyncOnly(llm.Model):
    model_id = "sync-only"

    def execute(self, prompt, stream, response, conversation):
        yield "from sync-only"


class SyncOnlyPlugin:
    @llm.hookimpl
    def register_models(self, register):
        register(SyncOnly())


@pytest.fixture
def sync_only_plugin():
    from llm.plugins import pm

    pm.register(SyncOnlyPlugin(), name="sync-only-test")
    try:
        yield
    finally:
        pm.unregister(name="sync-only-test")


def test_validate_warns_of_a_fallback_with_no_async_model(write, run_llm, sync_only_plugin):
    path = write("m.yaml", chat("main", dead_url(), "  fallbacks: [sync-only]\n"))
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"{path}:3:15: [0].fallbacks[0]: 'sync-only' has no async model: through the "
        "async API, the model cannot fall back to it\n"
    )
    sync = run_llm("-m", "main", PROMPT)  # another plugin's model as a fallback
    assert (sync.exit_code, sync.stdout) == (0, "from sync-only\n")

    async def run():
        return await llm.get_async_model("main").prompt(PROMPT).text()

    with pytest.raises(llm.ModelError) as caught:
        asyncio.run(run())
    assert str(caught.value).endswith(
        "then sync-only: cannot fall back to it: Unknown async model (sync model exists): sync-only"
    )


# -- limits ------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_rpm_admits_n_a_minute_then_says_how_long_to_wait():
    clock = Clock()
    limiter = Limiter(Limits(rpm=2), clock)
    first, _ = limiter._admit(1), limiter._admit(1)
    clock.now += 10
    assert limiter._admit(1) == 50.0
    clock.now += 50
    assert limiter._admit(1).start == clock.now
    limiter.done(first)


def test_tpm_counts_the_estimate_then_the_usage_reported():
    clock = Clock()
    limiter = Limiter(Limits(tpm=100), clock)
    ticket = limiter._admit(30)
    limiter.done(ticket, 90)  # it used 90 tokens in all
    clock.now += 5
    assert limiter._admit(20) == 55.0
    assert limiter._admit(10).tokens == 10  # 90 + 10 fits


def test_a_request_larger_than_tpm_still_runs_alone():
    limiter = Limiter(Limits(tpm=10), Clock())
    assert limiter._admit(500).tokens == 500


def test_a_waiter_that_fits_is_not_left_behind_one_that_does_not():
    async def run():
        limiter = Limiter(Limits(concurrency=1, tpm=100))
        first = await limiter.await_turn(10)
        big = asyncio.create_task(limiter.await_turn(95))  # concurrency, then tpm
        await asyncio.sleep(0.05)
        small = asyncio.create_task(limiter.await_turn(10))  # concurrency only
        await asyncio.sleep(0.05)
        limiter.done(first, 10)
        await asyncio.wait_for(small, 5)  # generous bound, not a timing
        big.cancel()
        return limiter.in_flight

    assert asyncio.run(run()) == 1


def test_a_sync_waiter_that_fits_is_woken_too():
    limiter = Limiter(Limits(concurrency=1, tpm=100))
    first, admitted = limiter.wait(10), {}

    def wait(name, tokens):
        admitted[name] = limiter.wait(tokens)

    big = threading.Thread(target=wait, args=("big", 95), daemon=True)
    big.start()
    threading.Event().wait(0.05)
    small = threading.Thread(target=wait, args=("small", 10), daemon=True)
    small.start()
    threading.Event().wait(0.05)
    limiter.done(first, 10)
    small.join(5)
    assert list(admitted) == ["small"]


def limited(write, url, limits: str):
    write("m.yaml", chat("main", url, f"  limits: {limits}\n"))


def test_async_concurrency_waits_instead_of_exceeding(write, server):
    limited(write, server.url, "{concurrency: 2}")
    server.fail_next("slow", seconds=0.3, times=6)

    async def many():
        model = llm.get_async_model("main")
        return await asyncio.gather(*(model.prompt(PROMPT).text() for _ in range(6)))

    assert asyncio.run(many()) == [REPLY] * 6
    assert server.peak_connections == 2
    assert len(server.requests) == 6


def test_without_a_limit_the_same_prompts_run_at_once(write, server):
    write("m.yaml", chat("main", server.url))
    server.fail_next("slow", seconds=0.3, times=6)

    async def many():
        model = llm.get_async_model("main")
        return await asyncio.gather(*(model.prompt(PROMPT).text() for _ in range(6)))

    assert asyncio.run(many()) == [REPLY] * 6
    assert server.peak_connections == 6


def test_sync_concurrency_holds_across_threads(write, server):
    limited(write, server.url, "{concurrency: 1}")
    server.fail_next("slow", seconds=0.2, times=3)
    model = llm.get_model("main")
    texts = []
    threads = [
        threading.Thread(target=lambda: texts.append(model.prompt(PROMPT).text())) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert texts == [REPLY] * 3
    assert server.peak_connections == 1


def test_validate_refuses_a_limit_that_is_not_a_positive_integer(write, run_llm):
    path = write("m.yaml", chat("main", "http://127.0.0.1:1", "  limits: {rpm: 0, tpz: 3}\n"))
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert result.stdout == (
        f"{path}:3:17: [0].limits.rpm: 0 is less than the minimum of 1\n"
        f"{path}:3:20: [0].limits.tpz: unknown key 'tpz'; did you mean 'tpm'?\n"
    )


# -- deployments: the balancer -----------------------------------------------


def balancer(n=3, strategy="least-busy", weights=None, clock=None, **cooldown):
    from llm_yaml_models.backends.http.deployments import Balancer, Cooldown, DeploymentSpec

    weights = weights or [1] * n
    specs = [DeploymentSpec(f"http://d{i}", weight=w) for i, w in enumerate(weights)]
    return Balancer(specs, strategy, Cooldown(**cooldown), clock)


def test_least_busy_takes_the_idlest_and_ties_go_round():
    b = balancer()
    first = [b.choose().index for _ in range(3)]
    assert first == [0, 1, 2]
    b.succeeded(b.deployments[1])
    assert b.choose().index == 1  # the only idle one
    for d in b.deployments:
        while d.in_flight:
            b.succeeded(d)
    assert [b.choose().index for _ in range(3)] == [2, 0, 1]


def test_least_busy_counts_in_flight_for_the_weight():
    b = balancer(2, weights=[2, 1])
    assert [b.choose().index for _ in range(3)] == [0, 1, 0]


def test_round_robin_follows_the_weights():
    b = balancer(3, "round-robin", weights=[3, 1, 1])
    chosen = [b.choose().index for _ in range(10)]
    assert sorted(chosen) == [0] * 6 + [1] * 2 + [2] * 2
    assert chosen[:5] == [0, 1, 0, 2, 0]  # spread out, not 0, 0, 0


def test_a_failing_deployment_cools_down_then_one_probe_decides():
    clock = Clock()
    b = balancer(2, "round-robin", clock=clock, failures=2, seconds=10)
    bad = b.deployments[1]
    for _ in range(2):
        b.failed(b.choose(frozenset({0})))
    assert bad.out_until == clock.now + 10
    assert {b.choose().index for _ in range(4)} == {0}  # out of rotation
    clock.now += 10
    probe = b.choose(frozenset({0}))
    assert probe is bad and bad.probing
    assert b.choose(frozenset({0})).index == 0  # one probe at a time
    b.failed(probe)
    assert bad.out_until == clock.now + 10  # failed: out again
    clock.now += 10
    b.succeeded(b.choose(frozenset({0})))
    assert (bad.out_until, bad.failures) == (None, 0)


def test_a_retry_goes_to_a_deployment_not_tried():
    b = balancer()
    first = b.choose()
    b.failed(first)
    assert b.choose(frozenset({first.index})).index != first.index


def test_when_every_deployment_is_out_the_one_back_soonest_is_tried():
    clock = Clock()
    b = balancer(2, clock=clock, failures=1, seconds=10)
    b.failed(b.choose())
    clock.now += 1
    b.failed(b.choose())
    assert b.choose().index == 0


# -- deployments: against real servers -----------------------------------------


def fleet(write, urls, extra="", each=None):
    each = each or [""] * len(urls)
    deployments = "".join(
        f"      - base_url: {url}/v1\n{more}" for url, more in zip(urls, each, strict=True)
    )
    write(
        "m.yaml",
        f"""\
- model_id: fleet
  backend:
    type: http
    preset: openai-chat
    retries: 2
{extra}    deployments:
{deployments}""",
    )


@pytest.fixture
def servers():
    with FakeAPI() as a, FakeAPI() as b, FakeAPI() as c:
        yield [a, b, c]


def test_requests_are_shared_evenly_and_logged_with_their_deployment(write, run_llm, servers):
    fleet(write, [s.url for s in servers])
    for _ in range(6):
        result = run_llm("-m", "fleet", PROMPT)
        assert (result.exit_code, result.stdout, result.stderr) == (0, REPLY + "\n", "")
    assert [len(s.requests) for s in servers] == [2, 2, 2]
    (row,) = json.loads(run_llm("logs", "--json", "-n", "1").stdout)
    assert row["response_json"]["deployment"] == f"{servers[2].url}/v1"


def test_the_python_api_reuses_each_deployments_connection(write, servers):
    fleet(write, [s.url for s in servers])
    model = llm.get_model("fleet")
    assert [model.prompt(PROMPT).text() for _ in range(6)] == [REPLY] * 6
    assert [s.connections_made for s in servers] == [1, 1, 1]


def test_a_deployment_has_its_own_model_name_and_key(write, servers, monkeypatch):
    monkeypatch.setenv("FLEET_KEY", "sk-fleet-1234")
    monkeypatch.setenv("SECOND_KEY", "sk-second-5678")
    model_text = (
        "- model_id: fleet\n"
        "  key: {name: fleet, env: FLEET_KEY}\n"
        "  backend:\n"
        "    type: http\n"
        "    preset: openai-chat\n"
        "    model_name: shared-name\n"
        "    deployments:\n"
        f"      - base_url: {servers[0].url}/v1\n"
        f"      - base_url: {servers[1].url}/v1\n"
        "        model_name: second-name\n"
        "        key: {name: second, env: SECOND_KEY}\n"
    )
    write("m.yaml", model_text)
    model = llm.get_model("fleet")
    assert [model.prompt(PROMPT).text() for _ in range(2)] == [REPLY] * 2
    first, second = servers[0].last, servers[1].last
    assert (first.json["model"], first.headers["authorization"]) == (
        "shared-name",
        "Bearer sk-fleet-1234",
    )
    assert (second.json["model"], second.headers["authorization"]) == (
        "second-name",
        "Bearer sk-second-5678",
    )


def test_a_failed_request_is_retried_on_another_deployment_and_the_bad_one_cools_down(
    write, servers
):
    bad, good = servers[0], servers[1]
    bad.fail_rate = 1.0
    fleet(write, [bad.url, good.url], "    cooldown: {failures: 2, seconds: 60}\n")
    model = llm.get_model("fleet")
    assert [model.prompt(PROMPT).text() for _ in range(4)] == [REPLY] * 4
    assert (len(bad.requests), len(good.requests)) == (2, 4)


def test_after_the_cool_down_one_probe_puts_it_back(write, servers):
    bad, good = servers[0], servers[1]
    bad.fail_rate = 1.0
    fleet(write, [bad.url, good.url], "    cooldown: {failures: 1, seconds: 0.2}\n")
    model = llm.get_model("fleet")
    assert model.prompt(PROMPT).text() == REPLY
    assert len(bad.requests) == 1
    bad.fail_rate = 0.0
    threading.Event().wait(0.3)  # the cool-down passes (nothing is timed)
    assert model.prompt(PROMPT).text() == REPLY
    assert len(bad.requests) == 2  # the probe, which succeeded
    assert [model.prompt(PROMPT).text() for _ in range(2)] == [REPLY] * 2
    assert len(bad.requests) == 3  # back in rotation


def test_a_dead_deployment_is_passed_over_through_the_async_api(write, servers):
    url = dead_url()
    fleet(write, [url] + [s.url for s in servers[:2]])

    async def many():
        model = llm.get_async_model("fleet")
        return await asyncio.gather(*(model.prompt(PROMPT).text() for _ in range(20)))

    assert asyncio.run(many()) == [REPLY] * 20
    assert len(servers[0].requests) + len(servers[1].requests) == 20


def test_when_every_deployment_fails_the_error_names_the_last(write):
    urls = [dead_url(), dead_url()]
    fleet(write, urls)
    with pytest.raises(llm.ModelError) as caught:
        llm.get_model("fleet").prompt(PROMPT).text()
    assert str(caught.value) in [
        f"fleet: cannot connect to {u}/v1/chat/completions: connection refused" for u in urls
    ]


def test_deployment_limits_hold_for_each(write, servers):
    limits = "        limits: {concurrency: 1}\n"
    fleet(write, [s.url for s in servers[:2]], each=[limits, limits])
    for server in servers[:2]:
        server.fail_next("slow", seconds=0.2, times=3)

    async def many():
        model = llm.get_async_model("fleet")
        return await asyncio.gather(*(model.prompt(PROMPT).text() for _ in range(6)))

    assert asyncio.run(many()) == [REPLY] * 6
    assert [s.peak_connections for s in servers[:2]] == [1, 1]


def test_the_dry_run_shows_the_deployment_that_would_be_chosen(write, run_llm, servers):
    fleet(write, [s.url for s in servers[:2]])
    result = run_llm("yaml-models", "request", "fleet", "hi")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"# deployment 1 of 2 (least-busy): {servers[0].url}/v1"
    assert lines[1] == f"POST {servers[0].url}/v1/chat/completions"
    assert servers[0].requests == []


def test_check_asks_each_deployment(write, run_llm, servers):
    url = dead_url()
    fleet(write, [servers[0].url, url])
    result = run_llm("yaml-models", "check", "--json")
    assert result.exit_code == 1
    rows = [(r["deployment"], r["ok"], r["error"]) for r in json.loads(result.stdout)]
    assert rows == [
        (f"{servers[0].url}/v1", True, None),
        (
            f"{url}/v1",
            False,
            f"fleet: cannot connect to {url}/v1/chat/completions: connection refused",
        ),
    ]


def test_validate_refuses_url_beside_deployments(write, run_llm):
    path = write(
        "m.yaml",
        """\
        - model_id: fleet
          backend:
            type: http
            preset: openai-chat
            url: http://127.0.0.1:1/v1/chat/completions
            deployments:
              - base_url: http://127.0.0.1:2/v1
        """,
    )
    result = run_llm("yaml-models", "validate")
    assert result.stdout == (
        f"{path}:5:10: [0].backend.url: 'url' and 'deployments' cannot go together: "
        "give each deployment its base_url (and the backend a path)\n"
    )


def test_a_replica_that_goes_away_is_passed_over_mid_run(write):
    gone = FakeAPI().__enter__()
    with FakeAPI() as a, FakeAPI() as b:
        fleet(write, [a.url, b.url, gone.url])
        model = llm.get_model("fleet")
        assert [model.prompt(PROMPT).text() for _ in range(3)] == [REPLY] * 3
        gone.__exit__(None, None, None)  # its pooled connection breaks, new ones are refused
        assert [model.prompt(PROMPT).text() for _ in range(6)] == [REPLY] * 6
        assert (len(a.requests), len(b.requests), len(gone.requests)) == (4, 4, 1)


def test_a_deployment_whose_key_is_missing_is_one_line(write, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with FakeAPI() as server:
        fleet(write, [server.url], each=["        key: {name: nosuch, env: NO_SUCH_KEY}\n"])
        with pytest.raises(llm.ModelError) as caught:
            llm.get_model("fleet").prompt(PROMPT).text()
    assert str(caught.value) == (
        f"fleet: no key for the deployment {server.url}/v1: 'llm keys set nosuch'"
    )


def test_a_deployment_whose_key_is_missing_is_passed_over(write, servers, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    nokey = "        key: {name: nosuch, env: NO_SUCH_KEY}\n"
    fleet(write, [s.url for s in servers[:2]], each=[nokey, ""])
    model = llm.get_model("fleet")
    assert [model.prompt(PROMPT).text() for _ in range(4)] == [REPLY] * 4

    async def more():
        model = llm.get_async_model("fleet")
        return [await model.prompt(PROMPT).text() for _ in range(2)]

    assert asyncio.run(more()) == [REPLY] * 2
    assert (len(servers[0].requests), len(servers[1].requests)) == (0, 6)


@pytest.mark.parametrize("key", ["sk-deployed-9876", None])
def test_the_dry_run_stars_a_deployments_key_or_its_absence(write, run_llm, monkeypatch, key):
    if key:
        monkeypatch.setenv("DEPLOYED_KEY", key)
    else:
        monkeypatch.delenv("DEPLOYED_KEY", raising=False)
    url = "http://127.0.0.1:9/v1"
    write(
        "m.yaml",
        f"""\
        - model_id: fleet
          backend:
            type: http
            preset: openai-chat
            deployments:
              - base_url: {url}
                key: {{name: deployed, env: DEPLOYED_KEY}}
        """,
    )
    result = run_llm("yaml-models", "request", "fleet", "hi")
    assert result.exit_code == 0, result.output
    assert "Authorization: Bearer ***\n" in result.stdout
    assert "sk-deployed" not in result.stdout


def test_the_sync_and_async_model_share_one_view_of_the_deployments(write, servers):
    bad, good = servers[0], servers[1]
    bad.fail_rate = 1.0
    fleet(write, [bad.url, good.url], "    cooldown: {failures: 1, seconds: 60}\n")
    assert llm.get_model("fleet").prompt(PROMPT).text() == REPLY  # bad fails, then out

    async def more():
        model = llm.get_async_model("fleet")
        return [await model.prompt(PROMPT).text() for _ in range(3)]

    assert asyncio.run(more()) == [REPLY] * 3
    assert (len(bad.requests), len(good.requests)) == (1, 4)

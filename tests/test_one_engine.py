"""One send-with-retries engine under both HTTP backends (``send.Sender``);
one trusted store under both on-disk caches (``store.read_trusted`` and
``store.write_atomically``); one ``joined`` and one ``same_origin``
(``urls``); and the rule for a model's limits beside a deployment's."""

from __future__ import annotations

import ast
import asyncio
import os
import socket
from pathlib import Path

import llm
import pytest
import yaml
from fakeapi import REPLY, fake_vector

import llm_yaml_models
from llm_yaml_models.backends.http.backend import HttpBackend
from llm_yaml_models.backends.http.embeddings import HttpEmbeddingBackend
from llm_yaml_models.backends.http.send import Sender


@pytest.fixture
def both(write, fake_api):
    """A chat model and an embedding model on one server, each with one retry."""
    base = fake_api.url + "/v1"
    chat = {"type": "http", "preset": "openai-chat", "base_url": base, "retries": 1}
    embed = {"type": "http", "preset": "openai-embeddings", "base_url": base, "retries": 1}
    write("c.yaml", yaml.safe_dump([{"model_id": "c", "backend": chat}]))
    write("e.yaml", yaml.safe_dump({"embedding_models": [{"model_id": "e", "backend": embed}]}))
    return fake_api


def ask(kind: str) -> object:
    if kind == "chat":
        return llm.get_model("c").prompt("hi", stream=False).text()
    return llm.get_embedding_model("e").embed("hi")


ANSWER = {"chat": REPLY, "embed": fake_vector("hi")}
PATH = {"chat": "/v1/chat/completions", "embed": "/v1/embeddings"}
NAME = {"chat": "c", "embed": "e"}


@pytest.mark.parametrize("kind", ["chat", "embed"])
def test_a_503_then_success_is_retried_alike(both, kind):
    both.fail_next("status", status=503, headers={"Retry-After": "0"})
    assert ask(kind) == ANSWER[kind]
    assert [r.path for r in both.requests] == [PATH[kind]] * 2
    assert both.requests[0].body == both.requests[1].body


@pytest.mark.parametrize("kind", ["chat", "embed"])
def test_the_retries_spent_fail_alike(both, kind):
    both.fail_next("status", status=503, headers={"Retry-After": "0"}, times=5)
    with pytest.raises(Exception) as caught:
        ask(kind)
    where = both.url + PATH[kind]
    assert str(caught.value) == f"{NAME[kind]}: HTTP 503 from {where}: fake failure 503"
    assert len(both.requests) == 2


@pytest.mark.parametrize("kind", ["chat", "embed"])
def test_too_long_a_retry_after_fails_at_once_alike(both, kind):
    both.fail_next("status", status=429, headers={"Retry-After": "3600"}, times=2)
    with pytest.raises(Exception) as caught:
        ask(kind)
    where = both.url + PATH[kind]
    assert str(caught.value) == (
        f"{NAME[kind]}: HTTP 429 from {where}: fake failure 429 "
        "(the server asked to retry after 3600s)"
    )
    assert len(both.requests) == 1


def test_the_engine_spreads_an_embedding_batch_over_deployments(tmp_path, fake_api):
    """Embedding models declare no deployments, but the engine they send
    with is the chat one: given deployments, it takes the next one at once
    when an attempt cannot connect, as for a prompt."""
    from llm_yaml_models.backends.base import EmbedRequest, OptionValues
    from llm_yaml_models.backends.http.embeddings import EmbeddingHttpConfig

    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    data = {
        "preset": "openai-embeddings",
        "retries": 1,
        "deployments": [
            {"base_url": dead, "limits": {"rpm": 10}},
            {"base_url": fake_api.url + "/v1", "limits": {"rpm": 10}},
        ],
    }
    backend = HttpEmbeddingBackend(EmbeddingHttpConfig.from_data(data, tmp_path / "e.yaml"))
    request = EmbedRequest("e", ["hi"], OptionValues({}), None)
    assert backend.embed(request) == [fake_vector("hi")]
    assert backend.sender.deployment_names() == [dead, fake_api.url + "/v1"]
    deployments = backend.sender.balancer.deployments
    assert [d.failures for d in deployments] == [1, 0]
    # each admitted the batch once, counted as its estimate ("hi": one token)
    assert [[t.tokens for t in d.limiter._recent] for d in deployments] == [[1], [1]]
    backend.close()


def test_both_backends_send_with_one_engine_by_composition():
    assert not issubclass(HttpEmbeddingBackend, HttpBackend)
    assert all(not hasattr(cls, "_attempt") for cls in (HttpBackend, HttpEmbeddingBackend))
    assert hasattr(Sender, "stream") and hasattr(Sender, "astream")


def test_no_module_imports_a_private_name_of_another():
    package = Path(llm_yaml_models.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                private = [a.name for a in node.names if a.name[:1] == "_" != a.name[1:2]]
                found += [f"{path.relative_to(package)}: {name}" for name in private]
    assert found == []


def test_the_async_chat_model_retries_through_the_same_engine(both):
    both.fail_next("status", status=503, headers={"Retry-After": "0"})

    async def go() -> str:
        return await llm.get_async_model("c").prompt("hi", stream=False).text()

    assert asyncio.run(go()) == REPLY
    assert len(both.requests) == 2


# -- one joined, one origin ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "other", "same"),
    [
        ("http://h:8000/v1", "http://h:8000/other?q=1", True),
        ("HTTP://Models.Example.com/v1", "http://models.example.com/x", True),
        ("http://user:pw@h/v1", "http://h/v1", True),
        ("http://h/v1", "https://h/v1", False),
        ("http://h/v1", "http://h:80/v1", False),  # a port written is not guessed at
        ("http://h:x/v1", "http://h:x/v1", False),  # unreadable: bound to nothing
        ("http://h/v1", "http://h:99999/v1", False),
        ("http://[::1]:8/v1", "http://[::1]:8/", True),
    ],
)
def test_same_origin(url, other, same):
    from llm_yaml_models.urls import same_origin

    assert same_origin(url, other) is same


@pytest.mark.parametrize(
    ("base", "path", "url"),
    [
        ("http://h/v1/", "/chat", "http://h/v1/chat"),
        ("http://h/v1", "chat", "http://h/v1/chat"),
        ("http://h/v1//", "", "http://h/v1"),
        ("", "models", "/models"),
    ],
)
def test_joined(base, path, url):
    from llm_yaml_models.urls import joined

    assert joined(base, path) == url


def test_a_redirect_to_a_url_with_no_readable_port_is_one_line_naming_it(write, fake_api):
    """The origin of a Location that cannot be read is no origin: the key
    stays behind, and the request fails as one line naming the URL."""
    bad = "http://127.0.0.1:port/v1/chat/completions"
    spec = {
        "type": "http",
        "preset": "openai-chat",
        "url": f"{fake_api.url}/redirect?to={bad}",
        "retries": 0,
    }
    key = {"name": "k", "env": "ENGINE_KEY"}
    write("c.yaml", yaml.safe_dump([{"model_id": "c", "key": key, "backend": spec}]))
    with pytest.raises(llm.ModelError) as caught:
        llm.get_model("c").prompt("hi", stream=False, key="sk-engine-123").text()
    assert str(caught.value) == f"c: cannot send to {bad}: Invalid port: 'port'"


# -- one trusted store for both caches -------------------------------------------


@pytest.fixture
def cache(tmp_path) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    return home / "c.json"


@pytest.mark.parametrize("replaces_odd", [False, True])
def test_a_trusted_file_is_read_whole_up_to_its_limit(cache, replaces_odd):
    from llm_yaml_models.store import read_trusted

    cache.write_bytes(b"x" * 3_000_000)  # more than one read's worth
    assert read_trusted(cache, 3_000_000, replaces_odd=replaces_odd) == b"x" * 3_000_000
    assert read_trusted(cache, 2_999_999, replaces_odd=replaces_odd) is None  # a miss
    assert read_trusted(cache.with_name("none.json"), 10, replaces_odd=replaces_odd) is None


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "link-to-fifo"])
def test_an_odd_file_is_refused_or_taken_for_none_never_waited_on(cache, kind):
    from llm_yaml_models.store import Untrusted, read_trusted

    if kind == "fifo":
        os.mkfifo(cache, 0o600)
    elif kind == "dev-zero":
        cache.symlink_to("/dev/zero")
    elif kind == "directory":
        cache.mkdir(mode=0o700)
    else:
        os.mkfifo(cache.with_name("fifo"), 0o600)
        cache.symlink_to(cache.with_name("fifo"))
    with pytest.raises(Untrusted) as refused:
        read_trusted(cache, 2**30)
    assert refused.value.why == "not a regular file"
    if kind != "dev-zero":  # /dev/zero is anyone's to write: refused as loose below
        assert read_trusted(cache, 2**30, replaces_odd=True) is None


def test_a_link_to_a_device_anyone_may_write_is_refused_even_where_odd_files_are_replaced(cache):
    from llm_yaml_models.store import Untrusted, read_trusted

    cache.symlink_to("/dev/zero")
    with pytest.raises(Untrusted) as refused:
        read_trusted(cache, 2**30, replaces_odd=True)
    assert refused.value.why == f"any user can write to {cache}; fix it with: chmod go-w {cache}"


@pytest.mark.parametrize("replaces_odd", [False, True])
def test_a_file_in_a_directory_others_may_write_is_refused(cache, replaces_odd):
    from llm_yaml_models.store import Untrusted, read_trusted

    cache.write_text("{}")
    home = cache.parent
    os.chmod(home, 0o777)
    with pytest.raises(Untrusted) as refused:
        read_trusted(cache, 100, replaces_odd=replaces_odd)
    assert refused.value.why == f"any user can write to {home}; fix it with: chmod go-w {home}"
    cache.unlink()  # refused before there is a file, too: it would not be written
    with pytest.raises(Untrusted):
        read_trusted(cache, 100, replaces_odd=replaces_odd)


@pytest.mark.parametrize("kind", ["fifo", "link", "missing-dir"])
def test_a_write_is_whole_and_replaces_what_was_there_not_what_it_points_at(cache, kind):
    from llm_yaml_models.store import write_atomically

    target = cache.with_name("target.json")
    if kind == "fifo":
        os.mkfifo(cache, 0o600)
    elif kind == "link":
        target.write_text("kept")
        cache.symlink_to(target)
    else:
        cache = cache.parent / "new" / "c.json"
    write_atomically(cache, b'{"a": 1}')
    assert not cache.is_symlink() and cache.read_bytes() == b'{"a": 1}'
    assert sorted(p.name for p in cache.parent.iterdir() if p.name.startswith(".")) == []
    if kind == "link":
        assert target.read_text() == "kept"


# -- model limits and deployment limits: two budgets, one rule -------------------


def test_model_limits_admit_a_prompt_once_and_a_deployments_each_request(write, fake_api):
    """A model's ``limits`` are its share of the work: one admission per
    prompt, retries inside it. A deployment's are its server's quota: one
    admission per request sent there, a retry included (docs/fleets.md)."""
    backend = {
        "type": "http",
        "preset": "openai-chat",
        "retries": 1,
        "deployments": [{"base_url": fake_api.url + "/v1", "limits": {"rpm": 100}}],
    }
    limits = {"rpm": 100, "concurrency": 2}
    write("c.yaml", yaml.safe_dump([{"model_id": "c", "backend": backend, "limits": limits}]))
    model = llm.get_model("c")
    fake_api.fail_next("status", status=503, headers={"Retry-After": "0"})
    assert model.prompt("hi", stream=False).text() == REPLY
    assert len(fake_api.requests) == 2
    own = model._limiter()
    deployment = model.backend.sender.balancer.deployments[0].limiter
    assert (len(own._recent), len(deployment._recent)) == (1, 2)
    assert (own.in_flight, deployment.in_flight) == (0, 0)
    # Each counts the estimate (one token for "hi") until the server reports
    # usage (5 + 5): the failed attempt reported none.
    assert [t.tokens for t in own._recent] == [10]
    assert [t.tokens for t in deployment._recent] == [1, 10]

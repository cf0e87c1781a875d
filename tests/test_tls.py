"""https: certificates checked as httpx2 checks them, and a TLS context made
only when an https URL is first asked for (backends/http/transport.py).

The https server is tests/fakeapi.py with tests/tls/cert.pem, signed by the
throwaway CA tests/tls/ca.pem, which nothing trusts unless SSL_CERT_FILE
names it."""

from __future__ import annotations

import asyncio
import ssl

import llm
import pytest
from fakeapi import TLS_FILES, FakeAPI

MODELS = """\
- model_id: over-tls
  backend: {type: http, preset: openai-chat, base_url: "${TLS_URL}/v1"}
- model_id: plain
  backend: {type: http, preset: openai-chat, base_url: "${PLAIN_URL}/v1"}
- model_id: plain-to-tls
  backend:
    type: http
    url: "${PLAIN_URL}/redirect?to=${TLS_URL}/generic"
    body: {input: "{{ prompt }}"}
    response: {text: output.text}
"""


@pytest.fixture
def servers(write, monkeypatch):
    with FakeAPI(tls=True) as tls, FakeAPI() as plain:
        monkeypatch.setenv("TLS_URL", tls.url)
        monkeypatch.setenv("PLAIN_URL", plain.url)
        write("tls.yaml", MODELS)
        yield tls, plain


def answer(model_id: str, api: str) -> str:
    if api == "sync":
        return llm.get_model(model_id).prompt("hi", stream=False).text()

    async def run():
        return await llm.get_async_model(model_id).prompt("hi", stream=False).text()

    return asyncio.run(run())


def failure(model_id: str, api: str) -> str:
    with pytest.raises(llm.ModelError) as caught:
        answer(model_id, api)
    return str(caught.value)


@pytest.fixture
def no_certificates_loaded(monkeypatch):
    """Loading any certificate fails the test: what makes a TLS context slow."""

    def refuse(*args, **kwargs):
        raise AssertionError("a TLS context loaded certificates")

    for name in ("load_verify_locations", "load_default_certs", "set_default_verify_paths"):
        monkeypatch.setattr(ssl.SSLContext, name, refuse)


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_plain_http_model_makes_no_tls_context(servers, no_certificates_loaded, api):
    assert answer("plain", api) == "Hello from the fake API"


@pytest.mark.parametrize("api", ["sync", "async"])
def test_an_https_model_still_loads_the_systems_certificates(servers, no_certificates_loaded, api):
    tls, _ = servers
    assert failure("over-tls", api) == (
        f"over-tls: request to {tls.url}/v1/chat/completions failed: "
        "AssertionError: a TLS context loaded certificates"
    )


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_certificate_nothing_trusts_is_refused(servers, api):
    tls, _ = servers
    assert failure("over-tls", api) == (
        f"over-tls: cannot connect to {tls.url}/v1/chat/completions: "
        "TLS certificate not accepted: unable to get local issuer certificate"
    )
    assert tls.requests == []


@pytest.mark.parametrize("api", ["sync", "async"])
def test_ssl_cert_file_is_honoured_as_httpx2_honours_it(servers, monkeypatch, api):
    tls, _ = servers
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_FILES / "ca.pem"))
    assert answer("over-tls", api) == "Hello from the fake API"
    assert tls.last.path == "/v1/chat/completions"


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_redirect_from_plain_http_to_https_is_verified(servers, monkeypatch, api):
    tls, plain = servers
    with pytest.raises(llm.ModelError, match="TLS certificate not accepted"):
        answer("plain-to-tls", api)
    assert tls.requests == []
    assert [r.path for r in plain.requests] == ["/redirect"]  # not retried: it would fail again
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_FILES / "ca.pem"))
    llm.get_model("plain-to-tls").release()  # a client made before trusted nothing
    assert answer("plain-to-tls", api) == "Hello from the fake API"
    assert [r.path for r in plain.requests] == ["/redirect", "/redirect"]
    assert tls.last.path == "/generic"

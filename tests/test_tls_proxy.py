"""A backend's own TLS (``tls:``) and proxy (``proxy:``): a throwaway CA,
server and client certificates made here, an https server on 127.0.0.1
that requires a client certificate, and a tiny forward proxy written here."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import ipaddress
import json
import socket
import ssl
import threading
from pathlib import Path

import llm
import pytest

from llm_yaml_models.trust import loose

REPLY = {"output": {"text": "hello through TLS"}}


# -- certificates ----------------------------------------------------------------------


def _name(common: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject: str, key, issuer: str, issuer_key, *, ca: bool, ip: str | None = None):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if ip:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """ca.pem, server.pem + server-key.pem (for 127.0.0.1), client.pem +
    client-key.pem: made for this module, readable by no one else."""
    from cryptography.hazmat.primitives.asymmetric import ec

    home = tmp_path_factory.mktemp("pki")
    home.chmod(0o700)
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in "abc")
    ca = _certificate("test CA", ca_key, "test CA", ca_key, ca=True)
    server = _certificate("127.0.0.1", server_key, "test CA", ca_key, ca=False, ip="127.0.0.1")
    client = _certificate("the test client", client_key, "test CA", ca_key, ca=False)
    files = {
        "ca.pem": _pem(ca),
        "server.pem": _pem(server),
        "server-key.pem": _key_pem(server_key),
        "client.pem": _pem(client),
        "client-key.pem": _key_pem(client_key),
        "not-pem.pem": b"\x30\x82\x01\x0a certainly not PEM\n",
    }
    for name, data in files.items():
        (home / name).write_bytes(data)
        (home / name).chmod(0o600)
    return {name: home / name for name in files}


# -- an https server that requires a client certificate ------------------------------------


class _Answer(http.server.BaseHTTPRequestHandler):
    """Answers each POST with REPLY, noting the request line and who the
    client's certificate says it is."""

    reply = REPLY

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self._answer()

    def _answer(self):
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else {}
        self.server.seen.append((self.requestline, dict(x[0] for x in peer.get("subject", ()))))
        body = json.dumps(self.reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a refused handshake is what some tests make


@pytest.fixture
def mtls_server(pki):
    server = _Server(("127.0.0.1", 0), _Answer)
    server.seen = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server.pem"], pki["server-key.pem"])
    context.load_verify_locations(pki["ca.pem"])
    context.verify_mode = ssl.CERT_REQUIRED
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _model(name: str, url: str, extra: str) -> str:
    return (
        f"- model_id: {name}\n"
        f"  backend:\n"
        f"    type: http\n"
        f"    url: {url}\n"
        f"    body: {{input: '{{{{ prompt }}}}'}}\n"
        f"    response: {{text: output.text}}\n"
        f"    retries: 0\n"
        f"    timeout: 5\n" + "".join(f"    {line}\n" for line in extra.splitlines())
    )


def answer(model_id: str, api: str = "sync") -> str:
    if api == "sync":
        return llm.get_model(model_id).prompt("hi", stream=False).text()

    async def run():
        return await llm.get_async_model(model_id).prompt("hi", stream=False).text()

    return asyncio.run(run())


def failure(model_id: str, api: str = "sync") -> str:
    with pytest.raises(llm.ModelError) as caught:
        answer(model_id, api)
    return str(caught.value)


def _https(server) -> str:
    return f"https://127.0.0.1:{server.server_address[1]}/generic"


# -- tls ---------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_model_with_its_own_ca_and_client_certificate_is_answered(write, mtls_server, pki, api):
    tls = (
        f"tls: {{ca_bundle: {pki['ca.pem']}, client_cert: {pki['client.pem']}, "
        f"client_key: {pki['client-key.pem']}}}"
    )
    write("m.yaml", _model("mtls", _https(mtls_server), tls))
    assert answer("mtls", api) == "hello through TLS"
    assert mtls_server.seen == [("POST /generic HTTP/1.1", {"commonName": "the test client"})]


def test_tls_paths_are_relative_to_the_model_file(write, models_dir, mtls_server, pki):
    for name in ("ca.pem", "client.pem", "client-key.pem"):
        target = models_dir / "certs" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pki[name].read_bytes())
        target.chmod(0o600)
    tls = (
        "tls: {ca_bundle: certs/ca.pem, client_cert: certs/client.pem, "
        "client_key: certs/client-key.pem}"
    )
    write("m.yaml", _model("mtls", _https(mtls_server), tls))
    assert answer("mtls") == "hello through TLS"


def test_the_ca_bundle_replaces_the_systems_so_a_server_it_does_not_vouch_for_is_refused(
    write, pki, fake_tls
):
    # fake_tls's certificate is signed by tests/tls/ca.pem, not by this module's CA
    write("m.yaml", _model("m", f"{fake_tls.url}/generic", f"tls: {{ca_bundle: {pki['ca.pem']}}}"))
    assert failure("m") == (
        f"m: cannot connect to {fake_tls.url}/generic: "
        "TLS certificate not accepted: unable to get local issuer certificate"
    )


@pytest.fixture
def fake_tls():
    from fakeapi import FakeAPI

    with FakeAPI(tls=True) as server:
        yield server


def _validated(run_llm, path) -> str:
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    return result.stdout


def test_a_ca_bundle_that_is_not_pem_is_one_line(write, pki, run_llm):
    path = write(
        "m.yaml", _model("m", "https://127.0.0.1:1/x", f"tls: {{ca_bundle: {pki['not-pem.pem']}}}")
    )
    assert _validated(run_llm, path) == (
        f"{path}:9:10: [0].backend.tls: tls.ca_bundle: not a PEM certificate bundle "
        f"({pki['not-pem.pem']})\n"
    )


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_ca_bundle_spoilt_after_loading_is_one_line_at_use(
    write, tmp_path, pki, mtls_server, api
):
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pki["ca.pem"].read_bytes())
    bundle.chmod(0o600)
    write("m.yaml", _model("m", _https(mtls_server), f"tls: {{ca_bundle: {bundle}}}"))
    model = llm.get_model("m") if api == "sync" else llm.get_async_model("m")
    bundle.write_bytes(pki["not-pem.pem"].read_bytes())
    assert model is not None
    assert failure("m", api) == f"m: tls.ca_bundle: not a PEM certificate bundle ({bundle})"
    assert mtls_server.seen == []


def test_a_client_key_that_does_not_match_is_one_line(write, pki, run_llm):
    tls = f"tls: {{client_cert: {pki['client.pem']}, client_key: {pki['server-key.pem']}}}"
    path = write("m.yaml", _model("m", "https://127.0.0.1:1/x", tls))
    assert _validated(run_llm, path) == (
        f"{path}:9:10: [0].backend.tls: tls.client_cert and tls.client_key: "
        f"not a PEM certificate with its key, unencrypted ({pki['client.pem']})\n"
    )


def test_a_ca_bundle_others_may_change_is_refused(write, tmp_path, pki, run_llm):
    shared = tmp_path / "shared-ca.pem"
    shared.write_bytes(pki["ca.pem"].read_bytes())
    shared.chmod(0o666)
    why = loose(shared)
    assert why
    path = write("m.yaml", _model("m", "https://127.0.0.1:1/x", f"tls: {{ca_bundle: {shared}}}"))
    assert _validated(run_llm, path) == (
        f"{path}:9:10: [0].backend.tls: tls.ca_bundle: refusing to read {shared}: {why}\n"
    )


def test_a_missing_file_is_named(write, models_dir, run_llm):
    path = write("m.yaml", _model("m", "https://127.0.0.1:1/x", "tls: {client_cert: nowhere.pem}"))
    assert _validated(run_llm, path) == (
        f"{path}:9:10: [0].backend.tls: tls.client_cert: no such file: "
        f"{models_dir / 'nowhere.pem'}\n"
    )


def test_a_client_key_without_its_certificate_is_a_problem(write, run_llm, pki):
    path = write(
        "m.yaml",
        _model("m", "https://127.0.0.1:1/x", f"tls: {{client_key: {pki['client-key.pem']}}}"),
    )
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    assert (
        result.stdout
        == f"{path}:9:23: [0].backend.tls.client_key: tls.client_key needs tls.client_cert\n"
    )


def test_verify_false_is_warned_once_per_process_and_named_by_validate_and_show(
    write, run_llm, fake_tls, capsys, monkeypatch
):
    from llm_yaml_models.backends.http import tls

    monkeypatch.setattr(tls, "_warned", threading.Event())
    path = write(
        "m.yaml",
        _model("a", f"{fake_tls.url}/generic", "tls: {verify: false}")
        + _model("b", f"{fake_tls.url}/generic", "tls: {verify: false}"),
    )
    assert answer("a") == answer("b") == "Hello from the fake API"
    assert capsys.readouterr().err == (
        "llm-yaml-models: warning: tls.verify is false: the certificate of 127.0.0.1 "
        "(and of every server so declared) is not checked\n"
    )
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 0
    warning = (
        f"{path}:9:19: [0].backend.tls.verify: warning: tls.verify is false: the server's "
        "certificate is not checked, so anyone on the way can read and change what is sent"
    )
    assert warning + "\n" in result.stderr
    shown = run_llm("yaml-models", "show", "a").output.splitlines()
    assert shown[:2] == [f"# a, declared at {path}:1", f"#   {warning}"]
    assert "    verify: false  # " + f"{path}:9" in shown


def test_verify_is_on_by_default(write, fake_tls):
    write("m.yaml", _model("m", f"{fake_tls.url}/generic", "tls: {}"))
    assert failure("m").endswith(
        "TLS certificate not accepted: unable to get local issuer certificate"
    )


def test_a_plain_http_model_with_tls_settings_makes_no_tls_context(
    write, fake_api, pki, monkeypatch
):
    write("m.yaml", _model("m", f"{fake_api.url}/generic", f"tls: {{ca_bundle: {pki['ca.pem']}}}"))
    model = llm.get_model("m")

    def refuse(*args, **kwargs):
        raise AssertionError("a TLS context loaded certificates")

    for name in ("load_verify_locations", "load_default_certs", "set_default_verify_paths"):
        monkeypatch.setattr(ssl.SSLContext, name, refuse)
    assert model.prompt("hi", stream=False).text() == "Hello from the fake API"


def test_discovery_lists_through_the_backends_tls(write, run_llm, mtls_server, pki):
    mtls_server.RequestHandlerClass = _Listing
    tls = (
        f"tls: {{ca_bundle: {pki['ca.pem']}, client_cert: {pki['client.pem']}, "
        f"client_key: {pki['client-key.pem']}}}"
    )
    base = f"https://127.0.0.1:{mtls_server.server_address[1]}/v1"
    write(
        "d.yaml",
        "- model_id: lab\n"
        "  discover: {source: openai, prefix: 'lab/'}\n"
        f"  backend: {{type: http, preset: openai-chat, base_url: '{base}', {tls}}}\n",
    )
    result = run_llm("yaml-models", "refresh")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"lab: 1 model from {base}/models: added lab/listed-model\n"
    assert mtls_server.seen == [("GET /v1/models HTTP/1.1", {"commonName": "the test client"})]


class _Listing(_Answer):
    reply = {"data": [{"id": "listed-model"}]}

    def do_GET(self):  # noqa: N802 - http.server's name
        self._answer()


# -- proxy --------------------------------------------------------------------------------


class _Proxy(http.server.BaseHTTPRequestHandler):
    """A forward proxy that answers for every server itself (it reaches
    none), and refuses every tunnel (CONNECT) with 403."""

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.seen.append((self.requestline, self.headers.get("proxy-authorization")))
        body = json.dumps({"output": {"text": "hello through the proxy"}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_CONNECT(self):  # noqa: N802
        self.server.seen.append((self.requestline, None))
        self.send_response(403)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy():
    server = _Server(("127.0.0.1", 0), _Proxy)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        return unused.getsockname()[1]


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_models_proxy_takes_its_requests_whatever_the_environment_says(
    write, proxy, closed_port, monkeypatch, api
):
    where, server = proxy
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("NO_PROXY", "*")
    write("m.yaml", _model("m", "http://models.invalid/generic", f"proxy: http://sam:pw@{where}"))
    assert answer("m", api) == "hello through the proxy"
    basic = "Basic c2FtOnB3"  # sam:pw
    assert server.seen == [("POST http://models.invalid/generic HTTP/1.1", basic)]


@pytest.mark.parametrize("api", ["sync", "async"])
def test_a_proxy_that_refuses_the_connection_is_named_with_its_password_starred(
    write, closed_port, api
):
    proxy = f"http://sam:s3cret-pass@127.0.0.1:{closed_port}"
    write("m.yaml", _model("m", "http://models.invalid/generic", f"proxy: {proxy}"))
    message = failure("m", api)
    assert message == (
        "m: cannot connect to http://models.invalid/generic: "
        f"the proxy http://sam:***@127.0.0.1:{closed_port} refused the connection"
    )


def test_a_proxy_that_refuses_the_tunnel_is_named(write, proxy):
    where, server = proxy
    write("m.yaml", _model("m", "https://models.invalid/generic", f"proxy: http://{where}"))
    assert failure("m") == (
        "m: cannot connect to https://models.invalid/generic: "
        f"the proxy http://{where} did not take the request: 403 Forbidden"
    )
    assert server.seen == [("CONNECT models.invalid:443 HTTP/1.1", None)]


def test_an_environment_proxy_that_refuses_is_named_too(write, closed_port, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    write("m.yaml", _model("m", "http://models.invalid/generic", ""))
    assert failure("m") == (
        "m: cannot connect to http://models.invalid/generic: "
        f"the proxy http://127.0.0.1:{closed_port} refused the connection"
    )


def test_validate_names_a_proxy_that_is_not_a_url(write, run_llm):
    path = write("m.yaml", _model("m", "http://models.invalid/generic", "proxy: proxy.corp:3128"))
    assert _validated(run_llm, path) == (
        f"{path}:9:12: [0].backend.proxy: 'proxy.corp:3128' is not a proxy URL "
        "such as http://proxy.example:3128 (http or https)\n"
    )


def test_a_proxy_from_the_environment_that_is_not_a_url_is_one_line(write, monkeypatch):
    monkeypatch.setenv("CORP_PROXY", "socks5://sam:s3cret-pass@127.0.0.1:1080")
    write("m.yaml", _model("m", "http://models.invalid/generic", "proxy: ${CORP_PROXY}"))
    assert failure("m") == (
        "m: proxy 'socks5://sam:***@127.0.0.1:1080' is not an http or https URL with a host"
    )


def test_llm_exits_1_with_the_proxys_one_line(write, run_llm, closed_port):
    proxy = f"http://sam:s3cret-pass@127.0.0.1:{closed_port}"
    write("m.yaml", _model("m", "http://models.invalid/generic", f"proxy: {proxy}"))
    result = run_llm("-m", "m", "hi")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: m: cannot connect to http://models.invalid/generic: "
        f"the proxy http://sam:***@127.0.0.1:{closed_port} refused the connection\n"
    )
    assert "s3cret-pass" not in result.output

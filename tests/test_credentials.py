"""Credentials beyond a static key: a key from a command, and cloud tokens
(``auth: {type: google}``, ``auth: {type: azure-entra}``) from loopback
token endpoints. Every server here is on 127.0.0.1."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import llm
import pytest
from conftest import model_ids

from llm_yaml_models import keys
from llm_yaml_models.backends.http import tokens


class Gate:
    """An OpenAI-shaped API on 127.0.0.1 that answers only a request whose
    ``Authorization`` is ``Bearer <accepted>``, and 401 to any other. It
    also serves ``routes``: path -> (status, JSON), for token endpoints."""

    def __init__(self):
        self.accepted = "sk-first-key-123"
        self.seen: list[tuple[str, str]] = []  # (path, Authorization)
        self.routes: dict = {}
        self.bodies: list[bytes] = []
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._answer()

            def do_POST(self):
                self._answer(self.rfile.read(int(self.headers.get("content-length") or 0)))

            def _answer(self, body: bytes = b""):
                path = self.path.partition("?")[0]
                gate.seen.append((path, self.headers.get("authorization", "")))
                gate.bodies.append(body)
                status, body = gate.reply(path, {**self.headers, "target": self.path})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def reply(self, path: str, headers: dict) -> tuple[int, object]:
        if path in self.routes:
            route = self.routes[path]
            return route(headers) if callable(route) else route
        if headers.get("Authorization") != f"Bearer {self.accepted}":
            return 401, {"error": {"message": "invalid api key"}}
        if path.endswith("/models"):
            return 200, {"data": [{"id": "m1"}, {"id": "m2"}]}
        if path.endswith("/embeddings"):
            return 200, {"data": [{"embedding": [0.5, 0.25]}]}
        return 200, {"choices": [{"message": {"content": "hello"}}]}

    @property
    def keys_sent(self) -> list[str]:
        return [auth.removeprefix("Bearer ") for _, auth in self.seen]


@pytest.fixture
def gate():
    gate = Gate()
    gate.thread.start()
    yield gate
    gate.server.shutdown()
    gate.server.server_close()


@pytest.fixture(autouse=True)
def no_kept_keys():
    keys.forget()
    tokens.forget()
    yield
    keys.forget()
    tokens.forget()


@pytest.fixture
def secret_file(tmp_path):
    """A file the key command prints, and a file counting its runs."""
    path = tmp_path / "secret.txt"
    path.write_text("sk-first-key-123\n")
    return path


def printer(secret: Path) -> str:
    """A key command (an argv list, as YAML flow) that prints ``secret``
    and counts its runs beside it."""
    code = (
        "import pathlib,sys; p=pathlib.Path(sys.argv[1]); "
        "c=p.with_suffix('.runs'); c.write_text(str(int(c.read_text() or 0)+1) "
        "if c.exists() else '1'); print(p.read_text())"
    )
    return json.dumps([sys.executable, "-c", code, str(secret)])


def runs(secret: Path) -> int:
    counter = secret.with_suffix(".runs")
    return int(counter.read_text()) if counter.exists() else 0


def chat(url: str, key: str, name: str = "cmd") -> str:
    return f"""\
- model_id: {name}
  key: {key}
  backend: {{type: http, preset: openai-chat, base_url: "{url}/v1"}}
"""


# -- a key from a command ------------------------------------------------------


def test_the_key_is_what_the_command_prints_trimmed(gate, secret_file, write, run_llm):
    write("a.yaml", chat(gate.url, f"{{command: {printer(secret_file)}}}"))
    result = run_llm("-m", "cmd", "hi", "--no-stream")
    assert (result.exit_code, result.output) == (0, "hello\n")
    result = run_llm("-m", "cmd", "again", "--no-stream")
    assert result.exit_code == 0
    assert gate.keys_sent == ["sk-first-key-123", "sk-first-key-123"]
    assert runs(secret_file) == 1  # kept for the process: run once


def test_the_key_is_never_written_to_disk(gate, secret_file, write, run_llm, user_dir):
    write("a.yaml", chat(gate.url, f"{{command: {printer(secret_file)}, name: mine}}"))
    assert run_llm("-m", "cmd", "hi", "--no-stream").exit_code == 0
    assert run_llm("yaml-models", "list").exit_code == 0
    for path in user_dir.rglob("*"):
        if path.is_file():
            assert b"sk-first-key-123" not in path.read_bytes(), path


def test_a_refused_key_runs_the_command_again_and_retries_once(gate, secret_file, write, run_llm):
    write("a.yaml", chat(gate.url, f"{{command: {printer(secret_file)}}}"))
    assert run_llm("-m", "cmd", "hi", "--no-stream").exit_code == 0
    gate.accepted = "sk-rotated-key-456"
    secret_file.write_text("sk-rotated-key-456\n")
    result = run_llm("-m", "cmd", "hi", "--no-stream")
    assert (result.exit_code, result.output) == (0, "hello\n")
    assert gate.keys_sent == ["sk-first-key-123", "sk-first-key-123", "sk-rotated-key-456"]
    assert runs(secret_file) == 2


def test_a_key_refused_twice_is_one_line_and_no_third_try(gate, secret_file, write, run_llm):
    gate.accepted = "sk-nothing-matches"
    write("a.yaml", chat(gate.url, f"{{command: {printer(secret_file)}}}"))
    result = run_llm("-m", "cmd", "hi", "--no-stream")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cmd: HTTP 401 from {gate.url}/v1/chat/completions: invalid api key\n"
    )
    assert len(gate.seen) == 2 and runs(secret_file) == 2


def test_an_async_model_renews_too(gate, secret_file, write):
    import asyncio

    write("a.yaml", chat(gate.url, f"{{command: {printer(secret_file)}, ttl: 3600}}"))
    keys.command_key(
        keys_spec(printer(secret_file)), write("b.yaml", "[]\n")
    )  # kept: the first key
    gate.accepted = "sk-rotated-key-456"
    secret_file.write_text("sk-rotated-key-456")

    async def ask():
        return await llm.get_async_model("cmd").prompt("hi", stream=False).text()

    assert asyncio.run(ask()) == "hello"
    assert gate.keys_sent == ["sk-first-key-123", "sk-rotated-key-456"]


def keys_spec(argv_json: str, **more):
    from llm_yaml_models.declarations import KeySpec

    return KeySpec.from_data({"command": json.loads(argv_json), **more})


def test_ttl_runs_the_command_again_once_it_has_passed(tmp_path, secret_file, monkeypatch):
    spec = keys_spec(printer(secret_file), ttl=60)
    source = tmp_path / "models" / "a.yaml"
    source.write_text("[]\n")
    assert keys.command_key(spec, source) == "sk-first-key-123"
    secret_file.write_text("sk-second")
    assert keys.command_key(spec, source) == "sk-first-key-123"
    later = time.monotonic() + 61
    monkeypatch.setattr(keys.time, "monotonic", lambda: later)
    assert keys.command_key(spec, source) == "sk-second"
    assert runs(secret_file) == 2


def test_explicit_key_wins_over_the_command(gate, secret_file, write, run_llm):
    gate.accepted = "sk-given-by-hand"
    write("a.yaml", chat(gate.url, f"{{command: {printer(secret_file)}}}"))
    result = run_llm("-m", "cmd", "hi", "--no-stream", "--key", "sk-given-by-hand")
    assert result.exit_code == 0
    assert runs(secret_file) == 0


@pytest.mark.parametrize(
    ("argv", "timeout", "message"),
    [
        (
            '["no-such-program-h6", "read", "op://x"]',
            None,
            "the key command no-such-program-h6 read op://x cannot be run: no such program",
        ),
        (
            '["sh", "-c", "echo sk-leaked-secret-999; exit 3"]',
            None,
            "the key command sh -c 'echo sk-leaked-secret-999; exit 3' failed (exit status 3)",
        ),
        ('["true"]', None, "the key command true printed no key"),
        (
            '["printf", "sk-a\\nsk-b"]',
            None,
            "the key command printf 'sk-a\\nsk-b' printed more than one line, "
            "or control characters",
        ),
        (
            '["sh", "-c", "sleep 5; echo sk-late"]',
            0.3,
            "the key command sh -c 'sleep 5; echo sk-late' did not finish within 0.3s",
        ),
    ],
)
def test_a_failed_command_is_one_line_naming_it(gate, write, run_llm, argv, timeout, message):
    extra = f", timeout: {timeout}" if timeout else ""
    write("a.yaml", chat(gate.url, f"{{command: {argv}{extra}}}"))
    started = time.monotonic()
    result = run_llm("-m", "cmd", "hi", "--no-stream")
    assert time.monotonic() - started < 3
    assert result.exit_code == 1
    assert result.output == f"Error: cmd: {message}\n"
    assert gate.seen == []


def test_a_command_in_a_file_others_can_write_is_not_run(gate, secret_file, write):
    path = write("a.yaml", chat(gate.url, f"{{command: {printer(secret_file)}}}"))
    model = llm.get_model("cmd")  # the file was vouched for as it was read
    path.chmod(0o666)  # and loosened since
    with pytest.raises(llm.ModelError) as raised:
        model.prompt("hi", stream=False).text()
    assert str(raised.value).startswith("cmd: refusing to run the key command ")
    assert str(raised.value).endswith(
        f": any user can write to {path}; fix it with: chmod go-w {path}"
    )
    assert runs(secret_file) == 0 and gate.seen == []


def test_the_command_key_is_starred_in_the_dry_run(gate, secret_file, write, run_llm):
    write("a.yaml", chat(gate.url, f"{{command: {printer(secret_file)}}}"))
    result = run_llm("yaml-models", "request", "cmd", "hi")
    assert result.exit_code == 0, result.output
    assert "sk-first-key-123" not in result.output
    assert "authorization: Bearer ***" in result.output.lower().replace("bearer", "Bearer")


def test_an_embedding_model_takes_a_command_key_and_renews_it(gate, secret_file, write, run_llm):
    write(
        "e.yaml",
        f"""\
        embedding_models:
        - model_id: emb
          key: {{command: {printer(secret_file)}}}
          backend: {{type: http, preset: openai-embeddings, base_url: "{gate.url}/v1"}}
        """,
    )
    model = llm.get_embedding_model("emb")
    assert model.embed("one") == [0.5, 0.25]
    gate.accepted = "sk-rotated-key-456"
    secret_file.write_text("sk-rotated-key-456")
    assert model.embed("two") == [0.5, 0.25]
    assert gate.keys_sent == ["sk-first-key-123", "sk-first-key-123", "sk-rotated-key-456"]


def test_embed_multi_batches_after_a_renewal_send_the_renewed_key(gate, secret_file, write):
    """Batches in flight together: once one is refused and the key renewed,
    every later batch sends the new key (each asked for it when it began)."""
    write(
        "e.yaml",
        f"""\
        embedding_models:
        - model_id: emb
          key: {{command: {printer(secret_file)}}}
          batch_size: 1
          backend: {{type: http, preset: openai-embeddings, base_url: "{gate.url}/v1",
                     max_connections: 2}}
        """,
    )
    model = llm.get_embedding_model("emb")
    assert model.embed("warm") == [0.5, 0.25]  # the first key, kept
    gate.accepted = "sk-rotated-key-456"
    secret_file.write_text("sk-rotated-key-456")
    assert list(model.embed_multi(["a", "b", "c", "d", "e", "f"])) == [[0.5, 0.25]] * 6
    assert runs(secret_file) == 2
    assert gate.keys_sent[-4:] == ["sk-rotated-key-456"] * 4


def test_discovery_lists_with_a_command_key_and_renews_it(gate, secret_file, write, run_llm):
    write(
        "lab.yaml",
        f"""\
        - model_id: lab
          key: {{command: {printer(secret_file)}}}
          discover: {{source: openai, prefix: lab/}}
          backend: {{type: http, preset: openai-chat, base_url: "{gate.url}/v1"}}
        """,
    )
    gate.accepted = "sk-rotated-key-456"
    keys.command_key(keys_spec(printer(secret_file)), write("b.yaml", "[]\n"))
    secret_file.write_text("sk-rotated-key-456")
    result = run_llm("yaml-models", "refresh")
    assert result.exit_code == 0, result.output
    assert model_ids() == ["lab/m1", "lab/m2"]
    assert gate.keys_sent == ["sk-first-key-123", "sk-rotated-key-456"]


def test_a_key_needs_a_name_or_a_command(write, run_llm):
    path = write("a.yaml", chat("http://127.0.0.1:9", "{env: MY_KEY}"))
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert f"{path}:2:8: [0].key: needs 'name' or 'command'\n" in result.output


def test_a_command_key_passes_validate(write, run_llm):
    write("a.yaml", chat("http://127.0.0.1:9", '{command: [op, read, "op://v/i/f"], ttl: 3600}'))
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 0, result.output


# -- cloud tokens ----------------------------------------------------------------


def cloud(url: str, auth: str, name: str = "m") -> str:
    return f"""\
- model_id: {name}
  backend: {{type: http, preset: openai-chat, base_url: "{url}/v1", auth: {auth}}}
"""


def token_route(gate, field: str, token: str, life: float):
    """A token endpoint on the gate that counts its calls; each token it
    gives is ``token`` and the call's number, valid ``life`` seconds."""
    calls = []

    def route(headers):
        calls.append(headers)
        gate.accepted = f"{token}-{len(calls)}"
        lifetime = {"expires_in": life} if field == "google" else {}
        if field == "azure":
            lifetime = {"expires_on": str(int(time.time() + life)), "resource": "x"}
        return 200, {"access_token": gate.accepted, "token_type": "Bearer", **lifetime}

    return route, calls


@pytest.fixture
def google_account(gate, tmp_path, monkeypatch):
    """A service account whose token_uri is the gate's /token."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "proj",
        "private_key_id": "kid",
        "private_key": pem,
        "client_email": "sa@proj.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{gate.url}/token",
    }
    path = tmp_path / "account.json"
    path.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return path


def claims(assertion_body: bytes) -> dict:
    """The claims of the JWT a service account sends its token endpoint."""
    import base64
    from urllib.parse import parse_qs

    jwt = parse_qs(assertion_body.decode())["assertion"][0]
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_google_sends_an_adc_token_kept_until_near_expiry(gate, google_account, write, run_llm):
    route, calls = token_route(gate, "google", "ya29.token", 3600)
    gate.routes["/token"] = route
    write("g.yaml", cloud(gate.url, "{type: google}"))
    for _ in range(2):
        result = run_llm("-m", "m", "hi", "--no-stream")
        assert (result.exit_code, result.output) == (0, "hello\n")
    assert len(calls) == 1
    assert gate.keys_sent[1:] == ["ya29.token-1", "ya29.token-1"]
    assert claims(gate.bodies[0])["scope"] == "https://www.googleapis.com/auth/cloud-platform"


def test_vertex_presets_send_an_adc_token_by_default(gate, google_account, write, run_llm):
    route, calls = token_route(gate, "google", "ya29.token", 3600)
    gate.routes["/token"] = route
    where = "/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.5-flash"
    reply = {"candidates": [{"content": {"role": "model", "parts": [{"text": "hello"}]}}]}
    gate.routes[where + ":generateContent"] = (200, reply)
    write(
        "v.yaml",
        f"""\
- model_id: v
  backend: {{type: http, preset: vertex-gemini, base_url: "{gate.url}/v1", retries: 0,
             model_name: gemini-2.5-flash, project: proj-1, location: us-central1}}
""",
    )
    result = run_llm("-m", "v", "hi", "--no-stream")
    assert (result.exit_code, result.output) == (0, "hello\n")
    assert gate.seen[-1] == (where + ":generateContent", "Bearer ya29.token-1")
    assert len(calls) == 1


def test_google_renews_a_token_before_it_expires(gate, google_account, write, run_llm):
    route, calls = token_route(gate, "google", "ya29.token", 60)  # inside the margin
    gate.routes["/token"] = route
    write("g.yaml", cloud(gate.url, "{type: google, scopes: [https://example.test/scope]}"))
    assert run_llm("-m", "m", "hi", "--no-stream").exit_code == 0
    assert run_llm("-m", "m", "hi", "--no-stream").exit_code == 0
    assert len(calls) == 2
    assert [k for k in gate.keys_sent if k.startswith("ya29")] == ["ya29.token-1", "ya29.token-2"]
    assert claims(gate.bodies[0])["scope"] == "https://example.test/scope"


def test_google_refused_credentials_are_one_line(gate, google_account, write, run_llm):
    gate.routes["/token"] = (400, {"error": "invalid_grant", "error_description": "Bad JWT"})
    write("g.yaml", cloud(gate.url, "{type: google}"))
    result = run_llm("-m", "m", "hi", "--no-stream")
    assert result.exit_code == 1
    assert result.output.startswith("Error: m: Google refused the credentials: invalid_grant")
    assert result.output.count("\n") == 1
    assert len(gate.seen) == 1  # the model's server is never asked


def test_google_token_is_starred_in_the_request_shown(gate, google_account, write, run_llm):
    route, _ = token_route(gate, "google", "ya29.token", 3600)
    gate.routes["/token"] = route
    write("g.yaml", cloud(gate.url, "{type: google}"))
    result = run_llm("yaml-models", "request", "m", "hi")
    assert result.exit_code == 0, result.output
    assert "ya29.token" not in result.output
    assert "Authorization: Bearer ***" in result.output


def test_google_without_its_extra_names_the_pip_command(gate, write, run_llm, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.auth", None)
    write("g.yaml", cloud(gate.url, "{type: google}"))
    result = run_llm("-m", "m", "hi", "--no-stream")
    assert result.exit_code == 1
    assert result.output == (
        "Error: m: auth: google needs google-auth: pip install 'llm-yaml-models[google]'\n"
    )


@pytest.fixture
def managed_identity(gate, monkeypatch):
    """Azure's managed identity (App Service form) at the gate's /msi."""
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", "")
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{gate.url}/msi")
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header-secret")


def test_azure_entra_sends_a_managed_identity_token(gate, managed_identity, write, run_llm):
    route, calls = token_route(gate, "azure", "eyJ.azure-token", 3600)
    gate.routes["/msi"] = route
    write("a.yaml", cloud(gate.url, "{type: azure-entra}"))
    for _ in range(2):
        result = run_llm("-m", "m", "hi", "--no-stream")
        assert (result.exit_code, result.output) == (0, "hello\n")
    assert len(calls) == 1
    assert "resource=https://cognitiveservices.azure.com" in calls[0]["target"]
    assert gate.keys_sent[-2:] == ["eyJ.azure-token-1", "eyJ.azure-token-1"]


def test_azure_entra_renews_a_token_before_it_expires(gate, managed_identity, write, run_llm):
    route, calls = token_route(gate, "azure", "eyJ.azure-token", 120)  # inside the margin
    gate.routes["/msi"] = route
    write("a.yaml", cloud(gate.url, "{type: azure-entra}"))
    assert run_llm("-m", "m", "hi", "--no-stream").exit_code == 0
    assert run_llm("-m", "m", "hi", "--no-stream").exit_code == 0
    assert len(calls) == 2


def test_azure_refused_credentials_are_one_line(gate, managed_identity, write, run_llm):
    gate.routes["/msi"] = (400, {"error": "invalid_request", "error_description": "no identity"})
    write("a.yaml", cloud(gate.url, "{type: azure-entra}"))
    result = run_llm("-m", "m", "hi", "--no-stream")
    assert result.exit_code == 1
    assert result.output.startswith("Error: m: no usable Azure credentials (")
    assert result.output.count("\n") == 1
    assert "identity-header-secret" not in result.output


def test_azure_without_its_extra_names_the_pip_command(gate, write, run_llm, monkeypatch):
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    write("a.yaml", cloud(gate.url, "{type: azure-entra}"))
    result = run_llm("-m", "m", "hi", "--no-stream")
    assert result.output == (
        "Error: m: auth: azure-entra needs azure-identity: pip install 'llm-yaml-models[azure]'\n"
    )


def test_an_auth_key_of_another_type_is_a_problem(write, run_llm):
    path = write("a.yaml", cloud("http://127.0.0.1:9", "{type: google, region: us-east-1}"))
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert f"{path}:2:" in result.output
    assert "[0].backend.auth.region: 'region' is for auth type aws-sigv4, not google" in (
        result.output
    )


def test_a_failed_key_command_lets_a_fallback_answer(gate, write, run_llm):
    backup = "- model_id: backup\n  backend: {type: markov}\n"
    main = chat(gate.url, '{command: ["false"]}', "main") + "  fallbacks: [backup]\n"
    write("m.yaml", main + backup)
    result = run_llm("-m", "main", "the cat sat on the mat")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "llm-yaml-models: main: the key command false failed (exit status 1); "
        "trying the next model\n"
    )
    assert gate.seen == []


def test_a_cloud_token_never_goes_to_another_origin(gate, google_account, fake_api, write, run_llm):
    from fakeapi import FakeAPI

    route, _ = token_route(gate, "google", "ya29.token", 3600)
    gate.routes["/token"] = route
    with FakeAPI() as other:
        away = f"{fake_api.url}/redirect?to={other.url}/v1/chat/completions"
        write(
            "g.yaml",
            cloud(fake_api.url, "{type: google}").replace(
                f'base_url: "{fake_api.url}/v1"', f'url: "{away}"'
            ),
        )
        result = run_llm("-m", "m", "hi", "--no-stream")
        assert result.exit_code == 0, result.output
        assert fake_api.last.headers["authorization"] == "Bearer ya29.token-1"
        assert "authorization" not in other.last.headers


# -- examples/credentials.yaml ---------------------------------------------------


@pytest.fixture
def fake_op(tmp_path, monkeypatch):
    """An ``op`` on PATH that prints the gate's first key, as 1Password's would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    op = bin_dir / "op"
    op.write_text("#!/bin/sh\necho sk-first-key-123\n")
    op.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(
    ("model_id", "sent"),
    [
        ("groq-llama", "sk-first-key-123"),
        ("vertex-gemini-flash", "ya29.token-1"),
        ("azure-gpt-4o-entra", "eyJ.azure-token-1"),
    ],
)
def test_the_credentials_example_runs(
    gate, fake_op, google_account, managed_identity, run_llm, monkeypatch, model_id, sent
):
    from conftest import EXAMPLES

    gate.routes["/token"] = token_route(gate, "google", "ya29.token", 3600)[0]
    gate.routes["/msi"] = token_route(gate, "azure", "eyJ.azure-token", 3600)[0]
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(EXAMPLES / "credentials.yaml"))
    for name in ("GROQ", "VERTEX", "AZURE"):
        monkeypatch.setenv(f"LLM_EXAMPLE_{name}_URL", gate.url)
    result = run_llm("-m", model_id, "hi", "--no-stream")
    assert (result.exit_code, result.output) == (0, "hello\n")
    assert gate.keys_sent[-1] == sent


def test_the_schema_names_every_auth_type_the_code_knows():
    from conftest import SCHEMA_FILE

    from llm_yaml_models.backends.http.auth import KINDS

    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))["definitions"]
    for definition in ("anyBackend", "httpBackend"):
        auth = schema[definition]["properties"]["auth"]
        assert auth["else"]["properties"]["type"]["enum"] == list(KINDS)


def test_batches_refused_together_run_the_command_once_more(tmp_path, secret_file):
    spec = keys_spec(printer(secret_file))
    source = tmp_path / "models" / "a.yaml"
    source.write_text("[]\n")
    first = keys.command_key(spec, source)
    renewals = [keys.renewal(spec, source, first) for _ in range(3)]  # three batches' 401s
    secret_file.write_text("sk-second")
    assert [renew() for renew in renewals] == ["sk-second"] * 3
    assert runs(secret_file) == 2
    assert keys.renewal(spec, source, "sk-given-by-hand") is None  # --key is never replaced


def listing_template(url: str, auth: str) -> str:
    return cloud(url, auth, "lab").replace(
        "- model_id: lab\n", "- model_id: lab\n  discover: {source: openai, prefix: lab/}\n"
    )


def test_discovery_lists_with_a_cloud_token(gate, google_account, write, run_llm):
    gate.routes["/token"] = token_route(gate, "google", "ya29.token", 3600)[0]
    write("lab.yaml", listing_template(gate.url, "{type: google}"))
    result = run_llm("yaml-models", "refresh")
    assert result.exit_code == 0, result.output
    assert model_ids() == ["lab/m1", "lab/m2"]
    assert gate.seen[-1] == ("/v1/models", "Bearer ya29.token-1")


def test_discovery_without_the_extra_says_so_in_one_line(gate, write, run_llm, monkeypatch):
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    write("lab.yaml", listing_template(gate.url, "{type: azure-entra}"))
    result = run_llm("yaml-models", "refresh")
    assert result.exit_code == 1
    assert "auth: azure-entra needs azure-identity: pip install 'llm-yaml-models[azure]'" in (
        result.output
    )
    assert gate.seen == []


def test_azure_refused_is_one_line_on_the_real_stderr(gate, managed_identity, write, llm_exe):
    # azure-identity logs a many-line warning; pytest's log capture would hide it in process
    gate.routes["/msi"] = (400, {"error": "invalid_request", "error_description": "no identity"})
    write("a.yaml", cloud(gate.url, "{type: azure-entra}"))
    result = llm_exe("-m", "m", "hi", "--no-stream")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: m: no usable Azure credentials (")
    assert result.stderr.count("\n") == 1

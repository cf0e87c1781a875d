"""What a read of the whole change found: an encrypted client key, a day
no calendar has, an embedding key renewed mid-run, a cache others could
read, and server-tool spec keys that are no parameter names."""

from __future__ import annotations

import json
import stat

import llm
from conftest import reset_plugin_state
from fakeapi import FakeAPI

from llm_yaml_models import registry


def _encrypted_key_pair(home):
    """A client certificate and its key, the key encrypted with a passphrase."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = home / "client.pem", home / "client-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret passphrase"),
        )
    )
    for path in (cert_path, key_path):
        path.chmod(0o600)
    return cert_path, key_path


def test_an_encrypted_client_key_is_one_line_and_costs_no_other_model(write, run_llm, tmp_path):
    home = tmp_path / "pki"
    home.mkdir(mode=0o700)
    cert, key = _encrypted_key_pair(home)
    path = write(
        "tls.yaml",
        f"""\
- model_id: m
  backend:
    type: http
    url: https://127.0.0.1:1/x
    body: {{input: "{{{{ prompt }}}}"}}
    response: {{text: output.text}}
    tls: {{client_cert: {cert}, client_key: {key}}}
""",
    )
    write("other.yaml", "- model_id: other\n  backend: {type: markov}\n")
    checked = run_llm("yaml-models", "validate", str(path))
    assert (checked.exit_code, checked.stdout) == (
        1,
        f"{path}:7:10: [0].backend.tls: tls.client_cert and tls.client_key: "
        f"not a PEM certificate with its key, unencrypted ({cert})\n",
    )
    listed = run_llm("models", "list")
    assert listed.exit_code == 0
    assert "other" in listed.stdout and "internal error" not in listed.output


def test_a_day_no_calendar_has_is_left_out_and_the_model_still_answers(write, run_llm):
    with FakeAPI() as server:
        items = [{"slug": "alpha", "end": "2025-02-30"}, {"slug": "beta", "end": "2025-02-28"}]
        server.bodies["/v1/catalog"] = json.dumps({"items": items}).encode()
        write(
            "lab.yaml",
            f"""\
- model_id: lab
  discover: {{url: /catalog, ids: "items[].slug", metadata: {{deprecated: end}}}}
  backend: {{type: http, preset: openai-chat, base_url: "{server.url}/v1"}}
""",
        )
        listed = run_llm("models", "list")
        assert listed.exit_code == 0
        assert "is not a date" in listed.stderr and listed.stderr.count("\n") == 1
        alpha = llm.get_model("alpha").entry.declaration.metadata
        assert alpha is None or alpha.deprecated is None
        assert llm.get_model("beta").entry.declaration.metadata.deprecated == "2025-02-28"
        answered = run_llm("-m", "alpha", "hi", "--no-stream")
        assert (answered.exit_code, answered.stderr) == (0, "")


def test_the_caches_are_readable_by_their_owner_only(write, run_llm, user_dir):
    write(
        "p.yaml",
        "- model_id: p\n  backend: {type: http, preset: openai-chat,"
        ' base_url: "http://127.0.0.1:1/v1", proxy: "http://bob:hunter22@127.0.0.1:3/"}\n',
    )
    assert run_llm("models", "list").exit_code == 0
    cache = user_dir / registry.CACHE_NAME
    assert "hunter22" in cache.read_text()  # the file as written, which only its owner reads
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_a_spec_key_that_is_no_parameter_name_is_still_sent(write, run_llm):
    write(
        "t.yaml",
        """\
- model_id: t
  backend:
    type: http
    preset: anthropic-messages
    base_url: "http://127.0.0.1:1/v1"
    model_name: x
  server_tools:
    Odd: {type: odd_20250101, name: odd, class: a, self: b, more: c}
""",
    )
    reset_plugin_state()
    tools = {tool.__name__: tool for tool in llm.get_model("t").supported_server_side_tools}
    odd = tools["Odd"]()
    assert odd.name == "odd"
    listed = run_llm("tools", "list", "-m", "t", "--json")
    assert listed.exit_code == 0, listed.output


def test_a_slow_key_command_ends_with_the_startup_deadline(write, run_llm, monkeypatch):
    """A template's list is fetched while llm loads its models: within 3 s
    in all, the key command's own timeout (30 s) notwithstanding."""
    import sys
    import time

    from llm_yaml_models.discovery import discovered

    monkeypatch.setattr(discovered, "LOAD_DEADLINE", 0.5)
    sleeper = json.dumps([sys.executable, "-c", "import time; time.sleep(20)"])
    write(
        "lab.yaml",
        f"""\
- model_id: lab
  key: {{command: {sleeper}}}
  discover: {{source: openai, prefix: lab/}}
  backend: {{type: http, preset: openai-chat, base_url: "http://127.0.0.1:1/v1"}}
""",
    )
    started = time.monotonic()
    listed = run_llm("models", "list")
    assert time.monotonic() - started < 8  # not the command's 20 s
    assert listed.exit_code == 0
    assert "did not finish within 0.5s" in listed.stderr


def test_every_tool_call_id_is_named_by_one_rule():
    """Calls and results of every API family: the server's id, starred; or
    one made up, PREFIX_ and 24 hex digits, never the same twice."""
    import re

    from llm_yaml_models.backends.base import Secrets

    secrets = Secrets("sk-secret-key-1234")
    assert secrets.call_id("toolu_01abc") == "toolu_01abc"
    assert secrets.call_id("call_sk-secret-key-1234") == "call_***"
    made = [secrets.call_id(given, "toolu") for given in (None, "", 7, ["x"], {"id": "y"})]
    assert all(re.fullmatch(r"toolu_[0-9a-f]{24}", m) for m in made)
    assert len(set(made)) == len(made)
    assert re.fullmatch(r"call_[0-9a-f]{24}", secrets.call_id(None))

"""Shared fixtures: an isolated llm user directory and model path for every
test, helpers to write model files and to run llm in and out of process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

# The peer plugins (llm-anthropic, llm-gemini...) are installed with the test
# extra, and llm loads every installed plugin's entry point unless this names
# the ones to load. The suite loads only this plugin, here and in every llm
# process it starts (they inherit the environment); tests/test_peers_live.py
# names a peer for its own processes. Read by llm when it is first imported.
os.environ["LLM_LOAD_PLUGINS"] = "llm-yaml-models"

import llm
import pytest
from click.testing import CliRunner
from fakeapi import FakeAPI
from llm.cli import cli

from llm_yaml_models import registry
from llm_yaml_models.discovery import discovered as discovery

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SCHEMA_FILE = REPO / "schemas" / "llm-yaml-models.schema.json"


def _write_bytecode() -> None:
    """Every llm the tests start imports the plugin. Its bytecode is
    written once here, as an installed plugin has it, instead of being
    compiled again in each of those processes: PYTHONDONTWRITEBYTECODE,
    set on some machines, stops Python writing it, and an editable
    install never does (about a quarter of a second per process)."""
    import compileall

    compileall.compile_dir(REPO / "llm_yaml_models", quiet=2)


_write_bytecode()

# The llm executable that belongs to this interpreter (falls back to PATH).
_SIBLING = Path(sys.executable).with_name("llm")
LLM_EXE = str(_SIBLING) if _SIBLING.exists() else shutil.which("llm") or "llm"

# Plain markov declarations, reused by many tests.
MARKOV = """\
- model_id: markov
  aliases: [chain]
  backend: {type: markov}
  options:
    length: {type: integer, minimum: 2, default: 20, description: Number of words}
    seed: {type: integer, description: Seed for reproducible output}
    delay: {type: number, minimum: 0, maximum: 10, description: Seconds between words}
"""


def model_ids() -> list[str]:
    """The ids of the models this plugin registered, in registration order."""
    return [m.model_id for m in llm.get_models() if type(m).__module__.startswith("llm_yaml")]


def reset_plugin_state() -> None:
    registry.forget()
    registry._state.update(warned=False, quiet=False, disabled=False, cache_warned=False)
    discovery.forget()


@pytest.fixture(scope="session")
def migrated_logs_db(tmp_path_factory) -> Path:
    """An empty logs.db as llm's own migrations leave it, made once. llm
    migrates the logs database on every prompt; in a new user directory
    that is a few hundred statements, each written through to disk (about
    a second here), which every test would otherwise pay again."""
    import sqlite_utils
    from llm.migrations import migrate

    path = tmp_path_factory.mktemp("llm-logs") / "logs.db"
    with sqlite_utils.Database(path) as db:
        migrate(db)
    return path


@pytest.fixture(autouse=True)
def llm_env(tmp_path, monkeypatch, migrated_logs_db):
    """Every test gets its own LLM_USER_PATH (with an empty, migrated
    logs.db) and LLM_YAML_MODELS_PATH, and a plugin that has not yet loaded
    anything or warned."""
    user_dir = tmp_path / "llm-user"
    models_dir = tmp_path / "models"
    user_dir.mkdir()
    models_dir.mkdir()
    shutil.copyfile(migrated_logs_db, user_dir / "logs.db")
    monkeypatch.setenv("LLM_USER_PATH", str(user_dir))
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(models_dir))
    monkeypatch.delenv("LLM_RAISE_ERRORS", raising=False)
    # Clients honour the environment's proxies (as llm's own do): a proxy set
    # on the machine must not reach the loopback servers of the tests.
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    reset_plugin_state()
    yield
    reset_plugin_state()


@pytest.fixture(scope="session")
def _session_fake_api():
    with FakeAPI() as server:
        yield server


@pytest.fixture
def fake_api(_session_fake_api) -> FakeAPI:
    """One FakeAPI for the session, as good as new for each test that uses
    it (no connection open, nothing recorded, queued or counted). A test
    that needs a server of its own kind (TLS, fail_rate, a subclass) or
    two servers starts its own."""
    _session_fake_api.reset()
    return _session_fake_api


@pytest.fixture
def user_dir(tmp_path) -> Path:
    return tmp_path / "llm-user"


@pytest.fixture
def models_dir(tmp_path) -> Path:
    """The directory LLM_YAML_MODELS_PATH points at (unless a test changes it)."""
    return tmp_path / "models"


@pytest.fixture
def write(models_dir):
    """``write(name, text)``: write a (dedented) file into the models
    directory, or to ``name`` itself if it is an absolute path; returns it."""

    def write(name: str | Path, text: str | bytes) -> Path:
        path = Path(name) if Path(name).is_absolute() else models_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), "utf-8")
        return path

    return write


@pytest.fixture
def run_llm():
    """``run_llm(*args, input=None)``: llm's CLI in this process."""

    def run_llm(*args: str, input: str | None = None):
        return CliRunner().invoke(
            cli, list(args), input=input, catch_exceptions=False, prog_name="llm"
        )

    return run_llm


@pytest.fixture
def llm_exe():
    """``llm_exe(*args, input="")``: the real llm executable in a subprocess,
    with this test's LLM_USER_PATH and LLM_YAML_MODELS_PATH."""

    def llm_exe(*args: str, input: str = "", env: dict | None = None):
        return subprocess.run(
            [LLM_EXE, *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=300,
        )

    return llm_exe


@pytest.fixture
def python_exe():
    """``python_exe(code)``: run Python code in a subprocess with this test's env."""

    def python_exe(code: str):
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=300,
        )

    return python_exe

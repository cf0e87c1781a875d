"""The wheel that ``python -m build`` makes carries the schema and presets,
and works installed on its own, outside this checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# In one worker, so that the wheel is built once.
pytestmark = pytest.mark.xdist_group("packaging")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("llm_yaml_models-*.whl")
    return built


def test_the_wheel_carries_the_schema_and_presets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "llm_yaml_models/schemas/llm-yaml-models.schema.json" in names
    chat = ("openai-chat", "ollama-chat", "anthropic-messages", "gemini", "openai-responses")
    embedding = ("openai-embeddings", "ollama-embed", "tei", "cohere-embed")
    for preset in chat + embedding:
        assert f"llm_yaml_models/presets/{preset}.yaml" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "[llm]\nyaml_models = llm_yaml_models.plugin" in (
        zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_the_wheel_declares_httpx2_which_the_http_backend_imports(wheel):
    archive = zipfile.ZipFile(wheel)
    metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    assert "Requires-Dist: httpx2\n" in archive.read(metadata).decode()


def test_the_sdist_carries_the_docs_the_readme_links(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = tmp_path.glob("llm_yaml_models-*.tar.gz")
    with tarfile.open(built) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert "docs/reliability.md" in names
    assert "README.md" in names


def test_the_installed_wheel_runs_a_model_and_prints_its_schema(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "LLM_YAML_MODELS_PATH": str(REPO / "examples" / "markov.yaml"),
    }

    def llm(*args: str) -> subprocess.CompletedProcess:
        # Run from elsewhere, so nothing can come from the checkout.
        return subprocess.run(
            [sys.executable, "-m", "llm", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import llm_yaml_models.loading.search_path as p; print(p.schema_path())",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where == str(target / "llm_yaml_models" / "schemas" / "llm-yaml-models.schema.json")
    ran = llm("-m", "markov", "the cat sat on the mat", "-o", "seed", "1", "--no-log")
    assert (ran.returncode, ran.stderr) == (0, "")
    assert set(ran.stdout.split()) <= {"the", "cat", "sat", "on", "mat"}
    schema = llm("yaml-models", "schema")
    assert schema.stdout == (REPO / "schemas" / "llm-yaml-models.schema.json").read_text()

"""Where model files are found. On the startup path: keep it light."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import llm

ENV_PATH = "LLM_YAML_MODELS_PATH"
SUFFIXES = (".yaml", ".yml")


class Place(NamedTuple):
    path: Path
    origin: str  # "user directory", or the env var's name

    @property
    def exists(self) -> bool:
        return self.path.exists()


def places() -> list[Place]:
    out = [Place(llm.user_dir() / "yaml-models", "user directory")]
    for entry in os.environ.get(ENV_PATH, "").split(os.pathsep):
        if entry.strip():
            out.append(Place(Path(entry).expanduser(), ENV_PATH))
    return out


def missing() -> list[str]:
    """One line for each LLM_YAML_MODELS_PATH entry that names nothing: a
    misspelt entry would otherwise leave its models out without a word. (A
    broken symlink is a file to load, which says what is wrong with it.)"""
    return [
        f"{ENV_PATH} entry {place.path} does not exist"
        for place in places()
        if place.origin == ENV_PATH and not place.exists and not place.path.is_symlink()
    ]


def files_in(path: Path) -> list[Path]:
    """The model files a search-path entry names: a file, or a directory's
    ``*.yaml`` and ``*.yml`` files in name order."""
    if not path.is_dir():
        return [path] if path.exists() or path.is_symlink() else []
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return [path]  # reported as unreadable when loaded
    return [path / n for n in names if n.endswith(SUFFIXES) and not n.startswith(".")]


def discover() -> list[str]:
    """Every model file on the search path, once each, in search order."""
    seen: set[str] = set()
    out = []
    for place in places():
        for file in files_in(place.path):
            real = os.path.realpath(file)
            if real not in seen:
                seen.add(real)
                out.append(str(file))
    return out


SCHEMA_NAME = "llm-yaml-models.schema.json"
_HERE = Path(__file__).resolve().parents[1]  # the package (this module is in loading/)


def schema_path() -> Path:
    """The wheel carries the schema inside the package; a checkout has it in
    the repository's schemas/ directory."""
    for candidate in (_HERE / "schemas" / SCHEMA_NAME, _HERE.parent / "schemas" / SCHEMA_NAME):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{SCHEMA_NAME} is missing from the installation")


def schema_stamp() -> str:
    """Changes whenever the schema file does; part of the cache's key."""
    info = os.stat(schema_path())
    return f"{info.st_mtime_ns}-{info.st_size}"

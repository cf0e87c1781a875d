"""Every example in README.md and docs/ (but docs/reliability.md) is checked.

- Each ```yaml block is a model file: it loads through the plugin's
  validator (``llm yaml-models validate``) with no problem, and matches the
  JSON Schema an editor is given.
- The README's quickstart runs: its local-server example against a
  loopback server, its hosted example with a key set by ``llm keys set``,
  its Python function for real.
- Console blocks marked to run (``$ llm ...`` and the output after it) run
  in process and print what the page says.
- Each page has a table of contents, and every link between pages lands.

Markers, as an HTML comment on the line before a fence:
  <!-- fragment -->         a yaml block that is part of a file: parsed only
  <!-- file: NAME -->       a block saved as NAME beside the page's yaml examples
  <!-- example: NAME -->    a yaml block a test here runs by its NAME
  <!-- run: ARG ... -->     a console block to run; each ARG is put on the
                            search path: a #NAME example of the page, a NAME
                            file of the page (run from its directory, as the
                            page shows it), or a path in the repository; or
                            is VAR=VALUE, set in the environment

The blocks are collected from the pages, so a new example is covered
without touching this module.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, REPO, SCHEMA_FILE
from fakeapi import REPLY, FakeAPI

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PAGES = [p for p in PAGES if p.name != "reliability.md"]  # its examples are other tests'
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!-- (fragment|file|example|run)(?::\s*(.*?))? -->$")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: str = ""  # fragment, file, example or run
    argument: str = ""

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    """The fenced blocks of a page, each with the marker on the line before it."""
    lines = page.read_text("utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        marker = MARKER.match(lines[i - 1]) if i else None
        block = Block(page, i + 1, opening.group(1), "\n".join(lines[i + 1 : end]) + "\n")
        if marker:
            block.marker, block.argument = marker.group(1), marker.group(2) or ""
        found.append(block)
        i = end + 1
    return found


BLOCKS = [b for page in PAGES for b in blocks_of(page)]
YAML = [b for b in BLOCKS if b.lang == "yaml" and b.marker not in ("fragment", "file")]
FRAGMENTS = [b for b in BLOCKS if b.lang == "yaml" and b.marker == "fragment"]
RUNS = [b for b in BLOCKS if b.marker == "run"]


def named(page: str, name: str) -> Block:
    """The yaml block of PAGE marked ``<!-- example: NAME -->``."""
    (block,) = [b for b in YAML if b.page == REPO / page and b.argument == name]
    return block


def setting_up(block: Block, directory: Path) -> None:
    """Put beside a page's examples what they refer to: the examples' code
    and corpus, and the page's ``<!-- file: NAME -->`` blocks."""
    for path in EXAMPLES.glob("*.py"):
        shutil.copy(path, directory / path.name)
    shutil.copytree(EXAMPLES / "corpus", directory / "corpus", dirs_exist_ok=True)
    for other in blocks_of(block.page):
        if other.marker == "file":
            (directory / other.argument).write_text(other.text, "utf-8")


def placed(block: Block, directory: Path, text: str | None = None) -> Path:
    """The block written as a model file in DIRECTORY, with what it refers to."""
    setting_up(block, directory)
    path = directory / "doc.yaml"
    path.write_text(block.text if text is None else text, "utf-8")
    return path


def test_there_are_examples():
    assert len(YAML) >= 18 and len(RUNS) >= 4
    assert {"local", "hosted", "python"} <= {b.argument for b in YAML if b.page.name == "README.md"}


@pytest.mark.parametrize("block", YAML, ids=lambda b: b.id)
def test_yaml_example_validates(block, models_dir, run_llm, monkeypatch):
    path = placed(block, models_dir)
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(path))  # the page's files are not
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ") and result.stdout.endswith(" no problems\n")


@pytest.mark.parametrize("block", YAML, ids=lambda b: b.id)
def test_yaml_example_matches_the_json_schema(block):
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))
    jsonschema.validate(yaml.safe_load(block.text), schema)


def test_fragments_are_yaml():
    for block in FRAGMENTS:
        yaml.safe_load(block.text)


def served(block: Block, server: FakeAPI) -> str:
    """The block's file with each model's backend sent to SERVER: the path
    of its base URL (or its preset's /v1) kept, the host replaced."""
    data = yaml.safe_load(block.text)
    for model in data["models"] if isinstance(data, dict) else data:
        backend = model["backend"]
        path = re.sub(r"^\w+://[^/]+", "", backend.get("base_url", "/v1"))
        backend["base_url"] = f"{server.url}{path}"
    return yaml.safe_dump(data)


def test_quickstart_local_server_runs(models_dir, run_llm):
    block = named("README.md", "local")
    assert "base_url: http://127.0.0.1:11434/v1" in block.text  # Ollama's, as the table says
    with FakeAPI() as server:
        placed(block, models_dir, served(block, server))
        result = run_llm("-m", "local", "Three names for a cat")
        assert result.exit_code == 0, result.output
        assert result.stdout == REPLY + "\n"
        assert server.last.path == "/v1/chat/completions"
        assert server.last.json["model"] == "llama3.2"
        assert "authorization" not in server.last.headers  # no key declared, none sent
        checked = run_llm("yaml-models", "check", "local")
        assert checked.exit_code == 0, checked.output
        assert checked.stdout.split("\n")[1].split()[3:] == ["yes", "yes", "-", "-", "-"]


def test_quickstart_hosted_api_sends_the_key_it_was_given(models_dir, run_llm, monkeypatch):
    block = named("README.md", "hosted")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with FakeAPI() as server:
        placed(block, models_dir, served(block, server))
        assert run_llm("keys", "set", "anthropic", "--value", "sk-doc-test").exit_code == 0
        result = run_llm("-m", "my-claude", "Three names for a cat")
        assert result.exit_code == 0, result.output
        assert result.stdout == REPLY + "\n"
        assert server.last.path == "/v1/messages"
        assert server.last.headers["x-api-key"] == "sk-doc-test"
        assert server.last.json["model"] == "claude-sonnet-4-5"


def test_quickstart_add_registers_every_model_a_provider_serves(user_dir, run_llm):
    """The README's first command, against a loopback Ollama."""
    text = (REPO / "README.md").read_text("utf-8")
    assert "llm yaml-models add ollama " in text and 'llm -m ollama/llama3.2 "' in text
    with FakeAPI() as server:
        server.models = ["llama3.2"]
        server.shows = {"llama3.2": {"capabilities": ["completion"], "model_info": {}}}
        added = run_llm("yaml-models", "add", "ollama", "--base-url", server.url)
        assert (added.exit_code, added.stderr) == (0, ""), added.output
        assert added.stdout.endswith(
            f"ollama: 1 model from {server.url}/api/tags:\n  ollama/llama3.2\n"
        )
        result = run_llm("-m", "ollama/llama3.2", "Three names for a cat")
        assert result.exit_code == 0, result.output
        assert result.stdout == REPLY + "\n"
        assert server.last.path == "/api/chat"


def test_quickstart_python_function_runs(models_dir, run_llm):
    placed(named("README.md", "python"), models_dir)
    result = run_llm("-m", "shout", "hello")
    assert result.exit_code == 0, result.output
    assert result.stdout == "HELLO!\n"


def test_discovery_template_lists_and_runs(models_dir, run_llm):
    block = named("docs/discovery.md", "lab")
    with FakeAPI() as server:
        server.models = ["qwen3-chat", "nomic-embed", "llama3-vision"]
        placed(block, models_dir, served(block, server))
        assert run_llm("keys", "set", "lab", "--value", "sk-lab").exit_code == 0
        result = run_llm("yaml-models", "refresh")
        assert result.exit_code == 0, result.output
        listed = f"lab: 1 model from {server.url}/v1/models: added lab/qwen3-chat\n"
        assert result.stdout == listed  # include: ["*-chat"]
        assert server.last.headers["authorization"] == "Bearer sk-lab"
        result = run_llm("-m", "lab/qwen3-chat", "hi")
        assert result.exit_code == 0, result.output
        assert result.stdout == REPLY + "\n"
        assert server.last.json["model"] == "qwen3-chat"
        listed = run_llm("yaml-models", "list").stdout.splitlines()
        assert (
            f"lab/qwen3-chat [http] {models_dir / 'doc.yaml'}:1: loaded (discovered by lab)"
            in listed
        )


def test_setup_command_runs(run_llm, monkeypatch):
    command = next(b for b in BLOCKS if b.page.name == "README.md" and "llm -m markov" in b.text)
    setting, rest = command.text.split(" && ")[1].split(" ", 1)
    assert setting == "LLM_YAML_MODELS_PATH=examples/markov.yaml"
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(REPO / "examples" / "markov.yaml"))
    result = run_llm(*shlex.split(rest)[1:])  # without the leading 'llm'
    assert result.exit_code == 0, result.output
    assert len(result.stdout.split()) == 20  # the example's default length


def test_setup_test_command_is_what_ci_runs():
    command = next(b for b in BLOCKS if b.page.name == "README.md" and "pytest" in b.text)
    assert command.text == "pip install -e '.[test]' && python -m pytest\n"
    assert (REPO / ".ci" / "run").read_text("utf-8").splitlines()[-1] == command.text.strip()


def sessions(block: Block) -> list[tuple[list[str], str]]:
    """A console block's commands (without 'llm') and the output each shows."""
    out = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            words = shlex.split(line[2:])
            assert words[0] == "llm", f"{block.id}: only llm commands run: {line}"
            out.append((words[1:], ""))
        else:
            out[-1] = (out[-1][0], out[-1][1] + line + "\n")
    return out


def normalised(text: str) -> str:
    """The HTTP client's version changes under us; the rest must not."""
    text = re.sub(r"python-httpx2/[\d.]+", "python-httpx2/VERSION", text)
    return re.sub(r"^Content-Length: \d+$", "Content-Length: N", text, flags=re.M)


def search_path(block: Block, models_dir: Path, monkeypatch) -> None:
    """Carry out a run marker's arguments: the search path and the environment."""
    paths = []
    files = {b.argument for b in blocks_of(block.page) if b.marker == "file"}
    for argument in shlex.split(block.argument):
        if "=" in argument:
            monkeypatch.setenv(*argument.split("=", 1))
        elif argument.startswith("#"):
            example = named(str(block.page.relative_to(REPO)), argument[1:])
            paths.append(str(placed(example, models_dir)))
        elif argument in files:
            setting_up(block, models_dir)
            monkeypatch.chdir(models_dir)
            paths.append(argument)
        else:
            paths.append(str(REPO / argument))
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", ":".join(paths))


@pytest.mark.parametrize("block", RUNS, ids=lambda b: b.id)
def test_console_example_prints_what_the_page_says(block, models_dir, run_llm, monkeypatch):
    search_path(block, models_dir, monkeypatch)
    for args, shown in sessions(block):
        result = run_llm(*args)
        failed = shown.startswith("Error:") or "\nError:" in shown
        assert result.exit_code == (1 if failed else 0), result.output
        assert normalised(result.output) == normalised(shown)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def headings(page: Path, levels: str = "1-6") -> list[tuple[int, str]]:
    out, fenced = [], False
    for line in page.read_text("utf-8").splitlines():
        fenced ^= line.startswith("```")
        found = re.match(rf"(#{{{levels.replace('-', ',')}}}) (.*)", line)
        if found and not fenced:
            out.append((len(found.group(1)), found.group(2)))
    return out


DOC_PAGES = [p for p in PAGES if p.parent.name == "docs" and p.name != "index.md"]


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: p.name)
def test_page_has_a_table_of_contents(page):
    text = page.read_text("utf-8")
    contents = re.search(r"<!-- contents -->\n(.*?)<!-- /contents -->", text, re.S)
    assert contents, f"{page.name} has no <!-- contents --> list"
    expected = ["  " * (level - 2) + f"- [{h}](#{slug(h)})" for level, h in headings(page, "2-3")]
    assert [line for line in contents.group(1).splitlines() if line.startswith(("-", " "))] == (
        expected
    )


def test_index_lists_every_page():
    index = (REPO / "docs" / "index.md").read_text("utf-8")
    for page in (REPO / "docs").glob("*.md"):
        assert page.name == "index.md" or f"]({page.name})" in index, page.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_land(page):
    text = re.sub(r"```.*?```", "", page.read_text("utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"\w+://", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        assert linked.exists(), f"{page.name}: {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in {slug(h) for _, h in headings(linked)}, f"{page.name}: {target}"

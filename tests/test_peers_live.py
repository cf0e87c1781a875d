"""The presets side by side with the providers' own llm plugins (issue 25),
live: the same ``llm`` commands through the peer and through the preset,
against one loopback server, comparing the request bodies and the rows of
``llm logs --json``.

The peers (llm-anthropic, llm-ollama, llm-gemini: the ``test`` extra) run
in a Python process of their own that loads only that plugin
(``LLM_LOAD_PLUGINS``) and runs llm's CLI once per command, in order, with
a user directory of its own; the preset runs here. llm-gemini's URL is
fixed (no base-URL setting), so its bodies come from its own
``build_request_body``, called here for the same prompt and options.
Each difference a comparison leaves out is listed beside it, and
docs/presets.md says why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import llm
import pytest
from test_server_tools import (
    BLOCKS,
    GEM_PARTS,
    GROUNDING,
    Scripted,
    gemini_chunks,
    gemini_reply,
    tool,
)

pytestmark = pytest.mark.xdist_group("peers")

# Runs each command of argv[1] (a JSON list of argument lists) through llm's
# CLI in this one process (a process per command would cost a second each)
# and prints each exit code and output as a JSON line.
PEER = """\
import json, sys
from click.testing import CliRunner
from llm.cli import cli
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(cli, args)
    print(json.dumps([result.exit_code, result.output, repr(result.exception)]))
"""


@pytest.fixture
def peer(tmp_path, migrated_logs_db):
    """``peer(plugin, commands, **env)``: the outputs of ``commands`` run
    through llm with only ``plugin`` loaded; each must succeed."""
    user = tmp_path / "peer-user"
    user.mkdir()
    shutil.copyfile(migrated_logs_db, user / "logs.db")

    def peer(plugin: str, commands: list[list[str]], **env: str) -> list[str]:
        assert installed(plugin), f"{plugin} is not installed: pip install -e '.[test]'"
        env = {**os.environ, "LLM_LOAD_PLUGINS": plugin, "LLM_USER_PATH": str(user), **env}
        done = subprocess.run(
            [sys.executable, "-c", PEER, json.dumps(commands)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        results = [json.loads(line) for line in done.stdout.splitlines()]
        for args, (code, output, exception) in zip(commands, results, strict=True):
            assert code == 0, (args, output, exception)
        return [output for _, output, _ in results]

    return peer


def installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def ours(run_llm, commands: list[list[str]]) -> list[str]:
    """The outputs of ``commands`` run through llm here, with the presets."""
    outputs = []
    for args in commands:
        result = run_llm(*args)
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.output)
    return outputs


def bodies(api) -> list[dict]:
    """The request bodies of the model calls ``api`` received, in order."""
    return [r.json for r in api.requests if r.method == "POST" and "/api/show" not in r.path]


def without(body: dict, *keys: str) -> dict:
    return {k: v for k, v in body.items() if k not in keys}


def logged(output: str, *fields: str) -> list[dict]:
    """The rows of ``llm logs --json``, with only ``fields``."""
    return [{f: row[f] for f in fields} for row in json.loads(output)]


# -- anthropic-messages beside llm-anthropic 0.30 ---------------------------------------------

ANTHROPIC = """\
- model_id: claude-sonnet-4.5
  key: {name: anthropic, env: ANTHROPIC_API_KEY}
  supports_schema: true
  backend:
    {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1",
     model_name: claude-sonnet-4-5, retries: 0}
- model_id: claude-opus-4.6
  key: {name: anthropic, env: ANTHROPIC_API_KEY}
  supports_schema: true
  supports_tools: true
  backend:
    {type: http, preset: anthropic-messages, base_url: "${FAKE_URL}/v1",
     model_name: claude-opus-4-6, retries: 0}
  server_tools:
    WebSearch: {type: web_search_20260318, name: web_search}
"""
TEXT = [{"type": "text", "text": "Hello from the fake API"}]
ANTHROPIC_COMMANDS = [
    ["-m", "claude-sonnet-4.5", "--schema", "name, age int", "hi"],
    ["-m", "claude-sonnet-4.5", "--no-stream", "-o", "cache", "1", "-s", "be brief", "hi"],
    ["-m", "claude-sonnet-4.5", "-o", "user_id", "u-42", "-o", "prefill", "{", "hi"],
    ["-m", "claude-opus-4.6", "-o", "thinking_effort", "high", "hi"],
    ["-m", "claude-opus-4.6", "-o", "thinking_effort", "low", "-R", "hi"],
    ["-m", "claude-opus-4.6", "-o", "thinking", "1", "hi"],
    ["-m", "claude-opus-4.6", "-T", "WebSearch", "When?"],
    ["-c", "Where?"],
    ["-m", "claude-opus-4.6", "-o", "thinking", "1", "2+3?"],
    ["-c", "and 3+3?"],
]
# A reply that thinks, once in the clear and once redacted.
THINK = {"type": "thinking", "thinking": "Hmm.", "signature": "EqQBCkYIBRgCKkBa+/sig=="}
HIDDEN = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw"}
THOUGHT = [THINK, HIDDEN, {"type": "text", "text": "Five."}]
# The turns the server answers them with, in order: a web search for the
# seventh, the reply to the question after it, then a reply that thinks.
ANTHROPIC_TURNS = [TEXT] * 6 + [BLOCKS, TEXT, THOUGHT, TEXT]
# llm-anthropic's defaults on every request: max_tokens (64000 here, 128000
# on Opus 4.6), temperature 1.0, and it always streams.
ANTHROPIC_DEFAULTS = ("max_tokens", "temperature", "stream")


def one_text_block(content: list) -> list:
    """``content`` with each run of text blocks as one block, as the preset
    records it (llm-anthropic keeps a part per block; citations dropped)."""
    merged: list = []
    for block in content:
        if block["type"] == "text" and merged and merged[-1]["type"] == "text":
            merged[-1] = {"type": "text", "text": merged[-1]["text"] + block["text"]}
        else:
            merged.append(without(block, "citations"))
    return merged


def same_turns(body: dict) -> dict:
    messages = [{**m, "content": one_text_block(m["content"])} for m in body["messages"]]
    return {**without(body, *ANTHROPIC_DEFAULTS), "messages": messages}


@pytest.fixture
def scripted(monkeypatch):
    with Scripted() as server:
        monkeypatch.setenv("FAKE_URL", server.url)
        yield server


def test_anthropic_bodies_and_logs_are_llm_anthropics(
    scripted, peer, run_llm, write, monkeypatch, user_dir, tmp_path
):
    scripted.turns = ANTHROPIC_TURNS
    logs = ["logs", "--json", "-n", "0"]
    theirs = peer(
        "llm-anthropic",
        [*ANTHROPIC_COMMANDS, logs],
        ANTHROPIC_BASE_URL=scripted.url,
        ANTHROPIC_API_KEY="sk-an-test",
    )
    peer_bodies = bodies(scripted)
    scripted.reset()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-an-test")
    write("models.yaml", ANTHROPIC)
    mine = ours(run_llm, [*ANTHROPIC_COMMANDS, logs])
    assert [same_turns(b) for b in bodies(scripted)] == [same_turns(b) for b in peer_bodies]
    assert mine[:-1] == theirs[:-1]  # what each command printed
    fields = ("prompt", "system", "response", "input_tokens", "output_tokens", "schema_json")
    assert logged(mine[-1], *fields) == logged(theirs[-1], *fields)
    assert calls_and_results(mine[-1]) == calls_and_results(theirs[-1])
    assert reasoning_parts(user_dir) == reasoning_parts(tmp_path / "peer-user")


def reasoning_parts(user: Path) -> list:
    """The reasoning parts llm stored in ``user``'s logs.db (text, and its
    provider_metadata: a signature, a redacted block)."""
    import sqlite_utils

    with sqlite_utils.Database(user / "logs.db") as db:
        rows = db.query("select text, payload from parts where type = 'reasoning' order by id")
        return [(row["text"], json.loads(row["payload"] or "null")) for row in rows]


def calls_and_results(output: str) -> list:
    """The server's calls and results each row of the log holds."""
    rows = json.loads(output)
    return [
        (
            [(c["name"], c["arguments"]) for c in row["tool_calls"]],
            [
                (r["name"], json.loads(r["output"]), r["server_executed"])
                for r in row["tool_results"]
            ],
        )
        for row in rows
    ]


# -- ollama-chat beside llm-ollama 0.19.1 -----------------------------------------------------

OLLAMA = """\
- model_id: ollama/llama3.2:latest
  backend:
    {type: http, preset: ollama-chat, base_url: "${FAKE_URL}", model_name: "llama3.2:latest",
     retries: 0}
"""
OLLAMA_COMMANDS = [
    ["-m", "ollama/llama3.2:latest", "--no-stream", "-o", "json_object", "1", "-o", "min_p",
     "0.05", "-o", "repeat_last_n", "32", "hi"],
    ["-m", "ollama/llama3.2:latest", "-o", "temperature", "0.5", "-s", "be brief", "hi"],
]  # fmt: skip
# What an Ollama server says of its one model, as llm-ollama reads it.
OLLAMA_TAGS = {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest", "digest": "d1"}]}
OLLAMA_SHOW = {"capabilities": ["completion"], "model_info": {}, "details": {}}


def test_ollama_bodies_and_logs_are_llm_ollamas(fake_api, peer, run_llm, write, monkeypatch):
    fake_api.bodies["/api/tags"] = json.dumps(OLLAMA_TAGS).encode()
    fake_api.shows["llama3.2:latest"] = OLLAMA_SHOW
    logs = ["logs", "--json", "-n", "0"]
    theirs = peer("llm-ollama", [*OLLAMA_COMMANDS, logs], OLLAMA_HOST=fake_api.url)
    peer_bodies = bodies(fake_api)
    fake_api.reset()
    monkeypatch.setenv("FAKE_URL", fake_api.url)
    write("models.yaml", OLLAMA)
    mine = ours(run_llm, [*OLLAMA_COMMANDS, logs])
    # llm-ollama sends an empty tools list; the preset sends no tools key without tools.
    assert bodies(fake_api) == [without(b, "tools") for b in peer_bodies]
    assert mine[:-1] == theirs[:-1]
    fields = ("prompt", "system", "response", "input_tokens", "output_tokens")
    assert logged(mine[-1], *fields) == logged(theirs[-1], *fields)


# -- gemini beside llm-gemini 0.35 ------------------------------------------------------------

GEMINI = """\
- model_id: gemini-3.1-pro-preview
  key: {name: gemini, env: LLM_GEMINI_KEY}
  backend:
    {type: http, preset: gemini, base_url: "${FAKE_URL}/v1beta",
     model_name: gemini-3.1-pro-preview, retries: 0}
"""
# Options and the server-side tools offered (-T), by case.
GEMINI_CASES = {
    "json": ({"json_object": True, "temperature": 0.5}, []),
    "level-media": ({"thinking_level": "high", "media_resolution": "low"}, []),
    "level": ({"thinking_level": "low"}, []),
    "google-search": ({}, ["GoogleSearch"]),
}


def llm_gemini_body(options: dict, tools: list[str], hide_reasoning: bool) -> dict:
    """The body llm-gemini builds for ``hi`` with ``options`` and ``tools``."""
    import llm_gemini

    models: dict = {}
    llm_gemini.register_models(lambda model, *rest, **kw: models.setdefault(model.model_id, model))
    model = models["gemini/gemini-3.1-pro-preview"]
    offered = [getattr(llm_gemini, name)() for name in tools]
    prompt = llm.Prompt("hi", model=model, options=model.Options(**options), tools=offered)
    prompt.hide_reasoning = hide_reasoning
    return model.build_request_body(prompt, None)


def gemini_args(options: dict) -> list[str]:
    pairs = [["-o", k, json.dumps(v) if v is True else str(v)] for k, v in options.items()]
    return [arg for pair in pairs for arg in pair]


def same_config(body: dict) -> dict:
    """``body`` with the differences docs/presets.md lists left out:
    llm-gemini's safetySettings on every request, its includeThoughts
    without -R, its toolConfig on Gemini 3 with tools, and its snake_case
    spelling of responseMimeType (the API takes both)."""
    config = dict(body.get("generationConfig", {}))
    if "response_mime_type" in config:
        config["responseMimeType"] = config.pop("response_mime_type")
    thinking = without(config.pop("thinkingConfig", {}), "includeThoughts")
    if thinking:
        config["thinkingConfig"] = thinking
    return {**without(body, "safetySettings", "toolConfig"), "generationConfig": config}


@pytest.mark.parametrize("case", GEMINI_CASES)
@pytest.mark.parametrize("hide", [False, True], ids=["", "R"])
def test_gemini_bodies_are_llm_geminis(fake_api, run_llm, write, monkeypatch, case, hide):
    monkeypatch.setenv("FAKE_URL", fake_api.url)
    monkeypatch.setenv("LLM_GEMINI_KEY", "gm-test")
    write("models.yaml", GEMINI)
    options, tools = GEMINI_CASES[case]
    offered = [arg for name in tools for arg in ("-T", name)]
    args = [*gemini_args(options), *offered, *(["-R"] if hide else [])]
    result = run_llm("-m", "gemini-3.1-pro-preview", *args, "hi")
    assert result.exit_code == 0, result.output
    theirs = llm_gemini_body(options, tools, hide)
    assert same_config(fake_api.last.json) == same_config(theirs)


def llm_gemini_parts(chunks: list) -> list:
    """The parts llm records when llm-gemini reads the streamed ``chunks``
    (its own process_candidates; only its HTTP is left out, its URL being
    fixed), for a prompt offering its CodeExecution tool."""
    import llm_gemini

    class Offline(llm_gemini.GeminiPro):
        def execute(self, prompt, stream, response, conversation, key):
            for chunk in chunks:
                yield from self.process_candidates(chunk["candidates"], response)

    model = Offline("gemini-3.1-pro-preview", can_code_execution=True)
    response = model.prompt("Sum 1..50", tools=[llm_gemini.CodeExecution()], key="gm-test")
    response.text()
    return response.messages()[0].parts


def call_ids_as_one(parts: list) -> list:
    """``parts`` with their tool call ids (made up by each side) as one id."""
    return [replace(p, tool_call_id="id") if getattr(p, "tool_call_id", None) else p for p in parts]


def test_gemini_code_execution_is_recorded_as_llm_gemini_records_it(scripted, write, monkeypatch):
    monkeypatch.setenv("LLM_GEMINI_KEY", "gm-test")
    write("models.yaml", GEMINI)
    scripted.turns = [(GEM_PARTS, GROUNDING)]
    offered = [tool("gemini-3.1-pro-preview", "CodeExecution")]
    response = llm.get_model("gemini-3.1-pro-preview").prompt("Sum 1..50", tools=offered)
    response.text()
    ours = call_ids_as_one(response.messages()[0].parts)
    whole = gemini_reply(GEM_PARTS, GROUNDING)
    assert ours == call_ids_as_one(llm_gemini_parts([whole]))
    # The preset streamed the sources in a chunk of their own, after the
    # text; llm-gemini (on llm 0.36) then keeps them and loses the text's
    # thoughtSignature, which Gemini 3 needs back under -c.
    split = call_ids_as_one(llm_gemini_parts(chunks_of(gemini_chunks(whole))))
    assert split[:3] == ours[:3]
    assert split[3].provider_metadata == {"gemini": {"groundingMetadata": GROUNDING}}
    assert ours[3].provider_metadata["gemini"]["thoughtSignature"] == "c2lnbmVk"


def chunks_of(sse: bytes) -> list:
    """The JSON chunks of a Gemini SSE stream."""
    events = sse.decode().split("\r\n\r\n")
    return [json.loads(event.removeprefix("data: ")) for event in events if event]

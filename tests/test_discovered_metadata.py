"""Discovery reads what a server publishes about each model: context
windows, prices, capabilities, and which models chat at all.

Every server is a real one on 127.0.0.1 (tests/fakeapi.py) answering in
the shape of the provider's published API reference."""

from __future__ import annotations

import json
import time

import llm
import pytest
from conftest import model_ids, reset_plugin_state

from llm_yaml_models.declarations import Metadata, Pricing
from llm_yaml_models.discovery import about
from llm_yaml_models.discovery import discovered as discovery
from llm_yaml_models.discovery.fetch import projected

IMAGES = set(about.IMAGE_TYPES)


@pytest.fixture
def server(fake_api):
    return fake_api


def template(source: str, base_url: str, extra: str = "", discover: str = "") -> str:
    return f"""\
- model_id: lab
  discover: {{source: {source}, prefix: lab/{discover}}}
  backend: {{type: http, preset: openai-chat, base_url: "{base_url}"}}
{extra}"""


def declaration(model_id: str):
    return llm.get_model(model_id).entry.declaration


def origin(user_dir) -> str:
    """What the one cached list's fields say of where they came from."""
    item = next(iter(json.loads((user_dir / discovery.LISTS_NAME).read_text())["lists"].values()))
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(item["fetched"]))
    return f"discovered from {item['url']} at {when}"


def age_lists(user_dir, seconds: float) -> None:
    path = user_dir / discovery.LISTS_NAME
    data = json.loads(path.read_text())
    for item in data["lists"].values():
        item["fetched"] = time.time() - seconds
    path.write_text(json.dumps(data))


# -- OpenRouter: GET /api/v1/models --------------------------------------------------

CLAUDE = {
    "id": "anthropic/claude-sonnet-4.5",
    "canonical_slug": "anthropic/claude-sonnet-4.5",
    "name": "Anthropic: Claude Sonnet 4.5",
    "context_length": 1000000,
    "architecture": {
        "modality": "text+image->text",
        "input_modalities": ["text", "image", "file"],
        "output_modalities": ["text"],
        "tokenizer": "Claude",
    },
    "pricing": {
        "prompt": "0.000003",
        "completion": "0.000015",
        "request": "0",
        "image": "0.0048",
        "input_cache_read": "0.0000003",
        "input_cache_write": "0.00000375",
    },
    "top_provider": {
        "context_length": 1000000,
        "max_completion_tokens": 64000,
        "is_moderated": True,
    },
    "per_request_limits": None,
    "supported_parameters": ["max_tokens", "temperature", "tools", "tool_choice", "reasoning"],
}
LLAMA = {
    "id": "meta-llama/llama-3.1-8b-instruct",
    "context_length": 131072,
    "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
    "pricing": {"prompt": "0.00000002", "completion": "0.00000005"},
    "top_provider": {"context_length": 131072, "max_completion_tokens": None},
    "supported_parameters": ["max_tokens", "temperature"],
}


def test_openrouter_models_carry_context_prices_and_capabilities(server, write, run_llm, user_dir):
    server.bodies["/api/v1/models"] = json.dumps({"data": [CLAUDE, LLAMA]}).encode()
    write("lab.yaml", template("openrouter", f"{server.url}/api/v1"))
    result = run_llm("models", "list")
    assert (result.exit_code, result.stderr) == (0, "")
    assert model_ids() == [
        "lab/anthropic/claude-sonnet-4.5",
        "lab/meta-llama/llama-3.1-8b-instruct",
    ]
    where = origin(user_dir)
    claude = declaration("lab/anthropic/claude-sonnet-4.5")
    assert claude.metadata == Metadata(
        context_window=1000000,
        max_output_tokens=64000,
        capabilities=("pdf", "reasoning", "tools", "vision"),
        origins=(
            ("context_window", where),
            ("max_output_tokens", where),
            ("capabilities", where),
        ),
    )
    assert claude.pricing == Pricing(
        input=3.0,
        output=15.0,
        cached_input=0.3,
        cache_write=3.75,
        origins=tuple((name, where) for name in ("input", "output", "cached_input", "cache_write")),
    )
    model = llm.get_model("lab/anthropic/claude-sonnet-4.5")
    assert model.attachment_types == IMAGES | {"application/pdf"}
    assert model.supports_tools is True
    llama = llm.get_model("lab/meta-llama/llama-3.1-8b-instruct")
    assert (llama.attachment_types, llama.supports_tools) == (set(), False)
    assert llama.entry.declaration.pricing.input == 0.02
    assert llama.entry.declaration.metadata.max_output_tokens is None
    answered = run_llm("-m", "lab/meta-llama/llama-3.1-8b-instruct", "hi", "--no-log")
    assert answered.exit_code == 0, answered.output
    assert server.last.json["model"] == "meta-llama/llama-3.1-8b-instruct"
    reset_plugin_state()  # a warm start: no request, the same metadata from the cache
    assert run_llm("models", "list").stderr == ""
    assert [r.path for r in server.requests] == ["/api/v1/models", "/api/v1/chat/completions"]
    assert declaration("lab/anthropic/claude-sonnet-4.5") == claude


def test_a_declared_value_wins_field_by_field_and_says_so(server, write, run_llm, user_dir):
    server.bodies["/api/v1/models"] = json.dumps({"data": [CLAUDE]}).encode()
    extra = """\
  metadata: {context_window: 200000}
  pricing: {input: 2.5}
"""
    file = write("lab.yaml", template("openrouter", f"{server.url}/api/v1", extra))
    assert run_llm("models", "list").stderr == ""
    where = origin(user_dir)
    found = declaration("lab/anthropic/claude-sonnet-4.5")
    assert (found.metadata.context_window, found.metadata.max_output_tokens) == (200000, 64000)
    assert dict(found.metadata.origins) == {
        "context_window": f"declared at {file}:4",
        "max_output_tokens": where,
        "capabilities": where,
    }
    assert (found.pricing.input, found.pricing.output) == (2.5, 15.0)
    assert dict(found.pricing.origins)["input"] == f"declared at {file}:5"
    assert dict(found.pricing.origins)["output"] == where


def test_an_override_has_the_last_word_on_what_a_model_takes(server, write, run_llm):
    server.bodies["/api/v1/models"] = json.dumps({"data": [CLAUDE, LLAMA]}).encode()
    overrides = ', overrides: {"anthropic/*": {supports_tools: false, attachment_types: []}}'
    write("lab.yaml", template("openrouter", f"{server.url}/api/v1", discover=overrides))
    assert run_llm("models", "list").stderr == ""
    claude = llm.get_model("lab/anthropic/claude-sonnet-4.5")
    assert (claude.attachment_types, claude.supports_tools) == (set(), False)


def test_malformed_metadata_is_one_line_and_the_models_work_without_it(server, write, run_llm):
    bad = {
        **CLAUDE,
        "context_length": "lots",
        "pricing": {"prompt": "-1", "completion": "0.000015", "input_cache_read": [1]},
    }
    odd = {"id": "odd/model", "pricing": "free", "top_provider": 7, "context_length": 1.5}
    worse = {**LLAMA, "id": "worse/model", "context_length": -3}
    fine = {**LLAMA, "id": "fine/model"}
    listed = {"data": [bad, odd, worse, fine, {**worse, "id": "worst/model"}]}
    server.bodies["/api/v1/models"] = json.dumps(listed).encode()
    file = write("lab.yaml", template("openrouter", f"{server.url}/api/v1"))
    result = run_llm("models", "list")
    assert result.exit_code == 0
    assert result.stderr == (
        f"llm-yaml-models: warning: lab ({file}:1): left out metadata from "
        f"{server.url}/api/v1/models for 4 models: "
        "anthropic/claude-sonnet-4.5: context_window is not a positive integer: 'lots', "
        "pricing.input is not a non-negative number: '-1', "
        "pricing.cached_input is not a non-negative number: [1]; "
        "odd/model: context_window is not a positive integer: 1.5; "
        "worse/model: context_window is not a positive integer: -3; and 1 more\n"
    )
    assert len(model_ids()) == 5
    claude = declaration("lab/anthropic/claude-sonnet-4.5")
    assert (claude.metadata.context_window, claude.metadata.max_output_tokens) == (None, 64000)
    assert (claude.pricing.input, claude.pricing.output) == (None, 15.0)
    assert declaration("lab/odd/model").pricing is None
    answered = run_llm("-m", "lab/odd/model", "hi", "--no-log")
    assert (answered.exit_code, answered.stdout) == (0, "Hello from the fake API\n")
    again = run_llm("models", "list")  # the warning came with the fetch; the cache is clean
    assert again.stderr == ""


def test_a_damaged_field_in_the_cache_makes_it_no_list(server, write, run_llm, user_dir):
    server.bodies["/api/v1/models"] = json.dumps({"data": [LLAMA]}).encode()
    write("lab.yaml", template("openrouter", f"{server.url}/api/v1"))
    assert run_llm("models", "list").stderr == ""
    path = user_dir / discovery.LISTS_NAME
    for damage in ({"context_window": "big"}, {"pricing.input": -1.0}, {"capabilities": [3]}):
        data = json.loads(path.read_text())
        item = next(iter(data["lists"].values()))
        item["about"]["meta-llama/llama-3.1-8b-instruct"].update(damage)
        path.write_text(json.dumps(data))
        reset_plugin_state()
        result = run_llm("models", "list")
        assert (result.exit_code, result.stderr) == (0, "")
        found = declaration("lab/meta-llama/llama-3.1-8b-instruct")  # as the server says, again
        assert (found.metadata.context_window, found.pricing.input) == (131072, 0.02)
    assert len(server.requests) == 4  # each damaged list was fetched again


# -- Ollama: GET /api/tags, and POST /api/show on a refresh ---------------------------


def show(capabilities: list[str], arch: str = "llama", context: int = 8192) -> dict:
    """Ollama's /api/show reply, trimmed to what discovery reads and a little more."""
    return {
        "modelfile": "FROM x",
        "parameters": "stop <|eot_id|>",
        "template": "{{ .Prompt }}",
        "details": {"format": "gguf", "family": arch, "parameter_size": "8.0B"},
        "model_info": {
            "general.architecture": arch,
            "general.parameter_count": 8030261248,
            f"{arch}.context_length": context,
            f"{arch}.embedding_length": 4096,
        },
        "capabilities": capabilities,
    }


def ollama_server(server) -> None:
    server.models = ["llama3.2:latest", "llava:7b", "nomic-embed-text:latest"]
    server.shows = {
        "llama3.2:latest": show(["completion", "tools"], context=131072),
        "llava:7b": show(["completion", "vision"], arch="clip", context=4096),
        "nomic-embed-text:latest": show(["embedding"], arch="nomic-bert", context=2048),
    }


def test_ollama_details_are_asked_only_on_a_refresh(server, write, run_llm, user_dir):
    ollama_server(server)
    write("lab.yaml", template("ollama", server.url))
    first = run_llm("models", "list")
    assert (first.exit_code, first.stderr) == (0, "")
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/api/tags")]
    assert declaration("lab/llama3.2:latest").metadata is None  # nothing known yet
    refreshed = run_llm("yaml-models", "refresh")
    assert refreshed.exit_code == 0, refreshed.output
    assert refreshed.stdout == (
        f"lab: 2 models from {server.url}/api/tags: removed lab/nomic-embed-text:latest\n"
    )
    shows = sorted(r.json["model"] for r in server.requests if r.path == "/api/show")
    assert shows == sorted(server.models)
    reset_plugin_state()
    again = run_llm("models", "list")
    assert again.stderr == ""
    assert model_ids() == ["lab/llama3.2:latest", "lab/llava:7b"]  # an embedding model never chats
    llama, llava = llm.get_model("lab/llama3.2:latest"), llm.get_model("lab/llava:7b")
    assert (llama.supports_tools, llama.attachment_types) == (True, set())
    assert (llava.supports_tools, llava.attachment_types) == (False, IMAGES)
    assert llama.entry.declaration.metadata.context_window == 131072
    assert llava.entry.declaration.metadata.capabilities == ("vision",)
    count = len(server.requests)
    age_lists(user_dir, 7200)  # a stale start: one request, the list; what was said is kept
    reset_plugin_state()
    stale = run_llm("models", "list")
    assert stale.stderr == ""
    assert [r.path for r in server.requests[count:]] == ["/api/tags"]
    assert model_ids() == ["lab/llama3.2:latest", "lab/llava:7b"]
    assert declaration("lab/llama3.2:latest").metadata.context_window == 131072


def test_ollama_details_are_asked_at_most_eight_at_once(server, write, run_llm):
    server.models = [f"m{n}:latest" for n in range(20)]
    server.shows = {name: show(["completion"]) for name in server.models}
    server.fail_next("slow", seconds=0.2, times=21)  # each reply waits: they pile up
    write("lab.yaml", template("ollama", server.url))
    assert run_llm("yaml-models", "refresh").exit_code == 0
    assert sum(r.path == "/api/show" for r in server.requests) == 20
    assert server.peak_connections == 8


def test_ollama_details_end_by_the_refresh_deadline(server, write, run_llm, monkeypatch):
    ollama_server(server)
    monkeypatch.setattr(discovery, "REFRESH_DEADLINE", 1.0)
    server.fail_next("slow", seconds=0.05)  # the list
    server.fail_next("slow", seconds=5, times=3)  # every /api/show hangs
    write("lab.yaml", template("ollama", server.url))
    started = time.monotonic()
    refreshed = run_llm("yaml-models", "refresh")
    assert time.monotonic() - started < 2.5
    assert refreshed.exit_code == 0
    late = f"the reply from {server.url}/api/show took longer than 1s; not read"
    assert refreshed.stderr == (
        f"lab: warning: left out metadata from {server.url}/api/tags for 3 models: "
        f"llama3.2:latest: {late}; llava:7b: {late}; nomic-embed-text:latest: {late}\n"
    )
    assert model_ids() == ["lab/llama3.2:latest", "lab/llava:7b", "lab/nomic-embed-text:latest"]


def test_an_ollama_model_without_details_is_one_line(server, write, run_llm):
    ollama_server(server)
    del server.shows["llava:7b"]
    server.shows["llama3.2:latest"]["model_info"]["llama.context_length"] = "long"
    write("lab.yaml", template("ollama", server.url))
    refreshed = run_llm("yaml-models", "refresh")
    assert refreshed.exit_code == 0
    assert refreshed.stderr == (
        f"lab: warning: left out metadata from {server.url}/api/tags for 2 models: "
        "llama3.2:latest: context_window is not a positive integer: 'long'; "
        f"llava:7b: HTTP 404 from {server.url}/api/show\n"
    )
    assert model_ids() == ["lab/llama3.2:latest", "lab/llava:7b"]
    assert declaration("lab/llama3.2:latest").supports_tools is True


# -- Gemini: GET /v1beta/models ---------------------------------------------------------


def test_gemini_lists_only_generate_content_models_by_their_short_names(server, write, run_llm):
    server.bodies["/v1beta/models"] = json.dumps(
        {
            "models": [
                {
                    "name": "models/gemini-2.5-flash",
                    "version": "001",
                    "displayName": "Gemini 2.5 Flash",
                    "inputTokenLimit": 1048576,
                    "outputTokenLimit": 65536,
                    "supportedGenerationMethods": [
                        "generateContent",
                        "countTokens",
                        "createCachedContent",
                    ],
                    "temperature": 1,
                    "thinking": True,
                },
                {
                    "name": "models/text-embedding-004",
                    "inputTokenLimit": 2048,
                    "outputTokenLimit": 1,
                    "supportedGenerationMethods": ["embedContent"],
                },
            ],
            "nextPageToken": "",
        }
    ).encode()
    write("lab.yaml", template("gemini", f"{server.url}/v1beta"))
    assert run_llm("models", "list").stderr == ""
    assert server.requests[0].query == {"pageSize": ["1000"]}
    assert model_ids() == ["lab/gemini-2.5-flash"]
    found = declaration("lab/gemini-2.5-flash")
    assert found.model_name == "gemini-2.5-flash"
    assert found.metadata[:5] == (1048576, 65536, None, None, ("reasoning",))


# -- LiteLLM: GET /model/info -------------------------------------------------------------


def test_a_litellm_proxy_gives_each_models_prices_and_limits(server, write, run_llm):
    info = {
        "id": "abc",
        "db_model": False,
        "mode": "chat",
        "max_tokens": 16384,
        "max_input_tokens": 128000,
        "max_output_tokens": 16384,
        "input_cost_per_token": 1.5e-07,
        "output_cost_per_token": 6e-07,
        "cache_read_input_token_cost": 7.5e-08,
        "cache_creation_input_token_cost": None,
        "output_cost_per_reasoning_token": None,
        "supports_vision": True,
        "supports_function_calling": True,
        "supports_reasoning": False,
    }
    embed = {"id": "e", "mode": "embedding", "input_cost_per_token": 2e-08}
    server.bodies["/model/info"] = json.dumps(
        {
            "data": [
                {
                    "model_name": "gpt-4o-mini",
                    "litellm_params": {"model": "openai/gpt-4o-mini"},
                    "model_info": info,
                },
                {
                    "model_name": "gpt-4o-mini",
                    "litellm_params": {"model": "azure/x"},
                    "model_info": {},
                },
                {
                    "model_name": "embedder",
                    "litellm_params": {"model": "openai/e"},
                    "model_info": embed,
                },
            ]
        }
    ).encode()
    write("lab.yaml", template("litellm", server.url))
    assert run_llm("models", "list").stderr == ""
    assert model_ids() == ["lab/gpt-4o-mini"]
    found = declaration("lab/gpt-4o-mini")
    assert found.metadata[:5] == (128000, 16384, None, None, ("tools", "vision"))
    assert found.pricing[:5] == (0.15, 0.6, 0.075, None, None)
    assert (found.supports_tools, found.attachment_types) == (True, frozenset(IMAGES))


# -- any server: declared JMESPaths -------------------------------------------------------


def test_a_url_source_reads_the_fields_its_paths_name(server, write, run_llm, user_dir):
    server.bodies["/catalog"] = json.dumps(
        {
            "items": [
                {"slug": "alpha", "limits": {"ctx": 32768}, "cost": {"in": "0.000001"}},
                {"slug": "beta", "limits": {}, "cost": {"in": 0.0000025}, "tags": ["vision"]},
            ]
        }
    ).encode()
    paths = (
        '{url: /catalog, ids: "items[].slug", pricing_unit: token, '
        'metadata: {context_window: limits.ctx, pricing.input: cost."in", capabilities: tags}}'
    )
    write(
        "lab.yaml",
        f"""\
- model_id: lab
  discover: {paths}
  backend: {{type: http, preset: openai-chat, base_url: "{server.url}"}}
""",
    )
    result = run_llm("models", "list")
    assert (result.exit_code, result.stderr) == (0, "")
    alpha, beta = declaration("alpha"), declaration("beta")
    assert (alpha.metadata.context_window, alpha.pricing.input) == (32768, 1.0)
    assert (beta.metadata.context_window, beta.pricing.input) == (None, 2.5)
    assert llm.get_model("beta").attachment_types == IMAGES
    assert dict(alpha.pricing.origins) == {"input": origin(user_dir)}


def test_a_metadata_path_that_is_no_jmespath_is_a_located_error(write, run_llm):
    file = write(
        "lab.yaml",
        """\
- model_id: lab
  discover: {url: "http://127.0.0.1:9/x", ids: "a[].b", metadata: {context_window: "a[["}}
  backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:9"}
""",
    )
    result = run_llm("yaml-models", "validate", str(file))
    assert result.exit_code == 1
    assert f"{file}:2:84: [0].discover.metadata.context_window: not a valid JMESPath" in (
        result.output
    )


def test_metadata_paths_need_ids_that_project_from_items(write, run_llm):
    file = write(
        "lab.yaml",
        """\
- model_id: lab
  discover: {url: /x, ids: "keys(@)", metadata: {context_window: n}}
  backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:9"}
""",
    )
    result = run_llm("yaml-models", "validate", str(file))
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"{file}:2:49: [0].discover.metadata: metadata paths read each model's item, but ids "
        "'keys(@)' projects from no items; write ids as one, e.g. data[].id"
    )


def test_a_misspelt_field_or_unit_is_named_with_the_right_one(write, run_llm):
    file = write(
        "lab.yaml",
        """\
- model_id: lab
  discover: {url: /x, ids: "a[].b", metadata: {context: a}, pricing_unit: tokens}
  backend: {type: http, preset: openai-chat, base_url: "http://127.0.0.1:9"}
""",
    )
    result = run_llm("yaml-models", "validate", str(file))
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        f"{file}:2:47: [0].discover.metadata: 'context' is not one of context_window, "
        "max_output_tokens, knowledge_cutoff, deprecated, capabilities, pricing.input, "
        "pricing.output, pricing.cached_input, pricing.cache_write, pricing.reasoning; "
        "did you mean 'context_window'?",
        f"{file}:2:75: [0].discover.pricing_unit: 'tokens' is not one of million, token; "
        "did you mean 'token'?",
    ]


# -- the mechanisms, with cases no caller sends --------------------------------------------


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        (
            "data[].id",
            {"data": [{"id": "a"}, {"x": 1}, {"id": "b"}]},
            [("a", {"id": "a"}), ("b", {"id": "b"})],
        ),
        ("data[*].id", {"data": [{"id": "a"}]}, [("a", {"id": "a"})]),
        (
            "data[?kind=='chat'].id",
            {"data": [{"id": "a", "kind": "chat"}, {"id": "b"}]},
            [("a", {"id": "a", "kind": "chat"})],
        ),
        ("data[].id", {"data": {"id": "a"}}, None),
        ("data[].id", {}, None),
        ("data", {"data": ["a"]}, None),  # no projection: ids without items
        (
            "data[][].id",
            {"data": [[{"id": "a"}], [{"id": "b"}]]},
            [("a", {"id": "a"}), ("b", {"id": "b"})],
        ),
    ],
)
def test_projected_pairs_each_id_with_its_item(expression, data, expected):
    assert projected(expression, data) == expected


@pytest.mark.parametrize(
    ("raw", "per_token", "good", "bad"),
    [
        ({"pricing.input": "0.000003"}, True, {"pricing.input": 3.0}, []),
        ({"pricing.input": 0}, True, {"pricing.input": 0.0}, []),
        (
            {"pricing.input": "nan"},
            False,
            {},
            ["pricing.input is not a non-negative number: 'nan'"],
        ),
        ({"pricing.input": True}, False, {}, ["pricing.input is not a non-negative number: True"]),
        (
            {"pricing.input": "1e400"},
            False,
            {},
            ["pricing.input is not a non-negative number: '1e400'"],
        ),
        (
            {"pricing.input": 1e300},
            True,
            {},
            ["pricing.input is over 1,000 USD per million tokens: 1e+300"],
        ),
        ({"pricing.output": 1000}, False, {"pricing.output": 1000.0}, []),
        (
            {"pricing.output": 0.003},
            True,
            {},
            ["pricing.output is over 1,000 USD per million tokens: 0.003"],
        ),
        ({"context_window": 4096.0}, False, {"context_window": 4096}, []),
        ({"context_window": True}, False, {}, ["context_window is not a positive integer: True"]),
        ({"deprecated": "2026-01-01"}, False, {"deprecated": "2026-01-01"}, []),
        ({"deprecated": "soon"}, False, {}, ["deprecated is not a date (YYYY-MM-DD): 'soon'"]),
        (
            {"knowledge_cutoff": "2025\x1b[31m"},
            False,
            {},
            ["knowledge_cutoff is not a line of text (at most 64 characters): '2025\\x1b[31m'"],
        ),
        (
            {"capabilities": ["tools", "tools", 3]},
            False,
            {},
            ["capabilities is not a list of words: ['tools', 'tools', 3]"],
        ),
        ({"capabilities": ["tools", "tools"]}, False, {"capabilities": ["tools"]}, []),
        ({"chat": True}, False, {}, ["chat is not false: True"]),
        ({"unknown": 1, "context_window": None}, False, {}, []),
    ],
)
def test_checked_is_the_one_judge_of_a_value(raw, per_token, good, bad):
    assert about.checked(raw, per_token) == (good, bad)


def test_the_schema_names_every_field_a_path_may_fill():
    from pathlib import Path

    schema = json.loads(
        (Path(__file__).parent.parent / "schemas" / "llm-yaml-models.schema.json").read_text()
    )
    spec = schema["definitions"]["discover"]["properties"]
    assert spec["metadata"]["propertyNames"]["enum"] == list(about.FIELDS)
    assert set(about.SOURCES) <= set(spec["source"]["enum"])
    assert set(Metadata._fields[:-1]) | {f"pricing.{p}" for p in Pricing._fields[:-1]} == set(
        about.FIELDS
    )


def test_models_of_one_shape_keep_their_own_metadata_defaults(server, write, run_llm):
    """Discovered models share classes, and a class's options are made once:
    two Ollama models whose context windows differ each send their own num_ctx."""
    server.models = ["big:latest", "small:latest", "twin:latest"]
    server.shows = {
        "big:latest": show(["completion"], context=131072),
        "small:latest": show(["completion"], context=4096),
        "twin:latest": show(["completion"], context=4096),
    }
    write(
        "lab.yaml",
        f"""\
- model_id: lab
  discover: {{source: ollama, prefix: lab/}}
  backend: {{type: http, preset: ollama-chat, base_url: "{server.url}"}}
""",
    )
    assert run_llm("yaml-models", "refresh").exit_code == 0
    reset_plugin_state()
    sent = {}
    for name in server.models:
        result = run_llm("-m", f"lab/{name}", "hi", "--no-stream")
        assert result.exit_code == 0, result.output
        sent[name] = server.requests[-1].json["options"]["num_ctx"]
    assert sent == {"big:latest": 131072, "small:latest": 4096, "twin:latest": 4096}
    small, twin = llm.get_model("lab/small:latest"), llm.get_model("lab/twin:latest")
    assert type(small) is type(twin)  # the same shape and defaults: one class still

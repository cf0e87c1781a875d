"""Provider presets (a preset that brings the key and the list of models),
``llm yaml-models presets`` and ``llm yaml-models add PROVIDER``.

Every provider preset is run against a FakeAPI shaped like that provider:
its base URL moved to 127.0.0.1 (the path under it kept), its key in the
environment variable the provider's tools read, its models discovered
from the list the preset names."""

from __future__ import annotations

import json

import llm
import pytest
from fakeapi import FakeAPI

from llm_yaml_models.backends.http.config import preset, preset_names

# provider -> (the path of the preset's base URL, its key's environment
# variable, the header the key goes in, how the header holds it)
BEARER = "Bearer {}"
PROVIDERS = {
    "openrouter": ("/api/v1", "OPENROUTER_API_KEY", "authorization", BEARER),
    "groq": ("/openai/v1", "GROQ_API_KEY", "authorization", BEARER),
    "together": ("/v1", "TOGETHER_API_KEY", "authorization", BEARER),
    "deepseek": ("", "DEEPSEEK_API_KEY", "authorization", BEARER),
    "mistral": ("/v1", "MISTRAL_API_KEY", "authorization", BEARER),
    "xai": ("/v1", "XAI_API_KEY", "authorization", BEARER),
    "fireworks": ("/inference/v1", "FIREWORKS_API_KEY", "authorization", BEARER),
    "cerebras": ("/v1", "CEREBRAS_API_KEY", "authorization", BEARER),
    "openai": ("/v1", "OPENAI_API_KEY", "authorization", BEARER),
    "anthropic": ("/v1", "ANTHROPIC_API_KEY", "x-api-key", "{}"),
    "gemini-api": ("/v1beta", "GEMINI_API_KEY", "x-goog-api-key", "{}"),
    "ollama": ("", None, None, None),
    "lmstudio": ("/v1", None, None, None),
    "vllm": ("/v1", None, None, None),
    "llamacpp": ("/v1", None, None, None),
    "litellm": ("", "LITELLM_PROXY_API_KEY", "authorization", BEARER),
}
# The ids each provider's list holds, and the path the first is prompted at.
IDS = ["gpt-4o-mini", "fake-chat"]


def providers() -> list[str]:
    return [n for n in preset_names() if "group" in preset(n).get("about", {})]


def test_every_provider_preset_is_tested_here_with_its_documented_base_url():
    assert set(providers()) == {*PROVIDERS, "perplexity"}
    for name, (path, *_) in PROVIDERS.items():
        assert preset(name)["base_url"].endswith(path or preset(name)["base_url"][-4:]), name


# The base URL each provider's own API reference gives (docs/providers.md
# names the page).
DOCUMENTED = {
    "openrouter": "https://openrouter.ai/api/v1",
    "groq": "https://api.groq.com/openai/v1",
    "together": "https://api.together.ai/v1",
    "deepseek": "https://api.deepseek.com",
    "mistral": "https://api.mistral.ai/v1",
    "xai": "https://api.x.ai/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "cerebras": "https://api.cerebras.ai/v1",
    "perplexity": "https://api.perplexity.ai",
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "gemini-api": "https://generativelanguage.googleapis.com/v1beta",
    "ollama": "http://127.0.0.1:11434",
    "lmstudio": "http://127.0.0.1:1234/v1",
    "vllm": "http://127.0.0.1:8000/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
    "litellm": "http://127.0.0.1:4000",
}


def test_each_provider_preset_has_the_base_url_its_reference_gives():
    assert {name: preset(name)["base_url"] for name in providers()} == DOCUMENTED


def _shape(server: FakeAPI, name: str, base: str) -> None:
    """The server's list of models as the provider writes it."""
    if name == "together":  # a bare list, each with a type
        rows = [{"id": i, "type": "chat"} for i in IDS] + [{"id": "bge", "type": "embedding"}]
        server.bodies[f"{base}/models"] = json.dumps(rows).encode()
    elif name == "gemini-api":  # names with their namespace; embedders too
        rows = [
            {"name": f"models/{i}", "supportedGenerationMethods": ["generateContent"]} for i in IDS
        ]
        rows.append({"name": "models/embed", "supportedGenerationMethods": ["embedContent"]})
        server.bodies[f"{base}/models"] = json.dumps({"models": rows}).encode()
    elif name == "openrouter":  # each with its context window and prices per token
        rows = [{"id": i, "context_length": 8192, "pricing": {"prompt": "0.000001"}} for i in IDS]
        server.bodies[f"{base}/models"] = json.dumps({"data": rows}).encode()
    elif name == "fireworks":  # embedders too, each saying whether it chats
        rows = [{"id": i, "supports_chat": True} for i in IDS]
        rows.append({"id": "nomic-embed", "supports_chat": False})
        server.bodies[f"{base}/models"] = json.dumps({"data": rows}).encode()
    elif name == "litellm":  # /model/info: each model's name, with what the admin set
        rows = [
            {"model_name": i, "model_info": {"mode": "chat", "max_input_tokens": 8192}} for i in IDS
        ]
        rows.append({"model_name": "embedder", "model_info": {"mode": "embedding"}})
        server.bodies[f"{base}/model/info"] = json.dumps({"data": rows}).encode()
    else:
        server.models = IDS


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_a_provider_in_one_line_discovers_its_models_and_prompts_one(
    name, fake_api, write, monkeypatch
):
    base, env, header, form = PROVIDERS[name]
    _shape(fake_api, name, base)
    if env:
        monkeypatch.setenv(env, f"sk-{name}")
    write(
        "p.yaml",
        f"""\
        - model_id: {name}
          discover: {{prefix: "{name}/"}}
          backend: {{type: http, preset: {name}, base_url: "{fake_api.url}{base}", retries: 0}}
        """,
    )
    names = [m.model_id for m in llm.get_models() if m.model_id.startswith(f"{name}/")]
    # openai's globs keep gpt-*; the other lists with an embedder drop it
    assert names == ([f"{name}/gpt-4o-mini"] if name == "openai" else [f"{name}/{i}" for i in IDS])
    sent_key = form.format(f"sk-{name}") if form else None
    assert _auth(fake_api.requests[0], header) == sent_key  # the list, with the key
    if name in ("litellm", "openrouter"):  # what the list says of each model
        assert llm.get_model(names[0]).entry.declaration.metadata.context_window == 8192
    text = llm.get_model(names[0]).prompt("hi", stream=False).text()
    assert text == "Hello from the fake API"
    sent = fake_api.last
    assert sent.path.startswith(base + "/")
    assert _auth(sent, header) == sent_key
    if name == "gemini-api":  # the namespace the list had is the path's again
        assert sent.path == f"{base}/models/gpt-4o-mini:generateContent"
    else:
        assert sent.json["model"] == "gpt-4o-mini"


def _auth(request, header: str | None) -> str | None:
    return request.headers.get(header) if header else None


def test_the_refused_options_are_removed_and_mistral_sends_its_seed_as_random_seed(
    fake_api, write, monkeypatch
):
    monkeypatch.setenv("MISTRAL_API_KEY", "k")
    write(
        "p.yaml",
        f"""\
        - model_id: m
          backend: {{type: http, preset: mistral, base_url: "{fake_api.url}/v1", model_name: x}}
        - model_id: g
          key: null
          backend: {{type: http, preset: groq, base_url: "{fake_api.url}/v1", model_name: x}}
        - model_id: c
          key: null
          backend: {{type: http, preset: cerebras, base_url: "{fake_api.url}/v1", model_name: x}}
        """,
    )
    options = {m: set(llm.get_model(m).Options.model_fields) for m in "mgc"}
    assert "logit_bias" not in options["g"] and "temperature" in options["g"]
    assert not options["c"] & {"frequency_penalty", "logit_bias", "presence_penalty"}
    assert "logit_bias" not in options["m"]
    llm.get_model("m").prompt("hi", stream=False, seed=7).text()
    assert fake_api.last.json["random_seed"] == 7
    assert "seed" not in fake_api.last.json


def test_each_provider_reads_reasoning_from_the_field_its_reference_names(
    fake_api, write, monkeypatch
):
    reply = {
        "choices": [{"message": {"content": "4", "reasoning": "r", "reasoning_content": "rc"}}]
    }
    fake_api.bodies = {}
    write(
        "p.yaml",
        f"""\
        - model_id: groq-x
          key: null
          backend: {{type: http, preset: groq, url: "{fake_api.url}/x", model_name: x}}
        - model_id: deepseek-x
          key: null
          backend: {{type: http, preset: deepseek, url: "{fake_api.url}/x", model_name: x}}
        - model_id: together-x
          key: null
          backend: {{type: http, preset: together, url: "{fake_api.url}/x", model_name: x}}
        - model_id: fireworks-x
          key: null
          backend: {{type: http, preset: fireworks, url: "{fake_api.url}/x", model_name: x}}
        """,
    )
    expected_of = {"groq-x": "r", "deepseek-x": "rc", "together-x": "r", "fireworks-x": "rc"}
    for model, expected in expected_of.items():
        fake_api.queue([json.dumps(reply).encode()], kind="application/json")
        response = llm.get_model(model).prompt("2+2", stream=False)
        assert response.text() == "4"
        reasoning = [
            p for p in response.messages()[-1].parts if type(p).__name__ == "ReasoningPart"
        ]
        assert [p.text for p in reasoning] == [expected], model


# -- declaration defaults ------------------------------------------------------


def _loaded(write, text: str) -> dict:
    from llm_yaml_models.loading.loader import load_file

    result = load_file(str(write("d.yaml", text)), deep=True)
    assert result.problems == []
    return {m.declaration.model_id: m.declaration for m in result.models}


def test_a_preset_brings_its_key_and_source_and_the_models_own_keys_win_whole(write):
    from llm_yaml_models.declarations import KeySpec

    got = _loaded(
        write,
        """\
        defaults:
          backend: {type: http, preset: groq}
        models:
          - model_id: plain
            backend: {model_name: x}
          - model_id: mine
            key: {name: mine}
            backend: {model_name: x}
          - model_id: none
            key: null
            backend: {model_name: x}
          - model_id: tpl
            discover: {prefix: "t/", include: ["a*"]}
          - model_id: ours
            discover: {source: ollama}
            backend: {preset: ollama}
        """,
    )
    assert got["plain"].key == KeySpec("groq", "GROQ_API_KEY")
    assert got["plain"].discover is None  # a preset's source never makes a model a template
    assert got["mine"].key == KeySpec("mine")  # no env from the preset
    assert got["none"].key is None
    assert (got["tpl"].discover.source, got["tpl"].discover.prefix) == ("openai", "t/")
    assert got["tpl"].discover.include == ("a*",)
    assert got["ours"].key is None and got["ours"].discover.source == "ollama"


def test_defaults_win_over_the_preset_and_a_family_preset_brings_no_key(write):
    from llm_yaml_models.declarations import KeySpec

    got = _loaded(
        write,
        """\
        defaults:
          key: {name: team}
        models:
          - model_id: a
            backend: {type: http, preset: anthropic}
        """,
    )
    assert got["a"].key == KeySpec("team")
    got = _loaded(write, "- model_id: g\n  backend: {type: http, preset: gemini}\n")
    assert got["g"].key is None


def test_a_null_key_with_no_preset_key_to_remove_is_a_located_problem(write, run_llm):
    path = write(
        "d.yaml",
        "- model_id: g\n  key: null\n  backend: {type: http, preset: gemini, model_name: x}\n",
    )
    result = run_llm("yaml-models", "validate", str(path))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        f"{path}:2:8: [0].key: null removes the key a provider preset brings, "
        "and the gemini preset brings none"
    )


# -- presets ---------------------------------------------------------------------


def test_presets_json_says_what_each_brings(run_llm):
    result = run_llm("yaml-models", "presets", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(preset_names())
    assert rows["groq"] == {
        "name": "groq",
        "group": "hosted",
        "title": "Groq",
        "family": "openai-chat",
        "base_url": "https://api.groq.com/openai/v1",
        "key": "groq",
        "env": "GROQ_API_KEY",
        "discover": "openai",
        "reference": "https://console.groq.com/docs/openai",
    }
    assert rows["ollama"]["key"] is None and rows["ollama"]["group"] == "local"
    assert rows["litellm"]["group"] == "gateway"
    assert rows["gemini"]["group"] == "family" and rows["tei"]["group"] == "embedding"
    assert rows["together"]["discover"] == "/models ([?type=='chat'].id)"


def test_presets_lists_one_line_each_grouped(run_llm):
    result = run_llm("yaml-models", "presets")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PRESET", "GROUP", "FAMILY", "BASE", "URL", "KEY"] + [
        "(llm",
        "keys",
        "set",
        "NAME,",
        "or",
        "ENV)",
        "LIST",
    ]
    assert len(lines) == 1 + len(preset_names())
    groq = next(line for line in lines if line.startswith("groq "))
    assert groq.split() == [
        "groq",
        "hosted",
        "openai-chat",
        "https://api.groq.com/openai/v1",
        "groq",
        "(GROQ_API_KEY)",
        "openai",
    ]
    groups = [line.split()[1] for line in lines[1:]]
    assert groups == sorted(groups, key=["hosted", "local", "gateway", "family", "embedding"].index)


# -- add -------------------------------------------------------------------------


def test_add_a_local_provider_writes_a_template_and_prints_its_models(fake_api, run_llm, user_dir):
    result = run_llm("yaml-models", "add", "ollama", "--base-url", fake_api.url)
    path = user_dir / "yaml-models" / "ollama.yaml"
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"wrote {path}\n"
        f"ollama: 2 models from {fake_api.url}/api/tags:\n"
        "  ollama/fake-chat\n"
        "  ollama/fake-vision\n"
    )
    assert fake_api.requests[0].path == "/api/tags"
    checked = run_llm("yaml-models", "validate", str(path))
    assert checked.stdout == "OK: 2 models in 1 file, no problems\n"
    text = path.read_text("utf-8")
    assert f'    base_url: "{fake_api.url}"   # where the server is' in text
    assert '  discover: {prefix: "ollama/"}' in text


def test_add_takes_a_name_and_a_prefix(fake_api, run_llm, user_dir):
    result = run_llm(
        "yaml-models",
        "add",
        "vllm",
        "--base-url",
        f"{fake_api.url}/v1",
        "--name",
        "gpu",
        "--prefix",
        "g-",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        f"gpu: 2 models from {fake_api.url}/v1/models:",
        "  g-fake-chat",
        "  g-fake-vision",
    ]
    text = (user_dir / "yaml-models" / "gpu.yaml").read_text("utf-8")
    assert '- model_id: "gpu"' in text and '{prefix: "g-"}' in text


def test_add_a_hosted_provider_without_a_key_says_how_to_set_it(run_llm, user_dir, monkeypatch):
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    result = run_llm("yaml-models", "add", "groq")
    path = user_dir / "yaml-models" / "groq.yaml"
    assert result.exit_code == 1
    assert result.stdout == f"wrote {path}\n"
    assert result.stderr == (
        "Error: groq: no key: run `llm keys set groq` or set GROQ_API_KEY, "
        "then `llm yaml-models refresh groq`\n"
    )
    checked = run_llm("yaml-models", "validate", str(path))
    assert checked.stdout == "OK: 0 models in 1 file, no problems\n"
    assert "preset: groq\n" in path.read_text("utf-8")


def test_add_never_overwrites_a_file(run_llm, user_dir):
    path = user_dir / "yaml-models" / "groq.yaml"
    path.parent.mkdir()
    path.write_text("# mine\n", "utf-8")
    result = run_llm("yaml-models", "add", "groq")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path} exists; add never overwrites a file (choose another --name)\n"
    )
    assert path.read_text("utf-8") == "# mine\n"


def test_add_against_a_server_that_is_down_names_the_address_it_tried(run_llm):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_llm("yaml-models", "add", "lmstudio", "--base-url", f"http://127.0.0.1:{port}/v1")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: lmstudio: cannot connect to http://127.0.0.1:{port}/v1/models: "
        "connection refused\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["openai-chat"], "'openai-chat' is a family preset, not a provider; providers: "),
        (["nope"], "'nope' is no provider; providers: anthropic, cerebras, "),
        (["perplexity"], "perplexity publishes no list of models to discover: declare each model"),
        (["groq", "--name", "../x"], "--name '../x' is not a file name: "),
        (
            ["groq", "--prefix", "a b"],
            "not written: [0].discover.prefix: 'a b' must not contain spaces",
        ),
    ],
)
def test_add_refuses_in_one_line_and_writes_nothing(args, message, run_llm, user_dir):
    result = run_llm("yaml-models", "add", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {message}")
    assert len(result.stderr.splitlines()) == 1
    assert not (user_dir / "yaml-models").exists() or not any((user_dir / "yaml-models").iterdir())


def test_show_marks_what_the_preset_brought_with_the_line_that_names_it(write, run_llm):
    path = write(
        "p.yaml",
        """\
        - model_id: g
          backend: {type: http, preset: groq, model_name: x}
        """,
    )
    result = run_llm("yaml-models", "show", "g")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-3:] == [
        "key:",
        f"  name: groq  # {path}:2 (the preset)",
        f"  env: GROQ_API_KEY  # {path}:2 (the preset)",
    ]


def test_perplexity_one_model_sends_its_key_and_its_think_tags_are_reasoning(
    fake_api, write, monkeypatch
):
    from fakeapi import openai_chunk, sse_pieces

    monkeypatch.setenv("PERPLEXITY_API_KEY", "pplx-1")
    write(
        "p.yaml",
        f"""\
        - model_id: sonar-r
          backend: {{type: http, preset: perplexity, base_url: "{fake_api.url}", model_name: sr}}
        """,
    )
    chunks = [openai_chunk({"content": t}) for t in ("<think>look it", " up</think>", "Paris")]
    fake_api.queue(sse_pieces(*chunks, openai_chunk({}, "stop"), "[DONE]"))
    response = llm.get_model("sonar-r").prompt("capital of France?")
    assert response.text() == "Paris"
    parts = [(type(p).__name__, p.text) for p in response.messages()[-1].parts]
    assert parts == [("ReasoningPart", "look it up"), ("TextPart", "Paris")]
    assert fake_api.last.path == "/chat/completions"
    assert fake_api.last.headers["authorization"] == "Bearer pplx-1"
    assert fake_api.last.json["model"] == "sr"
    assert {"logit_bias", "seed", "stop"}.isdisjoint(llm.get_model("sonar-r").Options.model_fields)


def test_add_into_a_directory_others_could_change_says_the_file_is_refused(run_llm, user_dir):
    models = user_dir / "yaml-models"
    models.mkdir()
    models.chmod(0o777)
    result = run_llm("yaml-models", "add", "ollama")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: {models / 'ollama.yaml'}:1:1: refusing the whole file: "
    )
    assert len(result.stderr.splitlines()) == 1

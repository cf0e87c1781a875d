"""``llm yaml-models import``: what another tool sent as written stays
literal, a hostile file is refused as model files are, and a LiteLLM config
keeps what this plugin can say the same way (gemini, embedding models, the
provider's key, stop lists, deployments, fallbacks, limits)."""

from __future__ import annotations

import pytest
from fakeapi import FakeAPI

EXPANDS = (
    "'${VAR}' and '{{ name }}' are templates in a model file; the original sent them as written"
)


@pytest.fixture
def server():
    with FakeAPI() as running:
        yield running


def imported(run_llm, source) -> str:
    result = run_llm("yaml-models", "import", str(source))
    assert (result.exit_code, result.stderr) == (0, "")
    return result.stdout


def validates(run_llm, write, text: str) -> None:
    file = write("imported.yaml", text)
    result = run_llm("yaml-models", "validate", str(file))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ")


def header(source, kind: str = "a LiteLLM config.yaml") -> str:
    return f"# Converted by 'llm yaml-models import' from {kind}: {source}\n"


# -- text sent as written stays as written -----------------------------------------------


def test_extra_openai_text_that_would_expand_drops_its_model(tmp_path, run_llm, write):
    source = tmp_path / "extra.yaml"
    source.write_text(
        "- model_id: env-base\n"
        '  api_base: "http://127.0.0.1:9/${HOME}/v1"\n'
        "- model_id: env-name\n"
        '  model_name: "{{ env.AWS_SECRET_ACCESS_KEY }}"\n'
        "  api_base: http://127.0.0.1:9/v1\n"
        "- model_id: id-${HOME}\n"
        "  api_base: http://127.0.0.1:9/v1\n"
        "- model_id: kept\n"
        '  model_name: "a{b}c ${not-a-var} {{ }} $HOME"\n'
        "  api_base: http://127.0.0.1:9/v1\n"
    )
    text = imported(run_llm, source)
    assert text == (
        header(source, "an extra-openai-models.yaml") + "models:\n"
        "  # entry 1: 'env-base' dropped: backend.base_url 'http://127.0.0.1:9/${HOME}/v1' "
        f"would be filled in here ({EXPANDS})\n"
        "  # entry 2: 'env-name' dropped: backend.model_name '{{ env.AWS_SECRET_ACCESS_KEY }}' "
        f"would be filled in here ({EXPANDS})\n"
        "  # entry 3: 'id-${HOME}' dropped: backend.model_name 'id-${HOME}' "
        f"would be filled in here ({EXPANDS})\n"
        "  - model_id: kept\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-chat\n"
        '      base_url: "http://127.0.0.1:9/v1"\n'
        '      model_name: "a{b}c ${not-a-var} {{ }} $HOME"\n'
    )
    validates(run_llm, write, text)


def test_the_kept_text_reaches_the_server_as_written(server, tmp_path, run_llm, write):
    source = tmp_path / "extra.yaml"
    source.write_text(
        "- model_id: kept\n"
        '  model_name: "a{b}c ${not-a-var} $HOME"\n'
        f"  api_base: {server.url}/v1\n"
        "  headers: {X-Team: '${1} {x}'}\n"
    )
    write("imported.yaml", imported(run_llm, source))
    result = run_llm("-m", "kept", "hi", "--no-stream", "--no-log")
    assert (result.exit_code, result.stdout) == (0, "Hello from the fake API\n")
    assert server.last.json["model"] == "a{b}c ${not-a-var} $HOME"
    assert server.last.headers["x-team"] == "${1} {x}"


def test_litellm_text_that_would_expand_drops_its_model(tmp_path, run_llm, write):
    source = tmp_path / "config.yaml"
    source.write_text(
        "model_list:\n"
        "  - model_name: secret-name\n"
        "    litellm_params:\n"
        "      model: hosted_vllm/${AWS_SECRET_ACCESS_KEY}\n"
        "      api_base: http://127.0.0.1:9/v1\n"
        "  - model_name: templated-base\n"
        "    litellm_params:\n"
        "      model: hosted_vllm/llama\n"
        '      api_base: "http://127.0.0.1:9/{{ prompt }}"\n'
    )
    text = imported(run_llm, source)
    assert text == (
        header(source) + "models: []\n"
        "  # model_list[0]: 'secret-name' dropped: backend.model_name "
        f"'${{AWS_SECRET_ACCESS_KEY}}' would be filled in here ({EXPANDS})\n"
        "  # model_list[1]: 'templated-base' dropped: backend.base_url "
        f"'http://127.0.0.1:9/{{{{ prompt }}}}' would be filled in here ({EXPANDS})\n"
    )
    validates(run_llm, write, text)


def test_an_expansion_the_import_made_covers_only_its_own_place(tmp_path, run_llm, write):
    """``os.environ/VAR`` makes ``{{ env.VAR }}`` at the base URL (of each
    deployment too); the same text elsewhere is still the source's text."""
    source = tmp_path / "config.yaml"
    source.write_text(
        "model_list:\n"
        "  - model_name: sneaky\n"
        "    litellm_params:\n"
        "      model: 'hosted_vllm/{{ env.SECRET }}'\n"
        "      api_base: os.environ/SECRET\n"
        "  - model_name: pair\n"
        "    litellm_params: {model: hosted_vllm/llama, api_base: os.environ/BASE_ONE}\n"
        "  - model_name: pair\n"
        "    litellm_params: {model: hosted_vllm/llama, api_base: os.environ/BASE_TWO}\n"
    )
    text = imported(run_llm, source)
    assert text == (
        header(source) + "models:\n"
        "  # model_list[0]: 'sneaky' dropped: backend.model_name '{{ env.SECRET }}' "
        f"would be filled in here ({EXPANDS})\n"
        "  - model_id: pair\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-chat\n"
        "      model_name: llama\n"
        "      deployments:\n"
        '        - {"base_url": "{{ env.BASE_ONE }}"}\n'
        '        - {"base_url": "{{ env.BASE_TWO }}"}\n'
    )
    validates(run_llm, write, text)


# -- a hostile file --------------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path, run_llm):
    source = tmp_path / "bomb.yaml"
    source.write_text("model_list:\n  - " + BOMB.replace("\n", "\n    ").rstrip() + "\n")
    assert source.stat().st_size < 1000
    result = run_llm("yaml-models", "import", str(source))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith(f"Error: {source}:")
    assert result.stderr.endswith(": document expands to more than 100000 nodes (an alias bomb?)\n")


# -- LiteLLM: what this plugin can say the same way --------------------------------------------


def test_gemini_uses_the_gemini_preset_and_its_key(server, tmp_path, run_llm, write, monkeypatch):
    source = tmp_path / "config.yaml"
    source.write_text(
        "model_list:\n"
        "  - model_name: flash\n"
        "    litellm_params:\n"
        "      model: gemini/gemini-2.0-flash\n"
        f"      api_base: {server.url}/v1beta\n"
        "      max_tokens: 50\n"
        "      stop: END\n"
        "      seed: 3\n"
    )
    text = imported(run_llm, source)
    assert text == (
        header(source) + "models:\n"
        "  - model_id: flash\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: gemini\n"
        f'      base_url: "{server.url}/v1beta"\n'
        "      model_name: gemini-2.0-flash\n"
        "    options:\n"
        '      max_output_tokens: {"type": "integer", "default": 50}\n'
        '      stop_sequences: {"type": "array", "items": {"type": "string"}, "default": ["END"]}\n'
        '    key: {"name": "gemini", "env": "GEMINI_API_KEY"}\n'
        "    # litellm_params.seed dropped: not converted\n"
    )
    validates(run_llm, write, text)
    monkeypatch.setenv("GEMINI_API_KEY", "gem-key")
    result = run_llm("-m", "flash", "hi", "--no-stream", "--no-log")
    assert (result.exit_code, result.stdout) == (0, "Hello from the fake API\n")
    assert server.last.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert server.last.headers["x-goog-api-key"] == "gem-key"
    assert server.last.json["generationConfig"] == {"maxOutputTokens": 50, "stopSequences": ["END"]}


def test_mode_embedding_becomes_an_embedding_model(server, tmp_path, run_llm, write, monkeypatch):
    source = tmp_path / "config.yaml"
    source.write_text(
        "model_list:\n"
        "  - model_name: chat\n"
        f"    litellm_params: {{model: hosted_vllm/llama, api_base: {server.url}/v1}}\n"
        "  - model_name: embed-small\n"
        "    litellm_params:\n"
        "      model: openai/text-embedding-3-small\n"
        f"      api_base: {server.url}/v1\n"
        "    model_info: {mode: embedding, base_model: text-embedding-3-small}\n"
    )
    text = imported(run_llm, source)
    assert text == (
        header(source) + "models:\n"
        "  - model_id: chat\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-chat\n"
        f'      base_url: "{server.url}/v1"\n'
        "      model_name: llama\n"
        "embedding_models:\n"
        "  - model_id: embed-small\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-embeddings\n"
        f'      base_url: "{server.url}/v1"\n'
        "      model_name: text-embedding-3-small\n"
        '    key: {"name": "openai", "env": "OPENAI_API_KEY"}\n'
        "    # model_info.base_model dropped: not converted\n"
    )
    validates(run_llm, write, text)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    result = run_llm("embed", "-m", "embed-small", "-c", "hello")
    assert result.exit_code == 0, result.output
    assert server.last.path == "/v1/embeddings"
    assert server.last.headers["authorization"] == "Bearer sk-env"


@pytest.mark.parametrize(
    ("provider", "env", "header_name", "value"),
    [
        ("openai", "OPENAI_API_KEY", "authorization", "Bearer from-env"),
        ("anthropic", "ANTHROPIC_API_KEY", "x-api-key", "from-env"),
    ],
)
def test_a_provider_key_is_read_where_litellm_reads_it(
    server, tmp_path, run_llm, write, monkeypatch, provider, env, header_name, value
):
    source = tmp_path / "config.yaml"
    base = f"{server.url}/v1" if provider == "openai" else server.url
    source.write_text(
        "model_list:\n"
        "  - model_name: m\n"
        f"    litellm_params: {{model: {provider}/some-model, api_base: {base}}}\n"
    )
    text = imported(run_llm, source)
    assert f'    key: {{"name": "{provider}", "env": "{env}"}}\n' in text
    validates(run_llm, write, text)
    monkeypatch.setenv(env, "from-env")
    result = run_llm("-m", "m", "hi", "--no-stream", "--no-log")
    assert (result.exit_code, result.stdout) == (0, "Hello from the fake API\n")
    assert server.last.headers[header_name] == value


@pytest.mark.parametrize(
    ("provider", "option", "sent"),
    [
        ("hosted_vllm", "stop", ("stop",)),
        ("anthropic", "stop_sequences", ("stop_sequences",)),
        ("ollama_chat", "stop", ("options", "stop")),
    ],
)
def test_a_stop_list_is_kept(server, tmp_path, run_llm, write, monkeypatch, provider, option, sent):
    source = tmp_path / "config.yaml"
    base = f"{server.url}/v1" if provider == "hosted_vllm" else server.url
    source.write_text(
        "model_list:\n"
        "  - model_name: m\n"
        f"    litellm_params: {{model: {provider}/x, api_base: {base}, stop: [END, STOP]}}\n"
    )
    text = imported(run_llm, source)
    spec = '{"type": "array", "items": {"type": "string"}, "default": ["END", "STOP"]}'
    assert f"      {option}: {spec}\n" in text
    validates(run_llm, write, text)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    result = run_llm("-m", "m", "hi", "--no-stream", "--no-log")
    assert (result.exit_code, result.stdout) == (0, "Hello from the fake API\n")
    body = server.last.json
    for part in sent:
        body = body[part]
    assert body == ["END", "STOP"]


def test_deployments_fallbacks_and_limits(tmp_path, run_llm, write):
    source = tmp_path / "config.yaml"
    source.write_text(
        "model_list:\n"
        "  - model_name: llama\n"
        "    litellm_params:\n"
        "      {model: hosted_vllm/llama-3.1-8b, api_base: 'http://gpu-1:8000/v1', rpm: 60}\n"
        "  - model_name: llama\n"
        "    litellm_params:\n"
        "      model: hosted_vllm/meta-llama/llama-3.1-8b-instruct\n"
        "      api_base: https://hosted.example/v1\n"
        "      api_key: os.environ/HOSTED_KEY\n"
        "      weight: 2\n"
        "      tpm: 100000\n"
        "  - model_name: llama\n"
        "    litellm_params: {model: anthropic/claude-x}\n"
        "  - model_name: backup\n"
        "    litellm_params: {model: openai/gpt-4o-mini, rpm: 10, tpm: 5000}\n"
        "router_settings:\n"
        "  routing_strategy: least-busy\n"
        "  fallbacks: [{llama: [backup, nowhere]}, {backup: [llama]}]\n"
    )
    text = imported(run_llm, source)
    assert text == (
        header(source) + "# dropped: router_settings.routing_strategy: not converted\n"
        "models:\n"
        "  - model_id: llama\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-chat\n"
        "      model_name: llama-3.1-8b\n"
        "      deployments:\n"
        '        - {"base_url": "http://gpu-1:8000/v1", "limits": {"rpm": 60}}\n'
        '        - {"base_url": "https://hosted.example/v1", '
        '"model_name": "meta-llama/llama-3.1-8b-instruct", '
        '"key": {"name": "hosted_key", "env": "HOSTED_KEY"}, "weight": 2, '
        '"limits": {"tpm": 100000}}\n'
        '    fallbacks: ["backup"]\n'
        "    # model_list[2] dropped: another server of 'llama', on the anthropic-messages API, "
        "not openai-chat\n"
        "    # fallback 'nowhere' dropped: no chat model of that name here\n"
        "  - model_id: backup\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-chat\n"
        '      base_url: "https://api.openai.com/v1"\n'
        "      model_name: gpt-4o-mini\n"
        '    limits: {"rpm": 10, "tpm": 5000}\n'
        '    key: {"name": "openai", "env": "OPENAI_API_KEY"}\n'
        "    # fallback 'llama' dropped: it leads back to this model\n"
    )
    validates(run_llm, write, text)

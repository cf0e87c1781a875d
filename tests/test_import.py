"""``llm yaml-models import``: extra-openai-models.yaml and LiteLLM's
config.yaml as model files, checked by validate and by a round trip against
a real server on 127.0.0.1."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from llm_yaml_models.commands import importer

EXTRA = """\
- model_id: fake-x
  model_name: fake-model
  api_base: "{url}/v1"
  aliases: [fx]
  headers: {{X-Team: research}}
  supports_tools: true
  supports_schema: true
  vision: true
"""


@pytest.fixture
def server(fake_api):
    return fake_api


def imported(run_llm, path) -> str:
    result = run_llm("yaml-models", "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def passes_validate(run_llm, write, text: str, name: str = "imported.yaml") -> None:
    file = write(name, text)
    result = run_llm("yaml-models", "validate", str(file))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ")


def prompt(run_llm, *args: str):
    result = run_llm("-m", "fake-x", *args, "--no-log")
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("hello there",),
        ("hello there", "--no-stream", "-o", "temperature", "0.5", "-o", "max_tokens", "20"),
        ("hi", "-s", "Be brief", "-o", "seed", "7", "-o", "stop", "END"),
    ],
    ids=["stream", "no-stream-options", "system"],
)
def test_the_round_trip_against_llms_own_client(server, user_dir, write, run_llm, args):
    extra = user_dir / "extra-openai-models.yaml"
    extra.write_text(EXTRA.format(url=server.url))
    theirs = prompt(run_llm, *args)
    their_body, their_headers = server.last.json, server.last.headers
    converted = imported(run_llm, extra)
    extra.unlink()
    write("imported.yaml", converted)
    ours = prompt(run_llm, *args)
    assert ours == theirs == "Hello from the fake API\n"
    assert server.last.json == their_body
    assert server.last.path == "/v1/chat/completions"
    assert server.last.headers["x-team"] == their_headers["x-team"] == "research"
    assert "authorization" not in server.last.headers  # llm sends "Bearer DUMMY_KEY"


def test_an_extra_openai_file_as_a_model_file(tmp_path, run_llm, write):
    source = tmp_path / "extra-openai-models.yaml"
    source.write_text(
        textwrap.dedent(
            """\
            - model_id: local-llama
              model_name: llama3
              api_base: http://127.0.0.1:8080/v1
              aliases: ll
              can_stream: false
              audio: true
              reasoning: true
              service_tier: true
            - model_id: mine
              model_name: gpt-4o-mini
              api_key_name: work
            - model_id: old
              model_name: davinci-002
              completion: true
            - model_id: bad id
              model_name: x
            - model_id: mine
              model_name: again
            - model_id: az
              api_type: azure
              model_name: gpt-4
            """
        )
    )
    text = imported(run_llm, source)
    assert text == (
        "# Converted by 'llm yaml-models import' from an extra-openai-models.yaml: "
        f"{source}\n"
        "models:\n"
        "  - model_id: local-llama\n"
        '    aliases: ["ll"]\n'
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-chat\n"
        '      base_url: "http://127.0.0.1:8080/v1"\n'
        "      model_name: llama3\n"
        "    can_stream: false\n"
        '    attachment_types: ["audio/wav", "audio/mpeg"]\n'
        "    # aliases was the string 'll': llm makes one alias per character\n"
        "    # service_tier dropped: not converted\n"
        "  - model_id: mine\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-chat\n"
        '      base_url: "https://api.openai.com/v1"\n'
        "      model_name: gpt-4o-mini\n"
        '    key: {"name": "work"}\n'
        "    # key: llm would fall back to $OPENAI_API_KEY for 'work'; "
        "add env: OPENAI_API_KEY to key to do the same\n"
        "  - model_id: old\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-completions\n"
        '      base_url: "https://api.openai.com/v1"\n'
        "      model_name: davinci-002\n"
        '    key: {"name": "openai", "env": "OPENAI_API_KEY"}\n'
        "  # entry 4: 'bad id' dropped: 'bad id' is not a name llm -m can take\n"
        "  # entry 5: 'mine' dropped: 'mine' is declared earlier in this file\n"
        "  - model_id: az\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: azure-openai\n"
        '      base_url: "https://api.openai.com/v1"\n'
        "      model_name: gpt-4\n"
        '    key: {"name": "openai", "env": "OPENAI_API_KEY"}\n'
        "    # azure: check base_url, the deployment (model_name) and api-version\n"
    )
    passes_validate(run_llm, write, text)


def test_the_presets_another_module_adds_are_used_once_they_exist(tmp_path, run_llm, monkeypatch):
    presets = tmp_path / "presets"
    shutil.copytree(importer.PRESETS, presets)
    for name in ("openai-completions", "openai-responses", "azure-openai"):
        (presets / f"{name}.yaml").write_text("path: /x\n")
    monkeypatch.setattr(importer, "PRESETS", presets)
    source = tmp_path / "extra.yaml"
    source.write_text(
        "- {model_id: old, model_name: davinci-002, completion: true}\n"
        "- {model_id: new, model_name: gpt-5, responses: true}\n"
        "- {model_id: az, model_name: gpt-4, api_type: azure, api_base: 'https://x.example',"
        " api_engine: dep, api_version: '2024-02-01'}\n"
    )
    text = imported(run_llm, source)
    assert "      preset: openai-completions\n" in text
    assert "      preset: openai-responses\n" in text
    assert "      preset: azure-openai\n" in text
    assert "      model_name: dep\n" in text
    assert '      api_version: "2024-02-01"\n' in text
    assert "dropped" not in text.split("models:")[1]


def test_a_name_llm_already_has_is_shadowed_knowingly(tmp_path, run_llm, write):
    source = tmp_path / "extra.yaml"
    source.write_text("- {model_id: gpt-4o, model_name: gpt-4o, aliases: [4o, mine]}\n")
    text = imported(run_llm, source)
    assert "    replace: true\n    # replace: llm already has 'gpt-4o', '4o'\n" in text
    passes_validate(run_llm, write, text)


def test_a_name_a_model_file_holds_is_dropped(tmp_path, run_llm, write):
    installed = write("installed.yaml", "- {model_id: taken, backend: {type: markov}}\n")
    source = tmp_path / "extra.yaml"
    source.write_text("- {model_id: taken, model_name: x}\n- {model_id: free, model_name: y}\n")
    text = imported(run_llm, source)
    assert f"  # entry 1: 'taken' dropped: 'taken' is declared at {installed}:1:14\n" in text
    passes_validate(run_llm, write, text)


LITELLM = """\
model_list:
  - model_name: work-gpt
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: "{url}/v1"
      api_key: os.environ/WORK_OPENAI_KEY
      temperature: 0.25
      timeout: 30
  - model_name: work-gpt
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: "{url}/backup/v1"
  - model_name: claude
    litellm_params:
      model: anthropic/claude-3-5-sonnet
      api_key: sk-ant-literal-secret
  - model_name: local
    litellm_params:
      model: ollama_chat/llama3
      rpm: 10
  - model_name: aws
    litellm_params:
      model: bedrock/anthropic.claude-v2
litellm_settings:
  drop_params: true
"""


def test_a_litellm_config_as_a_model_file(server, tmp_path, run_llm, write, monkeypatch):
    source = tmp_path / "config.yaml"
    source.write_text(LITELLM.format(url=server.url))
    text = imported(run_llm, source)
    assert "sk-ant-literal-secret" not in text
    assert text == (
        f"# Converted by 'llm yaml-models import' from a LiteLLM config.yaml: {source}\n"
        "# dropped: litellm_settings: not converted\n"
        "models:\n"
        "  - model_id: work-gpt\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-chat\n"
        "      model_name: gpt-4o-mini\n"
        "      timeout: 30\n"
        "      deployments:\n"
        f'        - {{"base_url": "{server.url}/v1", '
        '"key": {"name": "work_openai_key", "env": "WORK_OPENAI_KEY"}}\n'
        f'        - {{"base_url": "{server.url}/backup/v1", '
        '"key": {"name": "openai", "env": "OPENAI_API_KEY"}}\n'
        "    options:\n"
        '      temperature: {"type": "number", "default": 0.25}\n'
        "    # model_list[1]: its timeout, options differ from model_list[0]'s, "
        "whose apply to every deployment\n"
        "  - model_id: claude\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: anthropic-messages\n"
        '      base_url: "https://api.anthropic.com/v1"\n'
        "      model_name: claude-3-5-sonnet\n"
        '    key: {"name": "claude"}\n'
        "    # api_key is not copied here: store it with 'llm keys set claude'\n"
        "  - model_id: local\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: ollama-chat\n"
        '      base_url: "http://localhost:11434"\n'
        "      model_name: llama3\n"
        '    limits: {"rpm": 10}\n'
        "  # model_list[4]: 'aws' dropped: provider 'bedrock' has no preset\n"
    )
    passes_validate(run_llm, write, text)
    monkeypatch.setenv("WORK_OPENAI_KEY", "sk-work")
    result = run_llm("-m", "work-gpt", "hi", "--no-log")
    assert (result.exit_code, result.stdout) == (0, "Hello from the fake API\n")
    assert server.last.headers["authorization"] == "Bearer sk-work"
    assert server.last.json == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.25,
    }


def test_strings_that_would_break_yaml_stay_strings(tmp_path, run_llm, write):
    source = tmp_path / "extra.yaml"
    source.write_text(
        '- model_id: "yes"\n'
        '  model_name: "a: b # c\\u2028d\\n"\n'
        '  headers: {"X-Odd": "\\u0085[]{}&*!"}\n'
        "  api_base: http://127.0.0.1:9/v1\n"
    )
    text = imported(run_llm, source)
    file = write("imported.yaml", text)
    import yaml

    (model,) = yaml.safe_load(file.read_text())["models"]
    assert model["model_id"] == "yes"
    assert model["backend"]["model_name"] == "a: b # c\u2028d\n"
    assert model["backend"]["headers"] == {"X-Odd": "\u0085[]{}&*!"}
    passes_validate(run_llm, write, text)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "- a: [\n",
            "{file}:2:1: not YAML: did not find expected node content while parsing a flow node",
        ),
        ("title: no models\n", None),
        (b"\xff\xfe", "{file}: not UTF-8 text"),
    ],
    ids=["bad-yaml", "neither", "not-utf8"],
)
def test_a_file_that_is_neither_format_is_one_line(tmp_path, run_llm, content, message):
    source = tmp_path / "weird.yaml"
    if isinstance(content, bytes):
        source.write_bytes(content)
    else:
        source.write_text(content)
    result = run_llm("yaml-models", "import", str(source))
    assert result.exit_code == 1
    expected = (message or "").format(file=source) or (
        f"{source}: expected llm's extra-openai-models.yaml (a list of models) "
        "or a LiteLLM config.yaml (a mapping with model_list)"
    )
    assert result.stderr == f"Error: {expected}\n"
    assert result.stdout == ""


def test_a_missing_file_is_one_line(tmp_path, run_llm):
    result = run_llm("yaml-models", "import", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: {tmp_path / 'nope.yaml'}: cannot read: No such file or directory\n"
    )


def test_a_litellm_api_base_from_the_environment_stays_so(
    server, tmp_path, run_llm, write, monkeypatch
):
    source = tmp_path / "config.yaml"
    source.write_text(
        "model_list:\n"
        "  - model_name: local\n"
        "    litellm_params: {model: hosted_vllm/llama, api_base: os.environ/VLLM_BASE}\n"
        "  - model_name: bad\n"
        "    litellm_params: {model: hosted_vllm/llama, api_base: os.environ/no-such var}\n"
    )
    text = imported(run_llm, source)
    assert text == (
        f"# Converted by 'llm yaml-models import' from a LiteLLM config.yaml: {source}\n"
        "models:\n"
        "  - model_id: local\n"
        "    backend:\n"
        "      type: http\n"
        "      preset: openai-chat\n"
        '      base_url: "{{ env.VLLM_BASE }}"\n'
        "      model_name: llama\n"
        "  # model_list[1]: 'bad' dropped: api_base 'os.environ/no-such var' "
        "names no environment variable\n"
    )
    passes_validate(run_llm, write, text)  # read at each request, as LiteLLM reads it
    monkeypatch.setenv("VLLM_BASE", f"{server.url}/v1")
    result = run_llm("-m", "local", "hi", "--no-log")
    assert (result.exit_code, result.stdout) == (0, "Hello from the fake API\n")
    assert server.last.path == "/v1/chat/completions"


def test_imported_headers_with_template_syntax_are_dropped(tmp_path, run_llm, write):
    source = tmp_path / "extra.yaml"
    source.write_text(
        "- model_id: mine\n"
        "  api_base: http://127.0.0.1:9/v1\n"
        "  headers:\n"
        '    X-Literal: "price {{ total }} ok"\n'
        '    X-Env: "${AWS_SECRET_ACCESS_KEY}"\n'
        '    X-Brace: "a{b}c %(x)s $5"\n'
    )
    text = imported(run_llm, source)
    assert '      headers: {"X-Brace": "a{b}c %(x)s $5"}\n' in text
    why = "its value holds '{{' or '${', which a model file fills in (llm sends it as written)"
    assert text.endswith(
        f"    # headers.X-Literal dropped: {why}\n    # headers.X-Env dropped: {why}\n"
    )
    assert "${AWS" not in text and "{{ total" not in text
    passes_validate(run_llm, write, text)

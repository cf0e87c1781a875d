"""The vertex-gemini and vertex-anthropic presets: the gemini and Messages
wires at Vertex AI's endpoints for a project and a location, against a
FakeAPI on 127.0.0.1 (``base_url`` overridden: the path is the preset's)."""

from __future__ import annotations

import asyncio
import json

import llm
import pytest
from fakeapi import anthropic_json, anthropic_sse

from llm_yaml_models.backends.http import vertex

GEMINI = "/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash"
CLAUDE = (
    "/v1/projects/my-project/locations/us-east5/publishers/anthropic/models"
    "/claude-sonnet-4%4020250514"  # the @ of a Vertex model id, encoded in the path
)

HINT = "is not a Google Cloud location such as us-central1, europe-west4 or global"

MODELS = """\
- model_id: vg
  key: {name: vertex, env: VERTEX_TOKEN}
  backend:
    type: http
    preset: vertex-gemini
    auth: null  # a token of its own, as the key
    base_url: "${URL}/v1"
    model_name: gemini-2.5-flash
    project: my-project
    location: europe-west4
    retries: 0
- model_id: va
  key: {name: vertex, env: VERTEX_TOKEN}
  backend:
    type: http
    preset: vertex-anthropic
    auth: null
    base_url: "${URL}/v1"
    model_name: claude-sonnet-4@20250514
    project: my-project
    location: us-east5
    retries: 0
"""


@pytest.fixture
def models(write, fake_api, monkeypatch):
    monkeypatch.setenv("URL", fake_api.url)
    monkeypatch.setenv("VERTEX_TOKEN", "ya29.token-of-test")
    write("vertex.yaml", MODELS)
    return fake_api


def answer(model_id: str, api: str, stream: bool) -> str:
    if api == "sync":
        return llm.get_model(model_id).prompt("hi", system="be brief", stream=stream).text()

    async def run():
        response = llm.get_async_model(model_id).prompt("hi", system="be brief", stream=stream)
        return await response.text()

    return asyncio.run(run())


@pytest.mark.parametrize("api", ["sync", "async"])
def test_vertex_gemini_posts_generate_content_with_a_bearer_token(models, api):
    assert answer("vg", api, stream=False) == "Hello from the fake API"
    sent = models.last
    assert sent.path == GEMINI + ":generateContent"
    assert sent.query == {}
    assert sent.headers["authorization"] == "Bearer ya29.token-of-test"
    assert "x-goog-api-key" not in sent.headers
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "be brief"}]},
    }


@pytest.mark.parametrize("api", ["sync", "async"])
def test_vertex_gemini_streams_from_stream_generate_content_as_sse(models, api):
    assert answer("vg", api, stream=True) == "Hello from the fake API"
    assert models.last.path == GEMINI + ":streamGenerateContent"
    assert models.last.query == {"alt": ["sse"]}


@pytest.mark.parametrize("api", ["sync", "async"])
def test_vertex_anthropic_posts_raw_predict_with_the_version_in_the_body(models, api):
    models.queue([json.dumps(anthropic_json("Claude on Vertex")).encode()], "application/json")
    assert answer("va", api, stream=False) == "Claude on Vertex"
    sent = models.last
    assert sent.path == CLAUDE + ":rawPredict"
    assert sent.headers["authorization"] == "Bearer ya29.token-of-test"
    assert "x-api-key" not in sent.headers and "anthropic-version" not in sent.headers
    assert sent.json == {
        "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 4096,
        "stream": False,
        "anthropic_version": "vertex-2023-10-16",
    }


@pytest.mark.parametrize("api", ["sync", "async"])
def test_vertex_anthropic_streams_from_stream_raw_predict(models, api):
    models.queue([anthropic_sse("Claude streaming")])
    assert answer("va", api, stream=True) == "Claude streaming"
    assert models.last.path == CLAUDE + ":streamRawPredict"
    assert models.last.json["stream"] is True
    assert "model" not in models.last.json


def test_an_error_from_vertex_is_the_models_one_line(models):
    body = {
        "error": {
            "code": 403,
            "message": "Permission denied on resource project my-project.",
            "status": "PERMISSION_DENIED",
        }
    }
    models.fail_next("status", status=403, body=json.dumps(body).encode())
    with pytest.raises(llm.ModelError) as caught:
        answer("va", "sync", stream=False)
    assert str(caught.value) == (
        f"va: HTTP 403 from {models.url}{CLAUDE}:rawPredict: "
        "Permission denied on resource project my-project."
    )


def test_project_and_location_come_from_the_environment(write, fake_api, monkeypatch):
    monkeypatch.setenv("URL", fake_api.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    write(
        "v.yaml",
        "- model_id: g\n  backend: {type: http, preset: vertex-gemini, auth: null,\n"
        '    base_url: "${URL}/v1"}\n',
    )
    assert answer("g", "sync", stream=False) == "Hello from the fake API"
    assert fake_api.last.path == (
        "/v1/projects/env-project/locations/us-central1/publishers/google/models/g:generateContent"
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "GOOGLE_CLOUD_LOCATION",
            "us-centrl1",
            "Vertex AI location 'us-centrl1' (GOOGLE_CLOUD_LOCATION) " + HINT,
        ),
        (
            "CLOUD_ML_REGION",
            "Europe",
            "Vertex AI location 'Europe' (CLOUD_ML_REGION) " + HINT,
        ),
        (
            "GOOGLE_CLOUD_PROJECT",
            "",
            "no Google Cloud project for Vertex AI: write backend.project, "
            "or set GOOGLE_CLOUD_PROJECT",
        ),
    ],
)
def test_a_bad_location_or_no_project_is_one_line_and_sends_nothing(
    write, fake_api, monkeypatch, variable, value, message
):
    monkeypatch.setenv("URL", fake_api.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    monkeypatch.setenv(variable, value)
    write(
        "v.yaml",
        '- model_id: g\n  backend: {type: http, preset: vertex-gemini, base_url: "${URL}/v1"}\n',
    )
    with pytest.raises(llm.ModelError) as caught:
        answer("g", "sync", stream=False)
    assert str(caught.value) == f"g: {message}"
    assert fake_api.requests == []


def test_validate_names_a_location_with_a_typo(write, run_llm):
    path = write(
        "v.yaml",
        "- model_id: g\n  backend: {type: http, preset: vertex-gemini, project: my-project,\n"
        "    location: europe-wset4}\n",
    )
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert (
        f"{path}:3:15: [0].backend.location: 'europe-wset4' is not a Google Cloud location "
        "such as us-central1, europe-west4 or global\n"
    ) in result.output


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("global", "aiplatform.googleapis.com"),
        ("us", "aiplatform.us.rep.googleapis.com"),
        ("eu", "aiplatform.eu.rep.googleapis.com"),
        ("us-east5", "us-east5-aiplatform.googleapis.com"),
        ("northamerica-northeast1", "northamerica-northeast1-aiplatform.googleapis.com"),
    ],
)
def test_the_host_of_each_kind_of_location(location, host):
    assert vertex.host(location) == host
    assert vertex.LOCATION.fullmatch(location)


def test_the_preset_url_is_vertexs_own(monkeypatch):
    from llm_yaml_models.backends.http.config import preset
    from llm_yaml_models.templates import render_url

    data = preset("vertex-anthropic")
    context = {**vertex.served_at("my-project", "global"), "model": "claude-opus-4-1@20250805"}
    assert render_url(data["base_url"] + data["path"], context) == (
        "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global"
        "/publishers/anthropic/models/claude-opus-4-1%4020250805:rawPredict"
    )


def test_llm_exits_1_with_the_locations_one_line(write, run_llm, fake_api, monkeypatch):
    monkeypatch.setenv("URL", fake_api.url)
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-wset4")
    write(
        "v.yaml",
        "- model_id: g\n"
        '  backend: {type: http, preset: vertex-gemini, base_url: "${URL}/v1",\n'
        "    project: my-project}\n",
    )
    result = run_llm("-m", "g", "hi")
    assert (result.exit_code, result.stdout) == (1, "")
    assert (
        result.stderr
        == f"Error: g: Vertex AI location 'europe-wset4' (GOOGLE_CLOUD_LOCATION) {HINT}\n"
    )
    assert fake_api.requests == []

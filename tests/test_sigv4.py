"""``auth: {type: aws-sigv4}``: requests signed by botocore's SigV4 signer with
botocore's credentials (backends/http/auth.py), checked against AWS's published
test vector and against botocore's own signer run here on the request as a
loopback server received it."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import sys

import botocore.auth
import httpx2
import llm
import pytest
from bedrockapi import BedrockAPI
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from fakeapi import FakeAPI

from llm_yaml_models.backends.base import Secrets
from llm_yaml_models.backends.http import auth
from llm_yaml_models.backends.http.auth import AwsAuth, sign

# The AWS SigV4 test suite's credentials and time.
AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
WHEN = datetime.datetime(2015, 8, 30, 12, 36, 0)
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN/+=="
MODEL_NAME = "anthropic.claude-3-5-sonnet-20240620-v1:0"
REPLY = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Signed."}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5},
}


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """botocore's chain sees these variables and nothing of this machine's:
    no config files, no instance metadata; botocore's clock says WHEN."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AKID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: WHEN)
    auth._provider.cache_clear()
    yield monkeypatch
    auth._provider.cache_clear()


# -- the published vector -----------------------------------------------------------------------


def test_the_get_vanilla_vector_of_the_aws_test_suite(aws):
    built = httpx2.Request("GET", "https://example.amazonaws.com/")
    secrets = Secrets()
    sign(AwsAuth("us-east-1", "service"), built, secrets)
    assert built.headers["X-Amz-Date"] == "20150830T123600Z"
    assert built.headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )
    assert secrets.hide(built.headers["Authorization"] + " " + SECRET) == "*** ***"


# -- the bytes sent, as botocore signs them ----------------------------------------------------


def models(url: str, extra: str = "") -> str:
    return f"""\
- model_id: br
  backend:
    type: http
    preset: bedrock-converse
    model_name: {MODEL_NAME}
    url: "{url}"
    retries: 0
    auth: {{type: aws-sigv4, region: eu-west-1{extra}}}
"""


def botocore_signature(recorded, url: str, token: str | None = None) -> str:
    """What botocore's signer makes of the request as the server received it."""
    headers = {"host": recorded.headers["host"], "content-type": recorded.headers["content-type"]}
    request = AWSRequest(method=recorded.method, url=url, data=recorded.body, headers=headers)
    botocore.auth.SigV4Auth(Credentials(AKID, SECRET, token), "bedrock", "eu-west-1").add_auth(
        request
    )
    return request.headers["Authorization"]


def answer(server: FakeAPI) -> None:
    server.queue([json.dumps(REPLY).encode()], kind="application/json")


def test_the_request_received_is_signed_as_botocore_signs_it(aws, write, run_llm):
    aws.setenv("AWS_SESSION_TOKEN", TOKEN)
    with FakeAPI() as server:
        path = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
        write("b.yaml", models(server.url + path))
        answer(server)
        result = run_llm("-m", "br", "--no-stream", "-s", "Be brief.", "hello ✓")
        assert (result.exit_code, result.output) == (0, "Signed.\n")
        received = server.last
    assert received.path == path
    assert received.headers["x-amz-date"] == "20150830T123600Z"
    assert received.headers["x-amz-security-token"] == TOKEN
    expected = botocore_signature(received, server.url + path, TOKEN)
    assert received.headers["authorization"] == expected
    assert "Credential=AKIDEXAMPLE/20150830/eu-west-1/bedrock/aws4_request" in expected
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token," in expected


def test_a_redirect_is_signed_again_on_its_origin_and_never_elsewhere(aws, write, run_llm):
    aws.setenv("AWS_SESSION_TOKEN", TOKEN)
    with BedrockAPI() as server, BedrockAPI() as other:
        server.turns = other.turns = [([{"text": "Signed."}], "end_turn")]
        here = f"{server.url}/model/m/converse"
        write("b.yaml", models(f"{server.url}/redirect?to={here}"))
        assert run_llm("-m", "br", "--no-stream", "hi").output == "Signed.\n"
        followed = server.last
        assert followed.path == "/model/m/converse"
        assert followed.headers["authorization"] == botocore_signature(followed, here, TOKEN)

        write("b.yaml", models(f"{server.url}/redirect?to={other.url}/model/m/converse"))
        assert run_llm("-m", "br", "--no-stream", "hi").output == "Signed.\n"
        assert not {"authorization", "x-amz-date", "x-amz-security-token"} & set(other.last.headers)


def test_the_dry_run_stars_what_signing_adds(aws, write, run_llm):
    aws.setenv("AWS_SESSION_TOKEN", TOKEN)
    write("b.yaml", models("https://bedrock-runtime.eu-west-1.amazonaws.com/model/m/converse"))
    result = run_llm("yaml-models", "request", "br", "hi", "--no-stream")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "Authorization: ***" in lines
    assert "X-Amz-Date: ***" in lines
    assert "X-Amz-Security-Token: ***" in lines
    assert TOKEN not in result.output and SECRET not in result.output
    assert AKID not in result.output


def test_the_region_goes_into_the_preset_url(aws, write, run_llm):
    write(
        "b.yaml",
        """\
        - model_id: br
          backend:
            type: http
            preset: bedrock-converse
            model_name: amazon.nova-lite-v1:0
            auth: {type: aws-sigv4, region: ap-southeast-2}
        """,
    )
    result = run_llm("yaml-models", "request", "br", "hi")
    assert result.output.splitlines()[0] == (
        "POST https://bedrock-runtime.ap-southeast-2.amazonaws.com"
        "/model/amazon.nova-lite-v1%3A0/converse-stream"
    )


# -- bad input: one line, exit 1, no secret -------------------------------------------------------


def run_failing(llm_exe, *args) -> str:
    result = llm_exe(*args)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert SECRET not in result.stderr and TOKEN not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_no_credentials_is_one_line_naming_the_profile(aws, write, llm_exe):
    aws.delenv("AWS_ACCESS_KEY_ID")
    aws.delenv("AWS_SECRET_ACCESS_KEY")
    write("b.yaml", models("http://127.0.0.1:9/model/m/converse"))
    assert run_failing(llm_exe, "-m", "br", "hi") == (
        "Error: br: no AWS credentials found for the default AWS profile: set AWS_ACCESS_KEY_ID "
        "and AWS_SECRET_ACCESS_KEY, or run 'aws configure' or 'aws sso login'\n"
    )


def test_a_profile_not_in_the_config_files(aws, write, llm_exe):
    write("b.yaml", models("http://127.0.0.1:9/model/m/converse", ", profile: work"))
    assert run_failing(llm_exe, "-m", "br", "hi") == (
        "Error: br: the AWS profile 'work' is not in the AWS config files\n"
    )


def test_an_expired_sso_login(aws, write, llm_exe, tmp_path):
    # A profile whose SSO token cache is empty: botocore says how to log in.
    (tmp_path / "aws-config").write_text(
        "[profile work]\nsso_start_url = https://example.awsapps.com/start\n"
        "sso_region = us-east-1\nsso_account_id = 123456789012\nsso_role_name = Dev\n"
    )
    aws.setenv("HOME", str(tmp_path))  # the SSO cache: ~/.aws/sso/cache, absent
    aws.delenv("AWS_ACCESS_KEY_ID")
    aws.delenv("AWS_SECRET_ACCESS_KEY")
    write("b.yaml", models("http://127.0.0.1:9/model/m/converse", ", profile: work"))
    line = run_failing(llm_exe, "-m", "br", "hi")
    assert line.startswith("Error: br: no usable AWS credentials for the AWS profile 'work': ")


def test_a_region_with_a_typo_in_the_file(aws, write, run_llm, models_dir):
    write("b.yaml", models("http://127.0.0.1:9/model/m/converse").replace("eu-west-1", "eu-wset-1"))
    result = run_llm("yaml-models", "validate")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"{models_dir / 'b.yaml'}:8:37: [0].backend.auth.region: 'eu-wset-1' "
        "is not an AWS region such as us-east-1 or eu-central-1"
    )


def test_a_region_with_a_typo_in_the_environment(aws, write, llm_exe):
    aws.setenv("AWS_REGION", "us-east1")
    write(
        "b.yaml",
        """\
        - model_id: br
          backend: {type: http, preset: bedrock-converse, auth: {type: aws-sigv4}}
        """,
    )
    assert run_failing(llm_exe, "-m", "br", "hi") == (
        "Error: br: AWS region 'us-east1' (AWS_REGION) is not an AWS region "
        "such as us-east-1 or eu-central-1\n"
    )


def test_a_signed_request_refused_is_the_connect_error(aws, write, llm_exe):
    # A proxy or endpoint that refuses: signing changes nothing of the error.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/model/m/converse"
    write("b.yaml", models(url))
    assert run_failing(llm_exe, "-m", "br", "hi") == (
        f"Error: br: cannot connect to {url}: connection refused\n"
    )


def test_without_botocore_one_line_names_the_extra(aws, write, run_llm, monkeypatch):
    for name in ("botocore", "botocore.auth", "botocore.awsrequest", "botocore.session"):
        monkeypatch.setitem(sys.modules, name, None)
    write("b.yaml", models("http://127.0.0.1:9/model/m/converse"))
    result = run_llm("-m", "br", "hi")
    assert (result.exit_code, result.output) == (
        1,
        "Error: br: auth: aws-sigv4 needs botocore: pip install 'llm-yaml-models[aws]'\n",
    )


def test_the_async_model_signs_the_same_way(aws, write):
    with BedrockAPI() as server:
        url = f"{server.url}/model/m/converse"
        write("b.yaml", models(url))

        async def run():
            return await llm.get_async_model("br").prompt("hi", stream=False).text()

        assert asyncio.run(run()) == "Hello from Bedrock"
        received = server.last
    assert received.headers["authorization"] == botocore_signature(received, url)

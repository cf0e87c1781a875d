"""Credentials beyond a static key: ``auth: {type: aws-sigv4, ...}`` here,
and the bearer tokens of ``auth: {type: google}`` and ``auth: {type:
azure-entra}`` (``tokens``). Each kind has one method, ``apply(built,
secrets)``: it authorises a built request in place, and what it adds is a
secret of the request. ``declared`` makes the kind a backend names.

botocore, an optional extra (``pip install 'llm-yaml-models[aws]'``),
finds the credentials through its own chain (environment, profile, SSO,
instance role) and signs each request with SigV4: the bytes sent, once,
after the templates are rendered (``sign``). What signing adds to a
request (Authorization, X-Amz-Date, X-Amz-Security-Token) joins the
request's secrets, and is never sent to another origin: a redirect there
is not signed.

A Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK``) needs none of this: it is
a model's ``key``, sent as ``Authorization: Bearer``."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import Any

from .outcome import WireError
from .tokens import AzureAuth, GoogleAuth

EXTRA = "pip install 'llm-yaml-models[aws]'"
DEFAULT_REGION = "us-east-1"
# Every AWS region's name: a partition's prefix, a direction, a number.
REGION = re.compile(
    r"(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso[a-z]?)?"
    r"-(north|south|east|west|central|northeast|northwest|southeast|southwest)-\d{1,2}"
)
REGION_HINT = "is not an AWS region such as us-east-1 or eu-central-1"
# What is signed besides the body: the host, its content type, and the
# x-amz-* headers. A header a proxy or the client may change is not.
SIGNED = ("host", "content-type")
ADDED = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
# What botocore's chain reads from the environment: a change is a new lookup.
ENVIRONMENT = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


@dataclass(frozen=True)
class AwsAuth:
    region: str | None = None  # default: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1
    service: str = "bedrock"
    profile: str | None = None  # default: botocore's ($AWS_PROFILE, or "default")

    @classmethod
    def from_data(cls, data: dict | None) -> AwsAuth | None:
        if not data:
            return None
        return cls(data.get("region"), data.get("service", "bedrock"), data.get("profile"))

    def apply(self, built: Any, secrets: Any) -> None:
        sign(self, built, secrets)

    @property
    def named(self) -> str:
        """The profile, as an error names it."""
        return f"the AWS profile '{self.profile}'" if self.profile else "the default AWS profile"


# auth.type -> how its mapping becomes the typed auth (the schema's enum is tied to it)
KINDS = {
    "aws-sigv4": AwsAuth.from_data,
    "google": GoogleAuth.from_data,
    "azure-entra": AzureAuth.from_data,
}


def declared(data: dict | None) -> AwsAuth | GoogleAuth | AzureAuth | None:
    """The ``auth:`` a backend declares, typed (validated before)."""
    return KINDS[data.get("type", "aws-sigv4")](data) if data else None


def region(auth: AwsAuth | None) -> str:
    """The region to call and sign for: the declared one, else AWS's own
    variables, else us-east-1. A typo is one line naming it."""
    found = auth.region if isinstance(auth, AwsAuth) and auth.region else None
    source = "auth.region"
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if found is None and os.environ.get(name):
            found, source = os.environ[name], name
    found = found or DEFAULT_REGION
    if not REGION.fullmatch(found):
        raise WireError(f"AWS region {found!r} ({source}) {REGION_HINT}")
    return found


def _botocore():
    try:
        import botocore.auth  # noqa: F401
        import botocore.awsrequest  # noqa: F401
        import botocore.session
    except ImportError:
        raise WireError(f"auth: aws-sigv4 needs botocore: {EXTRA}") from None
    return botocore


@functools.cache
def _provider(profile: str | None, environment: tuple):
    """botocore's credentials for a profile, found once per process (and
    ``environment``, the variables its chain reads); botocore refreshes
    those that expire (SSO, a role) as they are used."""
    botocore = _botocore()
    return botocore.session.Session(profile=profile).get_credentials()


def credentials(auth: AwsAuth) -> Any:
    """Frozen credentials (key, secret, token) for one signature."""
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    try:
        found = _provider(auth.profile, tuple(os.environ.get(n) for n in ENVIRONMENT))
        frozen = found.get_frozen_credentials() if found is not None else None
    except ProfileNotFound:
        raise WireError(f"{auth.named} is not in the AWS config files") from None
    except BotoCoreError as exc:
        _provider.cache_clear()  # an SSO login may fix it: look again next time
        why = " ".join(str(exc).split())[:200]
        raise WireError(f"no usable AWS credentials for {auth.named}: {why}") from None
    if frozen is None or not frozen.access_key:
        _provider.cache_clear()
        raise WireError(
            f"no AWS credentials found for {auth.named}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run 'aws configure' or 'aws sso login'"
        )
    return frozen


def sign(auth: AwsAuth, built: Any, secrets: Any) -> None:
    """Sign a built request (``httpx2.Request``) in place: its method, URL
    and body bytes as sent. What signing adds is a secret of the request."""
    botocore = _botocore()
    frozen = credentials(auth)
    for value in (frozen.secret_key, frozen.token):
        secrets.add(value)
    headers = {k: v for k, v in built.headers.items() if _signed(k)}
    request = botocore.awsrequest.AWSRequest(
        method=built.method, url=str(built.url), data=built.content, headers=headers
    )
    botocore.auth.SigV4Auth(frozen, auth.service, region(auth)).add_auth(request)
    for name in ADDED:
        if name in request.headers:
            built.headers[name] = request.headers[name]
            secrets.add(request.headers[name])


def _signed(name: str) -> bool:
    name = name.lower()
    return name in SIGNED or (name.startswith("x-amz-") and name != "x-amz-security-token")

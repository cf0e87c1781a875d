"""Cloud bearer tokens: ``auth: {type: google}`` and ``auth: {type: azure-entra}``.

Each reads credentials through the provider's own library, an optional
extra, imported only when a request is built: google-auth's Application
Default Credentials (``pip install 'llm-yaml-models[google]'``) and
azure-identity's ``DefaultAzureCredential`` (``[azure]``). The token is
sent as ``Authorization: Bearer``, renewed before it expires, and is a
secret of the request (starred, never sent to another origin: a redirect
there is not authorised, as a signed request is not signed there).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

from ...errors import printable
from .outcome import WireError

GOOGLE_EXTRA = "pip install 'llm-yaml-models[google]'"
AZURE_EXTRA = "pip install 'llm-yaml-models[azure]'"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
COGNITIVE_SERVICES = "https://cognitiveservices.azure.com/.default"
# A token this close to its expiry is renewed first: a request may take a while.
RENEW_BEFORE = 300.0
MAX_REASON = 200

_lock = threading.Lock()  # one refresh at a time (embedding batches run in threads)
# ("google", scopes) and ("azure",) -> the library's credential, found once per
# process; ("azure-token", scope) -> the last token, kept until near its expiry
_found: dict[tuple, Any] = {}


def bearer(built: Any, token: str, secrets: Any) -> None:
    """Put ``token`` on a built request; it is a secret from now on."""
    secrets.add(token)
    built.headers["Authorization"] = f"Bearer {token}"


def _reason(exc: BaseException) -> str:
    """A library's error, for one line: its first line, shortened."""
    text = str(exc.args[0]).strip() if exc.args else ""
    first = text.splitlines()[0] if text else type(exc).__name__
    return printable(first)[:MAX_REASON]


@dataclass(frozen=True)
class GoogleAuth:
    """Google's Application Default Credentials, for ``scopes``."""

    scopes: tuple[str, ...] = (CLOUD_PLATFORM,)

    @classmethod
    def from_data(cls, data: dict) -> GoogleAuth:
        return cls(tuple(data.get("scopes") or (CLOUD_PLATFORM,)))

    def apply(self, built: Any, secrets: Any) -> None:
        bearer(built, google_token(self.scopes), secrets)


@dataclass(frozen=True)
class AzureAuth:
    """Microsoft Entra ID through azure-identity, for the Cognitive Services scope."""

    scope: str = COGNITIVE_SERVICES

    @classmethod
    def from_data(cls, data: dict) -> AzureAuth:
        return cls()

    def apply(self, built: Any, secrets: Any) -> None:
        bearer(built, azure_token(self.scope), secrets)


# -- google ---------------------------------------------------------------------


def google_token(scopes: tuple[str, ...]) -> str:
    """A valid access token, refreshed first if it is expired or about to be
    (google-auth's ``valid`` allows for that)."""
    google = _google()
    with _lock:
        credentials = _google_credentials(google, scopes)
        if not credentials.valid:
            _google_refresh(google, credentials)
        return credentials.token


def _google():
    try:
        import google.auth
        import google.auth.exceptions
        import google.auth.transport.requests
    except ImportError:
        raise WireError(f"auth: google needs google-auth: {GOOGLE_EXTRA}") from None
    return google


def _google_credentials(google, scopes: tuple[str, ...]):
    key = ("google", scopes)
    if key not in _found:
        try:
            with warnings.catch_warnings():  # advice on quota projects, many lines of it
                warnings.simplefilter("ignore")
                _found[key], _ = google.auth.default(scopes=list(scopes))
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise WireError(
                f"no Google credentials found ({_reason(exc)}): run "
                "'gcloud auth application-default login' or set GOOGLE_APPLICATION_CREDENTIALS"
            ) from None
    return _found[key]


def _google_refresh(google, credentials) -> None:
    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError as exc:
        raise WireError(f"Google refused the credentials: {_reason(exc)}") from None


# -- azure ----------------------------------------------------------------------


def azure_token(scope: str) -> str:
    """A token for ``scope``, kept until RENEW_BEFORE seconds before it expires."""
    with _lock:
        kept = _found.get(("azure-token", scope))
        if kept is not None and kept.expires_on - RENEW_BEFORE > time.time():
            return kept.token
        token = _azure_get(scope)
        _found["azure-token", scope] = token
        return token.token


def _azure_get(scope: str):
    try:
        from azure.core.exceptions import ClientAuthenticationError
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise WireError(f"auth: azure-entra needs azure-identity: {AZURE_EXTRA}") from None
    credential = _found.get(("azure",))
    if credential is None:
        # azure-identity logs each failure as a warning of many lines; with no
        # handler of the user's, Python would print it to stderr before our one line
        logging.getLogger("azure").addHandler(logging.NullHandler())
        credential = _found["azure",] = DefaultAzureCredential()
    try:
        return credential.get_token(scope)
    except ClientAuthenticationError as exc:
        raise WireError(
            f"no usable Azure credentials ({_reason(exc)}): run 'az login', or set "
            "AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET"
        ) from None


def forget() -> None:
    """Drop every credential and token found (tests: a new process)."""
    _found.clear()

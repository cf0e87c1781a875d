"""A backend's own TLS settings: ``tls: {ca_bundle, client_cert,
client_key, verify}``, and the TLS context made from them.

Paths are relative to the model file, and are read only if others could
not change them (``trust.loose``, as for the model file itself): a CA
bundle someone else can write lets them vouch for any server, a client
key someone else can swap is a stolen identity. ``verify: false`` is never
the default; each process says so once, on stderr, the first time it is
used. A file that is not what it should be is one line naming it."""

from __future__ import annotations

import ssl
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from ...errors import printable
from .outcome import WireError

_warned = threading.Event()  # verify: false, said once per process
_PARTS = ("ca_bundle", "client_cert", "client_key")


def _no_password() -> bytes:
    """An encrypted key is refused (one line), never a prompt for its passphrase."""
    return b""


@dataclass(frozen=True)
class TlsSettings:
    ca_bundle: str | None = None  # PEM certificates: the only CAs trusted
    client_cert: str | None = None  # PEM: this client's certificate (and its key)
    client_key: str | None = None  # PEM: the key, if not in client_cert
    verify: bool = True

    @classmethod
    def from_data(cls, data: dict | None, base: Path) -> TlsSettings | None:
        """The settings of a ``tls:`` mapping, each path made absolute
        against ``base`` (the directory of the model file)."""
        if not data:
            return None
        paths = {name: str(base / data[name]) for name in _PARTS if data.get(name)}
        return cls(**paths, verify=data.get("verify", True))

    def context(self, host: str) -> ssl.SSLContext:
        """A TLS context for these settings (``host``: the server it is
        first made for, as the warning for ``verify: false`` names it)."""
        if not self.verify:
            _warn_unverified(host)
        return self.made()

    def made(self) -> ssl.SSLContext:
        """The TLS context, each file vouched for and read; a file that is
        missing, loose or not PEM raises the WireError that names it."""
        for name in _PARTS:
            _vouched(name, getattr(self, name))
        context = self._trusting()
        if self.client_cert:
            try:
                # No passphrase is asked for: OpenSSL would ask on the terminal
                # (and, with none, fail as an OSError) on every llm command.
                context.load_cert_chain(self.client_cert, self.client_key, password=_no_password)
            except (ssl.SSLError, ValueError, OSError):
                names = "tls.client_cert" + (" and tls.client_key" if self.client_key else "")
                raise WireError(
                    f"{names}: not a PEM certificate with its key, unencrypted ({self.client_cert})"
                ) from None
        return context

    def _trusting(self) -> ssl.SSLContext:
        if not self.verify:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        if self.ca_bundle is None:
            import httpcore2

            return httpcore2.default_ssl_context()  # as httpx2 makes it for verify=True
        try:
            return ssl.create_default_context(cafile=self.ca_bundle)
        except ssl.SSLError:
            raise WireError(
                f"tls.ca_bundle: not a PEM certificate bundle ({self.ca_bundle})"
            ) from None


def _vouched(name: str, path: str | None) -> None:
    """A file that exists and that only you (or root) can change."""
    from ...trust import loose

    if path is None:
        return
    if not Path(path).is_file():
        raise WireError(f"tls.{name}: no such file: {path}")
    why = loose(path)
    if why:
        raise WireError(f"tls.{name}: refusing to read {path}: {why}")


def _warn_unverified(host: str) -> None:
    if _warned.is_set():
        return
    _warned.set()
    sys.stderr.write(
        printable(
            f"llm-yaml-models: warning: tls.verify is false: the certificate of {host} "
            "(and of every server so declared) is not checked"
        )
        + "\n"
    )

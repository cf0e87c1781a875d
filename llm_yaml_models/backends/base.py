"""The backend seam: one request object in, text chunks out.

A backend implements ``stream`` (sync) and ``astream`` (async). Both read
the same ``Request`` and should share every piece of logic except I/O.
A backend reports usage and log data through the request, never by
touching llm's Response itself.
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, quote_plus, unquote, urlsplit

import llm

from ..errors import BackendError, EmbeddingError, Unavailable, printable

if TYPE_CHECKING:
    from ..declarations import Declaration, EmbeddingDeclaration
    from ..loading.source import Document


@dataclass(frozen=True)
class Message:
    """One message of the conversation: a role, its text, and any
    attachments, tool calls (assistant) or the call it answers (tool)."""

    role: str
    content: str
    attachments: tuple[llm.Attachment, ...] = ()
    tool_calls: tuple[llm.ToolCall, ...] = ()
    tool_call_id: str | None = None
    # An earlier reply's reasoning (llm.parts.ReasoningPart, with its
    # provider_metadata: signatures), to send back where the API needs it.
    reasoning: tuple = ()
    # llm's parts of the message in their order, for an API that replays
    # blocks as they came (Anthropic: thinking, then text, then tool_use).
    parts: tuple = field(default=(), compare=False, repr=False)


class OptionValues(Mapping):
    """The validated options: a read-only mapping that also allows ``.name``.

    Options that were not given and have no default are absent.
    """

    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"OptionValues({self._values!r})"


@dataclass
class Usage:
    input: int | None = None
    output: int | None = None
    details: dict | None = None


# Headers whose value is a credential, whatever it holds: their value is
# starred by name in the dry run, and one written in a file is a secret.
SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")
SECRET_HEADERS += ("proxy-authorization", "cookie")

# A secret this long is starred wherever it appears. A shorter one (Ollama's
# documented dummy key "ollama", a one-letter key) is starred only where it
# stands whole: starring it inside other text would garble URLs and words
# ("http://ollama:11434" became "http://***:11434").
WHOLE_ONLY_UNDER = 8

STARS = "***"

MODEL_NAME_SIZE = 200  # characters of a server's model name kept as the resolved model


class Secrets:
    """The secrets in play for a request: values never to be shown, logged,
    stored or sent to another origin. Every place that prints, logs, stores
    or re-sends a request's data asks this one set.

    A secret of ``WHOLE_ONLY_UNDER`` characters or more is starred in every
    form a message may quote it: as given, trimmed of surrounding whitespace,
    percent-encoded, JSON-escaped, and escaped as ``repr()`` escapes a str or
    its bytes (h11 says ``Illegal header value b'Bearer sk-...\\r'``). A
    shorter one only where it stands whole: a string that is exactly it (a
    header or query value, an id), a JSON string ``"it"``, a URL's password
    ``:it@``."""

    def __init__(self, *values: str | None):
        self._forms: dict[str, str] = {}  # text found -> what it becomes, longest first
        self._whole: set[str] = set()  # short secrets, in the forms a value may take
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        if not (value and value.strip()):
            return
        if len(value.strip()) >= WHOLE_ONLY_UNDER:
            self._keep(dict.fromkeys(_forms(value), STARS))
            return
        self._whole |= _forms(value)
        self._keep({f'"{form}"': f'"{STARS}"' for form in _json_forms(value)})

    def add_url(self, url: str) -> None:
        """The password in a URL's userinfo: as written, decoded, and as the
        Basic credentials httpx2 makes of it."""
        with contextlib.suppress(ValueError):  # not a URL: whoever sends it says so
            parts = urlsplit(url)
            if parts.password:
                password, user = unquote(parts.password), unquote(parts.username or "")
                for written in {parts.password, password}:
                    self.add(written)
                    self._keep({f":{written}@": f":{STARS}@"})  # where it stands, if short
                self.add(base64.b64encode(f"{user}:{password}".encode()).decode())

    def add_header(self, name: str, value: str) -> None:
        """A header that carries credentials (``SECRET_HEADERS``): the
        credential after its scheme (``Bearer sk-...``), or its whole value."""
        if name.lower() in SECRET_HEADERS:
            self.add(credential(value)[1])

    def update(self, other: Secrets) -> None:
        self._keep(other._forms)
        self._whole |= other._whole

    def _keep(self, forms: dict[str, str]) -> None:
        # Longest first: a form that holds another is starred whole.
        both = {**self._forms, **forms}
        self._forms = {f: both[f] for f in sorted(both, key=lambda f: (-len(f), f))}

    def __bool__(self) -> bool:
        return bool(self._forms or self._whole)

    def found_in(self, text: str) -> bool:
        """Does ``text`` hold a secret (for a value about to go elsewhere)?"""
        return self._is_whole(text) or any(form in text for form in self._forms)

    def _is_whole(self, text: str) -> bool:
        return text in self._whole or text.strip() in self._whole

    def call_id(self, given: Any, prefix: str = "call") -> str:
        """A tool call's id: the one the server gave, starred (a server may
        echo the key in it), or one made up where it gave none, as
        ``PREFIX_<hex>``. Every API family's calls and results are named so."""
        found = self.hide(given) if isinstance(given, str) and given else None
        return found or f"{prefix}_{uuid.uuid4().hex[:24]}"

    def hide(self, value: Any) -> Any:
        """A JSON value with every secret starred in every string of it."""
        if isinstance(value, str):
            if self._is_whole(value):
                return STARS
            for form, stars in self._forms.items():
                if form in value:
                    value = value.replace(form, stars)
            return value
        if isinstance(value, dict):
            return {self.hide(k): self.hide(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.hide(v) for v in value)
        return value


def credential(value: str) -> tuple[str, str]:
    """A credential header's value as its scheme (``"Bearer "``, or ``""``)
    and the credential itself."""
    scheme, _, rest = value.partition(" ")
    if rest and scheme.isalpha() and len(scheme) < 10:
        return scheme + " ", rest
    return "", value


def _json_forms(text: str) -> set[str]:
    return {json.dumps(t, ensure_ascii=a)[1:-1] for t in {text, text.strip()} for a in (1, 0)}


def _forms(secret: str) -> set[str]:
    """The ways a message may quote ``secret``."""
    forms = set()
    for text in {secret, secret.strip()} - {""}:
        forms |= {
            text,
            repr(text)[1:-1],
            repr(text.encode("utf-8"))[2:-1],
            quote(text, safe=""),
            quote(text),
            quote_plus(text),
        }
    return forms | _json_forms(secret)


@dataclass
class Request:
    """Everything a backend needs to answer one prompt."""

    model_id: str
    prompt: str
    system: str
    messages: list[Message]
    attachments: list[llm.Attachment]
    options: OptionValues
    key: str | None
    stream: bool
    tools: list = field(default_factory=list)  # llm.Tool objects offered to the model
    server_tools: list[dict] = field(default_factory=list)  # specs of llm's server-side tools
    schema: dict | None = None  # the JSON schema the reply must follow (--schema)
    hide_reasoning: bool = False  # -R: llm will not show reasoning, so none is asked for
    usage: Usage | None = None
    response_json: dict | None = None
    # The model the server says answered (a reply's ``model``), for llm's
    # ``resolved_model``: set by ``set_resolved_model``.
    resolved_model: str | None = None
    # llm.ToolResult objects (name, output, tool_call_id): what the tools
    # this model called on the chain's previous round gave back.
    tool_results: list[llm.ToolResult] = field(default_factory=list)
    tool_calls: list[llm.ToolCall] = field(default_factory=list)
    # A tool call's id -> what the API needs back with it (Gemini's thoughtSignature)
    tool_call_metadata: dict[str, dict] = field(default_factory=dict)
    # Never shown nor logged: the key, and what the backend adds (passwords
    # in URLs, values read from the environment).
    secrets: Secrets = field(default_factory=Secrets, repr=False)
    # A new key for when the server refuses this one (a key command's:
    # ``keys.renewal``), used at most once: ``renew_key``.
    renew: Callable[[], str] | None = field(default=None, repr=False)

    def __post_init__(self):
        # A key stored from a CRLF .env file ends in a CR: send it trimmed.
        self.secrets.add(self.key)
        if self.key is not None:
            self.key = self.key.strip() or None

    @property
    def history(self) -> list[Message]:
        """The earlier turns: every user, assistant and tool message up to the
        last assistant reply. System messages are in ``system``."""
        last_reply = max(
            (i for i, m in enumerate(self.messages) if m.role == "assistant"), default=-1
        )
        return [m for m in self.messages[: last_reply + 1] if m.role != "system"]

    def set_usage(
        self, *, input: int | None = None, output: int | None = None, details: dict | None = None
    ) -> None:
        self.usage = Usage(input, output, self.secrets.hide(details))

    def estimated_tokens(self) -> int:
        """What a limiter counts this request for until it ends: its text,
        at four characters a token."""
        from ..routing.limits import estimate_tokens

        return estimate_tokens(self.system, *(m.content for m in self.messages))

    def used_tokens(self) -> int | None:
        """What a limiter counts it for once it has ended: the tokens the
        server reported (None: it reported none, and the estimate stands)."""
        usage = self.usage
        if usage is None or (usage.input is None and usage.output is None):
            return None
        return (usage.input or 0) + (usage.output or 0)

    def set_resolved_model(self, name: Any) -> None:
        """The model the server says answered. It is the server's text,
        which ``llm logs`` prints as it is: one printable line, cut, no
        secret; anything but a string is no name."""
        if isinstance(name, str) and name.strip():
            self.resolved_model = printable(self.secrets.hide(name.strip()))[:MODEL_NAME_SIZE]

    def add_tool_call(
        self,
        name: str,
        arguments: dict,
        tool_call_id: str | None = None,
        provider_metadata: dict | None = None,
    ) -> None:
        """Ask llm to run a tool (``llm --tool``, chains). The id links the
        tool's result to the call; one is made up if the API gave none.
        ``provider_metadata`` goes on llm's part for the call, to be sent back."""
        tool_call_id = self.secrets.call_id(tool_call_id)
        arguments = self.secrets.hide(arguments)  # a server may echo the key
        self.tool_calls.append(
            llm.ToolCall(name=name, arguments=arguments, tool_call_id=tool_call_id)
        )
        if provider_metadata:
            self.tool_call_metadata[tool_call_id] = self.secrets.hide(provider_metadata)

    def recorded(self, chunk: Any) -> Any:
        """A chunk as llm may store it (``logs.db``) and send it back on
        the next turn: a server may echo the key into an event's
        ``provider_metadata`` (a thinking signature) or a tool call's id.
        The text itself is the model's answer, shown as it came."""
        if type(chunk) is str or not (chunk.provider_metadata or chunk.tool_call_id):
            return chunk
        metadata = self.secrets.hide(chunk.provider_metadata)
        call_id = self.secrets.hide(chunk.tool_call_id)
        if metadata == chunk.provider_metadata and call_id == chunk.tool_call_id:
            return chunk
        return replace(chunk, provider_metadata=metadata, tool_call_id=call_id)

    def logged(self) -> dict | None:
        """``response_json`` as llm logs it: a server may echo the key in it."""
        return self.secrets.hide(self.response_json)

    def fail(
        self, message: str, *, unavailable: bool = False, refused: bool = False
    ) -> BackendError:
        """An error for this model, for the backend to raise; every secret,
        should the message quote one (SDKs and servers do), is starred.
        ``unavailable``: it failed before any output, and another model
        (``fallbacks``) may answer instead. ``refused``: the server refused
        the key (``renew_key``)."""
        kind = Unavailable if unavailable else BackendError
        error = kind(self.model_id, self.secrets.hide(message))
        error.refused = refused
        return error


@dataclass(frozen=True)
class BackendConfig:
    """A backend's typed configuration, built from the validated mapping."""

    @classmethod
    def from_data(
        cls, data: dict, source: Path, model: Declaration | EmbeddingDeclaration | None = None
    ) -> BackendConfig:
        """``data`` is the backend mapping (the environment read in), ``source``
        the YAML file that declares it, ``model`` the whole declaration."""
        return cls()

    def secrets(self) -> Secrets:
        """Values of this configuration never to be shown (``show`` stars them)."""
        return Secrets()


class Backend(ABC):
    """One instance per declared model, created on first use."""

    Config: ClassVar[type[BackendConfig]] = BackendConfig
    can_stream: ClassVar[bool] = True
    # Options the backend reads, when declared: {"name": {"types": (...),
    # "minimum": ..., "maximum": ...}}. Missing bounds are enforced anyway.
    option_rules: ClassVar[dict[str, dict]] = {}

    def __init__(self, config: BackendConfig):
        self.config = config

    @classmethod
    def check(cls, data: dict, doc: Document, origin, base_dir: Path, deep: bool = False) -> list:
        """Problems a schema cannot see, for a merged model using this backend.

        ``origin(path)`` maps a path inside ``data`` to its place in ``doc``.
        ``deep`` checks (imports, for instance) run only for ``validate``,
        never while llm starts.
        """
        return []

    @classmethod
    def standard_options(cls, backend: dict) -> dict:
        """Options every model of this backend mapping has unless it
        removes them (an HTTP preset's): name -> spec, as a file writes it."""
        return {}

    @classmethod
    def metadata_defaults(cls, backend: dict) -> dict:
        """Which of the standard options take their default from the
        model's metadata: option name -> metadata field (an HTTP preset's
        ``metadata_defaults:``)."""
        return {}

    @classmethod
    def standard_server_tools(cls, backend: dict) -> dict:
        """Server-side tools every model of this backend mapping has unless
        it removes them (an HTTP preset's): class name -> spec."""
        return {}

    @classmethod
    def notes(cls, data: dict, doc: Document, origin) -> list:
        """Warnings (``Problem``s whose message starts ``warning:``) for a
        model that has no problems; ``validate`` shows them."""
        return []

    @classmethod
    def converses(cls, data: dict) -> bool:
        """Whether a model declared as ``data`` sends the earlier turns
        (llm's ``supports_conversation``: llm refuses ``-c`` when not)."""
        return True

    def close(self) -> None:  # noqa: B027 - most backends hold nothing
        """Let go of connections and the like; the model may be rebuilt."""

    @abstractmethod
    def stream(self, request: Request) -> Iterator[str]:
        """Yield the response text in chunks."""

    @abstractmethod
    def astream(self, request: Request) -> AsyncIterator[str]:
        """The async twin of ``stream``."""


# -- embedding models ----------------------------------------------------------


@dataclass
class EmbedRequest:
    """One batch for an embedding backend: texts (the declared ``prefix``
    already prepended) and bytes, in order."""

    model_id: str
    items: list[str | bytes]
    options: OptionValues
    key: str | None
    secrets: Secrets = field(default_factory=Secrets, repr=False)
    reply: Any = None  # what the backend got back, before it is checked
    renew: Callable[[], str] | None = field(default=None, repr=False)  # as Request's

    def __post_init__(self):
        self.secrets.add(self.key)
        if self.key is not None:
            self.key = self.key.strip() or None

    def fail(
        self, message: str, *, unavailable: bool = False, refused: bool = False
    ) -> EmbeddingError:
        """The one-line error of this model, every secret starred (an
        embedding model has no fallbacks: ``unavailable`` changes nothing)."""
        error = EmbeddingError(self.model_id, self.secrets.hide(message))
        error.refused = refused
        return error

    def estimated_tokens(self) -> int:
        """As ``Request.estimated_tokens``: the items, a byte counted as a character."""
        from ..routing.limits import estimate_tokens

        return estimate_tokens(*self.items)

    def used_tokens(self) -> int | None:
        """None: the usage of an embedding reply is not read; the estimate stands."""
        return None


def renew_key(request: Request | EmbedRequest, error: Exception) -> bool:
    """After ``error``: was it the server refusing the key (``refused``),
    and has the key been renewed for one more try? Once per request."""
    if not getattr(error, "refused", False) or request.renew is None:
        return False
    renew, request.renew = request.renew, None
    try:
        key = renew()
    except Exception as exc:  # the command's own failure says more than the 401
        raise request.fail(str(exc)) from None
    request.secrets.add(key)
    request.key = key
    return True


class EmbeddingBackend(ABC):
    """One instance per declared embedding model, created on first use and
    kept for the life of the process: a client and its connection pool are
    made once and serve every batch."""

    Config: ClassVar[type[BackendConfig]] = BackendConfig
    # How many batches one call may have in flight at once.
    concurrency: int = 1

    def __init__(self, config: BackendConfig):
        self.config = config

    @classmethod
    def check(cls, data: dict, doc: Document, origin, base_dir: Path, deep: bool = False) -> list:
        """As ``Backend.check``, for a merged embedding declaration."""
        return []

    def close(self) -> None:  # noqa: B027 - most backends hold nothing
        """Let go of connections and the like; the model may be rebuilt."""

    @abstractmethod
    def embed(self, request: EmbedRequest) -> list[list[float]]:
        """One vector per item of ``request.items``, in order."""

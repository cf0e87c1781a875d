"""``llm yaml-models check``: a tiny prompt to each model, for real.

The one command that makes requests on purpose (``validate`` stays
offline). Each model is asked streamed and not, with a tool when it
declares ``supports_tools`` and a schema when it declares
``supports_schema``; an HTTP model with ``deployments`` is asked once per
deployment. Fallbacks are never asked: the check is of the model itself.
An embedding model embeds one short text (or bytes, if it takes no text).
Usage is reported where a model gives it; a model that gives none has not
failed (llm's own models and callables often give none). A priced model's
check shows what its prompts cost, together.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import llm

from ..errors import printable

PROMPT = "Reply with the word OK."
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


@dataclass
class Result:
    model: str
    deployment: str | None = None
    ttft: float | None = None  # seconds to the first streamed chunk
    total: float | None = None  # seconds for the streamed reply (the whole one, if none)
    streaming: bool | None = None  # None: not tried (the model cannot stream)
    usage: bool | None = None
    cost: float | None = None  # USD, the check's prompts together; None: none was priced
    tools: bool | None = None  # None: not declared
    schema: bool | None = None
    error: str | None = None
    embedding: bool = field(default=False, repr=False)  # an embedding model's check

    @property
    def ok(self) -> bool:
        # Usage is optional: shown, never a failure.
        tried = (self.streaming, self.tools, self.schema)
        return self.error is None and all(v is not False for v in tried)

    def to_json(self) -> dict:
        data = asdict(self)
        del data["embedding"]
        return {**data, "ok": self.ok}


def ping() -> str:
    """Answer the check: call it with no arguments."""
    return "pong"


def check_model(model: llm.Model | llm.EmbeddingModel) -> Iterator[Result]:
    """One Result for the model, or one per deployment."""
    from ..routing.fallbacks import alone

    if isinstance(model, llm.EmbeddingModel):
        yield _embedded(model)
        return

    with alone():
        for index, deployment in enumerate(_deployments(model)):
            result = Result(model.model_id, deployment)
            with _pinned(model, index if deployment else None):
                _run(model, result)
            yield result


def _embedded(model: llm.EmbeddingModel) -> Result:
    """An embedding model's check: one short item, its vector not empty."""
    result = Result(model.model_id, embedding=True)
    item = PROMPT if model.supports_text else PROMPT.encode()
    start = time.perf_counter()
    try:
        if not model.embed(item):
            raise ValueError("the vector was empty")
    except Exception as exc:  # reported in the table, as a chat model's failure is
        result.error = printable(str(exc) or type(exc).__name__)
    result.total = time.perf_counter() - start
    return result


def _deployments(model) -> list[str | None]:
    names = getattr(model.backend, "deployment_names", None)
    return (list(names()) if names else []) or [None]


def _pinned(model, index: int | None):
    """Pinned by index, not base URL: two deployments may share one."""
    pin = getattr(model.backend, "pinned", None)
    return pin(index) if pin and index is not None else contextlib.nullcontext()


def _run(model, result: Result) -> None:
    steps = [_whole]
    if model.can_stream:
        steps.insert(0, _streamed)
    if model.supports_tools:
        steps.append(_tools)
    if model.supports_schema:
        steps.append(_schema)
    for step in steps:
        try:
            step(model, result)
        except Exception as exc:  # each failure is reported, the next step still runs
            result.error = result.error or printable(str(exc) or type(exc).__name__)


def _streamed(model, result: Result) -> None:
    result.streaming = False
    start = time.perf_counter()
    response = model.prompt(PROMPT, stream=True)
    chunks = 0
    for chunk in response:
        if chunks == 0:
            result.ttft = time.perf_counter() - start
        chunks += bool(chunk)
    result.total = time.perf_counter() - start
    result.usage = _has_usage(response)
    _add_cost(result, response)
    if not chunks:
        raise ValueError("the streamed reply was empty")
    result.streaming = True


def _whole(model, result: Result) -> None:
    start = time.perf_counter()
    response = model.prompt(PROMPT, stream=False)
    text = response.text()
    if result.total is None:
        result.total = time.perf_counter() - start
    _add_cost(result, response)
    if not text.strip():
        raise ValueError("the reply was empty")
    result.usage = _has_usage(response) and result.usage is not False


def _has_usage(response) -> bool:
    usage = response.usage()
    return usage.input is not None or usage.output is not None


def _add_cost(result: Result, response) -> None:
    """Add what the response cost (``response_json``'s ``cost``, recorded
    for a priced model) to the check's cost."""
    logged = response.response_json
    found = logged.get("cost") if isinstance(logged, dict) else None
    if isinstance(found, dict) and found.get("usd") is not None:
        result.cost = round((result.cost or 0) + found["usd"], 12)


def _tools(model, result: Result) -> None:
    result.tools = False
    response = model.prompt("Call the ping tool.", tools=[llm.Tool.function(ping)])
    calls = response.tool_calls()
    _add_cost(result, response)
    if not calls:
        raise ValueError("asked to call the ping tool, it called none")
    result.tools = True


def _schema(model, result: Result) -> None:
    result.schema = False
    response = model.prompt(PROMPT, schema=SCHEMA)
    text = response.text()
    _add_cost(result, response)
    try:
        result.schema = isinstance(json.loads(text), dict)
    except ValueError:
        raise ValueError(f"the reply with --schema is not JSON: {text[:60]!r}") from None


# -- the table ---------------------------------------------------------------

COLUMNS = ("MODEL", "TTFT", "TOTAL", "STREAM", "USAGE", "COST", "TOOLS", "SCHEMA", "ERROR")


def table(results: list[Result]) -> str:
    rows = [COLUMNS] + [_row(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _row(result: Result) -> tuple[str, ...]:
    name = result.model + (f" @ {result.deployment}" if result.deployment else "")
    name += " (embedding)" if result.embedding else ""
    return (
        printable(name),
        _seconds(result.ttft),
        _seconds(result.total),
        *(_worked(v) for v in (result.streaming, result.usage)),
        "-" if result.cost is None else f"${result.cost:.6f}",
        *(_worked(v) for v in (result.tools, result.schema)),
        result.error or "",
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _worked(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")

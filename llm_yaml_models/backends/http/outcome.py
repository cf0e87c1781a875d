"""What a reply said besides its text, and the error for a reply we cannot use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ...errors import WireError

MAX_COUNT = 2**63 - 1  # the largest integer SQLite holds: logs.db's token columns


@dataclass
class Outcome:
    """What a reply said besides its text."""

    id: str | None = None
    model: str | None = None
    finish_reason: str | None = None
    usage: dict = field(default_factory=dict)  # input, output, details
    tool_calls: dict = field(default_factory=dict)  # index -> {id, name, arguments}

    def log(self) -> dict:
        out = {"id": self.id, "model": self.model, "finish_reason": self.finish_reason}
        usage = {k: v for k, v in self.usage.items() if v is not None}
        if usage:
            out["usage"] = usage
        return {k: v for k, v in out.items() if v is not None}

    def drop_bad_counts(self) -> list[str]:
        """Remove token counts that are not non-negative integers SQLite can
        hold (a string, a float, 10**30); returns how each one read."""
        dropped = []
        for part in ("input", "output"):
            value = self.usage.get(part)
            if value is not None and not (type(value) is int and 0 <= value <= MAX_COUNT):
                shown = repr(value)
                dropped.append(f"{part} {shown[:40]}{'...' if len(shown) > 40 else ''}")
                del self.usage[part]
        return dropped


_COUNTED = {"prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens"}


def simplified(details: Any) -> Any:
    """Usage details without the counts already reported, zeros or nulls."""
    if not isinstance(details, dict):
        return details
    out = {}
    for key, value in details.items():
        if key in _COUNTED or value in (None, 0, {}, []):
            continue
        value = simplified(value)
        if value not in ({}, None):
            out[key] = value
    return out or None


def tool_arguments(text: str) -> dict:
    """A tool call's arguments as the dict llm passes on; anything else is kept raw."""
    try:
        arguments = json.loads(text or "{}")
    except (ValueError, RecursionError):
        arguments = None
    return arguments if isinstance(arguments, dict) else {"_raw": text}


def tool_call_deltas(outcome: Outcome, deltas: Any, where: str) -> list[dict]:
    """Fold OpenAI-style tool-call fragments into ``outcome``; returns the
    calls whose name came in these fragments, in order.

    Arguments arrive in pieces; the id and the name come whole, in the first
    fragment that has them (some servers repeat them in every fragment)."""
    if deltas is None:
        return []
    if not isinstance(deltas, list):
        raise WireError(f"tool calls in the reply from {where} are not a list")
    named = []
    for delta in deltas:
        index, call_id, name, arguments = _tool_call(delta, len(outcome.tool_calls), where)
        slot = outcome.tool_calls.setdefault(index, {"id": None, "name": "", "arguments": Pieces()})
        slot["id"] = slot["id"] or call_id
        if name and not slot["name"]:
            slot["name"] = name
            named.append(slot)
        slot["arguments"].add(arguments)
    return named


def _tool_call(delta: Any, next_index: int, where: str) -> tuple:
    """(index, id, name, arguments) of one tool-call fragment, checked."""
    function = delta.get("function") if isinstance(delta, dict) else None
    if not isinstance(delta, dict) or not isinstance(function, dict | None):
        raise WireError(f"a tool call in the reply from {where} is not an object")
    function = function or {}
    arguments = function.get("arguments")
    if isinstance(arguments, dict):  # some servers send the object itself
        arguments = json.dumps(arguments)
    fields = {
        "index": delta.get("index", next_index),
        "id": delta.get("id"),
        "function.name": function.get("name"),
        "function.arguments": arguments,
    }
    for name, value in fields.items():
        kind = int if name == "index" else str
        if value is not None and type(value) is not kind:
            what = "an integer" if kind is int else "a string"
            raise WireError(f"a tool call in the reply from {where}: {name} is not {what}")
    return fields["index"], fields["id"], fields["function.name"] or "", arguments or ""


class Pieces:
    """Text that arrives in pieces (a tool call's arguments, delta by
    delta), joined once, when it is read: ``+=`` on a str copies all of it
    each time, so 12 MB of deltas took minutes."""

    __slots__ = ("_pieces",)

    def __init__(self, text: str = ""):
        self._pieces = [text] if text else []

    def add(self, piece: str) -> None:
        if piece:
            self._pieces.append(piece)

    def __str__(self) -> str:
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""


MESSAGE_SIZE = 200  # characters of a server's text an error message quotes


def cut(text: str, hide=str) -> str:
    """A server's text, for an error message: its start, secrets starred
    first (``hide``), so that a cut secret cannot show."""
    return hide(text)[:MESSAGE_SIZE]


def streamed_arguments(text: str) -> Any:
    """A streamed tool call's input, once whole: ``{}`` where none came,
    None where it is not JSON (the family says whose, and where)."""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None

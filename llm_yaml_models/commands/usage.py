"""``llm yaml-models usage``: prompts, tokens and cost per model, from llm's
``logs.db``.

The database is opened read-only (an SQLite ``mode=ro`` URI): reading the
log never changes it, nor waits long on llm writing to it. Every logged
prompt counts, whichever plugin's model answered; one whose
``response_json`` holds no numeric ``cost.usd`` (an unpriced model,
another plugin's, a server that reported no usage) counts as unpriced.
llm 0.36 logs to ``turns``; what older versions logged is only in
``responses``, and counts too.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import sqlite3
from pathlib import Path
from typing import NamedTuple

import click

from ..errors import printable

LOCK_WAIT = 2.0  # seconds to wait for llm to finish writing before giving up

SINCE = re.compile(r"(\d{1,9})([mhdw])")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}

# The cost of a logged prompt, where it is a number (condensed or not,
# llm keeps response_json's numbers as they were).
_USD = (
    "CASE WHEN json_valid(response_json) AND json_type(response_json, '$.cost.usd')"
    " IN ('integer', 'real') THEN json_extract(response_json, '$.cost.usd') END"
)


class Row(NamedTuple):
    """One model's prompts, or the total of them all (``model`` None)."""

    model: str | None
    prompts: int
    input_tokens: int
    output_tokens: int
    usd: float | None  # None: no prompt of it had a cost
    unpriced: int  # prompts with no cost

    def to_json(self) -> dict:
        return self._asdict()


def cutoff(since: str, now: datetime.datetime) -> str:
    """The moment ``since`` (``7d``: a number and m, h, d or w) before ``now``, in ISO 8601."""
    found = SINCE.fullmatch(since.strip())
    if found is None:
        raise _failure(f"--since takes a number and a unit (m, h, d or w), as in 7d: not {since!r}")
    seconds = int(found[1]) * UNIT_SECONDS[found[2]]
    try:
        return (now - datetime.timedelta(seconds=seconds)).isoformat()
    except OverflowError:  # before the year 1: every prompt ever logged
        return datetime.datetime.min.replace(tzinfo=datetime.timezone.utc).isoformat()


def read(path: Path, since: str | None = None, models: tuple[str, ...] = ()) -> list[Row]:
    """One Row per model that prompts were logged for (after ``since``, an
    ISO time; of ``models``, if any), in the order of their ids."""
    if not path.is_file():
        raise _failure(f"no logs database at {path}")
    try:
        with _connected(path) as db:
            return [_row(*r) for r in db.execute(*_query(db, since, models)).fetchall()]
    except sqlite3.Error as exc:
        raise _failure(f"cannot read {path}: {exc}") from None


def _failure(message: str) -> click.ClickException:
    """One line, exit 1: a path or a value may hold anything."""
    return click.ClickException(printable(message))


def _connected(path: Path) -> contextlib.closing:
    """``path`` opened read-only, closed when the ``with`` ends."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    return contextlib.closing(sqlite3.connect(uri, uri=True, timeout=LOCK_WAIT))


def _row(model, prompts, input_tokens, output_tokens, usd, unpriced) -> Row:
    usd = None if usd is None else round(usd, 12)  # a sum of floats: 0.1 + 0.2
    return Row(model, prompts, input_tokens, output_tokens, usd, unpriced)


def _query(db: sqlite3.Connection, since: str | None, models: tuple[str, ...]) -> tuple:
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    calls = []
    if "turns" in tables:
        calls.append(_calls(db, "turns"))
    if "responses" in tables:
        older = " WHERE id NOT IN (SELECT id FROM turns)" if "turns" in tables else ""
        calls.append(_calls(db, "responses") + older)
    if not calls:
        return "SELECT NULL, 0, 0, 0, NULL, 0 WHERE 0", ()
    where, params = _filters(since, models)
    sql = (
        f"WITH calls AS ({' UNION ALL '.join(calls)}) "
        "SELECT coalesce(model, '(none)'), count(*), coalesce(sum(input_tokens), 0), "
        "coalesce(sum(output_tokens), 0), sum(usd), count(*) - count(usd) "
        f"FROM calls {where} GROUP BY model ORDER BY model"
    )
    return sql, params


def _calls(db: sqlite3.Connection, table: str) -> str:
    """What a prompt logged in ``table`` says; a column an older llm did not have is null."""
    columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    wanted = ("model", "input_tokens", "output_tokens", "datetime_utc")
    picked = [name if name in columns else f"NULL AS {name}" for name in wanted]
    usd = _USD if "response_json" in columns else "NULL"
    return f"SELECT {', '.join(picked)}, {usd} AS usd FROM {table}"


def _filters(since: str | None, models: tuple[str, ...]) -> tuple[str, list]:
    # julianday reads llm's ISO times and older versions' "YYYY-MM-DD HH:MM:SS" alike
    clauses, params = [], []
    if since is not None:
        clauses.append("julianday(datetime_utc) >= julianday(?)")
        params.append(since)
    if models:
        clauses.append(f"model IN ({', '.join('?' for _ in models)})")
        params += models
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def total(rows: list[Row]) -> Row:
    priced = [r.usd for r in rows if r.usd is not None]
    return Row(
        None,
        sum(r.prompts for r in rows),
        sum(r.input_tokens for r in rows),
        sum(r.output_tokens for r in rows),
        round(sum(priced), 12) if priced else None,
        sum(r.unpriced for r in rows),
    )


# -- the table -----------------------------------------------------------------

COLUMNS = ("MODEL", "PROMPTS", "INPUT", "OUTPUT", "COST", "UNPRICED")


def table(rows: list[Row], shown=str) -> str:
    """The rows and their total, in columns; ``shown`` makes a model id
    safe to print (another plugin's may hold anything)."""
    lines = [COLUMNS] + [_cells(r, shown) for r in [*rows, total(rows)]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    out = []
    for line in lines:
        first = line[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True))
        out.append("  ".join([first, *rest]))
    return "\n".join(out) + "\n"


def _cells(row: Row, shown) -> tuple[str, ...]:
    return (
        "TOTAL" if row.model is None else shown(row.model),
        str(row.prompts),
        str(row.input_tokens),
        str(row.output_tokens),
        "-" if row.usd is None else f"${row.usd:.6f}",
        str(row.unpriced),
    )

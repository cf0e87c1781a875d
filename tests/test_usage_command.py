"""``llm yaml-models usage`` (issue 23): prompts, tokens and cost per model,
read from a real logs.db that ``llm`` wrote (run in process against a
loopback server), holding other plugins' prompts and older llm's too."""

from __future__ import annotations

import datetime
import json
import sqlite3

import llm
import pytest
import sqlite_utils
import yaml
from fakeapi import openai_chunk, sse_pieces

from llm_yaml_models.commands import usage

USAGE = {
    "prompt_tokens": 1000,
    "prompt_tokens_details": {"cached_tokens": 400},
    "completion_tokens": 500,
    "total_tokens": 1500,
}
# 600 input at $3 + 400 cached at $0.30 + 500 output at $15 per million
USD = 0.00942


class OtherPluginModel(llm.Model):
    """A model of another plugin: its response_json is its own business."""

    model_id = "other-model"

    def execute(self, prompt, stream, response, conversation):
        response.set_usage(input=7, output=3)
        response.response_json = {"usage": {"cost": 9.99}, "id": "x"}
        yield "hello"


@pytest.fixture
def logs(fake_api, write, run_llm, user_dir):
    """logs.db with three prompts to ``priced``, one to ``free`` (no
    pricing), one to another plugin's model, and one logged by an older
    llm (in ``responses`` only) two years ago."""
    backend = {"type": "http", "preset": "openai-chat", "base_url": fake_api.url, "retries": 0}
    write(
        "m.yaml",
        yaml.safe_dump(
            [
                {
                    "model_id": "priced",
                    "aliases": ["p"],
                    "backend": backend,
                    "pricing": {"input": 3, "output": 15, "cached_input": 0.3},
                },
                {"model_id": "free", "backend": backend},
            ]
        ),
    )
    for args in (["-m", "priced"], ["-m", "p", "--no-stream"], ["-m", "free"], ["-m", "p"]):
        fake_api.queue(*reply("--no-stream" not in args))
        assert run_llm(*args, "hi").exit_code == 0
    path = user_dir / "logs.db"
    other = OtherPluginModel().prompt("hi")
    other.text()
    with sqlite_utils.Database(path) as db:
        other.log_to_db(db)
        db["responses"].insert(
            {
                "id": "old-1",
                "model": "priced",
                "prompt": "hi",
                "response": "Hi",
                "response_json": json.dumps({"cost": {"usd": 1.5}}),
                "datetime_utc": "2024-12-01 10:00:00.000000",  # an older llm's format
                "input_tokens": 10,
                "output_tokens": 20,
            }
        )
    return path


def reply(stream: bool) -> tuple[list[bytes], str]:
    """A Chat Completions reply with usage, streamed (llm's CLI streams by
    default) or whole (``--no-stream``): ``queue(*reply(stream))``."""
    if not stream:
        choice = {"message": {"content": "Hi"}, "finish_reason": "stop"}
        whole = {"model": "gpt", "choices": [choice], "usage": USAGE}
        return [json.dumps(whole).encode()], "application/json"
    events = sse_pieces(
        openai_chunk({"role": "assistant", "content": "Hi"}),
        openai_chunk(finish="stop"),
        {**openai_chunk(), "choices": [], "usage": USAGE},
        "[DONE]",
    )
    return events, "text/event-stream"


def _json(run_llm, *args) -> dict:
    result = run_llm("yaml-models", "usage", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_the_table_has_a_row_per_model_and_a_total(logs, run_llm):
    result = run_llm("yaml-models", "usage")
    assert result.exit_code == 0
    assert result.output == (
        "MODEL        PROMPTS  INPUT  OUTPUT       COST  UNPRICED\n"
        "free               1   1000     500          -         1\n"
        "other-model        1      7       3          -         1\n"
        "priced             4   3010    1520  $1.528260         0\n"
        "TOTAL              6   4017    2023  $1.528260         2\n"
    )


def test_json_gives_the_same_figures(logs, run_llm):
    assert _json(run_llm) == {
        "models": [
            {"model": "free", "prompts": 1, "input_tokens": 1000, "output_tokens": 500,
             "usd": None, "unpriced": 1},
            {"model": "other-model", "prompts": 1, "input_tokens": 7, "output_tokens": 3,
             "usd": None, "unpriced": 1},
            {"model": "priced", "prompts": 4, "input_tokens": 3010, "output_tokens": 1520,
             "usd": round(1.5 + 3 * USD, 12), "unpriced": 0},
        ],
        "total": {"model": None, "prompts": 6, "input_tokens": 4017, "output_tokens": 2023,
                  "usd": round(1.5 + 3 * USD, 12), "unpriced": 2},
    }  # fmt: skip


def test_since_leaves_out_older_prompts(logs, run_llm):
    rows = _json(run_llm, "--since", "7d")["models"]
    assert [(r["model"], r["prompts"], r["usd"]) for r in rows] == [
        ("free", 1, None),
        ("other-model", 1, None),
        ("priced", 3, round(3 * USD, 12)),
    ]


@pytest.mark.parametrize("since", ["30m", "1h", "2d", "1w"])
def test_every_unit_of_since(logs, run_llm, since):
    assert _json(run_llm, "--since", since)["total"]["prompts"] == 5


def test_model_is_repeatable_and_takes_an_alias(logs, run_llm):
    rows = _json(run_llm, "-m", "p", "--model", "other-model")["models"]
    assert [r["model"] for r in rows] == ["other-model", "priced"]


def test_a_model_llm_no_longer_knows_is_still_counted(logs, run_llm, models_dir):
    (models_dir / "m.yaml").unlink()
    assert _json(run_llm, "-m", "priced")["total"]["prompts"] == 4


def test_a_logs_db_with_no_prompts(run_llm):
    result = run_llm("yaml-models", "usage")
    assert result.output == (
        "MODEL  PROMPTS  INPUT  OUTPUT  COST  UNPRICED\n"
        "TOTAL        0      0       0     -         0\n"
    )


def test_the_database_is_only_read(logs, run_llm):
    before = logs.read_bytes()
    assert run_llm("yaml-models", "usage").exit_code == 0
    assert logs.read_bytes() == before
    assert sorted(p.name for p in logs.parent.iterdir() if p.name.startswith("logs.db")) == [
        "logs.db"
    ]


def test_a_missing_logs_db_is_one_line(run_llm, user_dir):
    (user_dir / "logs.db").unlink()
    result = run_llm("yaml-models", "usage")
    assert result.exit_code == 1
    assert result.output == f"Error: no logs database at {user_dir / 'logs.db'}\n"
    assert not (user_dir / "logs.db").exists()  # not made by asking


def test_a_locked_logs_db_is_one_line(logs, run_llm, monkeypatch):
    monkeypatch.setattr(usage, "LOCK_WAIT", 0.05)
    writer = sqlite3.connect(logs, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        result = run_llm("yaml-models", "usage")
    finally:
        writer.close()
    assert result.exit_code == 1
    assert result.output == f"Error: cannot read {logs}: database is locked\n"


def test_a_file_that_is_no_database_is_one_line(run_llm, tmp_path):
    path = tmp_path / "notes\x1b.db"
    path.write_text("not a database " * 100)
    result = run_llm("yaml-models", "usage", "-d", str(path))
    assert result.exit_code == 1
    shown = str(tmp_path / "notes\\x1b.db")
    assert result.output == f"Error: cannot read {shown}: file is not a database\n"


def test_database_names_another_logs_db(logs, run_llm, tmp_path, user_dir):
    moved = logs.rename(tmp_path / "elsewhere.db")
    assert _json(run_llm, "--database", str(moved))["total"]["prompts"] == 6


@pytest.mark.parametrize("since", ["7", "d", "7x", "-7d", "7 days", ""])
def test_a_bad_since_is_one_line(logs, run_llm, since):
    result = run_llm("yaml-models", "usage", "--since", since)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: --since takes a number and a unit (m, h, d or w), as in 7d: not {since!r}\n"
    )


def test_a_since_before_the_year_one_is_every_prompt():
    now = datetime.datetime(2026, 12, 7, tzinfo=datetime.timezone.utc)
    assert usage.cutoff("999999999w", now) == "0001-01-01T00:00:00+00:00"
    assert usage.cutoff("90m", now) == "2026-12-06T22:30:00+00:00"


def test_other_plugins_cost_keys_that_are_not_numbers_are_unpriced(tmp_path, run_llm):
    path = tmp_path / "logs.db"
    with sqlite_utils.Database(path) as db:
        rows = [
            {"id": "1", "model": "a", "response_json": '{"cost": {"usd": "1.5"}}'},
            {"id": "2", "model": "a", "response_json": '{"cost": 2}'},
            {"id": "3", "model": "a", "response_json": "not json"},
            {"id": "4", "model": None, "response_json": '{"cost": {"usd": 0.25}}'},
        ]
        db["turns"].insert_all(rows)
    assert _json(run_llm, "-d", str(path))["models"] == [
        {"model": "(none)", "prompts": 1, "input_tokens": 0, "output_tokens": 0,
         "usd": 0.25, "unpriced": 0},
        {"model": "a", "prompts": 3, "input_tokens": 0, "output_tokens": 0,
         "usd": None, "unpriced": 3},
    ]  # fmt: skip


def test_a_model_id_is_printed_safely(tmp_path, run_llm):
    path = tmp_path / "logs.db"
    with sqlite_utils.Database(path) as db:
        db["responses"].insert({"id": "1", "model": "evil\x1b[2J\nmodel", "input_tokens": 1})
    output = run_llm("yaml-models", "usage", "-d", str(path)).output
    assert output.splitlines()[1].startswith("evil\\x1b[2J\\nmodel  ")

"""``llm yaml-models presets`` and ``llm yaml-models add PROVIDER``.

``presets`` says what each preset brings; ``add`` writes a provider's
discovery template into the user directory, never over a file, checks it
as ``validate`` would, and fetches its list once, saying what it registered
or the one reason it registered nothing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from ..errors import printable

# The groups of presets, in the order ``presets`` lists them. A provider
# preset names its group (``about: {group: ...}``); the rest are families.
GROUPS = ("hosted", "local", "gateway", "family", "embedding")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def describe(name: str) -> dict:
    """What the preset ``name`` brings, as ``presets --json`` shows it."""
    from ..backends.http.config import family, preset

    data = preset(name)
    about = data.get("about", {})
    brought = data.get("declaration", {})
    key = brought.get("key") or {}
    embedding = "vectors" in (data.get("response") or {})
    return {
        "name": name,
        "group": about.get("group", "embedding" if embedding else "family"),
        "title": about.get("title"),
        "family": family(name),
        "base_url": data.get("base_url"),
        "key": key.get("name"),
        "env": key.get("env"),
        "discover": _listing(brought.get("discover")),
        "reference": about.get("reference"),
    }


def _listing(discover: dict | None) -> str | None:
    """A preset's discovery source in a few words: its source, or its list's URL."""
    if not discover:
        return None
    return discover.get("source") or f"{discover.get('url')} ({discover.get('ids')})"


def described() -> list[dict]:
    """Every preset, described, grouped as GROUPS orders them."""
    from ..backends.http.config import preset_names

    rows = [describe(name) for name in preset_names()]
    return sorted(rows, key=lambda row: (GROUPS.index(row["group"]), row["name"]))


@click.command()
@click.option("json_", "--json", is_flag=True, help="Output as JSON")
def presets(json_: bool) -> None:
    """List the presets: what each brings (family, base URL, key and its
    environment variable, discovery source) and the key each needs."""
    rows = described()
    if json_:
        click.echo(json.dumps(rows, indent=2))
        return
    table = [("PRESET", "GROUP", "FAMILY", "BASE URL", "KEY (llm keys set NAME, or ENV)", "LIST")]
    table += [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, line[-1]]).rstrip())


def _cells(row: dict) -> tuple[str, ...]:
    key = f"{row['key']} ({row['env']})" if row["env"] else row["key"]
    return (
        row["name"],
        row["group"],
        row["family"],
        row["base_url"] or "-",
        key or "-",
        row["discover"] or "-",
    )


# -- add -------------------------------------------------------------------------


@click.command()
@click.argument("provider")
@click.option("--base-url", help="Where the server is, in place of the preset's address")
@click.option("--prefix", help="Put before each listed id to make the model id (default: NAME/)")
@click.option("--name", help="The template's name and the file's (default: PROVIDER)")
def add(provider: str, base_url: str | None, prefix: str | None, name: str | None) -> None:
    """Write <llm user dir>/yaml-models/PROVIDER.yaml, a template that
    registers every model the provider lists, then fetch that list once
    and print the models it registered (or why none were). Never
    overwrites a file; see `llm yaml-models presets` for the providers."""
    import llm

    row = _provider(provider)
    name = name or provider
    if not _FILE_NAME.fullmatch(name):
        raise click.ClickException(
            f"--name {name!r} is not a file name: letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    text = template_text(row, name, f"{name}/" if prefix is None else prefix, base_url)
    path = Path(llm.user_dir()) / "yaml-models" / f"{name}.yaml"
    _check_text(path, text)
    _write_new(path, text)
    click.echo(printable(f"wrote {path}"))
    _register(path, name)


def _provider(name: str) -> dict:
    """The description of the provider preset ``name``; one line if it is none."""
    from ..backends.http.config import preset_names

    providers = [row for row in described() if row["group"] in ("hosted", "local", "gateway")]
    found = next((row for row in providers if row["name"] == name), None)
    if found is None:
        what = "a family preset, not a provider" if name in preset_names() else "no provider"
        known = ", ".join(row["name"] for row in providers if row["discover"])
        raise click.ClickException(printable(f"'{name}' is {what}; providers: {known}"))
    if not found["discover"]:
        raise click.ClickException(
            f"{name} publishes no list of models to discover: declare each model with "
            f"`backend: {{type: http, preset: {name}, model_name: NAME}}` (docs/providers.md)"
        )
    return found


def template_text(row: dict, name: str, prefix: str, base_url: str | None) -> str:
    """The model file ``add`` writes: one template, each line commented.
    Values are written as JSON strings, which YAML reads as they are."""
    key = (
        f"#   key: llm keys set {row['key']}, or set {row['env']}\n"
        if row["key"]
        else "#   key: none (a server that wants one: add `key: {name: NAME}`)\n"
    )
    where = (
        f"    base_url: {json.dumps(base_url)}   # where the server is, not the preset's\n"
        if base_url
        else f"    # base_url: {row['base_url']} (the preset's; write your own here)\n"
    )
    return (
        f"# {row['title']}: every model it lists, registered as an llm model.\n"
        f"# Written by `llm yaml-models add {row['name']}`; see docs/providers.md.\n"
        f"# The {row['name']} preset brings (llm yaml-models presets):\n"
        f"#   the {row['family']} API family, its options and the provider's quirks\n"
        f"{key}"
        f"#   where the list of models is: {row['discover']}\n"
        f"- model_id: {json.dumps(name)}   # the template: llm yaml-models refresh {name}\n"
        f"  discover: {{prefix: {json.dumps(prefix)}}}   # model ids: the prefix, then each id\n"
        "  backend:\n"
        "    type: http\n"
        f"    preset: {row['name']}\n"
        f"{where}"
    )


def _check_text(path: Path, text: str) -> None:
    """One line, and nothing written, if ``validate`` would find fault with it."""
    from ..errors import ConfigError
    from ..loading.loader import check_document
    from ..loading.source import parse

    try:
        problems = check_document(parse(str(path), text), deep=True).problems
    except ConfigError as exc:
        problems = exc.problems
    if problems:
        problem = problems[0]
        where = f"{problem.path}: " if problem.path else ""
        raise click.ClickException(printable(f"not written: {where}{problem.message}"))


def _write_new(path: Path, text: str) -> None:
    """Write ``path``, which must not exist (never overwritten)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise click.ClickException(
            f"{path} exists; add never overwrites a file (choose another --name)"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def _register(path: Path, name: str) -> None:
    """Fetch the new template's list, and say what it registered, or why nothing."""
    from .. import registry
    from ..discovery import discovered as discovery

    loaded = registry.load([str(path)], use_cache=False)
    if not loaded.entries:  # the directory is one others could change: refused
        raise click.ClickException(str(loaded.problems[0]))
    template = loaded.entries[0]
    missing = _missing_key(template.declaration.key)
    if missing:
        raise click.ClickException(f"{name}: {missing}, then `llm yaml-models refresh {name}`")
    try:
        url, _, listed, notes = discovery.refetch(template)
    except Exception as exc:  # noqa: BLE001 - one line, as refresh says it
        raise click.ClickException(printable(f"{name}: {discovery.failure(exc)}")) from None
    for note in notes:
        click.echo(printable(f"{name}: warning: {note}"), err=True)
    models = [entry.model_id for entry in discovery.of_list(template, listed)]
    if not models:
        raise click.ClickException(
            printable(f"{name}: no models registered: the list from {url} has none")
        )
    click.echo(printable(f"{name}: {len(models)} model{'s' * (len(models) != 1)} from {url}:"))
    for model in models:
        click.echo(printable(f"  {model}"))


def _missing_key(spec) -> str | None:
    """How to give the key the template needs, if none is set."""
    import llm

    if spec is None or llm.get_key(alias=spec.name, env=spec.env):
        return None
    env = f" or set {spec.env}" if spec.env else ""
    return f"no key: run `llm keys set {spec.name}`{env}"

"""``llm yaml-models ...``: path, validate, list, show, request, schema."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click
import llm

from . import registry
from .entries import Named
from .paths import files_in, places


@contextlib.contextmanager
def _own_hook_off():
    """Ask llm for every other plugin's models, without ours."""
    registry._state["disabled"] = True
    try:
        yield
    finally:
        registry._state["disabled"] = False


def _other_models() -> list:
    with _own_hook_off():
        return llm.get_models_with_aliases()


def _check(files: list[str] | None, deep: bool = False) -> tuple[registry.Loaded, set[int], list]:
    loaded = registry.load(files, use_cache=False, deep=deep)
    clashing, problems = registry.collisions(loaded, _other_models())
    return loaded, clashing, loaded.problems + problems


@click.group(name="yaml-models")
def yaml_models():
    """Models declared in YAML files (llm-yaml-models)."""
    registry._state["quiet"] = True


@yaml_models.command(name="path")
def path_command():
    """Print each place searched for model files, and whether it exists."""
    for place in places():
        state = "exists" if place.exists else "missing"
        click.echo(f"{place.path}\t{state}\t({place.origin})")


@yaml_models.command()
@click.argument("paths", nargs=-1, type=click.Path(readable=False))  # reported, located
def validate(paths):
    """Check model files: PATHS, or everything on the search path.

    Prints every problem as FILE:LINE:COL: PATH: MESSAGE and exits 1 if
    there is any.
    """
    files = [str(f) for p in paths for f in (files_in(Path(p)) or [Path(p)])] if paths else None
    loaded, clashing, problems = _check(files, deep=True)
    for warning in loaded.warnings:
        click.echo(str(warning), err=True)
    for problem in problems:
        click.echo(str(problem))
    count = len(loaded.entries) - len(clashing)
    summary = f"{_plural(count, 'model')} in {_plural(len(loaded.files), 'file')}"
    if problems:
        raise click.ClickException(f"{_plural(len(problems), 'problem')} ({summary} usable)")
    click.echo(f"OK: {summary}, no problems")


@yaml_models.command(name="list")
@click.option("json_", "--json", is_flag=True, help="Output as JSON")
def list_command(json_):
    """Each declared model: aliases, backend, source, and whether it loaded."""
    loaded, clashing, problems = _check(None)
    found = []  # (file, line, what it names, error or None)
    for i, entry in enumerate(loaded.entries):
        named = Named(entry.model_id, entry.aliases, entry.backend_type)
        error = "name already registered" if i in clashing else None
        found.append((entry.file, entry.line, named, error))
    found += loaded.rejected
    order = {file: n for n, file in enumerate(loaded.files)}
    found.sort(key=lambda row: (order.get(row[0], len(order)), row[1]))
    rows = [
        {
            "model_id": named.model_id,
            "aliases": list(named.aliases),
            "backend": named.backend,
            "source": f"{file}:{line}",
            "loaded": error is None,
            "status": "loaded" if error is None else f"error: {error}",
        }
        for file, line, named, error in found
    ]
    if json_:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        name = row["model_id"] or "?"
        aliases = f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
        backend = f" [{row['backend']}]" if row["backend"] else ""
        click.echo(f"{name}{aliases}{backend} {row['source']}: {row['status']}")


@yaml_models.command()
@click.argument("model")
def show(model):
    """The declaration of MODEL after merging defaults, with where each value came from."""
    from .show import render

    loaded = registry.load(use_cache=False)
    for entry in loaded.entries:
        if model == entry.model_id or model in entry.aliases:
            click.echo(render(entry), nl=False)
            return
    raise click.ClickException(f"no declared model '{model}'; see 'llm yaml-models list'")


@yaml_models.command()
@click.argument("model_id")
@click.argument("prompt")
@click.option("-s", "--system", help="System prompt")
@click.option("options", "-o", "--option", type=(str, str), multiple=True, help="key/value options")
@click.option("--no-stream", is_flag=True, help="The request --no-stream would send")
def request(model_id, prompt, system, options, no_stream):
    """Print the HTTP request MODEL_ID would send for PROMPT, without sending it.

    Secrets are redacted: the key, and headers such as Authorization.
    """
    import pydantic

    from .backends.base import hide_secret
    from .backends.http_wire import KEY_MARK, redacted

    try:
        model = llm.get_model(model_id)
    except llm.UnknownModelError as exc:
        raise click.ClickException(str(exc)) from None
    if getattr(model, "entry", None) is None or model.entry.backend_type != "http":
        raise click.ClickException(f"{model_id} is not a model declared with backend type http")
    try:
        response = model.prompt(prompt, system=system, stream=not no_stream, **dict(options))
    except pydantic.ValidationError as exc:
        details = "\n".join(f"{', '.join(map(str, e['loc']))}\n  {e['msg']}" for e in exc.errors())
        raise click.ClickException(details) from None
    key = KEY_MARK if model.needs_key else None
    request = model.request(response.prompt, response.stream and model.can_stream, key)
    shown = redacted(model.backend.call(request))
    query = "&".join(f"{k}={v}" for k, v in shown["params"].items())
    lines = [f"{shown['method']} {shown['url']}{'?' + query if query else ''}"]
    lines += [f"{name}: {value}" for name, value in shown["headers"].items()]
    if shown["body"] is not None:
        lines += [
            "Content-Type: application/json\n",
            json.dumps(shown["body"], indent=2, ensure_ascii=False),
        ]
    click.echo(hide_secret("\n".join(lines), _real_key(model)))


def _real_key(model) -> str | None:
    """The key itself, which a template may also reach (``{{ env.VAR }}``
    naming the key's own variable): the placeholder alone hides no copy."""
    if not model.needs_key:
        return None
    try:
        return model.get_key()
    except llm.NeedsKeyException:
        return None


@yaml_models.command()
def schema():
    """Print the JSON Schema of a model file."""
    from .schema import schema_text

    sys.stdout.write(schema_text())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"

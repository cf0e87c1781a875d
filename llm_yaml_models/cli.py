"""``llm yaml-models ...``: path, validate, list, show, request, schema."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

import click
import llm

from . import registry
from .entries import Named
from .errors import Problem, printable
from .paths import discover, files_in, places


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


def _other_embedding_models() -> list:
    with _own_hook_off():
        return llm.get_embedding_models_with_aliases()


class Found(NamedTuple):
    """One declaration, as ``list`` and ``show`` see it."""

    file: str
    line: int
    named: Named
    error: str | None  # why it did not load; None if it did
    problems: list[Problem]  # what stopped it, where the name check knows


class Checked(NamedTuple):
    files: list[str]  # the files checked
    found: list[Found]  # every declaration in them, in file order
    problems: list[Problem]  # every problem in them, in file order
    warnings: list[Problem]


def _check(paths: tuple[str, ...] = (), deep: bool = False) -> Checked:
    """Load the files ``paths`` name (default: the search path), checked
    against each other and against the other files on the search path, in
    the order llm would see them: files not on the search path come last."""
    given = _files(paths) if paths else discover()
    everything = _arranged(given) if paths else given
    mine = set(given)
    context = [f for f in everything if f not in mine]
    loaded = registry.load(given, use_cache=False, deep=deep)
    if context:  # only for their names: their code is not imported
        loaded = _in_order(everything, loaded, registry.load(context, use_cache=False))
    embedding = _other_embedding_models() if _any_embedding(loaded) else []
    refused = registry.settle(loaded, _other_models(), embedding)
    found = [
        Found(
            e.file,
            e.line,
            Named(e.model_id, e.aliases, e.backend_type, e.kind),
            *refused.get(i, _OK),
        )
        for i, e in enumerate(loaded.entries)
    ]
    found += [Found(file, line, named, why, []) for file, line, named, why in loaded.rejected]
    problems = loaded.problems + [p for _, refusal in refused.values() for p in refusal]
    order = {file: n for n, file in enumerate(everything)}
    return Checked(
        given,
        sorted((f for f in found if f.file in mine), key=lambda f: (order[f.file], f.line)),
        sorted(
            (p for p in problems if p.file in mine), key=lambda p: (order[p.file], p.line, p.col)
        ),
        [w for w in loaded.warnings if w.file in mine],
    )


_OK = (None, [])


def _any_embedding(loaded: registry.Loaded) -> bool:
    return any(e.kind == "embedding" for e in loaded.entries)


def _files(paths: tuple[str, ...]) -> list[str]:
    """The files the paths given name, each once (a directory's model
    files; a path that is not there is reported when it is loaded)."""
    seen, out = set(), []
    for path in paths:
        for file in files_in(Path(path)) if Path(path).is_dir() else [Path(path)]:
            real = os.path.realpath(file)
            if real not in seen:
                seen.add(real)
                out.append(str(file))
    return out


def _arranged(given: list[str]) -> list[str]:
    """``given`` among the files on the search path, as spelt in ``given``,
    in search order; those not on the search path last."""
    spelt = {os.path.realpath(f): f for f in given}
    out = [spelt.pop(os.path.realpath(f), f) for f in discover()]
    return out + [f for f in given if os.path.realpath(f) in spelt]


def _in_order(files: list[str], *parts: registry.Loaded) -> registry.Loaded:
    """One Loaded from several, in the order of ``files``."""
    order = {file: n for n, file in enumerate(files)}
    out = registry.Loaded(files)
    for part in parts:
        out.entries += part.entries
        out.problems += part.problems
        out.rejected += part.rejected
        out.warnings += part.warnings
    out.entries.sort(key=lambda e: order[e.file])
    return out


def _empty_directories(paths: tuple[str, ...]) -> list[Problem]:
    return [
        Problem(path, 1, 1, "", "no model files (*.yaml or *.yml) in this directory")
        for path in dict.fromkeys(paths)
        if Path(path).is_dir() and not files_in(Path(path))
    ]


@click.group(name="yaml-models")
def yaml_models():
    """Models declared in YAML files (llm-yaml-models)."""
    registry._state["quiet"] = True


@yaml_models.command(name="path")
def path_command():
    """Print each place searched for model files, and whether it exists."""
    for place in places():
        state = "exists" if place.exists else "missing"
        click.echo(printable(f"{place.path}\t{state}\t({place.origin})"))


@yaml_models.command()
@click.argument("paths", nargs=-1, type=click.Path(readable=False))  # reported, located
def validate(paths):
    """Check model files: PATHS, or everything on the search path.

    PATHS are checked against the other files on the search path too, so
    that a name another file already holds shows before they are installed.
    Prints every problem as FILE:LINE:COL: PATH: MESSAGE and exits 1 if
    there is any.
    """
    checked = _check(paths, deep=True)
    for warning in checked.warnings:
        click.echo(str(warning), err=True)
    problems = _empty_directories(paths) + checked.problems
    for problem in problems:
        click.echo(str(problem))
    count = sum(f.error is None for f in checked.found)
    summary = f"{_plural(count, 'model')} in {_plural(len(checked.files), 'file')}"
    if problems:
        raise click.ClickException(f"{_plural(len(problems), 'problem')} ({summary} usable)")
    click.echo(f"OK: {summary}, no problems")


@yaml_models.command(name="list")
@click.option("json_", "--json", is_flag=True, help="Output as JSON")
def list_command(json_):
    """Each declared model: aliases, backend, source, and whether it loaded."""
    rows = [
        {
            "model_id": found.named.model_id,
            "aliases": list(found.named.aliases),
            "backend": found.named.backend,
            "kind": found.named.kind,
            "source": f"{found.file}:{found.line}",
            "loaded": found.error is None,
            "status": "loaded" if found.error is None else f"error: {found.error}",
        }
        for found in _check().found
    ]
    if json_:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        name = row["model_id"] or "?"
        aliases = f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
        kind = ", embedding" if row["kind"] == "embedding" else ""
        backend = f" [{row['backend'] or '?'}{kind}]" if row["backend"] or kind else ""
        click.echo(printable(f"{name}{aliases}{backend} {row['source']}: {row['status']}"))


@yaml_models.command()
@click.argument("model")
def show(model):
    """The declaration of MODEL after merging defaults, with where each value
    came from; every declaration of that name, loaded or not."""
    from .errors import ConfigError
    from .show import render

    checked = _check()
    matching = [f for f in checked.found if model in (f.named.model_id, *f.named.aliases)]
    if not matching:
        raise click.ClickException(
            printable(f"no declared model '{model}'; see 'llm yaml-models list'")
        )
    matching.sort(key=lambda f: f.error is not None)  # the one llm -m runs first
    texts = []
    for found in matching:
        try:
            texts.append(render(found, checked.problems))
        except (ConfigError, LookupError):  # the file changed under us
            raise click.ClickException(f"{printable(found.file)} changed; try again") from None
    click.echo("\n".join(texts), nl=False)


def _llm_cli():
    import llm.cli

    return llm.cli


class _Attachment(click.ParamType):
    """``-a``: llm's own attachment type, imported when used."""

    name = "attachment"

    def convert(self, value, param, ctx):
        return _llm_cli().AttachmentType().convert(value, param, ctx)


def _typed_attachments(ctx, param, values) -> list:
    return _llm_cli().attachment_types_callback(ctx, param, values)


@yaml_models.command()
@click.argument("model_id")
@click.argument("prompt")
@click.option("-s", "--system", help="System prompt")
@click.option(
    "attachments",
    "-a",
    "--attachment",
    type=_Attachment(),
    multiple=True,
    help="Attachment path or URL or -",
)
@click.option(
    "attachment_types",
    "--at",
    "--attachment-type",
    type=(str, str),
    multiple=True,
    callback=_typed_attachments,
    help="Attachment with explicit mimetype: --at image.jpg image/jpeg",
)
@click.option("options", "-o", "--option", type=(str, str), multiple=True, help="key/value options")
@click.option("tools", "-T", "--tool", multiple=True, help="Name of a tool to offer the model")
@click.option(
    "python_tools",
    "--functions",
    multiple=True,
    help="Python code block or file path defining functions to offer as tools",
)
@click.option("schema_input", "--schema", help="Schema DSL, JSON schema, filepath or ID")
@click.option(
    "_continue",
    "-c",
    "--continue",
    is_flag=True,
    flag_value=-1,
    help="Continue the most recent conversation.",
)
@click.option(
    "conversation_id",
    "--cid",
    "--conversation",
    help="Continue the conversation with the given ID.",
)
@click.option("--key", help="API key to use")
@click.option("--no-stream", is_flag=True, help="The request --no-stream would send")
def request(
    model_id,
    prompt,
    system,
    attachments,
    attachment_types,
    options,
    tools,
    python_tools,
    schema_input,
    _continue,
    conversation_id,
    key,
    no_stream,
):
    """Print the HTTP request MODEL_ID would send for PROMPT, without sending it.

    The options are those of `llm prompt`, resolved as it resolves them.
    The request is shown as sent (the headers the client adds, the body's
    bytes), with every secret starred: the key, credentials in headers,
    passwords in the URL, values read from the environment.
    """
    model = _http_model(model_id)
    conversation = _conversation(model, conversation_id, bool(conversation_id or _continue))
    response = _response(
        conversation,
        prompt,
        tools=(tools, python_tools),
        schema_input=schema_input,
        system=system,
        attachments=[*attachments, *attachment_types],
        options={**_llm_cli().get_model_options(model.model_id), **dict(options)},
        stream=not no_stream,
    )
    stream = response.stream and model.can_stream
    request = model.request(response.prompt, stream, _real_key(model, key) or _no_key(model))
    try:
        click.echo(model.backend.dry_run(request))
    except llm.ModelError as exc:
        raise click.ClickException(str(exc)) from None


def _http_model(model_id: str):
    try:
        model = llm.get_model(model_id)
    except llm.UnknownModelError as exc:
        raise click.ClickException(str(exc)) from None
    if getattr(model, "entry", None) is None or model.entry.backend_type != "http":
        raise click.ClickException(f"{model_id} is not a model declared with backend type http")
    return model


def _conversation(model, conversation_id: str | None, continued: bool):
    """``-c`` (the latest) or ``--cid``, as llm loads it, or a new one."""
    conversation = _llm_cli().load_conversation(conversation_id) if continued else None
    conversation = conversation or model.conversation()
    conversation.model = model
    return conversation


def _response(conversation, prompt, *, tools, schema_input, options, **kwargs):
    """The response ``llm prompt`` would build (not run), with tools and
    schema resolved as llm's CLI resolves them."""
    import pydantic

    cli = _llm_cli()
    names, python_tools = tools
    names = cli._get_conversation_tools(conversation, names) or names
    try:
        schema = schema_input and cli.resolve_schema_input(
            _logs_db(), schema_input, cli.load_template
        )
        offered = cli._gather_tools(names, python_tools, model=conversation.model)
        return conversation.prompt(
            prompt, schema=schema, tools=offered or None, **kwargs, **options
        )
    except pydantic.ValidationError as exc:
        details = "\n".join(f"{', '.join(map(str, e['loc']))}\n  {e['msg']}" for e in exc.errors())
        raise click.ClickException(details) from None
    except ValueError as exc:  # as llm prompt reports them: "... does not support tools"
        raise click.ClickException(str(exc)) from None


def _logs_db():
    """llm's log database, where ``--schema`` finds a schema by its ID."""
    cli = _llm_cli()
    db = cli._cli_database(cli.logs_db_path())
    cli.migrate(db)
    return db


def _no_key(model) -> str | None:
    """Without a key the request is shown with a mark where it goes."""
    from .backends.http.call import KEY_MARK

    return KEY_MARK if model.needs_key else None


def _real_key(model, explicit: str | None) -> str | None:
    """The key the prompt would use (``--key``, an alias, the store, the
    environment), to build the request with and to star wherever it shows."""
    if not model.needs_key:
        return None
    try:
        return model.get_key(explicit)
    except llm.NeedsKeyException:
        return None


@yaml_models.command()
def schema():
    """Print the JSON Schema of a model file."""
    from .schema import schema_text

    sys.stdout.write(schema_text())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"

"""``llm yaml-models ...``: path, validate, list, show, request, check, usage, schema."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

import click
import llm

from .. import registry
from ..discovery import discovered as discovery
from ..errors import Problem, printable
from ..loading.entries import Named
from ..loading.search_path import discover, files_in, missing, places


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
    note: str | None = None  # a template's state, or the template a model was discovered by
    kind: str = "model"  # or "template", or "discovered"
    declaration: Any = None  # the typed declaration, for a model that was read


class Checked(NamedTuple):
    files: list[str]  # the files checked
    found: list[Found]  # every declaration in them, in file order
    problems: list[Problem]  # every problem in them, in file order
    warnings: list[Problem]


def _check(paths: tuple[str, ...] = (), deep: bool = False, fetch: bool = False) -> Checked:
    """Load the files ``paths`` name (default: the search path), checked
    against each other and against the other files on the search path, in
    the order llm would see them: files not on the search path come last.
    Templates give the models of their cached lists (``fetch``: fetched
    first where missing or stale, as llm would)."""
    given = _files(paths) if paths else discover()
    everything = _arranged(given) if paths else given
    mine = set(given)
    context = [f for f in everything if f not in mine]
    loaded = registry.load(given, use_cache=False, deep=deep)
    if context:  # only for their names: their code is not imported
        loaded = _in_order(everything, loaded, registry.load(context, use_cache=False))
    templates = [_template_found(e, fetch) for e in loaded.entries if discovery.is_template(e)]
    loaded.entries = discovery.expand(loaded.entries)
    others = _other_models()
    embedding = _other_embedding_models() if _any_embedding(loaded) else []
    refused = registry.settle(loaded, others, embedding)
    links, link_warnings = _fallback_problems(loaded.entries, others)
    found = templates + [_found(e, refused.get(i, _OK)) for i, e in enumerate(loaded.entries)]
    found += [Found(file, line, named, why, []) for file, line, named, why in loaded.rejected]
    # A discovered id another model has is not registered; the file is not wrong.
    problems = loaded.problems + links
    problems += [
        p for i, (_, refusal) in refused.items() if not _is_discovered(loaded, i) for p in refusal
    ]
    warnings = loaded.warnings + link_warnings
    warnings += _replace_notes(loaded, refused, {"chat": others, "embedding": embedding})
    warnings += [
        p._replace(
            message=f"warning: {p.message.split(';')[0]}; the discovered model is not registered"
        )
        for i, (_, refusal) in refused.items()
        if _is_discovered(loaded, i)
        for p in refusal
    ]
    order = {file: n for n, file in enumerate(everything)}
    return Checked(
        given,
        sorted((f for f in found if f.file in mine), key=lambda f: (order[f.file], f.line)),
        sorted(
            (p for p in problems if p.file in mine), key=lambda p: (order[p.file], p.line, p.col)
        ),
        [w for w in warnings if w.file in mine],
    )


def _replace_notes(loaded: registry.Loaded, refused: dict, others: dict) -> list[Problem]:
    """What ``replace: true`` takes and what it leaves, at the first name it
    takes from each model: llm keeps that model, under its other names
    (its alias ``4o`` still reaches llm's own ``gpt-4o``)."""
    notes = []
    for i, entry in enumerate(loaded.entries):
        if i in refused or not entry.declaration.replace:
            continue
        mine = {name for name, _, _ in entry.names()}
        seen: set[int] = set()
        for name, loc, path in entry.names():
            other = _holder(others[entry.kind], name)
            if other is None or id(other) in seen:
                continue
            seen.add(id(other))
            notes.append(Problem(entry.file, loc.line, loc.col, path, _shadowed(name, other, mine)))
    return notes


def _holder(others: list, name: str):
    """The model llm or another plugin registered under ``name``, if any."""
    for other in others:
        if name == _model_of(other).model_id or name in other.aliases:
            return other
    return None


def _model_of(other):
    return other.model or getattr(other, "async_model", None)


def _shadowed(name: str, other, mine: set[str]) -> str:
    model = _model_of(other)
    left = [n for n in (model.model_id, *sorted(other.aliases)) if n not in mine]
    said = f"note: replace: '{name}' names this model; {model} ({type(model).__module__}) "
    said += "stays registered, and llm models list shows both"
    return said + (f"; it is still reached as {', '.join(left)}" if left else "")


def _is_discovered(loaded: registry.Loaded, i: int) -> bool:
    return discovery.is_discovered(loaded.entries[i])


def _found(entry, refusal: tuple) -> Found:
    named = Named(entry.model_id, entry.aliases, entry.backend_type, entry.kind)
    declared = entry.declaration
    if not discovery.is_discovered(entry):
        return Found(entry.file, entry.line, named, *refusal, declaration=declared)
    note = f"discovered by {entry.template.model_id}"
    return Found(entry.file, entry.line, named, *refusal, note, "discovered", declared)


def _template_found(entry, fetch: bool) -> Found:
    """A template, as ``list`` shows it: how many models its list holds."""
    if fetch:
        discovery.prepare([entry])
    item = discovery.Lists.read().get(entry)
    if item is None:
        note = "template: no list fetched yet"
    else:
        count = len(discovery.of_list(entry, item))
        age = discovery.age(item)
        note = f"template: {_plural(count, 'model')} discovered, listed {age}"
    named = Named(entry.model_id, (), entry.backend_type)
    return Found(entry.file, entry.line, named, None, [], note, "template")


_OK = (None, [])


def _fallback_problems(entries: list, others: list) -> tuple[list[Problem], list[Problem]]:
    """What ``fallbacks`` name, checked across every file: located at each
    ``fallbacks[i]``, in the model or in its file's ``defaults``."""
    from ..errors import ConfigError
    from ..loading.source import parse, read_text
    from ..routing.fallbacks import check

    docs: dict = {}

    def locate(entry, i: int, message: str) -> Problem:
        if entry.file not in docs:
            try:
                docs[entry.file] = parse(entry.file, read_text(entry.file, entry.file))
            except ConfigError:  # changed since it was loaded: at the declaration
                docs[entry.file] = None
        doc = docs[entry.file]
        if doc is None:
            return Problem(entry.file, entry.line, entry.col, f"{entry.path}.fallbacks", message)
        path = (*_path_of(entry.path), "fallbacks", i)
        if path[:-1] not in doc.locs and ("defaults", "fallbacks", i) in doc.locs:
            path = ("defaults", "fallbacks", i)
        return doc.problem(path, message)

    return check(entries, others, locate)


def _path_of(text: str) -> tuple:
    """``models[3]`` -> ``("models", 3)``; ``[3]`` -> ``(3,)``."""
    head, _, index = text.rstrip("]").partition("[")
    return (head, int(index)) if head else (int(index),)


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


from .providers import add, presets  # noqa: E402 - after the group they join

yaml_models.add_command(presets)
yaml_models.add_command(add)


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
    lost = [] if paths else missing()  # a search path entry that names nothing
    for line in [*lost, *map(str, problems)]:
        click.echo(printable(line))
    count = sum(f.error is None and f.kind != "template" for f in checked.found)
    summary = f"{_plural(count, 'model')} in {_plural(len(checked.files), 'file')}"
    if problems or lost:
        found = len(problems) + len(lost)
        raise click.ClickException(f"{_plural(found, 'problem')} ({summary} usable)")
    click.echo(f"OK: {summary}, no problems")


@yaml_models.command(name="list")
@click.option("json_", "--json", is_flag=True, help="Output as JSON")
def list_command(json_):
    """Each declared model: aliases, backend, source, and whether it loaded."""
    rows = [_row(found) for found in _check(fetch=True).found]
    if json_:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        name = row["model_id"] or "?"
        aliases = f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
        kind = ", embedding" if row.get("kind") == "embedding" else ""
        backend = f" [{row['backend'] or '?'}{kind}]" if row["backend"] or kind else ""
        note = f" ({row['note']})" if "note" in row else ""
        known = f" [{row['summary']}]" if row.get("summary") else ""
        line = f"{name}{aliases}{backend}{known} {row['source']}: {row['status']}{note}"
        click.echo(printable(line))


def _row(found: Found) -> dict:
    row = {
        "model_id": found.named.model_id,
        "aliases": list(found.named.aliases),
        "backend": found.named.backend,
        "kind": found.named.kind,
        "source": f"{found.file}:{found.line}",
        "loaded": found.error is None,
        "status": "loaded" if found.error is None else f"error: {found.error}",
    }
    if found.kind == "template":
        row.update(status=found.note, template=True)
    elif found.kind == "discovered":
        row.update(discovered=True, note=found.note)
    if found.kind != "template":
        row.update(_known(found.declaration))
    return row


def _known(declaration) -> dict:
    """The context window and the prices (USD per million tokens) ``list``
    shows, and their summary, for a chat model that has metadata or pricing
    (None where one is not known)."""
    from ..models.metadata import summary

    metadata = getattr(declaration, "metadata", None)
    pricing = getattr(declaration, "pricing", None)
    if metadata is None and pricing is None:
        return {}
    return {
        "context_window": metadata and metadata.context_window,
        "input_price": pricing and pricing.input,
        "output_price": pricing and pricing.output,
        "summary": summary(metadata, pricing),
    }


@yaml_models.command()
@click.argument("model")
def show(model):
    """The declaration of MODEL after merging defaults, with where each value
    came from; every declaration of that name, loaded or not."""
    from ..errors import ConfigError
    from .show import render

    checked = _check(fetch=True)
    matching = [f for f in checked.found if model in (f.named.model_id, *f.named.aliases)]
    if not matching:
        raise click.ClickException(
            printable(f"no declared model '{model}'; see 'llm yaml-models list'")
        )
    matching.sort(key=lambda f: f.error is not None)  # the one llm -m runs first
    texts = []
    for found in matching:
        try:
            texts.append(_rendered(found, checked, render))
        except (ConfigError, LookupError):  # the file changed under us
            raise click.ClickException(f"{printable(found.file)} changed; try again") from None
    click.echo("\n".join(texts), nl=False)


def _rendered(found: Found, checked: Checked, render) -> str:
    """A declaration as ``show`` prints it, then its metadata and pricing."""
    return _declared(found, checked, render) + _facts(found.declaration)


def _facts(declaration) -> str:
    """Every metadata and pricing field the model has, with where it came
    from (a template's override, a server, defaults), as comments."""
    from ..models.metadata import fields

    if getattr(declaration, "kind", None) != "chat":
        return ""
    known = fields(declaration.metadata, declaration.pricing)
    if not known:
        return ""
    lines = ["# metadata and pricing (USD per million tokens), as the model has them:"]
    lines += [f"#   {name}: {_shown(value)}  ({origin})" for name, value, origin in known]
    return "".join(printable(line) + "\n" for line in lines)


def _shown(value) -> str:
    return ", ".join(value) if isinstance(value, tuple) else str(value)


def _declared(found: Found, checked: Checked, render) -> str:
    """A declaration as ``show`` prints it; a discovered model, as its template."""
    if found.kind != "discovered":
        return render(found, checked.problems)
    template = next(
        f
        for f in checked.found
        if f.kind == "template" and (f.file, f.line) == (found.file, found.line)
    )
    status = "" if found.error is None else f", is not loaded: {found.error}"
    heading = f"# {found.named.model_id}, discovered by the template {template.named.model_id}"
    return printable(heading + status) + "\n" + render(template, checked.problems)


@yaml_models.command()
@click.argument("names", nargs=-1)
def refresh(names):
    """Fetch the lists of models of the discovery templates NAMES (default:
    every template) now, and print what was added and removed."""
    entries = registry.load(discover(), use_cache=False).entries
    templates = [e for e in entries if discovery.is_template(e)]
    unknown = [n for n in names if n not in {t.model_id for t in templates}]
    if unknown:
        known = ", ".join(t.model_id for t in templates) or "none"
        raise click.ClickException(
            printable(f"no discovery template '{unknown[0]}'; templates: {known}")
        )
    chosen = [t for t in templates if not names or t.model_id in names]
    failed = [t.model_id for t in chosen if not _refresh(t)]
    if failed:
        raise click.ClickException(printable(f"could not refresh {', '.join(failed)}"))


def _refresh(template) -> bool:
    """Fetch one template's list and say what changed; False if it failed."""
    try:
        url, old, new, notes = discovery.refetch(template)
    except Exception as exc:  # noqa: BLE001 - one template never costs the others
        click.echo(printable(f"{template.model_id}: {discovery.failure(exc)}"), err=True)
        return False
    for note in notes:
        click.echo(printable(f"{template.model_id}: warning: {note}"), err=True)
    before = {e.model_id for e in discovery.of_list(template, old)}
    after = [e.model_id for e in discovery.of_list(template, new)]
    added = [m for m in after if m not in before]
    removed = sorted(before - set(after))
    changes = [f"added {', '.join(added)}"] if added else []
    changes += [f"removed {', '.join(removed)}"] if removed else []
    summary = "; ".join(changes) or "no change"
    click.echo(
        printable(f"{template.model_id}: {_plural(len(after), 'model')} from {url}: {summary}")
    )
    return True


@yaml_models.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False))
def import_command(file):
    """Print FILE (llm's extra-openai-models.yaml, or a LiteLLM proxy
    config.yaml) as a model file of this plugin, on stdout. What cannot be
    converted is a comment saying what was dropped and why."""
    from .importer import ConversionError, convert_file

    registered = {
        "chat": {
            n for m in _other_models() for n in ((m.model or m.async_model).model_id, *m.aliases)
        },
        "embedding": {n for m in _other_embedding_models() for n in (m.model.model_id, *m.aliases)},
    }
    declared: dict[str, dict[str, str]] = {"chat": {}, "embedding": {}}
    for entry in registry.load(discover(), use_cache=False).entries:
        for name, loc, _ in entry.names():
            declared[entry.kind].setdefault(name, f"at {entry.file}:{loc.line}:{loc.col}")
    try:
        click.echo(convert_file(file, registered, declared), nl=False)
    except ConversionError as exc:
        raise click.ClickException(printable(str(exc))) from None


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
@click.pass_context
def request(
    ctx,
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
    passwords in the URL, values read from the environment. For an embedding
    model, the request `llm embed -m MODEL_ID -c PROMPT` would send.
    """
    model = _http_model(model_id)
    if isinstance(model, llm.EmbeddingModel):
        _refuse_prompt_options(ctx, model_id)
        click.echo(_embedding_dry_run(model, prompt, key))
        return
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
    try:
        request = model.request(response.prompt, stream, _key(model, key))
        click.echo(model.backend.dry_run(request))
    except llm.ModelError as exc:
        raise click.ClickException(str(exc)) from None


def _http_model(model_id: str):
    model = _chat_or_embedding(model_id)
    if getattr(model, "entry", None) is None or model.entry.backend_type != "http":
        raise click.ClickException(f"{model_id} is not a model declared with backend type http")
    return model


# What `llm prompt` takes and `llm embed` does not (--key, and --no-stream,
# which changes nothing in a request never streamed, are taken).
_PROMPT_ONLY = (
    "system",
    "attachments",
    "attachment_types",
    "options",
    "tools",
    "python_tools",
    "schema_input",
    "_continue",
    "conversation_id",
)


def _refuse_prompt_options(ctx: click.Context, model_id: str) -> None:
    from click.core import ParameterSource

    given = [
        p.opts[0]
        for p in ctx.command.params
        if p.name in _PROMPT_ONLY and ctx.get_parameter_source(p.name) != ParameterSource.DEFAULT
    ]
    if given:
        message = f"{model_id} is an embedding model: {', '.join(given)} cannot be used with it"
        raise click.ClickException(printable(message))


def _embedding_dry_run(model, prompt: str, key: str | None) -> str:
    """PROMPT as ``llm embed`` sends it, a batch of one: checked as llm
    checks it, with the key it finds (or its one-line error), shown by the
    chat dry run (an embedding request has no deployments of its own kind)."""
    model._check(prompt)
    return model.backend.dry_run(model.request([prompt], model.get_key(key)))


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


def _key(model, explicit: str | None) -> str | None:
    """The key the prompt would use (``--key``, an alias, the store, the
    environment), to build the request with and to star wherever it shows.
    Without one, what ``llm -m`` says (``llm.NeedsKeyException``); with
    ``fallbacks``, which would answer instead, this model's own failure."""
    if not model.needs_key:
        return None
    key = model.get_key(explicit)
    if key is None:
        raise model._no_key()
    return key


@yaml_models.command()
@click.argument("models", nargs=-1)
@click.option("json_", "--json", is_flag=True, help="Output as JSON")
def check(models, json_):
    """Send a tiny prompt to each declared model (MODELS, or all), for real.

    Each model is asked streamed and not (and with a tool, or a schema,
    where it declares them), and each of its deployments; an embedding
    model embeds one short text. Prints the time to the first token, the
    total time, what worked (usage is shown, and optional), and the error
    where one failed; exits 1 if any check failed. The one command that makes
    requests on purpose: validate never does.
    """
    from .check import check_model, table

    results = [r for model in _models_to_check(models) for r in check_model(model)]
    if json_:
        click.echo(json.dumps([r.to_json() for r in results], indent=2))
    else:
        click.echo(table(results), nl=False)
    failed = sum(not r.ok for r in results)
    if failed:
        raise click.ClickException(f"{failed} of {_plural(len(results), 'check')} failed")


def _models_to_check(names: tuple[str, ...]) -> list:
    """The declared models named (chat or embedding), or every one."""
    if not names:
        every = [*llm.get_models(), *llm.get_embedding_models()]
        return [m for m in every if getattr(m, "entry", None) is not None]
    out = []
    for name in names:
        model = _chat_or_embedding(name)
        if getattr(model, "entry", None) is None:
            raise click.ClickException(printable(f"{name} is not a model declared in YAML"))
        out.append(model)
    return out


def _chat_or_embedding(name: str):
    """The chat model ``name`` names, else the embedding model."""
    try:
        return llm.get_model(name)
    except llm.UnknownModelError as exc:
        unknown = exc
    try:
        return llm.get_embedding_model(name)
    except llm.UnknownModelError:
        raise click.ClickException(printable(unknown.args[0])) from None


@yaml_models.command()
@click.option("--since", help="Only prompts this recent: a number and m, h, d or w (7d)")
@click.option("models", "-m", "--model", multiple=True, help="Only this model (repeatable)")
@click.option("database", "-d", "--database", type=click.Path(), help="Path to a logs.db")
@click.option("json_", "--json", is_flag=True, help="Output as JSON")
def usage(since, models, database, json_):
    """Prompts, tokens and cost per model, from llm's logs.db (read-only).

    Every model's prompts count, whichever plugin's; a prompt with no cost
    recorded (its model has no pricing, or its server reported no usage)
    counts as unpriced.
    """
    import datetime

    from .usage import cutoff, read, table, total

    path = Path(database) if database else llm.user_dir() / "logs.db"
    now = datetime.datetime.now(datetime.timezone.utc)
    rows = read(path, None if since is None else cutoff(since, now), _model_ids(models))
    if json_:
        every = {"models": [r.to_json() for r in rows], "total": total(rows).to_json()}
        click.echo(json.dumps(every, indent=2))
    else:
        click.echo(table(rows, printable), nl=False)


def _model_ids(names: tuple[str, ...]) -> tuple[str, ...]:
    """Each name as the model id it is an alias of; one llm no longer knows
    (its plugin or file is gone) as it is: its prompts are still logged."""
    ids = []
    for name in names:
        try:
            ids.append(llm.get_model(name).model_id)
        except llm.UnknownModelError:
            ids.append(name)
    return tuple(ids)


@yaml_models.command()
def schema():
    """Print the JSON Schema of a model file."""
    from ..loading.schema import schema_text

    sys.stdout.write(schema_text())


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"

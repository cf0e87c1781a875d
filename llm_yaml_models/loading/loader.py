"""Parse model files with locations, validate them, merge defaults.

file -> Document (located YAML) -> schema and semantic checks -> ModelEntry
(the typed declaration, ``declare``: defaults and the preset's options
merged in, once, here; plus where it came from), collected in a FileResult
that the cache can keep. Nothing after this module reads the mapping a
file wrote.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, Problem, unprintable
from .entries import FileResult, ModelEntry, Named
from .schema import MAX_PROBLEMS, is_valid
from .source import Document, PathT, format_path

if TYPE_CHECKING:
    from ..declarations import Declaration, EmbeddingDeclaration


def load_file(file: str, *, deep: bool = False) -> FileResult:
    """Read, parse and validate one file. Never raises for a bad file.

    ``deep`` adds the checks that import code; only ``validate`` asks."""
    from ..trust import refuse_file
    from .source import parse, read_text

    refusal = refuse_file(file)
    if refusal:
        return FileResult(file, problems=[refusal], skipped=[1], refused=True)
    try:
        doc = parse(file, read_text(file, file))
    except ConfigError as exc:
        return FileResult(file, problems=exc.problems, skipped=[exc.problems[0].line])
    return check_document(doc, deep=deep)


def check_document(doc: Document, *, deep: bool = False) -> FileResult:
    from .metadata_rules import soften

    result = FileResult(doc.file)
    # A faulty metadata or pricing field is cut out first, with a warning:
    # the model loads without it.
    result.warnings = doc.warnings + soften(doc)
    # A mapping entry is checked whole once defaults are merged in, so the
    # as-written check speaks only for the rest: top level, defaults, and
    # entries that are not mappings.
    file_level, entries, defaults = _structure(doc)
    file_broken = any(not _under_model(p) for p in file_level)
    problems = list(file_level)
    places = {_place(p) for p in problems}
    unexplained: list[Problem] = []  # past the cap: where each declaration with problems is
    for path, entry in entries:
        loc = doc.loc(path)
        if not isinstance(entry, dict):
            result.skipped.append(loc.line)
            continue
        kind = kind_of(path)
        merged, origin = merge(defaults_for(kind, defaults), ("defaults",), entry, path)
        merged, origin = under_preset(merged, origin)
        if len(places) >= MAX_PROBLEMS and not is_valid(merged, DEFINITIONS[kind]):
            found = [doc.problem(path, "")]  # schema problems, found but not explained
            unexplained += found
        else:
            found = validate_model(merged, doc, origin, deep=deep, kind=kind)
            if deep and not (found or file_broken):
                result.warnings += notes_of(merged, doc, origin, kind)
            problems += found
            places.update(map(_place, found))
        if found or file_broken:
            result.skipped.append(loc.line)
            result.named[loc.line] = Named.of(merged, kind)
            continue
        aliases = range(len(merged.get("aliases", ())))
        result.models.append(
            ModelEntry(
                declare(merged, kind, lambda p, o=origin: f"{doc.file}:{doc.loc(o(p)).line}"),
                doc.file,
                format_path(path),
                loc.line,
                loc.col,
                doc.loc(origin(("model_id",))),
                [doc.loc(origin(("aliases", j))) for j in aliases],
            )
        )
    result.problems = _capped(sorted(_unique(problems), key=_position), unexplained)
    result.deps = sorted(set(doc.deps))
    if file_broken and not entries:
        result.skipped.append(result.problems[0].line)
    return result


# The two kinds of model: the list each is declared in, and the schema
# definition a merged declaration of that kind is checked against.
LISTS = {"chat": "models", "embedding": "embedding_models"}
DEFINITIONS = {"chat": "model", "embedding": "embeddingModel"}


def kind_of(path: PathT) -> str:
    """The kind of the declaration at ``path``: ``embedding_models[i]``, or chat."""
    return "embedding" if path[:1] == ("embedding_models",) else "chat"


def defaults_for(kind: str, defaults: dict) -> dict:
    """``defaults`` less the keys only the other kind of model takes:
    ``batch_size`` never reaches a chat model, nor ``attachment_types`` an
    embedding model. (An unknown key reaches both, to be reported.)"""
    from .schema import schema

    definitions = schema()["definitions"]
    takes = definitions[DEFINITIONS[kind]]["properties"]
    other = "embedding" if kind == "chat" else "chat"
    theirs = definitions[DEFINITIONS[other]]["properties"]
    return {k: v for k, v in defaults.items() if k in takes or k not in theirs}


def declare(
    data: dict, kind: str = "chat", where=lambda path: ""
) -> Declaration | EmbeddingDeclaration:
    """The typed declaration of a valid merged one. The preset's options
    are merged in here, once; the backend mapping is kept as the file
    wrote it (``Written``), to be expanded at use. ``where(path)`` is
    FILE:LINE of a key, for what says where it was declared."""
    from ..backends import (
        converses,
        declared_options,
        declared_server_tools,
        with_metadata_defaults,
    )
    from ..declarations import (
        BATCH_SIZE,
        Declaration,
        EmbeddingDeclaration,
        KeySpec,
        Metadata,
        Pricing,
        Written,
        option_specs,
    )
    from ..routing.limits import Limits

    common = {
        "model_id": data["model_id"],
        "backend_type": data["backend"]["type"],
        "backend": Written(data["backend"]),
        "aliases": tuple(data.get("aliases", ())),
        "description": data.get("description"),
        "options": option_specs(declared_options(data, kind)),
        "key": KeySpec.from_data(data["key"]) if "key" in data else None,
        "replace": data.get("replace", False),
    }
    if kind == "embedding":
        return EmbeddingDeclaration(
            **common,
            prefix=data.get("prefix", ""),
            batch_size=data.get("batch_size", BATCH_SIZE),
            supports_text=data.get("supports_text", True),
            supports_binary=data.get("supports_binary", False),
        )
    common["options"] = with_metadata_defaults(common["options"], data)
    return Declaration(
        **common,
        attachment_types=frozenset(data.get("attachment_types", ())),
        can_stream=_can_stream(data),
        supports_tools=bool(data.get("supports_tools")),
        supports_schema=bool(data.get("supports_schema")),
        supports_conversation=converses(data),
        fallbacks=tuple(data.get("fallbacks", ())),
        limits=Limits.from_data(data.get("limits")),
        discover=_discover(data, where),
        metadata=_known(Metadata, data.get("metadata"), ("metadata",), where),
        pricing=_known(Pricing, data.get("pricing"), ("pricing",), where),
        server_tools=tuple(declared_server_tools(data).items()),
    )


def _known(kind, given: dict | None, at: tuple, where):
    """``metadata:`` or ``pricing:`` typed, each field saying where it was declared."""
    if not given:
        return None
    fields = {name: _typed(name, value) for name, value in given.items()}
    origins = tuple((name, f"declared at {where(at + (name,))}") for name in given)
    return kind(**fields, origins=origins)


def _typed(name: str, value):
    """A list as a tuple; a count as an int (the schema's integer takes
    200000.0, which Ollama's num_ctx does not)."""
    if isinstance(value, list):
        return tuple(value)
    return int(value) if name in ("context_window", "max_output_tokens") else value


def _discover(data: dict, where=lambda path: ""):
    """A template's ``discover:``, typed; the options it wrote itself are
    those its overrides amend (the preset's they replace)."""
    from ..declarations import DiscoverSpec

    if "discover" not in data:
        return None
    own = [name for name, spec in data.get("options", {}).items() if spec is not None]
    overrides = data["discover"].get("overrides", {})
    typed = {glob: _typed_override(glob, o, where) for glob, o in overrides.items()}
    return DiscoverSpec.from_data({**data["discover"], "overrides": typed}, own)


def _typed_override(glob: str, override: dict, where) -> dict:
    """An override with its metadata and pricing typed, each field saying
    where it was declared (merged field by field at discovery)."""
    from ..declarations import Metadata, Pricing

    at = ("discover", "overrides", glob)
    out = dict(override)
    for name, kind in (("metadata", Metadata), ("pricing", Pricing)):
        if name in override:
            out[name] = _known(kind, override[name], at + (name,), where)
    return out


def _can_stream(data: dict) -> bool:
    from ..backends import backend_class

    declared = data.get("can_stream")
    return backend_class(data["backend"]["type"]).can_stream if declared is None else declared


def _unique(problems: list[Problem]) -> list[Problem]:
    """One problem per place: a defaults value checked in every model that
    merges it, or two rules broken by one value, is reported once."""
    out, seen = [], set()
    for p in problems:
        key = (p.line, p.col, p.path)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _position(problem: Problem) -> tuple[int, int]:
    return problem.line, problem.col


def _place(problem: Problem) -> tuple:
    return problem.line, problem.col, problem.path


def _capped(problems: list[Problem], unexplained: list[Problem]) -> list[Problem]:
    """At most MAX_PROBLEMS problems, the last of which says how many more
    there were, at the first of them: each value's ``more_problems`` lines
    are summed into it, and declarations checked past the cap (whose
    problems were not worked out) are counted."""
    from .schema import count_more, more_problems

    real = [p for p in problems if count_more(p) is None]
    more = [p for p in problems if count_more(p) is not None]
    if len(real) <= MAX_PROBLEMS and not more and not unexplained:
        return real
    shown = real[: MAX_PROBLEMS - 1]
    hidden = real[len(shown) :] + more
    count = sum(count_more(p) or 1 for p in hidden)
    first = min(hidden + unexplained, key=_position)
    return [*shown, more_problems(first, count, len(unexplained))]


def _under_model(problem: Problem) -> bool:
    return bool(re.match(r"^(models|embedding_models)?\[\d+\]", problem.path))


def _structure(doc: Document) -> tuple[list[Problem], list[tuple[PathT, object]], dict]:
    """File-level problems, the (path, entry) of every declaration of either
    kind, and the defaults mapping."""
    from .schema import validate

    value = doc.value
    if value is None:
        return (
            [
                doc.problem(
                    (), "the file is empty; expected a list of models or a mapping with 'models'"
                )
            ],
            [],
            {},
        )
    if isinstance(value, list):
        entries = [((i,), entry) for i, entry in enumerate(value)]
        return validate(value, "modelList", doc, shallow=True), entries, {}
    if isinstance(value, dict) and not value.keys() & LISTS.values() and "model_id" in value:
        message = (
            "this is one model declaration; a file holds a list of them: "
            "start it with '- ', or put it under 'models:'"
        )
        return [doc.problem((), message)], [], {}
    if isinstance(value, dict):
        problems = validate(value, "fileMapping", doc, shallow=True)
        entries = [
            ((name, i), entry)
            for name in LISTS.values()
            if isinstance(value.get(name), list)
            for i, entry in enumerate(value[name])
        ]
        defaults = value.get("defaults")
        return problems, entries, defaults if isinstance(defaults, dict) else {}
    kind = type(value).__name__.replace("str", "string")
    return (
        [doc.problem((), f"expected a list of models or a mapping with 'models', not a {kind}")],
        [],
        {},
    )


# -- defaults ----------------------------------------------------------------


# Where a key the preset's ``declaration:`` brought comes from: no place in
# the file, so its messages point at the model's ``backend.preset``.
_PRESET: PathT = ("<preset>",)


def under_preset(data: dict, origin):
    """``data`` (defaults merged in) over the declaration defaults its
    preset brings. A key the model (or ``defaults:``) wrote wins whole (its
    ``key: {name: mine}`` takes no env from the preset); a null one removes
    the preset's; ``discover:`` merges key by key, and only into a template
    (a preset's source never makes a plain model one)."""
    from ..backends.http.config import preset_declaration

    section = preset_declaration(data.get("backend"))
    if not section:
        return data, origin
    mine = {k for k in section if k in data and k != "discover"}
    if "discover" not in data:
        mine.add("discover")
    low = {k: v for k, v in section.items() if k not in mine}
    high = {k: v for k, v in data.items() if not (k in mine and v is None)}
    out, inner = merge(low, _PRESET, high, ())

    def where(path: PathT) -> PathT:
        found = inner(path)
        return origin(("backend", "preset")) if found[: len(_PRESET)] == _PRESET else origin(found)

    return out, where


def merge(defaults: dict, defaults_path: PathT, model: dict, model_path: PathT):
    """Deep-merge ``defaults`` into ``model`` (the model's keys win).

    Returns the merged value and ``origin(path)``, which maps a path in the
    merged value to the path in the file that supplied it.
    """
    table: dict[PathT, PathT] = {}

    def copy(value, src: PathT, dst: PathT):
        table[dst] = src
        if isinstance(value, dict):
            return {k: copy(v, src + (k,), dst + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [copy(v, src + (i,), dst + (i,)) for i, v in enumerate(value)]
        return value

    def combine(d, d_src: PathT, m, m_src: PathT, dst: PathT):
        if not (isinstance(d, dict) and isinstance(m, dict)):
            return copy(m, m_src, dst)
        table[dst] = m_src
        out = {}
        for k, v in m.items():
            if k in d:
                out[k] = combine(d[k], d_src + (k,), v, m_src + (k,), dst + (k,))
            else:
                out[k] = copy(v, m_src + (k,), dst + (k,))
        for k, v in d.items():
            if k not in m:
                out[k] = copy(v, d_src + (k,), dst + (k,))
        return out

    merged = combine(defaults, defaults_path, model, model_path, ())

    def origin(path: PathT) -> PathT:
        for n in range(len(path), -1, -1):
            if path[:n] in table:
                return table[path[:n]] + tuple(path[n:])
        return model_path + tuple(path)

    return merged, origin


# -- one merged model ------------------------------------------------------


def notes_of(data: dict, doc: Document, origin, kind: str) -> list[Problem]:
    from ..backends import notes

    return notes(data, doc, origin, kind)


def validate_model(
    data: dict, doc: Document, origin, *, deep: bool = False, kind: str = "chat"
) -> list[Problem]:
    """Schema and semantic problems of one merged model declaration.

    The semantic checks run in the same round as the schema's, on the parts
    of the declaration that the schema found sound, so fixing what one
    round reports never uncovers a second round."""
    from .schema import validate

    problems = validate(data, DEFINITIONS[kind], doc, origin)
    problems += _name_problems(data, doc, origin)
    if "key" in data and data["key"] is None:  # the preset's would have been removed
        problems.append(doc.problem(origin(("key",)), _no_key_to_remove(data.get("backend"))))
    sound = _sound(data, DEFINITIONS[kind]) if problems else data
    options = sound.get("options", {})
    for name, spec in options.items():
        if spec is None:
            continue  # a removal: checked against the preset's options below
        reserved = reserved_option_name(name)
        if reserved:
            problems.append(doc.problem(origin(("options", name)), reserved, key=True))
            continue
        problems += _check_option(spec, doc, lambda p, n=name: origin(("options", n) + p))
    written = data.get("options", {})
    if "backend" in sound:
        problems += _removals(sound, doc, origin, kind)
        problems += _server_tool_problems(sound, doc, origin)
    # A backend's checks read every option (a template may name any of them).
    if "backend" in sound and isinstance(written, dict) and options.keys() == written.keys():
        from ..backends import with_declared_options

        problems += _backend_problems(with_declared_options(sound, kind), doc, origin, deep, kind)
        if "discover" in sound:
            from .discover_rules import template_problems

            overrides = functools.partial(_override_problems, sound, doc, origin, deep)
            problems += template_problems(sound, doc, origin, overrides)
    return problems


def _override_problems(data: dict, doc, origin, deep: bool, glob: str, override: dict) -> list:
    """The template as a model that ``glob`` matches would have it."""
    template = {k: v for k, v in data.items() if k not in ("discover", "aliases")}
    merged, inner = merge(template, (), override, ("discover", "overrides", glob))
    return validate_model(merged, doc, lambda path: origin(inner(path)), deep=deep)


def _removals(data: dict, doc: Document, origin, kind: str) -> list[Problem]:
    """A null option removes one of the preset's; one it does not have is a
    mistake (a misspelling, or a model with no preset)."""
    from ..backends import standard_options

    backend = data["backend"]
    standard = standard_options(backend, kind)
    preset = backend.get("preset")
    problems = []
    for name, spec in data.get("options", {}).items():
        if spec is not None or name in standard:
            continue
        if preset is None:
            why = "null removes an option of the backend's preset, and this model has no preset"
        else:
            why = f"null removes an option of the {preset} preset, which has no '{name}'"
            close = _close_name(name, tuple(standard))
            why += f"; did you mean '{close}'?" if close else ""
        problems.append(doc.problem(origin(("options", name)), why))
    return problems


def _server_tool_problems(data: dict, doc: Document, origin) -> list[Problem]:
    """Server-side tools run on an HTTP API's servers; a null removes one
    of the preset's."""
    from ..backends import backend_class

    written = data.get("server_tools")
    if not isinstance(written, dict) or not written:
        return []
    backend = data["backend"]
    if backend["type"] != "http":
        why = "server_tools needs an http backend (they run on an API's servers), "
        why += f"not {backend['type']}"
        return [doc.problem(origin(("server_tools",)), why)]
    standard = backend_class("http").standard_server_tools(backend)
    problems = []
    for name, spec in written.items():
        if spec is None and name not in standard:
            preset = backend.get("preset")
            why = f"null removes a server tool of the {preset} preset, which has no '{name}'"
            if preset is None:
                why = "null removes a server tool of the backend's preset; this model has no preset"
            close = _close_name(name, tuple(standard))
            why += f"; did you mean '{close}'?" if close else ""
            problems.append(doc.problem(origin(("server_tools", name)), why))
    return problems


def _no_key_to_remove(backend: object) -> str:
    preset = backend.get("preset") if isinstance(backend, dict) else None
    if not isinstance(preset, str):
        return "null removes the key a provider preset brings, and this model has no preset"
    return f"null removes the key a provider preset brings, and the {preset} preset brings none"


def _close_name(name: str, choices: tuple[str, ...]) -> str | None:
    import difflib

    found = difflib.get_close_matches(name, choices, n=1)
    return found[0] if found else None


def _backend_problems(data: dict, doc: Document, origin, deep: bool, kind: str) -> list[Problem]:
    from ..backends import backend_class

    backend = backend_class(data["backend"]["type"], kind)
    problems = backend.check(data, doc, origin, Path(doc.file).parent, deep)
    if deep:  # the environment of this run, so never cached
        from ..templates import TemplateError, expand_env

        try:
            expand_env(data["backend"], "backend")
        except TemplateError as exc:
            problems.append(doc.problem(origin(("backend",)), str(exc)))
    if data.get("can_stream") and not getattr(backend, "can_stream", False):
        message = f"the {data['backend']['type']} backend cannot stream"
        problems.append(doc.problem(origin(("can_stream",)), message))
    from ..trust import check_declaration

    return problems + check_declaration(data, doc, origin)


def _name_problems(data: dict, doc: Document, origin) -> list[Problem]:
    """Names llm -m could not be given or shown plainly, and an alias that
    repeats the id: checked name by name, whatever else is wrong."""
    aliases = data.get("aliases")
    names = [(("model_id",), data.get("model_id"))]
    names += [
        (("aliases", j), a) for j, a in enumerate(aliases if isinstance(aliases, list) else [])
    ]
    problems = []
    for path, name in names:
        if not isinstance(name, str):
            continue
        hidden = None if name.isprintable() else next(filter(unprintable, name), None)
        if hidden is not None:
            label = unicodedata.name(hidden, "")
            what = f"U+{ord(hidden):04X}" + (f" ({label})" if label else "")
            message = f"{name!r} holds {what}: a name must not hold control or invisible characters"
            problems.append(doc.problem(origin(path), message))
        elif path[0] == "aliases" and name == data.get("model_id"):
            message = f"'{name}' is the model's own id; an alias is another name for it"
            problems.append(doc.problem(origin(path), message))
    return problems


def _sound(data: dict, definition: str) -> dict:
    """``data`` less every part the schema finds fault with: a key that has
    no place, a value that breaks a rule, a mapping that lacks a required key
    (a list goes whole: its items' indexes are locations)."""
    from .schema import errors_of

    for _ in range(8):  # each round cuts a part; a few rounds reach the bottom
        cuts = {_cut_point(data, path) for path in _faulty(errors_of(data, definition))} - {()}
        if not cuts:
            return data
        data = _without(data, cuts)
    return {}


def _faulty(errors) -> list[PathT]:
    out = []
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties":
            known = error.schema.get("properties", {})
            out += [path + (k,) for k in error.instance if k not in known]
        elif "propertyNames" in error.schema_path:
            out.append(path + (error.instance,))
        else:
            out.append(path)
    return out


def _cut_point(data: dict, path: PathT) -> PathT:
    """``path``, or the list on the way to it."""
    value = data
    for n, part in enumerate(path):
        if not isinstance(value, dict):
            return path[:n]
        value = value.get(part)
    return path


def _without(value, cuts: set, path: PathT = ()):
    if not isinstance(value, dict):
        return value
    return {k: _without(v, cuts, path + (k,)) for k, v in value.items() if path + (k,) not in cuts}


# Keyword arguments of llm's prompt(), chain() and Conversation.prompt():
# an option of the same name could not be passed as one.
_PROMPT_KEYWORDS = {
    "after_call", "attachments", "before_call", "chain_limit", "fragments", "hide_reasoning",
    "key", "messages", "options", "prompt", "schema", "stream", "system", "system_fragments",
    "tool_results", "tools",
}  # fmt: skip


def reserved_option_name(name: str) -> str | None:
    """Why an option cannot have this name, if it cannot."""
    if name in _PROMPT_KEYWORDS:
        return f"option name '{name}' is reserved: llm's prompt() takes '{name}' itself"
    import llm

    if name.startswith("model_"):
        return f"option name '{name}' is reserved: pydantic keeps names starting 'model_'"
    if hasattr(llm.Options, name):
        return f"option name '{name}' is reserved: llm.Options (a pydantic model) has '{name}'"
    return None


def _check_option(spec: dict, doc: Document, at) -> list[Problem]:
    from ..declarations import OptionSpec
    from .patterns import problem as pattern_problem
    from .schema import KEYWORD_TYPES, check_value

    problems = []
    kind = spec["type"]
    for key, kinds in KEYWORD_TYPES.items():
        if key in spec and kind not in kinds:
            message = f"'{key}' applies to {' and '.join(kinds)} options, not {kind}"
            problems.append(doc.problem(at((key,)), message))
    for low, high in (("minimum", "maximum"), ("minLength", "maxLength")):
        if low in spec and high in spec and spec[low] > spec[high]:
            message = f"{low} {spec[low]} is greater than {high} {spec[high]}"
            problems.append(doc.problem(at((low,)), message))
    for key, sub in (("pattern", spec), ("items", spec.get("items") or {})):
        pattern = sub.get("pattern")
        why = None if pattern is None else pattern_problem(pattern)
        if why:
            path = ("pattern",) if key == "pattern" else ("items", "pattern")
            problems.append(doc.problem(at(path), why))
    if problems:
        return problems
    rules = OptionSpec.from_data(
        "_", {k: v for k, v in spec.items() if k != "default"}
    ).json_schema()
    for i, value in enumerate(spec.get("enum", ())):
        unconstrained = {k: v for k, v in rules.items() if k != "enum"}
        for message in check_value(value, unconstrained):
            problems.append(doc.problem(at(("enum", i)), message))
    if "default" in spec:
        for message in check_value(spec["default"], rules):
            problems.append(doc.problem(at(("default",)), f"default {message}"))
    return problems

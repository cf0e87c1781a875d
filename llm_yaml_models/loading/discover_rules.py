"""``validate``'s checks of a discovery template, beyond the schema's."""

from __future__ import annotations

from ..declarations import SOURCES
from ..errors import Problem
from .source import Document


def template_problems(data: dict, doc: Document, origin, check_override) -> list[Problem]:
    """What makes a template unable to discover: not http, aliases (which
    every model it makes would share), replace, nowhere to list from, ids that are
    no JMESPath, and each override (``check_override(glob, override)``: the
    loader's checks of the template with the override merged in)."""
    spec = data["discover"]
    at = lambda *path: origin(("discover", *path))  # noqa: E731
    problems = []
    if data["backend"]["type"] != "http":
        message = "discovery needs an http backend (backend.type: http)"
        return [doc.problem(at(), message)]
    if data.get("aliases"):
        message = "a template cannot have aliases: every model it discovers would share them"
        problems.append(doc.problem(origin(("aliases",)), message))
    if "replace" in data:
        message = "a template cannot set replace: a server's ids never shadow llm's models"
        problems.append(doc.problem(origin(("replace",)), message))
    problems += _where_problems(data, doc, at)
    for glob, override in spec.get("overrides", {}).items():
        problems += check_override(glob, override)
    return problems


def _where_problems(data: dict, doc: Document, at) -> list[Problem]:
    from ..backends.http import merged

    spec = data["discover"]
    if "source" not in spec and not ("url" in spec and "ids" in spec):
        sources = ", ".join(list(SOURCES)[:-1]) + f" or {list(SOURCES)[-1]}"
        message = (
            f"discover needs a source ({sources}), "
            "or url and ids (a JMESPath to the ids in the list)"
        )
        return [doc.problem(at(), message)]
    problems = []
    if "ids" in spec:
        problems += _jmespath_problems(spec["ids"], doc, at("ids"))
    for field, path in spec.get("metadata", {}).items():
        problems += _jmespath_problems(path, doc, at("metadata", field))
    ids = spec.get("ids") or SOURCES.get(spec.get("source"), ("", ""))[1]
    if spec.get("metadata") and not _projects(ids):
        message = (
            f"metadata paths read each model's item, but ids {ids!r} projects from no "
            "items; write ids as one, e.g. data[].id"
        )
        problems.append(doc.problem(at("metadata"), message))
    url = spec.get("url") or SOURCES.get(spec.get("source"), ("",))[0]
    if "://" not in url and not merged(data["backend"]).get("base_url"):
        message = (
            "the models are listed under backend.base_url, which this backend lacks; "
            "give base_url, or a full discover.url"
        )
        problems.append(doc.problem(at("url" if "url" in spec else "source"), message))
    return problems


def _projects(expr: str) -> bool:
    """Whether ``expr`` reads each id from an item of a list (a projection);
    one that is no JMESPath is reported as such, not here."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        node = jmespath.compile(expr).parsed
    except JMESPathError:
        return True
    return node["type"] in ("projection", "filter_projection")


def _jmespath_problems(expr: str, doc: Document, path) -> list[Problem]:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(expr)
    except JMESPathError as exc:
        return [doc.problem(path, f"not a valid JMESPath expression: {exc}".splitlines()[0])]
    return []

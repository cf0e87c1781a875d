"""``validate``'s checks of a discovery template, beyond the schema's."""

from __future__ import annotations

from .discovery import SOURCES
from .errors import Problem
from .source import Document


def template_problems(data: dict, doc: Document, origin, deep: bool) -> list[Problem]:
    """What makes a template unable to discover: not http, aliases (which
    every model it makes would share), replace, nowhere to list from, ids that are
    no JMESPath, and each override, checked merged into the template."""
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
        problems += _override_problems(data, glob, override, doc, origin, deep)
    return problems


def _where_problems(data: dict, doc: Document, at) -> list[Problem]:
    from .backends.http import merged

    spec = data["discover"]
    if "source" not in spec and not ("url" in spec and "ids" in spec):
        message = (
            "discover needs a source (openai, ollama or anthropic), "
            "or url and ids (a JMESPath to the ids in the list)"
        )
        return [doc.problem(at(), message)]
    problems = []
    if "ids" in spec:
        problems += _jmespath_problems(spec["ids"], doc, at("ids"))
    url = spec.get("url") or SOURCES.get(spec.get("source"), ("",))[0]
    if "://" not in url and not merged(data["backend"]).get("base_url"):
        message = (
            "the models are listed under backend.base_url, which this backend lacks; "
            "give base_url, or a full discover.url"
        )
        problems.append(doc.problem(at("url" if "url" in spec else "source"), message))
    return problems


def _jmespath_problems(expr: str, doc: Document, path) -> list[Problem]:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(expr)
    except JMESPathError as exc:
        return [doc.problem(path, f"not a valid JMESPath expression: {exc}".splitlines()[0])]
    return []


def _override_problems(data: dict, glob: str, override: dict, doc, origin, deep) -> list[Problem]:
    """The template as a model that ``glob`` matches would have it."""
    from .config import check_model, merge

    template = {k: v for k, v in data.items() if k not in ("discover", "aliases")}
    merged, inner = merge(template, (), override, ("discover", "overrides", glob))
    return check_model(merged, doc, lambda path: origin(inner(path)), deep=deep)

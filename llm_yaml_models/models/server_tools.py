"""llm's server-side tools from a declaration's ``server_tools``: tools
that run on the provider's servers (web search, code execution), which
llm offers with ``-T NAME`` and never runs itself.

Each name becomes an ``llm.ServerSideTool`` subclass of that name, whose
spec is the one declared, sent as written. ``-T 'WebSearch(max_uses=2)'``
changes a key of it for one prompt (null removes one); llm logs what was
changed, so ``-c`` rebuilds the same tool."""

from __future__ import annotations

import inspect
import json
import keyword
import re
from typing import Any

import llm


def tool_classes(server_tools: tuple[tuple[str, dict], ...]) -> tuple[type, ...]:
    """One class per declared tool, in the declaration's order."""
    return tuple(tool_class(name, spec) for name, spec in server_tools)


def tool_class(class_name: str, spec: dict) -> type[llm.ServerSideTool]:
    """The tool ``class_name``, sending ``spec`` with the keys a prompt changes."""

    def __init__(self, **changes: Any) -> None:
        llm.ServerSideTool.__init__(self, changed(spec, changes))
        self._config = changes  # what llm logs, and rebuilds the tool from under -c

    __init__.__signature__ = _signature(spec)  # type: ignore[attr-defined]
    namespace = {
        "__doc__": f"Runs on the provider's servers; sent as {json.dumps(spec)}",
        "__module__": __name__,
        "name": tool_name(class_name, spec),
    }
    cls = type(class_name, (llm.ServerSideTool,), namespace)
    # Set after the class is made: ServerSideTool wraps an __init__ defined
    # in the class body, and its record of the arguments leaves **changes out.
    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


def changed(spec: dict, changes: dict) -> dict:
    """``spec`` with ``changes`` over it; a None removes a key."""
    out = {**spec, **changes}
    return {key: value for key, value in out.items() if value is not None}


def tool_name(class_name: str, spec: dict) -> str:
    """The name llm records the tool under: the spec's ``name`` or ``type``
    where it has one (Anthropic's, OpenAI's), else the class name in
    snake_case (Gemini's GoogleSearch: google_search), as the providers'
    own plugins name theirs."""
    for key in ("name", "type"):
        if isinstance(spec.get(key), str) and spec[key]:
            return spec[key]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", class_name).lower()


def _signature(spec: dict) -> inspect.Signature:
    """What ``llm tools -m MODEL`` shows: each key of the spec, its declared
    value the default, and any other key the API takes."""
    kind = inspect.Parameter
    params = [kind("self", kind.POSITIONAL_OR_KEYWORD)]
    params += [kind(k, kind.KEYWORD_ONLY, default=v) for k, v in spec.items() if _nameable(k)]
    params.append(kind("more", kind.VAR_KEYWORD))
    return inspect.Signature(params)


def _nameable(key: str) -> bool:
    """Can a spec key be a parameter of the signature? Not a Python keyword,
    nor the two names it already has; such a key is still sent, and ``-T``
    can still set it through ``**more``."""
    return key.isidentifier() and not keyword.iskeyword(key) and key not in ("self", "more")

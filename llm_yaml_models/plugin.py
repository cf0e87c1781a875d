"""The llm hooks, and nothing else: everything they do is guarded, because
an exception here would break every llm command."""

from __future__ import annotations

import os
import sys

import llm


@llm.hookimpl(trylast=True)
def register_models(register, model_aliases):
    # trylast: every other plugin has registered by now, so model_aliases
    # holds the names a declaration must not silently take over.
    try:
        from .registry import registrations

        found = registrations(model_aliases)
    except Exception as exc:  # noqa: BLE001 - never break llm
        _internal_error("no models registered", exc)
        return
    for model, async_model, aliases in found:
        register(model, async_model, aliases=aliases)


@llm.hookimpl(trylast=True)
def register_embedding_models(register):
    try:
        from .registry import embedding_registrations

        found = embedding_registrations()
    except Exception as exc:  # noqa: BLE001 - never break llm
        _internal_error("no embedding models registered", exc)
        return
    for model, aliases in found:
        register(model, aliases=aliases)


@llm.hookimpl
def register_commands(cli):
    try:
        from .commands.cli import yaml_models
    except Exception as exc:  # noqa: BLE001 - never break llm
        _internal_error("'llm yaml-models' is unavailable", exc)
        return
    cli.add_command(yaml_models)


_reported: set[str] = set()


def _internal_error(consequence: str, exc: Exception) -> None:
    if os.environ.get("LLM_RAISE_ERRORS"):
        raise exc
    if consequence not in _reported:  # llm calls register_models again and again
        _reported.add(consequence)
        sys.stderr.write(f"llm-yaml-models: internal error, {consequence}: {exc!r}\n")

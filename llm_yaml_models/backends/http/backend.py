"""The HTTP backend for chat models: a prompt in, text (and tool calls,
usage, a log) out.

What is its own: building a chat request from the declared templates
(``call.py``), reading a reply with the family's ``Decoder``, and keeping
what the reply said (usage, tool calls, the logged reply). Sending, with
retries, deployments, limits and redirects, is the ``Sender``'s
(``send.py``), which the embedding backend uses too.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator

from ...errors import printable
from ..base import Backend, Request
from .call import Call, build_call
from .checks import notes, places_conversation, problems
from .config import HttpConfig, preset_metadata_defaults, preset_options, preset_server_tools
from .decode import Decoder
from .deployments import Target, pinned
from .outcome import tool_arguments
from .send import Sender


class HttpBackend(Backend):
    Config = HttpConfig
    pinned = staticmethod(pinned)  # for ``check``: every request to one deployment

    def __init__(self, config):
        super().__init__(config)
        self.sender = Sender(self.config, self._call, Decoder, self._finish)

    @classmethod
    def check(cls, data, doc, origin, base_dir, deep=False) -> list:
        return problems(data, doc, origin, base_dir)

    @classmethod
    def standard_options(cls, backend: dict) -> dict:
        return preset_options(backend)

    @classmethod
    def metadata_defaults(cls, backend: dict) -> dict:
        return preset_metadata_defaults(backend)

    @classmethod
    def standard_server_tools(cls, backend: dict) -> dict:
        return preset_server_tools(backend)

    @classmethod
    def converses(cls, data: dict) -> bool:
        return places_conversation(data)

    @classmethod
    def notes(cls, data, doc, origin) -> list:
        return notes(data, doc, origin)

    def stream(self, request: Request) -> Iterator[str]:
        return self.sender.stream(request)

    def astream(self, request: Request) -> AsyncIterator[str]:
        return self.sender.astream(request)

    def dry_run(self, request: Request) -> str:
        """The request as it would be sent, secrets starred."""
        return self.sender.dry_run(request)

    def deployment_names(self) -> list[str]:
        """For ``check``: each deployment, by its base URL (a password starred)."""
        return self.sender.deployment_names()

    def close(self) -> None:
        self.sender.close()

    @staticmethod
    def _call(request: Request, target: Target) -> Call:
        return build_call(target.config, request, target.key)

    @staticmethod
    def _finish(decoder: Decoder, request: Request, target: Target) -> None:
        outcome = decoder.outcome
        dropped = outcome.drop_bad_counts()
        if dropped:
            warning = (
                f"llm-yaml-models: warning: {request.model_id}: usage from {decoder.where} "
                f"is not a token count, not logged: {', '.join(dropped)}"
            )
            sys.stderr.write(printable(request.secrets.hide(warning)) + "\n")
        if outcome.usage:
            request.set_usage(**{k: outcome.usage.get(k) for k in ("input", "output", "details")})
        request.set_resolved_model(outcome.model)
        # A server may echo the key (in an id, say): the log must not keep it.
        log = outcome.log()
        if target.deployment is not None:
            log = {**log, "deployment": target.deployment.name}
        request.response_json = log or None  # starred as it is logged (Request.logged)
        for slot in outcome.tool_calls.values():
            arguments = tool_arguments(str(slot["arguments"]))
            request.add_tool_call(slot["name"], arguments, slot["id"], slot.get("metadata"))

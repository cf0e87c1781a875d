"""OpenAI's Responses API (``/responses``), as llm's own ``responses: true``
models speak it.

The conversation is a list of input items: user and assistant messages,
the model's ``function_call`` items and their ``function_call_output``, and
its earlier ``reasoning`` items (their id and ``encrypted_content``, kept
in the reasoning part's ``provider_metadata["openai"]``), each before the
reply they belong to. The system prompt is the body's ``instructions``.

A reply is a list of output items; a stream is named events that build
them. The preset's paths read the text, usage, finish reason and the error
of a failed response; the reader reads what depends on an item's or an
event's type: reasoning, function calls, and ``error`` events; and the
hosted tools' items (``web_search_call``, ``code_interpreter_call``), as
llm's own client records them: a call and its result, ``server_executed``,
which are not sent back (the API keeps no state under ``store: false``,
and llm's client does not send them either). A message's ``annotations``
(its citations) are kept in the text part's ``provider_metadata["openai"]``.
"""

from __future__ import annotations

import json
from typing import Any

from ..outcome import Pieces, WireError, tool_call_deltas
from ..think import part_opener
from . import Reader, Wire
from .openai_chat import data_url


def _attachment(attachment) -> dict:
    kind = attachment.resolve_type()
    if kind == "application/pdf":
        return {
            "type": "input_file",
            "filename": f"{attachment.id()}.pdf",
            "file_data": data_url(attachment),
        }
    # As llm's client does, anything but a PDF goes as an image.
    return {"type": "input_image", "image_url": attachment.url or data_url(attachment)}


def _reasoning(part) -> dict | None:
    """An earlier reasoning item, to send back; None if it has nothing to send."""
    meta = (part.provider_metadata or {}).get("openai")
    if not isinstance(meta, dict) or not (meta.get("id") or meta.get("encrypted_content")):
        return None
    item: dict[str, Any] = {"type": "reasoning"}
    item.update({k: meta[k] for k in ("id", "encrypted_content") if meta.get(k)})
    item["summary"] = meta.get("summary") or []
    return item


def _items(m) -> list[dict]:
    """One message as input items: its reasoning first, then what it says."""
    items = [item for part in m.reasoning if (item := _reasoning(part))]
    if m.role == "tool":
        return items + [
            {"type": "function_call_output", "call_id": m.tool_call_id, "output": m.content}
        ]
    if m.role == "user" and m.attachments:
        text = [{"type": "input_text", "text": m.content}] if m.content else []
        content = text + [_attachment(a) for a in m.attachments]
        return items + [{"role": "user", "content": content}]
    if m.content:
        items.append({"role": m.role, "content": m.content})
    return items + [
        {
            "type": "function_call",
            "call_id": call.tool_call_id,
            "name": call.name,
            "arguments": json.dumps(call.arguments),
        }
        for call in m.tool_calls
    ]


class OpenAIResponses(Wire):
    name = "openai-responses"
    tools = True
    schema = True

    def messages(self, messages) -> list[dict]:
        # The system prompt is the body's `instructions`, not an item.
        return [item for m in messages if m.role != "system" for item in _items(m)]

    def tool_body(self, tools) -> dict:
        specs = [
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description or None,
                "parameters": tool.input_schema,
            }
            for tool in tools
        ]
        return {"tools": specs}

    def schema_body(self, schema) -> dict:
        # strict: false, as llm sends it: strict would insist on
        # additionalProperties: false at every level of the user's schema.
        spec = {"type": "json_schema", "name": "output", "schema": schema, "strict": False}
        return {"text": {"format": spec}}

    def finished(self, body, request) -> Any:
        """Under ``-R`` no reasoning summary is asked for, as llm's own
        client does: llm would not show it."""
        reasoning = body.get("reasoning") if isinstance(body, dict) else None
        if not (request.hide_reasoning and isinstance(reasoning, dict) and "summary" in reasoning):
            return body
        rest = {k: v for k, v in reasoning.items() if k != "summary"}
        out = {k: v for k, v in body.items() if k != "reasoning"}
        return {**out, "reasoning": rest} if rest else out

    def reader(self, state) -> Reader:
        return ResponsesReader(state)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _text_event(text: str) -> Any:
    from llm.parts import StreamEvent

    return StreamEvent(type="text", chunk=text)


def _event(item: dict, with_text: bool) -> Any:
    """A reasoning item as llm's reasoning event, as llm's client makes it:
    its summary as text (unless it streamed already), its id and ciphertext
    as metadata; redacted if it should have had text and had none."""
    from llm.parts import StreamEvent

    parts = _list(item.get("summary")) + _list(item.get("content")) if with_text else []
    text = "".join(_str(p.get("text")) or "" for p in parts if isinstance(p, dict))
    meta = {k: item[k] for k in ("id", "encrypted_content", "summary") if item.get(k)}
    return StreamEvent(
        type="reasoning",
        chunk=text,
        redacted=with_text and not text,
        provider_metadata={"openai": meta} if meta else None,
    )


_SERVER_ITEMS = ("web_search_call", "code_interpreter_call")


def _server_call(item: dict) -> tuple[str, Any, str]:
    """A hosted tool's item as llm's client records it: the tool's name,
    its arguments, and its result as text."""
    status = _str(item.get("status")) or "completed"
    if item["type"] == "web_search_call":
        results = _list(item.get("results"))
        action = item.get("action") if isinstance(item.get("action"), dict) else {}
        return "web_search", action, json.dumps(results) if results else status
    outputs = [o for o in _list(item.get("outputs")) if isinstance(o, dict)]
    bits = [text for o in outputs if isinstance(text := o.get("logs") or o.get("url"), str)]
    return "code_interpreter", {"code": _str(item.get("code")) or ""}, "\n".join(bits) or status


def _message_text(item: dict) -> list[str]:
    return [
        text
        for content in _list(item.get("content"))
        if isinstance(content, dict) and content.get("type") == "output_text"
        if (text := _str(content.get("text")))
    ]


class ResponsesReader(Reader):
    """Reasoning and function calls, from output items or the events that build them."""

    def __init__(self, state):
        super().__init__(state)
        self.streamed: set = set()  # reasoning items whose text came as deltas
        self.reasoned = False  # a reasoning item was seen
        self.items = 0  # reasoning items begun
        # The annotations of the messages since the last other item: llm
        # makes one text part of them, and keeps the last metadata given.
        self.annotations: list = []

    def reply(self, data: Any) -> list:
        if isinstance(data, dict) and data.get("status") == "failed":
            self._failed(data)
        output = _list(data.get("output") if isinstance(data, dict) else None)
        # With a hosted tool's items among them, the text goes in its place.
        in_place = any(isinstance(i, dict) and i.get("type") in _SERVER_ITEMS for i in output)
        chunks = []
        for i, item in enumerate(output):
            if in_place and isinstance(item, dict) and item.get("type") == "message":
                chunks += _message_text(item)
            chunks += self._item(i, item, whole=True)
        return chunks + self._hidden(data)

    def event(self, name: str, payload: Any) -> list:
        if not isinstance(payload, dict):
            return []
        kind = _str(payload.get("type")) or name
        handle = getattr(self, "_on_" + kind.replace(".", "_"), None)
        return handle(payload) if handle else []

    def _call(self, index: Any, item: dict, arguments: Any = None) -> list:
        """The call noted; llm's name event for it, if it is new."""
        delta = {"index": index, "id": item.get("call_id"), "function": {"name": item.get("name")}}
        if arguments is not None:
            delta["function"]["arguments"] = arguments
        return self.state.named(tool_call_deltas(self.state.outcome, [delta], self.state.where))

    def _apart(self, index: Any) -> list:
        """llm joins adjacent reasoning into one part, keeping the last
        metadata: each reasoning item opens a part of its own
        (``part_opener``), so that it keeps its id and ciphertext. An item
        with no output_index gets an empty text event before it instead."""
        begun, self.items = self.items, self.items + 1
        if type(index) is int:
            return [part_opener(index)]
        return [_text_event("")] if begun else []

    def _item(self, index: Any, item: Any, whole: bool) -> list:
        """A complete output item: a reasoning event, a function call noted,
        a hosted tool's call and result, or a message's annotations."""
        if not isinstance(item, dict):
            return []
        if item.get("type") != "message":
            self.annotations = []
        if item.get("type") in _SERVER_ITEMS:
            return self._server_events(item)
        if item.get("type") == "message":
            return self._annotated(item)
        if item.get("type") == "reasoning":
            self.reasoned = True
            apart = self._apart(index) if whole else []  # streamed: when the item was added
            return apart + [_event(item, _str(item.get("id")) not in self.streamed)]
        if item.get("type") == "function_call":
            if whole:
                return self._call(index, item, item.get("arguments"))
            else:  # its arguments came as deltas; the whole of them wins
                self._call(index, item)
                slot = self.state.outcome.tool_calls[index]
                if isinstance(item.get("arguments"), str):
                    slot["arguments"] = Pieces(item["arguments"])
        return []

    def _server_events(self, item: dict) -> list:
        from llm.parts import StreamEvent

        name, arguments, result = _server_call(item)
        call_id = self.state.secrets.hide(_str(item.get("id")) or "") or None
        hide = self.state.secrets.hide
        fields = {"tool_call_id": call_id, "server_executed": True}
        return [
            StreamEvent("tool_call_name", name, **fields),
            StreamEvent("tool_call_args", hide(json.dumps(arguments)), **fields),
            StreamEvent("tool_result", hide(result), tool_name=name, **fields),
        ]

    def _annotated(self, item: dict) -> list:
        """A message's citations (``annotations`` of its output_text), kept
        in llm's text part: all since the last other item."""
        from llm.parts import StreamEvent

        found = [
            annotation
            for content in _list(item.get("content"))
            if isinstance(content, dict) and content.get("type") == "output_text"
            for annotation in _list(content.get("annotations"))
        ]
        if not found:
            return []
        self.annotations += self.state.secrets.hide(found)
        meta = {"openai": {"annotations": list(self.annotations)}}
        return [StreamEvent("text", "", provider_metadata=meta)]

    def _hidden(self, response: Any) -> list:
        """Reasoning the usage counts but no item showed: llm's redacted marker."""
        from llm.parts import StreamEvent

        usage = response.get("usage") if isinstance(response, dict) else None
        details = usage.get("output_tokens_details") if isinstance(usage, dict) else None
        tokens = details.get("reasoning_tokens") if isinstance(details, dict) else None
        if self.reasoned or not tokens:
            return []
        return [StreamEvent(type="reasoning", chunk="", redacted=True)]

    # -- streamed events, by type -------------------------------------------------

    def _on_response_output_item_added(self, payload: dict) -> list:
        item = payload.get("item")
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "function_call":  # its name where it came
            return self._call(payload.get("output_index"), item, item.get("arguments") or "")
        return self._apart(payload.get("output_index")) if kind == "reasoning" else []

    def _on_response_function_call_arguments_delta(self, payload: dict) -> list:
        index = payload.get("output_index")
        if type(index) is not int or index not in self.state.outcome.tool_calls:
            return []  # arguments of no call announced: nothing to add them to
        self._call(index, {}, payload.get("delta") or "")
        return []

    def _on_response_reasoning_summary_text_delta(self, payload: dict) -> list:
        from llm.parts import StreamEvent

        self.streamed.add(_str(payload.get("item_id")))
        delta = payload.get("delta")
        return [StreamEvent(type="reasoning", chunk=delta)] if isinstance(delta, str) else []

    _on_response_reasoning_text_delta = _on_response_reasoning_summary_text_delta

    def _on_response_reasoning_summary_text_done(self, payload: dict) -> list:
        from llm.parts import StreamEvent

        text, item_id = _str(payload.get("text")), _str(payload.get("item_id"))
        if item_id in self.streamed or not text:
            return []
        self.streamed.add(item_id)
        return [StreamEvent(type="reasoning", chunk=text)]

    _on_response_reasoning_text_done = _on_response_reasoning_summary_text_done

    def _on_response_output_item_done(self, payload: dict) -> list:
        return self._item(payload.get("output_index"), payload.get("item"), whole=False)

    def _on_response_completed(self, payload: dict) -> list:
        return self._hidden(payload.get("response"))

    def _on_response_failed(self, payload: dict) -> list:
        self._failed(payload.get("response"))
        return []

    def _failed(self, response: Any) -> None:
        """A failed response whose error has no message (the paths read one that has)."""
        error = response.get("error") if isinstance(response, dict) else None
        code = _str(error.get("code")) if isinstance(error, dict) else None
        raise WireError(f"error from {self.state.where}: {code or 'the response failed'}")

    def _on_error(self, payload: dict) -> list:
        error = payload.get("error")
        message = payload.get("message") or (
            error.get("message") if isinstance(error, dict) else error
        )
        if not isinstance(message, str) or not message:
            message = (
                payload.get("code") if isinstance(payload.get("code"), str) else json.dumps(payload)
            )
        raise WireError(f"error from {self.state.where}: {message}")


WIRE = OpenAIResponses

"""Callables declared as models in python.yaml: one of every shape.

Each receives the request object (prompt, system, messages, history,
attachments, options, key, model_id, stream, tools, tool_results, set_usage,
response_json) and any fixed ``arguments`` from the YAML as keyword arguments.
"""

import asyncio

import llm
from llm.parts import StreamEvent


def shout(request, exclaim_with="!"):
    """A plain function returning a str."""
    text = request.prompt.upper()
    return text + exclaim_with if request.options.get("exclaim") else text


def count_words(request):
    """A generator: yields chunks, and reports usage."""
    words = request.prompt.split()
    for i, word in enumerate(words, 1):
        yield f"{i}:{word} "
    request.set_usage(input=len(words), output=len(words), details={"unit": "words"})
    request.response_json = {"counted": len(words)}


async def reverse(request):
    """An async def returning a str."""
    await asyncio.sleep(0)
    return request.prompt[::-1]


async def spell(request):
    """An async generator."""
    for letter in request.prompt:
        await asyncio.sleep(request.options.get("delay", 0))
        yield letter


def ponder(request):
    """Yields its reasoning (llm's StreamEvent), then the answer: llm -R hides it."""
    words = request.prompt.split()
    yield StreamEvent(type="reasoning", chunk=f"The prompt has {len(words)} words. ")
    yield StreamEvent(type="reasoning", chunk="The longest one is the answer.")
    yield max(words, key=len) if words else "(nothing to ponder)"


def recall(request):
    """Uses the conversation history built from prompt.messages."""
    earlier = [m.content for m in request.history if m.role == "user"]
    if not earlier:
        return f"first message: {request.prompt}"
    return f"you said before: {' | '.join(earlier)}; now: {request.prompt}"


def call_tools(request):
    """Calls tools (llm -T): returns llm.ToolCall objects; llm runs them and
    calls this again, on the chain's next round, with their results."""
    if request.tool_results:
        return "\n".join(f"{r.name}: {r.output}" for r in request.tool_results)
    calls = [
        llm.ToolCall(name=tool.name, arguments={})
        for tool in request.tools
        if not tool.input_schema.get("required")
    ]
    return calls or "no tools to call (try -T llm_version)"


def describe_attachments(request):
    """Uses attachments: llm Attachment objects, with content_bytes()."""
    lines = [f"{a.resolve_type()}: {len(a.content_bytes())} bytes" for a in request.attachments]
    return "\n".join(lines) or "no attachments"


def greet(request, greeting):
    """Backs several models, each with its own fixed ``greeting`` argument."""
    return f"{greeting}, {request.prompt}"

"""The HTTP backend: any HTTP model API, declared in YAML.

config.py    the declaration, typed (a preset under the user's keys)
checks.py    what a schema cannot see in it
call.py      request in, HTTP call out (and the call as text, starred)
decode.py    bytes in, chunks out: whole replies and streams
paths.py     the declared JMESPath, compiled
outcome.py   what a reply said besides its text; WireError
wire/        one module per API family: its message shapes and events
backend.py   the chat backend: its call, its reply kept
send.py      the engine, sync and async: clients, deployments, retries, redirects
deployments.py which replica each attempt goes to; cool-downs
embeddings.py the embedding backend: its call, its vectors
transport.py httpx2 clients that make a TLS context only for https
"""

from .backend import HttpBackend
from .call import Call, build_call
from .config import HttpConfig, merged, preset
from .decode import Decoder
from .outcome import WireError

BACKEND = HttpBackend

__all__ = ["BACKEND", "Call", "Decoder", "HttpBackend", "HttpConfig", "WireError", "build_call"]
__all__ += ["merged", "preset"]

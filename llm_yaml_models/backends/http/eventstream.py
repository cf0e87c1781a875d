"""AWS's binary event-stream framing (``application/vnd.amazon.eventstream``),
as Bedrock's ConverseStream sends it.

A message is::

    total length  u32   the whole message, these 4 bytes and the CRC included
    headers length u32
    prelude CRC   u32   CRC32 of the 8 bytes before it
    headers             name length u8, name, value type u8, value
    payload
    message CRC   u32   CRC32 of everything before it

All integers are big-endian. ``EventStream.feed`` takes bytes split
anywhere and returns the messages completed so far; a bad CRC or a bad
header is ``FramingError``, one line."""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field

from ...errors import FramingError

PRELUDE = 12  # total length, headers length, prelude CRC
MINIMUM = PRELUDE + 4  # no headers, no payload, the message CRC
MAX_MESSAGE = 16 * 2**20  # the framing's own limits
MAX_HEADERS = 128 * 2**10


@dataclass(frozen=True)
class Message:
    headers: dict = field(default_factory=dict)
    payload: bytes = b""

    @property
    def kind(self) -> str:
        """``:message-type``: event, exception or error."""
        return str(self.headers.get(":message-type", "event"))


# value type -> (struct format, or None: a u16 length then that many bytes)
_FIXED = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}


def _value(data: bytes, at: int, kind: int) -> tuple[object, int]:
    """One header value at ``data[at:]``, and where the next header starts."""
    if kind in (0, 1):
        return kind == 0, at
    if kind in _FIXED:
        size = struct.calcsize(_FIXED[kind])
        (number,) = struct.unpack_from(_FIXED[kind], data, at)
        return number, at + size  # a timestamp (8) stays milliseconds since the epoch
    if kind == 9:
        return uuid.UUID(bytes=bytes(data[at : at + 16])), at + 16
    if kind in (6, 7):
        (length,) = struct.unpack_from(">H", data, at)
        raw = bytes(data[at + 2 : at + 2 + length])
        if len(raw) != length:
            raise struct.error("short")
        return (raw.decode("utf-8") if kind == 7 else raw), at + 2 + length
    raise FramingError(f"a header of unknown type {kind}")


def headers(data: bytes) -> dict:
    """The headers block of one message, as name -> value."""
    out: dict = {}
    at = 0
    try:
        while at < len(data):
            size = data[at]
            name = bytes(data[at + 1 : at + 1 + size]).decode("utf-8")
            at += 1 + size
            out[name], at = _value(data, at + 1, data[at])
    except FramingError:
        raise
    except (struct.error, IndexError, ValueError):  # ValueError: not UTF-8
        raise FramingError("a message's headers are cut short or not UTF-8") from None
    if at != len(data):
        raise FramingError("a message's headers are cut short")
    return out


def _crc(data: bytes, expected: int, what: str) -> None:
    if zlib.crc32(data) & 0xFFFFFFFF != expected:
        raise FramingError(f"the {what} CRC of a message does not match")


class EventStream:
    """A streaming decoder: bytes in, whole messages out."""

    def __init__(self):
        self._buffer = bytearray()

    @property
    def pending(self) -> bool:
        """Bytes of a message that has not come whole."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        messages = []
        while (message := self._next()) is not None:
            messages.append(message)
        return messages

    def _next(self) -> Message | None:
        buffer = self._buffer
        if len(buffer) < PRELUDE:
            return None
        total, header_length, prelude_crc = struct.unpack_from(">III", buffer)
        _crc(bytes(buffer[:8]), prelude_crc, "prelude")
        if total < MINIMUM or total > MAX_MESSAGE or header_length > min(MAX_HEADERS, total):
            raise FramingError(
                f"a message says it is {total} bytes, with {header_length} of headers"
            )
        if header_length > total - MINIMUM:
            raise FramingError(f"a message of {total} bytes cannot hold {header_length} of headers")
        if len(buffer) < total:
            return None
        whole = bytes(buffer[:total])
        del buffer[:total]
        (message_crc,) = struct.unpack_from(">I", whole, total - 4)
        _crc(whole[:-4], message_crc, "message")
        found = headers(whole[PRELUDE : PRELUDE + header_length])
        return Message(found, whole[PRELUDE + header_length : -4])

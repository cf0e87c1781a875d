"""AWS's event-stream framing (backends/http/eventstream.py), against frames
built independently of the decoder, from the spec, with struct and zlib
(tests/bedrockapi.py)."""

from __future__ import annotations

import json
import struct
import uuid
import zlib

import pytest
from bedrockapi import event, exception, frame, header

from llm_yaml_models.backends.http.eventstream import EventStream, FramingError, Message

# -- the decoder ------------------------------------------------------------------------------

STREAM = event("messageStart", {"role": "assistant"}) + event(
    "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}
)


def test_messages_come_whole_with_their_headers_and_payload():
    messages = EventStream().feed(STREAM)
    assert [m.headers[":event-type"] for m in messages] == ["messageStart", "contentBlockDelta"]
    assert json.loads(messages[1].payload) == {"contentBlockIndex": 0, "delta": {"text": "Hi"}}
    assert messages[0].kind == "event"


def test_every_header_value_type():
    stamp, ident = 1_700_000_000_123, uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers = [
        header("t", 0),
        header("f", 1),
        header("b", 2, -7),
        header("s", 3, -300),
        header("i", 4, 2**31 - 1),
        header("l", 5, -(2**40)),
        header("a", 6, b"\x00\xff"),
        header("str", 7, "héllo"),
        header("ts", 8, stamp),
        header("u", 9, ident),
    ]
    [message] = EventStream().feed(frame(headers, b"payload"))
    assert message == Message(
        {
            "t": True,
            "f": False,
            "b": -7,
            "s": -300,
            "i": 2**31 - 1,
            "l": -(2**40),
            "a": b"\x00\xff",
            "str": "héllo",
            "ts": stamp,
            "u": ident,
        },
        b"payload",
    )


def test_a_stream_split_at_every_byte_gives_the_same_messages():
    whole = EventStream().feed(STREAM)
    for cut in range(len(STREAM) + 1):
        decoder = EventStream()
        got = decoder.feed(STREAM[:cut]) + decoder.feed(STREAM[cut:])
        assert got == whole, cut
        assert not decoder.pending


def test_a_stream_fed_a_byte_at_a_time():
    decoder = EventStream()
    got = [m for i in range(len(STREAM)) for m in decoder.feed(STREAM[i : i + 1])]
    assert got == EventStream().feed(STREAM)


def test_a_partial_message_is_pending():
    decoder = EventStream()
    assert decoder.feed(STREAM[:-1]) == EventStream().feed(STREAM)[:1]
    assert decoder.pending


def test_a_damaged_payload_fails_the_message_crc():
    damaged = bytearray(event("contentBlockDelta", {"delta": {"text": "Hi"}}))
    damaged[-6] ^= 0x01
    with pytest.raises(FramingError) as caught:
        EventStream().feed(bytes(damaged))
    assert str(caught.value) == "the message CRC of a message does not match"


def test_a_damaged_length_fails_the_prelude_crc_before_it_is_trusted():
    damaged = bytearray(STREAM)
    damaged[0] = 0x7F  # a length of ~2 GB: read as such, the decoder would wait for it
    with pytest.raises(FramingError) as caught:
        EventStream().feed(bytes(damaged[:12]))
    assert str(caught.value) == "the prelude CRC of a message does not match"


def test_headers_longer_than_the_message():
    prelude = struct.pack(">II", 16, 5)
    data = prelude + struct.pack(">I", zlib.crc32(prelude))
    with pytest.raises(FramingError) as caught:
        EventStream().feed(data + b"\x00" * 4)
    assert str(caught.value) == "a message of 16 bytes cannot hold 5 of headers"


def test_a_header_cut_short():
    cut = header(":event-type", 7, "messageStart")[:-3]
    with pytest.raises(FramingError) as caught:
        EventStream().feed(frame([cut]))
    assert str(caught.value) == "a message's headers are cut short or not UTF-8"


def test_a_header_of_unknown_type():
    with pytest.raises(FramingError) as caught:
        EventStream().feed(frame([b"\x01x\x0a"]))
    assert str(caught.value) == "a header of unknown type 10"


def test_an_exception_message():
    [message] = EventStream().feed(exception("throttlingException", "Too many requests"))
    assert message.kind == "exception"
    assert message.headers[":exception-type"] == "throttlingException"

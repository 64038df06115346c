"""Encode and decode message batches: the only code that touches bytes received from the network.

Decoding never trusts its input. A frame that is not a msgpack list of known messages raises
``DecodeError`` with a short description; callers log it with the sender's identity and drop it, so a
buggy or hostile peer cannot crash the process that receives its bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from scaler.protocol.messages import Message

MAX_FRAME_BYTES = 512 * 1024 * 1024  # control frames above this are refused before decoding

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[Message])


class DecodeError(ValueError):
    """Bytes that are not a valid batch of messages of this protocol version."""


def encode(messages: Sequence[Message]) -> bytes:
    return _encoder.encode(messages)


def encode_one(message: Message) -> bytes:
    return _encoder.encode((message,))


def decode(frame: bytes | memoryview) -> list[Message]:
    if len(frame) > MAX_FRAME_BYTES:
        raise DecodeError(f"frame of {len(frame)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    try:
        return _decoder.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise DecodeError(f"undecodable frame of {len(frame)} bytes: {error}") from None

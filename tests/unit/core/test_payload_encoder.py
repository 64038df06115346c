"""The client's payload encoder: functions and repeated large arguments are uploaded once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from scaler.client.arguments import INLINE_ARG_LIMIT, PayloadEncoder
from scaler.errors import MissingObjectError
from scaler.protocol import messages as m
from scaler.serialization import DEFAULT_SERIALIZER, decode_object_frames


class Uploads:
    def __init__(self) -> None:
        self.frames: list[list[Any]] = []

    def __call__(self, frames: list[Any]) -> None:
        self.frames.append(frames)


def make() -> tuple[PayloadEncoder, Uploads]:
    uploads = Uploads()
    return PayloadEncoder(b"Client|unit", DEFAULT_SERIALIZER, uploads), uploads


def double(x: int) -> int:
    return 2 * x


def test_function_is_uploaded_once() -> None:
    encoder, uploads = make()
    ids = {encoder.function_id(double) for _ in range(100)}
    assert len(ids) == 1 and len(uploads.frames) == 1
    encoder.function_id(abs)  # builtins cannot be weakly referenced: still cached
    encoder.function_id(abs)
    assert len(uploads.frames) == 2


def test_small_arguments_are_inline() -> None:
    encoder, uploads = make()
    arg = encoder.argument(42)
    assert arg.kind is m.ArgKind.INLINE and DEFAULT_SERIALIZER.deserialize(arg.data) == 42
    assert encoder.argument("text").kind is m.ArgKind.INLINE
    assert not uploads.frames


@pytest.mark.parametrize("value", [b"x" * (2 * INLINE_ARG_LIMIT), np.arange(100_000), list(range(50_000))])
def test_large_argument_is_uploaded_once_and_round_trips(value: Any) -> None:
    encoder, uploads = make()
    first = encoder.argument(value)
    again = encoder.argument(value)
    assert first == again and first.kind is m.ArgKind.OBJECT
    # A list cannot be weakly referenced, so it is serialized again, but its content id makes it one upload.
    assert len(uploads.frames) == 1
    frames = uploads.frames[0][1:]  # after the ObjectPut header
    decoded = decode_object_frames([memoryview(f) if not isinstance(f, bytes) else f for f in frames],
                                   DEFAULT_SERIALIZER)  # fmt: skip
    if isinstance(value, np.ndarray):
        assert np.array_equal(decoded, value) and decoded.flags.writeable
    else:
        assert decoded == value


def test_reserialize_and_clear() -> None:
    encoder, uploads = make()
    array = np.zeros(100_000)
    encoder.argument(array)
    array[0] = 1
    changed = encoder.argument(array, reserialize=True)
    assert len(uploads.frames) == 2 and changed.kind is m.ArgKind.OBJECT
    reference = encoder.send_object([1, 2, 3], name="small")
    assert encoder.argument(reference) == m.TaskArg(m.ArgKind.OBJECT, reference.object_id)
    encoder.reset()
    with pytest.raises(MissingObjectError):
        encoder.argument(reference)

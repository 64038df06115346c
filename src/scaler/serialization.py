"""How functions, arguments, results and exceptions become bytes.

``Serializer`` is the user-facing interface (``scaler.Serializer``): two static methods. The default one
uses the C pickler directly for plain built-in values (about ten times faster than cloudpickle for the
tiny arguments of a typical task) and cloudpickle for everything else (lambdas, closures, classes defined
in ``__main__``). Exceptions always travel with cloudpickle and tblib, whatever the user's serializer, so
that the remote traceback survives the trip.
"""

from __future__ import annotations

import pickle
from typing import Any, TypeAlias

import cloudpickle
from tblib import pickling_support

# What a payload may arrive as: bytes, or a view on a zmq frame (large payloads are never copied to bytes).
Payload: TypeAlias = bytes | bytearray | memoryview

pickling_support.install()  # tracebacks become picklable: a task's exception keeps its remote frames

_PLAIN_TYPES = frozenset({int, float, str, bytes, bool, type(None), complex, bytearray})


class Serializer:
    """Replace cloudpickle for functions, arguments and results of a client's tasks.

    Subclass it with two static methods and pass an instance as ``Client(serializer=...)``. The instance is
    itself shipped to the workers (with cloudpickle), so whatever it imports must be installed there.
    """

    @staticmethod
    def serialize(obj: Any) -> bytes:
        raise NotImplementedError

    @staticmethod
    def deserialize(payload: Payload) -> Any:
        raise NotImplementedError


class DefaultSerializer(Serializer):
    @staticmethod
    def serialize(obj: Any) -> bytes:
        if type(obj) in _PLAIN_TYPES:
            return pickle.dumps(obj, protocol=5)
        payload: bytes = cloudpickle.dumps(obj, protocol=5)
        return payload

    @staticmethod
    def deserialize(payload: Payload) -> Any:
        return pickle.loads(payload)


DEFAULT_SERIALIZER = DefaultSerializer()


def dump_exception(error: BaseException) -> bytes:
    """Pickle an exception with its traceback; fall back to a description when it cannot be pickled."""
    try:
        payload: bytes = cloudpickle.dumps(error, protocol=5)
        return payload
    except Exception as pickling_error:  # the exception holds something unpicklable (a lock, a socket)
        text = f"{type(error).__qualname__}: {error} (the original exception could not be pickled: {pickling_error})"
        fallback: bytes = cloudpickle.dumps(UnpicklableTaskError(text), protocol=5)
        return fallback


def load_exception(payload: Payload) -> BaseException:
    error = pickle.loads(payload)
    if not isinstance(error, BaseException):
        return TypeError(f"task failed with a non-exception payload of type {type(error).__name__}")
    return error


class UnpicklableTaskError(Exception):
    """The task raised an exception that could not be pickled; this carries its type and message."""


# --- objects in object storage ---------------------------------------------------------------------------------
#
# An uploaded object is a list of frames whose first frame says how to read the rest:
#   b"S"  frame 1 is a payload of the task's serializer (functions, custom-serializer values, small values)
#   b"B"  frame 1 is a raw ``bytes`` value: no pickling at all on either side
#   b"P"  frame 1 is a pickle (protocol 5) and frames 2.. its out-of-band buffers (numpy arrays and the like):
#         the client sends the array's memory as it is, without an intermediate copy
SERIALIZED, RAW_BYTES, PICKLE_OOB = b"S", b"B", b"P"


def encode_object_frames(value: Any, serializer: Serializer) -> list[Any]:
    """The frames to upload for ``value`` (see above); the caller decides inline vs. upload by their size."""
    if not isinstance(serializer, DefaultSerializer):
        return [SERIALIZED, serializer.serialize(value)]
    if type(value) is bytes:
        return [RAW_BYTES, value]
    buffers: list[pickle.PickleBuffer] = []
    header = cloudpickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    if not buffers:
        return [SERIALIZED, header]
    return [PICKLE_OOB, header, *(buffer.raw() for buffer in buffers)]


def frames_size(frames: list[Any]) -> int:
    return sum(len(memoryview(frame)) for frame in frames[1:])


def decode_object_frames(frames: list[Any], serializer: Serializer) -> Any:
    """The value of an uploaded object; ``frames`` are buffers (zmq frames' ``.buffer`` or bytes)."""
    kind = bytes(frames[0])
    if kind == SERIALIZED:
        return serializer.deserialize(frames[1])
    if kind == RAW_BYTES:
        return bytes(frames[1])
    if kind == PICKLE_OOB:
        # Copy each buffer into writable memory: users expect to be able to modify the arrays they receive.
        return pickle.loads(frames[1], buffers=[bytearray(frame) for frame in frames[2:]])
    raise ValueError(f"unknown object encoding {kind!r}")

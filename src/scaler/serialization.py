"""How functions, arguments, results and exceptions become bytes.

``Serializer`` is the user-facing interface (``scaler.Serializer``): two static methods. The default one
uses the C pickler directly for plain built-in values (about ten times faster than cloudpickle for the
tiny arguments of a typical task) and cloudpickle for everything else (lambdas, closures, classes defined
in ``__main__``). Exceptions always travel with cloudpickle and tblib, whatever the user's serializer, so
that the remote traceback survives the trip.
"""

from __future__ import annotations

import pickle
import sys
from types import TracebackType
from typing import Any, TypeAlias

import cloudpickle
from tblib import Traceback, pickling_support

# What a payload may arrive as: bytes, or a view on a zmq frame (large payloads are never copied to bytes).
Payload: TypeAlias = bytes | bytearray | memoryview

pickling_support.install()  # tracebacks become picklable: a task's exception keeps its remote frames

_PLAIN_TYPES = frozenset({int, float, str, bytes, bool, type(None), complex, bytearray})


class Serializer:
    """Replace cloudpickle for functions, arguments and results of a client's tasks.

    Subclass it with two static methods and pass an instance as ``Client(serializer=...)``. The instance is
    itself shipped to the workers (with cloudpickle), so whatever it imports must be installed there.

    The task's function goes through it too. A serializer built on plain ``pickle`` stores a function by
    reference (module and name), and a function defined in the client's ``__main__`` (a script or a notebook)
    cannot be found that way on a worker, whose ``__main__`` is another program: define such functions in an
    importable module, or let the serializer fall back to ``cloudpickle`` for functions.
    """

    @staticmethod
    def serialize(obj: Any) -> bytes:
        """Turn ``obj`` (a function, an argument or a result) into bytes."""
        raise NotImplementedError

    @staticmethod
    def deserialize(payload: Payload) -> Any:
        """The object ``serialize`` turned into ``payload`` (bytes, or a memoryview of them)."""
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
    _drop_worker_frames(error)
    try:
        payload: bytes = cloudpickle.dumps(error, protocol=5)
        return payload
    except Exception as pickling_error:  # the exception holds something unpicklable (a lock, a socket)
        text = f"{type(error).__qualname__}: {error} (the original exception could not be pickled: {pickling_error})"
        fallback: bytes = cloudpickle.dumps(UnpicklableTaskError(text), protocol=5)
        return fallback


def _drop_worker_frames(error: BaseException) -> None:
    """Start the traceback at the user's code: the processor's own frames above it are noise to the user.

    Only when user code follows them: an error raised inside Scaler itself keeps every frame.
    """
    traceback = error.__traceback__
    first_user_frame = traceback
    while first_user_frame is not None and _is_worker_frame(first_user_frame):
        first_user_frame = first_user_frame.tb_next
    if first_user_frame is not None and first_user_frame is not traceback:
        error.__traceback__ = first_user_frame


def _is_worker_frame(traceback: TracebackType) -> bool:
    module = traceback.tb_frame.f_globals.get("__name__", "")
    return isinstance(module, str) and module.startswith("scaler.worker.")


def load_exception(payload: Payload) -> BaseException:
    error = pickle.loads(payload)
    if not isinstance(error, BaseException):
        return TypeError(f"task failed with a non-exception payload of type {type(error).__name__}")
    _restore_main_filenames(error)
    return error


# cloudpickle ships a function defined in ``__main__`` by value and replaces its code's file name with this
# placeholder (so that equal functions pickle to equal bytes); the line numbers are kept.
_DYNAMIC_CODE = "<dynamic-code>"


def _restore_main_filenames(error: BaseException) -> None:
    """Put the client's file names back in the frames of ``__main__`` functions, so tracebacks show source lines.

    Only the client knows where its ``__main__`` functions live: each placeholder frame gets the file of the
    ``__main__`` function of that name, or of ``__main__`` itself (a lambda, a nested function).
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:  # the exception and its causes
        seen.add(id(current))
        traceback = current.__traceback__
        if traceback is not None and _has_dynamic_frame(traceback):
            try:
                current.__traceback__ = _with_main_filenames(traceback)
            except Exception:  # a traceback tblib cannot rebuild: keep the placeholder rather than lose the error
                pass
        current = current.__cause__ or current.__context__


def _has_dynamic_frame(traceback: TracebackType) -> bool:
    node: TracebackType | None = traceback
    while node is not None:
        if node.tb_frame.f_code.co_filename == _DYNAMIC_CODE:
            return True
        node = node.tb_next
    return False


def _with_main_filenames(traceback: TracebackType) -> TracebackType:
    main = sys.modules.get("__main__")
    fallback = getattr(main, "__file__", None)
    frames = Traceback(traceback).as_dict()
    node: dict[str, Any] | None = frames
    while node is not None:
        code = node["tb_frame"]["f_code"]
        if code["co_filename"] == _DYNAMIC_CODE:
            function = getattr(main, code["co_name"], None)
            function_code = getattr(function, "__code__", None)
            filename = getattr(function_code, "co_filename", None) or fallback
            if isinstance(filename, str):
                code["co_filename"] = filename
        node = node["tb_next"]
    rebuilt: TracebackType = Traceback.from_dict(frames).as_traceback()
    return rebuilt


class UnpicklableTaskError(Exception):
    """The task raised an exception that could not be pickled; this carries its type and message."""


class FunctionNotFoundError(AttributeError):
    """A custom serializer could not rebuild the task's function on the worker (pickled by reference)."""


def function_not_found(name: str, serializer: Serializer, error: BaseException) -> FunctionNotFoundError:
    """The error for a function that a custom serializer cannot load on a worker, saying the likely cause."""
    text = f"the worker could not load function {name!r} with {type(serializer).__qualname__}: {error}."
    if "__main__" in str(error):
        text += (
            " A serializer built on plain pickle stores a function by module and name, and a function defined"
            " in the client's __main__ (a script or a notebook) does not exist in the worker's __main__: define"
            " it in an importable module installed on the workers, or serialize functions with cloudpickle"
        )
    return FunctionNotFoundError(text)


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
        # Users expect to be able to modify the arrays they receive: a read-only buffer (a zmq frame) is copied into
        # writable memory; a writable one (a private, copy-on-write mapping of shared memory) is used as it is.
        buffers = [frame if not memoryview(frame).readonly else bytearray(frame) for frame in frames[2:]]
        return pickle.loads(frames[1], buffers=buffers)
    raise ValueError(f"unknown object encoding {kind!r}")

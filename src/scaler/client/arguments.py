"""Turning functions and arguments into task payloads, uploading each large object once.

Small arguments travel inline in the task message. Larger ones (over ``INLINE_ARG_LIMIT``) are uploaded to
object storage under a content-derived id and referenced by that id, so the same bytes are uploaded once
per client no matter how many tasks use them. To avoid even re-serializing a large object passed again,
an identity cache remembers the payload of recently seen large objects: through a weak reference when the
object allows one (numpy arrays, most user classes), else by holding the object itself for immutable types
(bytes, str) in a small LRU.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from scaler import errors
from scaler.client.object_reference import ObjectReference
from scaler.ids import content_object_id, random_object_id
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.serialization import SERIALIZED, Serializer, encode_object_frames, frames_size

INLINE_ARG_LIMIT = 64 * 1024
_CONTENT_ID_LIMIT = 1024 * 1024
_SMALL_TYPES = frozenset({int, float, bool, type(None), complex})
_STRONG_CACHE_SIZE = 16
_IMMUTABLE_TYPES = (bytes, str, frozenset)

Upload = Callable[[list[Any]], None]


class PayloadEncoder:
    def __init__(self, client_id: bytes, serializer: Serializer, upload: Upload) -> None:
        self._client_id = client_id
        self._serializer = serializer
        self._upload = upload
        self._generation = b"0"
        self._uploaded: set[bytes] = set()
        self._functions: dict[Any, bytes] = {}
        self._weak_functions: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
        self._weak_args: dict[int, tuple[weakref.ref[Any], m.TaskArg]] = {}
        self._strong_args: OrderedDict[int, tuple[Any, m.TaskArg]] = OrderedDict()
        self.references: dict[bytes, ObjectReference] = {}

    def reset(self) -> None:
        """Forget everything uploaded (after ``clear()`` deleted it); new ids from now on."""
        self._generation = str(int(self._generation) + 1).encode()
        self._uploaded.clear()
        self._functions.clear()
        self._weak_functions = weakref.WeakKeyDictionary()
        self._weak_args.clear()
        self._strong_args.clear()
        self.references.clear()

    def function_id(self, function: Any) -> bytes:
        try:
            return self._weak_functions[function]
        except (KeyError, TypeError):
            pass
        cached = self._functions.get(function) if _hashable(function) else None
        if cached is not None:
            return cached
        object_id = self.upload_payload(self._serializer.serialize(function))
        try:
            self._weak_functions[function] = object_id
        except TypeError:  # builtins cannot be weakly referenced; they live forever anyway
            if _hashable(function):
                self._functions[function] = object_id
        return object_id

    def argument(self, value: Any, reserialize: bool = False) -> m.TaskArg:
        if isinstance(value, ObjectReference):
            if value.object_id not in self.references:
                raise errors.MissingObjectError(f"{value!r} is unknown to this client (was clear() called?)")
            return m.TaskArg(m.ArgKind.OBJECT, value.object_id)
        key = id(value)
        if not reserialize:
            cached = self._cached_argument(key, value)
            if cached is not None:
                return cached
        if type(value) in _SMALL_TYPES:  # the hot path: an int or a short string, serialized once, inline
            return m.TaskArg(m.ArgKind.INLINE, self._serializer.serialize(value))
        frames = encode_object_frames(value, self._serializer)
        if frames[0] == SERIALIZED and len(frames[1]) <= INLINE_ARG_LIMIT:
            return m.TaskArg(m.ArgKind.INLINE, frames[1])
        if frames_size(frames) <= INLINE_ARG_LIMIT:  # small raw bytes or a small array: inline is cheaper
            return m.TaskArg(m.ArgKind.INLINE, self._serializer.serialize(value))
        arg = m.TaskArg(m.ArgKind.OBJECT, self._upload_frames(frames))
        self._remember(key, value, arg)
        return arg

    def send_object(self, value: Any, name: str | None) -> ObjectReference:
        frames = encode_object_frames(value, self._serializer)
        object_id = self._upload_frames(frames)
        reference = ObjectReference((name or f"<{type(value).__name__}>").encode(), frames_size(frames), object_id)
        self.references[object_id] = reference
        return reference

    def upload_payload(self, payload: bytes) -> bytes:
        """Upload a payload of the client's serializer (a function, the serializer itself)."""
        return self._upload_frames([SERIALIZED, payload])

    def _upload_frames(self, frames: list[Any]) -> bytes:
        # Content ids make re-uploads of equal values free, but hashing costs ~1 s/GB: large objects get a
        # random id, and their re-use is caught by the identity cache instead.
        size = frames_size(frames)
        if size <= _CONTENT_ID_LIMIT:
            object_id = content_object_id(self._client_id, b"".join(bytes(f) for f in frames), self._generation)
            if object_id in self._uploaded:
                return object_id
            self._uploaded.add(object_id)
        else:
            object_id = random_object_id(self._client_id)
        self._upload([codec.encode_one(m.ObjectPut(object_id, 0)), *frames])
        return object_id

    def _forget_callback(self, key: int) -> Callable[[weakref.ref[Any]], None]:
        def forget(_: weakref.ref[Any]) -> None:
            self._weak_args.pop(key, None)

        return forget

    def _cached_argument(self, key: int, value: Any) -> m.TaskArg | None:
        weak = self._weak_args.get(key)
        if weak is not None:
            if weak[0]() is value:
                return weak[1]
            del self._weak_args[key]
        strong = self._strong_args.get(key)
        if strong is not None and strong[0] is value:
            self._strong_args.move_to_end(key)
            return strong[1]
        return None

    def _remember(self, key: int, value: Any, arg: m.TaskArg) -> None:
        try:
            self._weak_args[key] = (weakref.ref(value, self._forget_callback(key)), arg)
            return
        except TypeError:
            pass
        if isinstance(value, _IMMUTABLE_TYPES):
            self._strong_args[key] = (value, arg)
            if len(self._strong_args) > _STRONG_CACHE_SIZE:
                self._strong_args.popitem(last=False)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True

"""Turning functions and arguments into task payloads, uploading each large object once.

Small arguments travel inline in the task message. Larger ones (over ``INLINE_ARG_LIMIT``) are uploaded to
object storage and referenced by id: up to 1 MB under a content-derived id, so equal values are uploaded once
per client, and larger ones under a random id (hashing them would cost more than it saves). To avoid even
re-serializing a large object passed again, ``ArgumentCache`` remembers which upload stands for which object, and
deletes an upload once no live object and no unfinished task can use it.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from scaler import errors
from scaler.client.argument_cache import ArgumentCache
from scaler.client.object_reference import ObjectReference
from scaler.ids import content_object_id, random_object_id
from scaler.object_storage.shared_memory import MAPPING_REFUSAL
from scaler.object_storage.shared_memory import MIN_BYTES as SHARED_MEMORY_MIN_BYTES
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.serialization import SERIALIZED, Serializer, encode_object_frames, frames_size

INLINE_ARG_LIMIT = 64 * 1024
_CONTENT_ID_LIMIT = 1024 * 1024
_SMALL_TYPES = frozenset({int, float, bool, type(None), complex})

Upload = Callable[[list[Any], int], None]  # (frames, request_id: non-zero to wait for storage's answer)
Release = Callable[[list[bytes]], None]
Share = Callable[[bytes, list[Any]], str]  # (object id, frames) -> the shared-memory segment now holding them, or ""


class PayloadEncoder:
    def __init__(
        self,
        client_id: bytes,
        serializer: Serializer,
        upload: Upload,
        release: Release,
        request_ids: Iterator[int] | None = None,
        share: Share | None = None,
    ) -> None:
        self._client_id = client_id
        self._serializer = serializer
        self._upload = upload
        self._share = share
        self._request_ids = request_ids or itertools.count(1)
        self._generation = b"0"
        self._uploaded: set[bytes] = set()  # functions and serializers: kept until clear()
        self._functions: dict[Any, bytes] = {}
        self._weak_functions: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
        self.arguments = ArgumentCache(release)
        # The references handed out and still held by someone: one that is dropped can never be passed again.
        self.references: weakref.WeakValueDictionary[bytes, ObjectReference] = weakref.WeakValueDictionary()

    def reset(self) -> None:
        """Forget everything uploaded (after ``clear()`` deleted it); new ids from now on."""
        self._generation = str(int(self._generation) + 1).encode()
        self._uploaded.clear()
        self._functions.clear()
        self._weak_functions = weakref.WeakKeyDictionary()
        with self.arguments.lock:
            self.arguments.reset()
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
        """The task argument for ``value``; an upload it uses is retained until ``tasks_done`` names it."""
        if isinstance(value, ObjectReference):
            with self.arguments.lock:
                if value.object_id not in self.references:  # cleared, or dropped (and released) by its holder
                    raise errors.MissingObjectError(f"{value!r} is unknown to this client (was clear() called?)")
                self.arguments.retain_id(value.object_id)
            return m.TaskArg(m.ArgKind.OBJECT, value.object_id)
        if type(value) in _SMALL_TYPES:  # the hot path: an int or a short string, serialized once, inline
            return m.TaskArg(m.ArgKind.INLINE, self._serializer.serialize(value))
        if not reserialize:
            with self.arguments.lock:
                cached = self.arguments.lookup(value)
            if cached is not None:
                return cached
        frames = encode_object_frames(value, self._serializer)
        if frames[0] == SERIALIZED and len(frames[1]) <= INLINE_ARG_LIMIT:
            return m.TaskArg(m.ArgKind.INLINE, frames[1])
        if frames_size(frames) <= INLINE_ARG_LIMIT:  # small raw bytes or a small array: inline is cheaper
            return m.TaskArg(m.ArgKind.INLINE, self._serializer.serialize(value))
        if self._share is not None and frames_size(frames) >= SHARED_MEMORY_MIN_BYTES:
            # Release the large values nobody holds any more now, not on the next timer: their shared-memory
            # segments can then take this one instead of fresh memory (see shared_memory_pool).
            self.arguments.collect(sweep=True)
        object_id = self._object_id(frames, b"argument")
        with self.arguments.lock:  # the upload and its bookkeeping together: a release cannot come in between
            if self.arguments.is_tracked(object_id):  # equal content, uploaded already and still alive
                self.arguments.retain_id(object_id)
                return m.TaskArg(m.ArgKind.OBJECT, object_id)
            self._put(object_id, frames)
            return self.arguments.add(value, m.TaskArg(m.ArgKind.OBJECT, object_id))

    def call_arguments(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], reserialize: bool
    ) -> tuple[tuple[m.TaskArg, ...], dict[str, m.TaskArg], bool]:
        """A call's positional and keyword task arguments, and whether any is an object (see ``tasks_done``)."""
        encoded: list[m.TaskArg] = []
        named: dict[str, m.TaskArg] = {}
        try:
            for value in args:
                encoded.append(self.argument(value, reserialize))
            for name, value in kwargs.items():
                named[name] = self.argument(value, reserialize)
        except BaseException:  # the task is never sent: what its arguments retained is let go at once
            self.arguments.tasks_done(a.data for a in (*encoded, *named.values()) if a.kind is m.ArgKind.OBJECT)
            raise
        uses_objects = any(a.kind is m.ArgKind.OBJECT for a in (*encoded, *named.values()))
        return tuple(encoded), named, uses_objects

    def tasks_done(self, tasks: Iterable[m.Task]) -> None:
        """These tasks finished: the uploads they used may go (from any thread)."""
        self.arguments.tasks_done(
            arg.data for task in tasks for arg in (*task.args, *task.kwargs.values()) if arg.kind is m.ArgKind.OBJECT
        )

    def send_object(self, value: Any, name: str | None) -> ObjectReference:
        frames = encode_object_frames(value, self._serializer)
        object_id = random_object_id(self._client_id)  # its own id: never one an argument's upload could release
        reference = ObjectReference((name or f"<{type(value).__name__}>").encode(), frames_size(frames), object_id)
        # Confirmed by storage, so that a refusal (quota) is raised here; outside the lock, as it waits for storage
        # (a fresh random id: nothing can release it before the reference exists).
        self._put(object_id, frames, confirmed=True)
        with self.arguments.lock:
            self.references[object_id] = reference
            self.arguments.remember(reference, m.TaskArg(m.ArgKind.OBJECT, object_id))  # lives while it is held
        return reference

    def upload_payload(self, payload: bytes) -> bytes:
        """Upload a payload of the client's serializer (a function, the serializer itself), once."""
        frames = [SERIALIZED, payload]
        object_id = self._object_id(frames, b"function")
        if object_id not in self._uploaded:
            self._uploaded.add(object_id)
            self._put(object_id, frames)
        return object_id

    def _object_id(self, frames: list[Any], use: bytes) -> bytes:
        # Content ids make re-uploads of equal values free, but hashing costs ~1 s/GB: large objects get a
        # random id, and their re-use is caught by the identity cache instead. ``use`` keeps a function and an
        # argument with equal bytes apart: an argument's upload is released when its tasks are done.
        if frames_size(frames) <= _CONTENT_ID_LIMIT:
            content = b"".join(bytes(f) for f in frames)
            return content_object_id(self._client_id, content, self._generation + b"|" + use)
        return random_object_id(self._client_id)

    def _put(self, object_id: bytes, frames: list[Any], confirmed: bool = False) -> None:
        request_id = next(self._request_ids) if confirmed else 0
        segment = ""
        if self._share is not None and frames_size(frames) >= SHARED_MEMORY_MIN_BYTES:
            segment = self._share(object_id, frames)  # same host: written once into shared memory, not sent
        if segment:
            try:
                self._upload([codec.encode_one(m.ObjectPut(object_id, request_id, segment))], request_id)
                return
            except errors.ObjectStorageError as error:
                if f"refused the object: {MAPPING_REFUSAL}" not in str(error):
                    raise
                request_id = next(self._request_ids)  # storage could not map it: the bytes go over TCP
        self._upload([codec.encode_one(m.ObjectPut(object_id, request_id)), *frames], request_id)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True

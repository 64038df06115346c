"""A blocking connection to the object storage server, for processors and one-off tools.

(The client's I/O thread speaks the same messages asynchronously from its own event loop.) With
``shared_memory``, objects of ``MIN_BYTES`` and more go through shared memory when storage is on this host (see
``scaler.object_storage.shared_memory``): puts are written into this process's segment pool, and ``get_buffers``
maps what storage names, falling back to TCP whenever a segment cannot be used.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from typing import Any

import zmq

from scaler.errors import ObjectLostError, ObjectStorageError
from scaler.io.sockets import connect_dealer
from scaler.object_storage import shared_memory as shm
from scaler.object_storage.shared_memory_pool import SegmentPool
from scaler.object_storage.shared_memory_probe import PROBE_SECONDS, may_share, remove_probe, write_probe
from scaler.protocol import codec
from scaler.protocol import messages as m

# Object storage answers a read of a missing object within its parked-read limit (60 s, see
# scaler.object_storage.store); this deadline is for a storage that does not answer at all (dead, restarted, cut off).
READ_DEADLINE_SECONDS = 90.0


class ObjectStorageConnection:
    def __init__(
        self, context: zmq.Context[Any], address: str, identity: bytes | None = None, shared_memory: bool = False
    ) -> None:
        self.address = address
        identity = identity or b"ObjectClient|" + os.urandom(8).hex().encode()
        self._socket = connect_dealer(context, address, identity)
        self._request_ids = itertools.count(1)
        self._shares: bool | None = None if shared_memory and may_share(address) else False  # None: not probed yet
        self._pool: SegmentPool | None = None

    def close(self) -> None:
        self._socket.close(linger=0)
        if self._pool is not None:
            self._pool.close()

    def trim(self) -> None:
        """Remove shared-memory segments that have been idle for a while (call it now and then)."""
        if self._pool is not None:
            self._pool.trim(time.monotonic())

    def put(self, object_id: bytes, frames: Sequence[Any], wait: bool = False, timeout: float | None = None) -> None:
        """Store an object; with ``wait``, until storage confirms it (ObjectStorageError with the reason if refused)."""
        if self._put_shared(object_id, frames, timeout):
            return
        request_id = next(self._request_ids) if wait else 0
        self._socket.send_multipart([codec.encode_one(m.ObjectPut(object_id, request_id)), *frames], copy=False)
        if wait:
            header, _ = self._await(request_id, timeout)
            if isinstance(header, m.ObjectAck) and header.count == 0:
                refused = f"object storage at {self.address} refused object {object_id.hex()}"
                raise ObjectStorageError(f"{refused}: {header.reason}")

    def get(
        self, object_id: bytes, delete_after: bool = False, timeout: float | None = READ_DEADLINE_SECONDS
    ) -> list[zmq.Frame]:
        """The object's frames; waits (up to ``timeout``) until it exists. Raises ObjectLostError naming the object
        if it never comes, is deleted meanwhile, or storage does not answer in time."""
        request_id = next(self._request_ids)
        self._socket.send(codec.encode_one(m.ObjectGet(object_id, request_id, delete_after)))
        return self._await_object(object_id, request_id, timeout)[1]

    def _await_object(
        self, object_id: bytes, request_id: int, timeout: float | None
    ) -> tuple[m.ObjectData, list[zmq.Frame]]:
        try:
            header, frames = self._await(request_id, timeout)
        except ObjectStorageError as error:
            raise ObjectLostError(f"object {object_id.hex()} could not be read: {error}") from None
        if not isinstance(header, m.ObjectData) or not header.found:
            why = getattr(header, "reason", "") or "it was deleted"
            raise ObjectLostError(f"object {object_id.hex()} is not in object storage at {self.address}: {why}")
        return header, frames

    def get_buffers(
        self, object_id: bytes, delete_after: bool = False, timeout: float | None = READ_DEADLINE_SECONDS
    ) -> list[memoryview]:
        """Like ``get``, as buffers: mapped from shared memory when storage is on this host (writable, copy-on-write:
        the mapping, and its lock on the segment, live as long as these buffers and anything built on them)."""
        if not self._shares_memory():
            return [frame.buffer for frame in self.get(object_id, delete_after, timeout)]
        request_id = next(self._request_ids)
        self._socket.send(codec.encode_one(m.ObjectGet(object_id, request_id, delete_after, True)))
        header, frames = self._await_object(object_id, request_id, timeout)
        if not header.segment:
            return [frame.buffer for frame in frames]
        try:
            buffers = shm.open_segment(header.segment, object_id, writable=True)
        except shm.SegmentError:  # cannot happen while storage holds it, unless storage is not what the probe saw
            self._shares = False
            return [frame.buffer for frame in self.get(object_id, delete_after, timeout)]
        if delete_after:
            self._socket.send(codec.encode_one(m.ObjectMapped((object_id,))))
        return buffers

    def delete(self, object_ids: Sequence[bytes], wait: bool = False, timeout: float | None = None) -> None:
        request_id = next(self._request_ids) if wait else 0
        self._socket.send(codec.encode_one(m.ObjectDelete(tuple(object_ids), request_id)))
        if wait:
            self._await(request_id, timeout)

    def delete_owner(self, prefix: bytes, timeout: float | None = None) -> int:
        request_id = next(self._request_ids)
        self._socket.send(codec.encode_one(m.ObjectDeleteOwner(prefix, request_id)))
        header, _ = self._await(request_id, timeout)
        return header.count if isinstance(header, m.ObjectAck) else 0

    def stats(self, timeout: float | None = None) -> m.ObjectStatsReply:
        request_id = next(self._request_ids)
        self._socket.send(codec.encode_one(m.ObjectStats(request_id)))
        header, _ = self._await(request_id, timeout)
        assert isinstance(header, m.ObjectStatsReply)
        return header

    def _shares_memory(self) -> bool:
        """Whether storage reads this process's shared memory: probed once (see shared_memory_probe)."""
        if self._shares is None:
            self._shares = self._probe()
        return self._shares

    def _probe(self) -> bool:
        try:
            name, token = write_probe()
        except OSError:
            return False
        try:
            request_id = next(self._request_ids)
            self._socket.send(codec.encode_one(m.SharedMemoryProbe(request_id, name, token)))
            header, _ = self._await(request_id, PROBE_SECONDS)
            return isinstance(header, m.ObjectAck) and header.count == 1
        except ObjectStorageError:
            return False
        finally:
            remove_probe(name)

    def _put_shared(self, object_id: bytes, frames: Sequence[Any], timeout: float | None) -> bool:
        """Put a large object through shared memory, confirmed; False when it must go over TCP instead."""
        if sum(memoryview(frame).nbytes for frame in frames) < shm.MIN_BYTES or not self._shares_memory():
            return False
        self._pool = self._pool or SegmentPool()
        segment = self._pool.write(object_id, frames, time.monotonic())
        if segment is None:
            return False
        request_id = next(self._request_ids)
        self._socket.send(codec.encode_one(m.ObjectPut(object_id, request_id, segment)))
        header, _ = self._await(request_id, timeout)
        if isinstance(header, m.ObjectAck) and header.count == 0:
            if header.reason.startswith(shm.MAPPING_REFUSAL):
                return False  # storage could not map it: the bytes go over TCP
            refused = f"object storage at {self.address} refused object {object_id.hex()}"
            raise ObjectStorageError(f"{refused}: {header.reason}")
        return True

    def _await(self, request_id: int, timeout: float | None) -> tuple[Any, list[zmq.Frame]]:
        deadline_ms = None if timeout is None else int(timeout * 1000)
        while True:
            if deadline_ms is not None and not self._socket.poll(deadline_ms):
                raise ObjectStorageError(f"object storage server at {self.address} did not answer in {timeout}s")
            frames = self._socket.recv_multipart(copy=False)
            try:
                messages = codec.decode(frames[0].buffer)
            except codec.DecodeError as error:
                raise ObjectStorageError(f"bad reply from object storage at {self.address}: {error}") from None
            header = messages[0] if messages else None
            if getattr(header, "request_id", None) == request_id:
                return header, frames[1:]
            # A reply to an earlier request that timed out: skip it.

"""A blocking connection to the object storage server, for processors and one-off tools.

(The client's I/O thread speaks the same messages asynchronously from its own event loop.)
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

import zmq

from scaler.errors import ObjectLostError, ObjectStorageError
from scaler.io.sockets import connect_dealer
from scaler.protocol import codec
from scaler.protocol import messages as m

# Object storage answers a read of a missing object within its parked-read limit (60 s, see
# scaler.object_storage.store); this deadline is for a storage that does not answer at all (dead, restarted, cut off).
READ_DEADLINE_SECONDS = 90.0


class ObjectStorageConnection:
    def __init__(self, context: zmq.Context[Any], address: str, identity: bytes | None = None) -> None:
        self.address = address
        identity = identity or b"ObjectClient|" + os.urandom(8).hex().encode()
        self._socket = connect_dealer(context, address, identity)
        self._request_ids = itertools.count(1)

    def close(self) -> None:
        self._socket.close(linger=0)

    def put(self, object_id: bytes, frames: Sequence[Any], wait: bool = False, timeout: float | None = None) -> None:
        """Store an object; with ``wait``, until storage confirms it (ObjectStorageError with the reason if refused)."""
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
        try:
            header, frames = self._await(request_id, timeout)
        except ObjectStorageError as error:
            raise ObjectLostError(f"object {object_id.hex()} could not be read: {error}") from None
        if not isinstance(header, m.ObjectData) or not header.found:
            why = getattr(header, "reason", "") or "it was deleted"
            raise ObjectLostError(f"object {object_id.hex()} is not in object storage at {self.address}: {why}")
        return frames

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

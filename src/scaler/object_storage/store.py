"""The object store's state, with no sockets: blobs by id, owners, and readers waiting for a blob.

A blob is a sequence of buffers (zmq frames in the server) that the store never copies or inspects. A
``get`` for an id that does not exist yet is parked until a ``put`` of that id arrives, so that a worker
may ask for an argument before the client's upload has landed. Deleting an id (or its owner) wakes its
parked readers with "not found" so that nobody waits forever for an object that will never come.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from scaler.ids import OWNER_PREFIX_BYTES

Blob = Sequence[Any]  # buffers: bytes, memoryview or zmq.Frame


@dataclasses.dataclass(frozen=True)
class Reader:
    peer: bytes
    request_id: int
    delete_after: bool


@dataclasses.dataclass(frozen=True)
class Delivery:
    """Send ``blob`` (or "not found" when None) for ``object_id`` to ``reader``."""

    reader: Reader
    object_id: bytes
    blob: Blob | None


class ObjectStore:
    def __init__(self) -> None:
        self._blobs: dict[bytes, Blob] = {}
        self._sizes: dict[bytes, int] = {}
        self._by_owner: defaultdict[bytes, set[bytes]] = defaultdict(set)
        self._readers: defaultdict[bytes, list[Reader]] = defaultdict(list)
        self.total_bytes = 0

    def __len__(self) -> int:
        return len(self._blobs)

    def __contains__(self, object_id: bytes) -> bool:
        return object_id in self._blobs

    @property
    def waiting_requests(self) -> int:
        return sum(len(readers) for readers in self._readers.values())

    def put(self, object_id: bytes, blob: Blob, size: int) -> list[Delivery]:
        """Store (or replace) a blob; returns the deliveries owed to readers that were waiting for it."""
        self._forget(object_id)
        readers = self._readers.pop(object_id, [])
        deliveries = [Delivery(reader, object_id, blob) for reader in readers]
        if any(reader.delete_after for reader in readers):
            return deliveries  # a read-once object that was awaited is consumed on arrival
        self._blobs[object_id] = blob
        self._sizes[object_id] = size
        self._by_owner[object_id[:OWNER_PREFIX_BYTES]].add(object_id)
        self.total_bytes += size
        return deliveries

    def get(self, object_id: bytes, reader: Reader) -> list[Delivery]:
        blob = self._blobs.get(object_id)
        if blob is None:
            self._readers[object_id].append(reader)
            return []
        if reader.delete_after:
            self._forget(object_id)
        return [Delivery(reader, object_id, blob)]

    def delete(self, object_ids: Sequence[bytes]) -> tuple[int, list[Delivery]]:
        deleted = 0
        deliveries: list[Delivery] = []
        for object_id in object_ids:
            deleted += self._forget(object_id)
            deliveries.extend(Delivery(r, object_id, None) for r in self._readers.pop(object_id, []))
        return deleted, deliveries

    def delete_owner(self, prefix: bytes) -> tuple[int, list[Delivery]]:
        owned = list(self._by_owner.pop(prefix, ()))
        waiting = [object_id for object_id in self._readers if object_id.startswith(prefix)]
        return self.delete(owned + waiting)

    def _forget(self, object_id: bytes) -> int:
        if self._blobs.pop(object_id, None) is None:
            return 0
        self.total_bytes -= self._sizes.pop(object_id)
        owned = self._by_owner.get(object_id[:OWNER_PREFIX_BYTES])
        if owned is not None:
            owned.discard(object_id)
            if not owned:
                del self._by_owner[object_id[:OWNER_PREFIX_BYTES]]
        return 1

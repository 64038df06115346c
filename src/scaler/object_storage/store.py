"""The object store's state, with no sockets and no clock (time is an argument): blobs by id, their owners, and
readers waiting for a blob.

A blob is a sequence of buffers (zmq frames in the server) that the store never copies or inspects. A
``get`` for an id that does not exist yet is parked until a ``put`` of that id arrives, so that a worker
may ask for an argument before the client's upload has landed. Nothing waits or stays forever:

- a parked read expires (answered "not found", with the reason) after ``PARKED_READ_SECONDS``; a read of an
  object whose owner is not a client the scheduler lists is not parked at all (answered at once);
- deleting an id (or its owner) wakes its parked readers with "not found";
- the scheduler lists the owners it knows (``list_owners``, every second); once such lists come in, the
  objects of an owner that has not been listed for ``grace`` seconds are reclaimed (a client that left while
  the deletion message was lost, a put under an id no client owns). An owner never listed is given
  ``UNLISTED_GRACE_SECONDS``, and the objects of never-listed owners share a small budget, so that garbage
  sent to this port cannot grow the store. While no list is fresh (no scheduler, or it is restarting), nothing
  is reclaimed: the store never acts on a stale view of who is alive;
- a per-owner quota (``max_bytes_per_owner``, 0 for none) refuses a put that would exceed it, and the reason
  is remembered, so a later read of that id is answered at once with it.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from scaler.ids import OWNER_PREFIX_BYTES

Blob = Sequence[Any]  # buffers: bytes, memoryview or zmq.Frame

PARKED_READ_SECONDS = 60.0  # a read waits this long for an upload still in flight (a large one, a slow link)
UNLISTED_GRACE_SECONDS = 10.0  # the scheduler lists a new client within a second: 10 s is the race, with margin
LISTING_FRESH_SECONDS = 10.0  # the owner lists are trusted while the last one is this recent
UNLISTED_BUDGET_BYTES = 4 << 20  # objects of owners never listed, all together (see module docstring)
UNLISTED_BUDGET_OBJECTS = 1_000
MAX_PARKED_READS = 50_000
REMEMBERED_REFUSALS = 10_000


@dataclasses.dataclass(frozen=True)
class Reader:
    peer: bytes
    request_id: int
    delete_after: bool
    shared_memory: bool = False  # a same-host reader: a blob in shared memory is answered with its segment's name


@dataclasses.dataclass(frozen=True)
class Delivery:
    """Send ``blob`` (or "not found" with ``reason`` when None) for ``object_id`` to ``reader``."""

    reader: Reader
    object_id: bytes
    blob: Blob | None
    reason: str = ""


@dataclasses.dataclass
class _Owner:
    since: float  # when its oldest current object was put: the grace of a never-listed owner runs from here
    listed: bool
    ids: set[bytes] = dataclasses.field(default_factory=set)
    bytes: int = 0


class ObjectStore:
    def __init__(self, max_bytes_per_owner: int = 0) -> None:
        self.max_bytes_per_owner = max_bytes_per_owner
        self._blobs: dict[bytes, Blob] = {}
        self._sizes: dict[bytes, int] = {}
        self._owners: dict[bytes, _Owner] = {}
        self._readers: defaultdict[bytes, list[tuple[float, Reader]]] = defaultdict(list)
        self._waiting = 0
        self._refused: OrderedDict[bytes, str] = OrderedDict()
        self._last_listed: dict[bytes, float] = {}  # owner prefix -> when the scheduler last listed it
        self._last_listing = -float("inf")
        self._grace = 60.0
        self._unlisted_bytes = 0
        self._unlisted_objects = 0
        self.total_bytes = 0

    def __len__(self) -> int:
        return len(self._blobs)

    def __contains__(self, object_id: bytes) -> bool:
        return object_id in self._blobs

    @property
    def waiting_requests(self) -> int:
        return self._waiting

    @property
    def owners(self) -> int:
        return len(self._owners)

    # --- requests ----------------------------------------------------------------------------------------------

    def put(
        self, object_id: bytes, blob: Blob, size: int, now: float, self_owned: bool = False
    ) -> tuple[str, list[Delivery]]:
        """Store (or replace) a blob. Returns why it was refused ("" when stored) and the deliveries owed to readers
        that were waiting for it (a refused put fails them with the reason). ``self_owned``: the sender is the
        owner itself (its identity hashes to the id's prefix), which is exempt from the budget of unlisted owners.
        """
        self._forget(object_id)
        refusal = self._refusal(object_id[:OWNER_PREFIX_BYTES], size, now, self_owned)
        readers = self._take_readers(object_id)
        if refusal:
            self._remember_refusal(object_id, refusal)
            return refusal, [Delivery(reader, object_id, None, refusal) for reader in readers]
        self._refused.pop(object_id, None)
        deliveries = [Delivery(reader, object_id, blob) for reader in readers]
        if any(reader.delete_after for reader in readers):
            return "", deliveries  # a read-once object that was awaited is consumed on arrival
        prefix = object_id[:OWNER_PREFIX_BYTES]
        owner = self._owners.get(prefix)
        if owner is None:
            owner = self._owners[prefix] = _Owner(now, self._is_listed(prefix))
        owner.ids.add(object_id)
        owner.bytes += size
        if not owner.listed:
            self._unlisted_bytes += size
            self._unlisted_objects += 1
        self._blobs[object_id] = blob
        self._sizes[object_id] = size
        self.total_bytes += size
        return "", deliveries

    def refuse(self, object_id: bytes, reason: str) -> list[Delivery]:
        """A put of ``object_id`` that could not even be read (a shared-memory segment storage cannot map): remembered
        like a refused put, so that its readers, waiting or to come, are answered at once with ``reason``."""
        self._remember_refusal(object_id, reason)
        return [Delivery(reader, object_id, None, reason) for reader in self._take_readers(object_id)]

    def get(self, object_id: bytes, reader: Reader, now: float) -> list[Delivery]:
        blob = self._blobs.get(object_id)
        if blob is not None:
            if reader.delete_after:
                self._forget(object_id)
            return [Delivery(reader, object_id, blob)]
        refusal = self._refused.get(object_id)
        if refusal is not None:
            return [Delivery(reader, object_id, None, refusal)]
        if not self._is_listed(object_id[:OWNER_PREFIX_BYTES]):
            # No client of the scheduler owns it, so no upload of it is coming: a worker that waited here would sit
            # idle (a task naming a made-up object). The scheduler lists a client before answering it, so before
            # any task of that client can exist.
            return [Delivery(reader, object_id, None, "its owner is not a client of the scheduler")]
        if self._waiting >= MAX_PARKED_READS:
            return [Delivery(reader, object_id, None, f"object storage has {self._waiting} reads waiting already")]
        self._readers[object_id].append((now, reader))
        self._waiting += 1
        return []

    def delete(self, object_ids: Iterable[bytes], reason: str = "it was deleted") -> tuple[int, list[Delivery]]:
        deleted = 0
        deliveries: list[Delivery] = []
        for object_id in object_ids:
            deleted += self._forget(object_id)
            deliveries.extend(Delivery(r, object_id, None, reason) for r in self._take_readers(object_id))
        return deleted, deliveries

    def delete_owner(self, prefix: bytes, reason: str = "its owner left") -> tuple[int, list[Delivery]]:
        owner = self._owners.get(prefix)
        owned = list(owner.ids) if owner is not None else []
        waiting = [object_id for object_id in self._readers if object_id.startswith(prefix)]
        return self.delete(owned + waiting, reason)

    def list_owners(self, prefixes: Iterable[bytes], grace: float, now: float) -> None:
        """The scheduler's list of the owners it knows (clients, and dropped ones whose objects it retains)."""
        self._last_listing = now
        self._grace = grace
        for prefix in prefixes:
            self._last_listed[prefix] = now
            owner = self._owners.get(prefix)
            if owner is not None and not owner.listed:
                owner.listed = True
                self._unlisted_bytes -= owner.bytes
                self._unlisted_objects -= len(owner.ids)

    # --- time ------------------------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Delivery]:
        """Expire parked reads and reclaim the objects of owners that are gone; returns the "not found" answers."""
        deliveries = self._expire_reads(now)
        if now - self._last_listing > LISTING_FRESH_SECONDS:
            return deliveries  # no fresh view of who is alive: reclaim nothing
        for prefix in [p for p, t in self._last_listed.items() if now - t > self._grace]:
            del self._last_listed[prefix]
        for prefix, owner in list(self._owners.items()):
            listed = self._last_listed.get(prefix)
            if listed is None and now - owner.since > (self._grace if owner.listed else UNLISTED_GRACE_SECONDS):
                reason = "its owner is not (or no longer) a client of the scheduler"
                deliveries.extend(self.delete_owner(prefix, reason)[1])
        return deliveries

    def _expire_reads(self, now: float) -> list[Delivery]:
        deliveries: list[Delivery] = []
        for object_id in list(self._readers):
            limit = PARKED_READ_SECONDS if self._is_listed(object_id[:OWNER_PREFIX_BYTES]) else UNLISTED_GRACE_SECONDS
            parked = self._readers[object_id]
            expired = [reader for since, reader in parked if now - since > limit]
            if not expired:
                continue
            reason = f"it was not uploaded within {limit:g}s"
            deliveries.extend(Delivery(reader, object_id, None, reason) for reader in expired)
            self._waiting -= len(expired)
            remaining = [(since, reader) for since, reader in parked if now - since <= limit]
            if remaining:
                self._readers[object_id] = remaining
            else:
                del self._readers[object_id]
        return deliveries

    # --- bookkeeping -----------------------------------------------------------------------------------------

    def _is_listed(self, prefix: bytes) -> bool:
        # With no owner list ever received (a store used without a scheduler), every owner counts as known.
        return self._last_listing == -float("inf") or prefix in self._last_listed

    def _refusal(self, prefix: bytes, size: int, now: float, self_owned: bool) -> str:
        owner = self._owners.get(prefix)
        held = owner.bytes if owner is not None else 0
        if self.max_bytes_per_owner and held + size > self.max_bytes_per_owner:
            return (
                f"owner quota exceeded: the owner holds {held} bytes, this object is {size} bytes, "
                f"the limit is {self.max_bytes_per_owner} bytes per owner"
            )
        listed = owner.listed if owner is not None else self._is_listed(prefix)
        if listed or self_owned:
            return ""
        if self._unlisted_bytes + size > UNLISTED_BUDGET_BYTES or self._unlisted_objects >= UNLISTED_BUDGET_OBJECTS:
            return "its owner is not a client of the scheduler, and the budget for such objects is spent"
        return ""

    def _remember_refusal(self, object_id: bytes, reason: str) -> None:
        self._refused[object_id] = reason
        self._refused.move_to_end(object_id)
        if len(self._refused) > REMEMBERED_REFUSALS:
            self._refused.popitem(last=False)

    def _take_readers(self, object_id: bytes) -> list[Reader]:
        parked = self._readers.pop(object_id, None)
        if not parked:
            return []
        self._waiting -= len(parked)
        return [reader for _, reader in parked]

    def _forget(self, object_id: bytes) -> int:
        if self._blobs.pop(object_id, None) is None:
            return 0
        size = self._sizes.pop(object_id)
        self.total_bytes -= size
        prefix = object_id[:OWNER_PREFIX_BYTES]
        owner = self._owners[prefix]
        owner.ids.discard(object_id)
        owner.bytes -= size
        if not owner.listed:
            self._unlisted_bytes -= size
            self._unlisted_objects -= 1
        if not owner.ids:
            del self._owners[prefix]
        return 1

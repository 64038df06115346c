"""The object storage server: a ROUTER socket around ``ObjectStore``.

Wire format of one request: ``[peer identity, header, *payload frames]`` where ``header`` is a one-message
batch (ObjectPut, ObjectGet, ObjectDelete, ObjectDeleteOwner, ObjectStats, ObjectOwnersAlive). Payload frames are
received without copying (``copy=False``) and kept as they are, so a 1 GB object costs one buffer in this process
and is sent back from that same buffer.

Same host: a put may name a shared-memory segment instead of carrying frames (see ``shared_memory``). Storage maps
it read-only and holds its lock while the object lives; a reader that asked for shared memory is answered with the
segment's name, any other reader gets the frames, sent from the mapping without a copy. A read-once object read
through shared memory is kept until the reader says it has mapped it (``ObjectMapped``), so that its writer cannot
reuse the segment in between.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from typing import Any

import zmq

from scaler.ids import OWNER_PREFIX_BYTES, owner_prefix, short
from scaler.io.address import Address
from scaler.io.logs import RateLimitedLog
from scaler.io.loop import EventLoop
from scaler.io.memory import TRIM_INTERVAL_SECONDS, release_free_memory
from scaler.io.sockets import BindError, bind_router
from scaler.object_storage import shared_memory as shm
from scaler.object_storage.shared_memory_probe import check_probe
from scaler.object_storage.store import Delivery, ObjectStore, Reader
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.security.credentials import ServerCredentials
from scaler.security.exposure import warn_if_exposed
from scaler.security.handshake_log import HandshakeFailureLog
from scaler.security.keyring import keyring_of
from scaler.security.local import environment_server_credentials
from scaler.security.roles import StorageGuard

logger = logging.getLogger("scaler.object_storage")

_DRAIN_LIMIT = 1000


_TICK_SECONDS = 1.0
INBOUND_HIGH_WATER_MARK = 256  # messages queued per sender before zmq stops reading its connection (back-pressure)
_STORAGE_SUFFIXES = (b"|tx|storage", b"|storage")  # a client's upload and read sockets (see scaler.client.agent)
READ_ONCE_HOLD_SECONDS = 120.0  # a read-once object handed out by name is dropped after this even if never confirmed
RELEASED_SEGMENT_RETRY_SECONDS = 30.0  # how long storage keeps trying to remove a let-go segment (then: the sweeper)
_drop_log = RateLimitedLog(logger)
_refusal_log = RateLimitedLog(logger)


class ObjectStorageServer:
    def __init__(
        self,
        address: str,
        context: zmq.Context[Any] | None = None,
        max_bytes_per_owner: int = 0,
        credentials: ServerCredentials | None = None,
    ) -> None:
        self.address = address
        self._context = context or zmq.Context.instance()
        self._socket = bind_router(
            self._context, address, inbound_high_water_mark=INBOUND_HIGH_WATER_MARK, credentials=credentials
        )
        self._guard = StorageGuard(keyring_of(self._context, credentials)) if credentials else None
        self._store = ObjectStore(max_bytes_per_owner)
        self._shares = shm.enabled()
        self._read_once: dict[tuple[bytes, bytes], float] = {}  # (reader, object) handed out by name, until mapped
        self._released_segments: list[str] = []  # segments of objects this store let go: removed if nobody holds them
        self._unlinking: dict[str, float] = {}  # let-go segments still held by someone: tried again every tick
        self._shared_blobs: weakref.WeakValueDictionary[str, SharedBlob] = weakref.WeakValueDictionary()
        self.loop = EventLoop()
        self.loop.add_reader(self._socket, self._on_readable)
        self.loop.call_every(_TICK_SECONDS, self._on_tick)
        if self._shares:
            self.loop.call_every(shm.SWEEP_INTERVAL_SECONDS, self._sweep)
        self.loop.call_every(TRIM_INTERVAL_SECONDS, release_free_memory)
        self._refusals = HandshakeFailureLog(self._socket, self.loop, "object storage") if credentials else None

    def run(self) -> None:
        logger.info("object storage server listening on %s (pid %d)", self.address, os.getpid())
        if self._shares:
            self._sweep()
        try:
            self.loop.run()
        finally:
            if self._refusals is not None:
                self._refusals.close()
            self._socket.close(linger=0)
            if self._shares:  # what this store held and nobody else holds now: removed, not left to a later sweep
                names = [*self._shared_blobs.keys(), *self._unlinking, *self._released_segments]
                self._store = ObjectStore()
                for name in names:
                    shm.unlink_if_unheld(name)
            logger.info("object storage server on %s stopped", self.address)

    def _on_readable(self) -> None:
        for _ in range(_DRAIN_LIMIT):
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._handle(frames)

    def _on_tick(self) -> None:
        now = time.monotonic()
        self._deliver(self._store.tick(now))
        for key in [key for key, since in self._read_once.items() if now - since > READ_ONCE_HOLD_SECONDS]:
            self._consume(key)
        self._remove_released_segments(now)

    def _remove_released_segments(self, now: float) -> None:
        """Remove the segments of deleted objects once nobody holds them. One its writer keeps (for reuse) is never
        removable here; one a reader still maps is, a little later: tried each tick for a while, then left to the
        sweeper."""
        for name in self._released_segments:
            self._unlinking.setdefault(name, now)
        self._released_segments.clear()  # in place: the blobs' finalizers hold this list's append
        for name, since in list(self._unlinking.items()):
            if shm.unlink_if_unheld(name) or now - since > RELEASED_SEGMENT_RETRY_SECONDS or name in self._shared_blobs:
                del self._unlinking[name]

    def _sweep(self) -> None:
        removed = shm.sweep(time.time())
        if removed:
            logger.info("removed %d abandoned shared-memory segment(s)", len(removed))

    def _handle(self, frames: list[zmq.Frame]) -> None:
        peer = frames[0].bytes
        if len(frames) < 2:
            _drop_log.warning(f"dropping request without header from {short(peer)}")
            return
        try:
            requests = codec.decode(frames[1].buffer)
        except codec.DecodeError as error:
            _drop_log.warning(f"dropping request from {short(peer)}", str(error))
            return
        if len(requests) != 1:
            _drop_log.warning(f"dropping request from {short(peer)}", f"expected one header, got {len(requests)}")
            return
        if self._guard is not None:
            refusal = self._guard.check(str(frames[1].get("User-Id")), requests[0])
            if refusal is not None:
                self._refuse(peer, requests[0])
                return
        self._dispatch(peer, requests[0], frames[2:])

    def _refuse(self, peer: bytes, request: Any) -> None:
        """Answer a refused request as if there were nothing to give: the peer learns nothing, and waits for nothing."""
        if isinstance(request, m.ObjectGet):
            self._reply(peer, m.ObjectData(request.object_id, request.request_id, False))
        elif getattr(request, "request_id", 0):
            self._reply(peer, m.ObjectAck(request.request_id, 0))

    def _dispatch(self, peer: bytes, request: Any, payload: list[zmq.Frame]) -> None:
        now = time.monotonic()
        if isinstance(request, m.ObjectPut):
            blob: Any = payload
            if request.segment:
                blob = self._attach(request, payload)
                if isinstance(blob, str):
                    _refusal_log.warning(f"refused object {request.object_id.hex()} from {short(peer)}", blob)
                    self._deliver(self._store.refuse(request.object_id, blob))
                    if request.request_id:
                        self._reply(peer, m.ObjectAck(request.request_id, 0, blob))
                    return
            size = sum(memoryview(frame).nbytes for frame in blob)
            refusal, deliveries = self._store.put(request.object_id, blob, size, now, _owns(peer, request.object_id))
            self._deliver(deliveries)
            if refusal:
                _refusal_log.warning(f"refused object {request.object_id.hex()} from {short(peer)}", refusal)
            if request.request_id:
                self._reply(peer, m.ObjectAck(request.request_id, 0 if refusal else 1, refusal))
        elif isinstance(request, m.ObjectGet):
            shared = request.shared_memory and self._shares
            if shared and request.delete_after:  # consumed once mapped (ObjectMapped), not when handed out
                self._read_once[(peer, request.object_id)] = now
            reader = Reader(peer, request.request_id, request.delete_after and not shared, shared)
            self._deliver(self._store.get(request.object_id, reader, now))
        elif isinstance(request, m.ObjectDelete):
            count, deliveries = self._store.delete(request.object_ids)
            self._deliver(deliveries)
            if request.request_id:
                self._reply(peer, m.ObjectAck(request.request_id, count))
        elif isinstance(request, m.ObjectDeleteOwner):
            count, deliveries = self._store.delete_owner(request.owner_prefix)
            self._deliver(deliveries)
            if request.request_id:
                self._reply(peer, m.ObjectAck(request.request_id, count))
        elif isinstance(request, m.ObjectOwnersAlive) and peer.startswith(b"Scheduler|"):
            self._store.list_owners(request.owner_prefixes, request.grace_seconds, now)
        elif isinstance(request, m.ObjectMapped):
            for object_id in request.object_ids:
                self._consume((peer, object_id))
        elif isinstance(request, m.SharedMemoryProbe):
            reason = check_probe(request.name, request.token) if self._shares else "shared memory is switched off"
            self._reply(peer, m.ObjectAck(request.request_id, 0 if reason else 1, reason))
        elif isinstance(request, m.ObjectStats):
            store = self._store
            self._reply(
                peer, m.ObjectStatsReply(request.request_id, len(store), store.total_bytes, store.waiting_requests)
            )
        else:
            _drop_log.warning(f"dropping unexpected {type(request).__name__} from {short(peer)}")

    def _attach(self, request: m.ObjectPut, payload: list[zmq.Frame]) -> SharedBlob | str:
        """The object's frames in its segment (mapped read-only, locked while the blob lives), or why not."""
        if payload or not self._shares:
            return f"{shm.MAPPING_REFUSAL} is switched off in object storage" if not self._shares else "malformed put"
        try:
            frames = shm.open_segment(request.segment, request.object_id, writable=False)
        except shm.SegmentError as error:
            return f"{shm.MAPPING_REFUSAL}: {error}"
        blob = SharedBlob(frames)
        blob.segment = request.segment
        weakref.finalize(blob, self._released_segments.append, request.segment)
        self._shared_blobs[request.segment] = blob
        return blob

    def _consume(self, key: tuple[bytes, bytes]) -> None:
        """A read-once object handed out by name was mapped (or never will be): it goes now."""
        if self._read_once.pop(key, None) is not None:
            self._deliver(self._store.delete([key[1]])[1])

    def _deliver(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            reader, blob = delivery.reader, delivery.blob
            found = blob is not None
            segment = blob.segment if isinstance(blob, SharedBlob) and reader.shared_memory else ""
            data = m.ObjectData(delivery.object_id, reader.request_id, found, delivery.reason, segment)
            frames = () if segment or blob is None else blob
            self._socket.send_multipart([reader.peer, codec.encode_one(data), *frames], copy=False)
            if not segment:  # sent in full (or not found): a read-once read by a shared-memory reader is done
                self._consume((reader.peer, delivery.object_id))

    def _reply(self, peer: bytes, message: Any) -> None:
        self._socket.send_multipart([peer, codec.encode_one(message)])


class SharedBlob(list[memoryview]):
    """An object's frames in a shared-memory segment (views on storage's read-only mapping), and the segment."""

    segment: str = ""


def _owns(peer: bytes, object_id: bytes) -> bool:
    """Whether ``peer`` is the client that owns ``object_id`` (a client's storage sockets carry its id)."""
    for suffix in _STORAGE_SUFFIXES:
        if peer.endswith(suffix):
            return owner_prefix(peer[: -len(suffix)]) == object_id[:OWNER_PREFIX_BYTES]
    return False


def serve(
    address: str,
    max_bytes_per_owner: int = 0,
    ready_fd: int | None = None,
    credentials: ServerCredentials | None = None,
) -> None:
    """Run an object storage server in this process until SIGINT/SIGTERM, secured with ``credentials`` (or with
    the scheduler's credentials named by ``SCALER_CREDENTIALS``), if any.

    With ``ready_fd``, report on that pipe whether it started: "ok", or the one-line reason it could not (the
    scheduler that started it turns that into its own one-line error), then close it.
    """
    credentials = credentials or environment_server_credentials()
    if credentials is None:
        warn_if_exposed(Address.parse(address), "object storage")
    try:
        server = ObjectStorageServer(address, max_bytes_per_owner=max_bytes_per_owner, credentials=credentials)
    except BindError as error:
        if ready_fd is None:
            raise
        _report_ready(ready_fd, str(error))
        raise SystemExit(1) from None
    if ready_fd is not None:
        _report_ready(ready_fd, "ok")
    server.loop.stop_on_signals()
    server.run()


def _report_ready(fd: int, text: str) -> None:
    with os.fdopen(fd, "w") as pipe:
        pipe.write(text)


def run_object_storage_server(config: Any) -> None:
    """Entry point of ``scaler_object_storage_server`` (``config``: ``scaler.config.ObjectStorageServerConfig``)."""
    from scaler.security.credentials import load_credentials

    source = getattr(config, "credentials", None)
    credentials = load_credentials(source) if source else None
    if credentials is not None and not isinstance(credentials, ServerCredentials):
        raise SystemExit(f"scaler_object_storage_server: error: {source} is not a scheduler's credentials file")
    serve(str(config.object_storage_address), config.max_bytes_per_owner, credentials=credentials)

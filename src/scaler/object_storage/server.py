"""The object storage server: a ROUTER socket around ``ObjectStore``.

Wire format of one request: ``[peer identity, header, *payload frames]`` where ``header`` is a one-message
batch (ObjectPut, ObjectGet, ObjectDelete, ObjectDeleteOwner, ObjectStats). Payload frames are received
without copying (``copy=False``) and kept as they are, so a 1 GB object costs one buffer in this process
and is sent back from that same buffer.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import zmq

from scaler.ids import short
from scaler.io.address import Address
from scaler.io.loop import EventLoop
from scaler.io.sockets import bind_router, environment_server_credentials, keyring_of
from scaler.object_storage.store import Delivery, ObjectStore, Reader
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.security.credentials import ServerCredentials
from scaler.security.exposure import warn_if_exposed
from scaler.security.handshake_log import HandshakeFailureLog
from scaler.security.roles import StorageGuard

logger = logging.getLogger("scaler.object_storage")

_DRAIN_LIMIT = 1000


class ObjectStorageServer:
    def __init__(
        self, address: str, context: zmq.Context[Any] | None = None, credentials: ServerCredentials | None = None
    ) -> None:
        self.address = address
        self._context = context or zmq.Context.instance()
        self._socket = bind_router(self._context, address, credentials=credentials)
        self._guard = StorageGuard(keyring_of(self._context, credentials)) if credentials else None
        self._store = ObjectStore()
        self.loop = EventLoop()
        self.loop.add_reader(self._socket, self._on_readable)
        self._refusals = HandshakeFailureLog(self._socket, self.loop, "object storage") if credentials else None

    def run(self) -> None:
        logger.info("object storage server listening on %s (pid %d)", self.address, os.getpid())
        try:
            self.loop.run()
        finally:
            if self._refusals is not None:
                self._refusals.close()
            self._socket.close(linger=0)
            logger.info("object storage server on %s stopped", self.address)

    def _on_readable(self) -> None:
        for _ in range(_DRAIN_LIMIT):
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._handle(frames)

    def _handle(self, frames: list[zmq.Frame]) -> None:
        peer = frames[0].bytes
        if len(frames) < 2:
            logger.warning("dropping request without header from %s", short(peer))
            return
        try:
            requests = codec.decode(frames[1].buffer)
        except codec.DecodeError as error:
            logger.warning("dropping request from %s: %s", short(peer), error)
            return
        if len(requests) != 1:
            logger.warning("dropping request from %s: expected one header, got %d", short(peer), len(requests))
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
        if isinstance(request, m.ObjectPut):
            size = sum(len(frame) for frame in payload)
            self._deliver(self._store.put(request.object_id, payload, size))
            if request.request_id:
                self._reply(peer, m.ObjectAck(request.request_id, 1))
        elif isinstance(request, m.ObjectGet):
            reader = Reader(peer, request.request_id, request.delete_after)
            self._deliver(self._store.get(request.object_id, reader))
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
        elif isinstance(request, m.ObjectStats):
            store = self._store
            self._reply(
                peer, m.ObjectStatsReply(request.request_id, len(store), store.total_bytes, store.waiting_requests)
            )
        else:
            logger.warning("dropping unexpected %s from %s", type(request).__name__, short(peer))

    def _deliver(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            reader = delivery.reader
            header = codec.encode_one(m.ObjectData(delivery.object_id, reader.request_id, delivery.blob is not None))
            self._socket.send_multipart([reader.peer, header, *(delivery.blob or ())], copy=False)

    def _reply(self, peer: bytes, message: Any) -> None:
        self._socket.send_multipart([peer, codec.encode_one(message)])


def serve(address: str, credentials: ServerCredentials | None = None) -> None:
    """Run an object storage server in this process until SIGINT/SIGTERM (secured with ``credentials``, or with
    the scheduler's credentials named by ``SCALER_CREDENTIALS``)."""
    credentials = credentials or environment_server_credentials()
    if credentials is None:
        warn_if_exposed(Address.parse(address), "object storage")
    server = ObjectStorageServer(address, credentials=credentials)
    server.loop.stop_on_signals()
    server.run()


def run_object_storage_server(config: Any) -> None:
    """Entry point of ``scaler_object_storage_server`` (``config``: ``scaler.config.ObjectStorageServerConfig``)."""
    from scaler.security.credentials import load_credentials

    source = getattr(config, "credentials", None)
    credentials = load_credentials(source) if source else None
    if credentials is not None and not isinstance(credentials, ServerCredentials):
        raise SystemExit(f"scaler_object_storage_server: error: {source} is not a scheduler's credentials file")
    serve(str(config.object_storage_address), credentials)

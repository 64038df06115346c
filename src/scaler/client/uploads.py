"""How a client's objects reach object storage: one send-only socket shared by the user threads, with
back-pressure, and, on the same host, shared-memory segments for large objects.

User threads upload straight from their own thread (a thread switch per upload would cost more than the send);
the client's I/O thread never blocks on storage, so what it sends (releases) is queued and goes out, in order,
before the next user upload or on the I/O thread's next heartbeat.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from scaler import errors
from scaler.client.resync import HeldUploads
from scaler.io.sockets import new_dealer
from scaler.object_storage.shared_memory_pool import SegmentPool
from scaler.protocol import codec
from scaler.protocol import messages as m

UPLOAD_HIGH_WATER_MARK = 16  # uploads waiting in this client before upload() blocks (see Uploads.upload)
SEND_ONLY_SUFFIX = b"|tx"  # the identity suffix of a client's send-only sockets (the scheduler strips it)


class Uploads:
    def __init__(
        self,
        context: zmq.Context[Any],
        client_id: bytes,
        credentials: Any,
        timeout_seconds: float,
        storage_address: Callable[[], str | None],
        is_io_thread: Callable[[], bool],
    ) -> None:
        self._context = context
        self._client_id = client_id
        self._credentials = credentials
        self._timeout = timeout_seconds
        self._storage_address = storage_address  # known once the scheduler's first echo named it
        self._is_io_thread = is_io_thread
        self.lock = threading.Lock()  # guards the socket and ``closed``
        self.closed = False
        self._socket: zmq.Socket[Any] | None = None
        self._deferred: collections.deque[list[Any]] = collections.deque()
        self.held = HeldUploads()  # small uploads, kept to restore after a scheduler or storage restart
        self.segments: SegmentPool | None = None  # set once storage confirmed that it reads this host's shared memory

    def upload(self, frames: list[Any], request_id: int = 0) -> None:
        """Send an ObjectPut (or ObjectDelete) to object storage, from the calling thread.

        Back-pressure: at most ``UPLOAD_HIGH_WATER_MARK`` uploads wait in this client; beyond that the call blocks
        until storage takes them, and raises ObjectStorageError naming the address if that takes longer than the
        client's timeout (storage unreachable, or far behind). With ``request_id`` (an ObjectPut's), it also waits
        for storage's answer and raises ObjectStorageError with storage's reason if the object was refused (quota).
        From the I/O thread it never blocks: see the module docstring.
        """
        if self._is_io_thread():
            self._deferred.append(frames)
            self.flush_deferred()
            return
        with self.lock:
            if self.closed:
                raise errors.ClientClosedError("client is disconnected")
            socket = self._upload_socket()
            try:
                while self._deferred:
                    socket.send_multipart(self._deferred[0], copy=False)
                    self._deferred.popleft()
                socket.send_multipart(frames, copy=False)
                self.held.note(frames)
            except zmq.Again:
                raise errors.ObjectStorageError(
                    f"object storage at {self._storage_address()} did not take an upload in {self._timeout:g}s "
                    f"({UPLOAD_HIGH_WATER_MARK} uploads waiting): it is unreachable or too far behind"
                ) from None
            if request_id:
                self._await_answer(socket, request_id)

    def flush_deferred(self) -> None:
        """Send the I/O thread's queued uploads if no user thread is uploading (never blocks)."""
        if not self._deferred or self.closed or not self.lock.acquire(blocking=False):
            return
        try:
            socket = self._upload_socket()
            while self._deferred:
                socket.send_multipart(self._deferred[0], zmq.NOBLOCK, copy=False)
                self._deferred.popleft()
        except zmq.Again:
            pass  # storage is behind: the rest go with the next upload or heartbeat
        finally:
            self.lock.release()

    def share(self, object_id: bytes, frames: list[Any]) -> str:
        """Write a large object into a shared-memory segment; its name, or "" when it must go over TCP."""
        pool = self.segments
        if pool is None or self.closed:
            return ""
        return pool.write(object_id, frames, time.monotonic()) or ""

    def released(self, object_ids: list[bytes]) -> None:
        """This client deleted these objects: their segments can be reused once storage has let them go."""
        if self.segments is not None:
            self.segments.released(object_ids, time.monotonic())

    def trim(self) -> None:
        """Remove shared-memory segments idle for a while (on the I/O thread's heartbeat)."""
        if self.segments is not None:
            self.segments.trim(time.monotonic())

    def close(self) -> None:
        """Close the upload socket (the caller holds ``lock``); segments storage still holds stay until it lets go."""
        self.closed = True
        if self._socket is not None:
            self._socket.close(linger=1000)
        if self.segments is not None:
            self.segments.close()

    def _upload_socket(self) -> zmq.Socket[Any]:
        if self._socket is None:
            address = self._storage_address()
            assert address is not None, "upload before the client is connected"
            identity = self._client_id + SEND_ONLY_SUFFIX + b"|storage"
            socket = new_dealer(self._context, address, identity, self._credentials)
            socket.setsockopt(zmq.SNDHWM, UPLOAD_HIGH_WATER_MARK)
            socket.setsockopt(zmq.SNDTIMEO, int(self._timeout * 1000))
            socket.setsockopt(zmq.IMMEDIATE, 1)  # queue nothing for a storage that is not connected: block instead
            socket.connect(address)
            self._socket = socket
        return self._socket

    def _await_answer(self, socket: zmq.Socket[Any], request_id: int) -> None:
        deadline = time.monotonic() + self._timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not socket.poll(int(remaining * 1000) + 1):
                raise errors.ObjectStorageError(
                    f"object storage at {self._storage_address()} did not confirm an upload in {self._timeout:g}s"
                )
            try:
                header = codec.decode(socket.recv_multipart()[0])[0]
            except (codec.DecodeError, IndexError):
                continue
            if isinstance(header, m.ObjectAck) and header.request_id == request_id:
                if header.count == 0:
                    raise errors.ObjectStorageError(f"object storage refused the object: {header.reason}")
                return
            # An answer to an earlier request that timed out: skip it.

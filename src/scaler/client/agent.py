"""The client's background I/O thread.

It owns the receiving sockets (a DEALER to the scheduler, a DEALER to object storage) and is the only
thread that touches them: it receives results and completes futures. What user threads send (tasks,
cancels, uploads) goes out on separate *send-only* sockets, under a lock, straight from the user's thread:
handing each task to this thread first would add a thread switch to every submit. The scheduler knows a
send-only socket by its identity suffix ``|tx`` and treats it as the client itself. Requests that need an
answer from object storage go through this thread (an inproc PAIR socket) so it can route the reply.

The connection itself (heartbeats every ``heartbeat_interval``, "waiting for a scheduler" after a few seconds,
naming the wrong kind of peer, and giving up after ``timeout_seconds`` of silence, when every pending future
fails with SchedulerUnavailableError instead of hanging) is the shared ``SchedulerLink``.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import zmq

from scaler import errors
from scaler.client.future import ScalerFuture
from scaler.io.loop import EventLoop
from scaler.io.scheduler_link import SchedulerLink
from scaler.io.scheduler_link_core import Closed, CloseReason, LinkEvent, Restarted
from scaler.io.sockets import FROM_ENVIRONMENT, connect_dealer
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.serialization import Serializer, load_exception

logger = logging.getLogger("scaler.client")

_TO_STORAGE, _STOP = b"O", b"X"
SEND_ONLY_SUFFIX = b"|tx"

_STATUS_ERRORS: dict[m.ResultStatus, type[Exception]] = {
    m.ResultStatus.PROCESSOR_DIED: errors.ProcessorDiedError,
    m.ResultStatus.TIMEOUT: errors.TaskTimeoutError,
    m.ResultStatus.WORKER_DIED: errors.WorkerDiedError,
    m.ResultStatus.NO_CAPABLE_WORKER: errors.NoCapableWorkerError,
    m.ResultStatus.SCHEDULER_ERROR: errors.TaskRejectedError,
}


class ClientAgent(threading.Thread):
    def __init__(
        self,
        client_id: bytes,
        scheduler_address: str,
        serializer: Serializer,
        heartbeat_interval: float,
        timeout_seconds: float,
        object_storage_address: str | None,
        credentials: Any = FROM_ENVIRONMENT,
    ) -> None:
        super().__init__(name="scaler-client-agent", daemon=True)
        self._credentials = credentials
        self.client_id = client_id
        self.scheduler_address = scheduler_address
        self.object_storage_address = object_storage_address
        self.futures: dict[bytes, ScalerFuture] = {}
        self.storage_waiters: dict[int, Callable[[Any, list[zmq.Frame]], None]] = {}
        self.request_ids = itertools.count(1)
        self.connected = threading.Event()
        self.failure: BaseException | None = None
        self.shutdown_response: m.ShutdownResponse | None = None
        self.shutdown_answered = threading.Event()
        self._serializer = serializer
        self._context: zmq.Context[Any] = zmq.Context()
        self._inbox_address = f"inproc://scaler-client-{client_id.hex()}"
        self._inbox = self._context.socket(zmq.PAIR)
        self._inbox.bind(self._inbox_address)
        self._outlet = self._context.socket(zmq.PAIR)  # the user threads' end, guarded by _outlet_lock
        self._outlet.connect(self._inbox_address)
        self._outlet_lock = threading.Lock()
        self._tx_lock = threading.Lock()
        self._tx_scheduler = connect_dealer(
            self._context, scheduler_address, client_id + SEND_ONLY_SUFFIX, credentials
        )
        self._tx_storage: zmq.Socket[Any] | None = None
        self._storage: zmq.Socket[Any] | None = None
        self._pending_storage: list[list[Any]] = []  # frames queued until the storage address is known
        self._stopped = False
        self.loop = EventLoop()
        self._link = SchedulerLink(
            self._context,
            self.loop,
            scheduler_address,
            client_id,
            heartbeat_interval=heartbeat_interval,
            death_timeout=timeout_seconds,
            heartbeat=lambda: m.ClientHeartbeat(m.PROTOCOL_VERSION, self.client_id, 0.0, 0),
            on_message=self._on_message,
            on_event=self._on_link_event,
            credentials=credentials,
        )

    # --- called from user threads ------------------------------------------------------------------------------

    def forward_to_scheduler(self, payload: bytes) -> None:
        with self._tx_lock:
            if self._stopped:
                raise errors.ClientClosedError("client is disconnected")
            self._tx_scheduler.send(payload)

    def upload(self, frames: list[Any]) -> None:
        """Send frames that need no answer (ObjectPut) to object storage, from the calling thread."""
        with self._tx_lock:
            if self._stopped:
                raise errors.ClientClosedError("client is disconnected")
            if self._tx_storage is None:
                assert self.object_storage_address is not None, "upload before the client is connected"
                identity = self.client_id + SEND_ONLY_SUFFIX + b"|storage"
                self._tx_storage = connect_dealer(
                    self._context, self.object_storage_address, identity, self._credentials
                )
            self._tx_storage.send_multipart(frames, copy=False)

    def request_from_storage(self, frames: list[Any]) -> None:
        """Send a request whose answer this thread routes (register it in ``storage_waiters`` first)."""
        self._forward([_TO_STORAGE, *frames])

    def stop(self) -> None:
        if self.is_alive():
            self._forward([_STOP])
            self.join(10)
        with self._tx_lock:
            self._stopped = True
            for socket in (self._outlet, self._tx_scheduler, self._tx_storage):
                if socket is not None:
                    socket.close(linger=1000)

    def _forward(self, frames: list[Any]) -> None:
        if self._stopped:
            raise errors.ClientClosedError("client is disconnected")
        with self._outlet_lock:
            self._outlet.send_multipart(frames)

    # --- the thread --------------------------------------------------------------------------------------------

    def run(self) -> None:
        loop = self.loop
        loop.add_reader(self._inbox, self._on_inbox)
        if self.object_storage_address:
            self._connect_storage(self.object_storage_address)
        try:
            loop.run()
        finally:
            self._stopped = True
            self._fail_all(self.failure or errors.ClientClosedError("client disconnected"))
            linger_ms = 0 if self.failure else 1000
            self._link.close(linger_ms)
            for socket in (self._inbox, self._storage):
                if socket is not None:
                    socket.close(linger=linger_ms)
            self.connected.set()
            self.shutdown_answered.set()

    def _connect_storage(self, address: str) -> None:
        self.object_storage_address = address
        self._storage = connect_dealer(self._context, address, self.client_id + b"|storage", self._credentials)
        self.loop.add_reader(self._storage, self._on_storage)
        for frames in self._pending_storage:
            self._storage.send_multipart(frames, copy=False)
        self._pending_storage.clear()

    def _on_inbox(self) -> None:
        for _ in range(1000):
            try:
                frames = self._inbox.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            kind = frames[0].bytes
            if kind == _TO_STORAGE:
                if self._storage is None:
                    self._pending_storage.append(frames[1:])
                else:
                    self._storage.send_multipart(frames[1:], copy=False)
            elif kind == _STOP:
                self.loop.stop()
                return

    def _on_link_event(self, event: LinkEvent) -> None:
        if isinstance(event, Closed):
            if event.reason is CloseReason.REFUSED:
                self.failure = errors.ProtocolMismatchError(event.text)
            elif event.reason is CloseReason.UNAUTHORIZED:
                self.failure = errors.AuthenticationError(event.text)
            else:
                self.failure = errors.SchedulerUnavailableError(event.text)
            self.loop.stop()
        elif isinstance(event, Restarted):
            self._on_scheduler_restart()

    def _on_scheduler_restart(self) -> None:
        """The scheduler that held this client's tasks is gone; a new one answers at the same address."""

    def _on_message(self, message: Any) -> None:
        if isinstance(message, m.TaskResult):
            self._on_result(message)
        elif isinstance(message, m.TaskCancelConfirm):
            future = self.futures.pop(message.task_id, None)
            if future is not None:
                future._finish_cancelled()
        elif isinstance(message, m.ClientHeartbeatEcho):
            if self._storage is None:
                self._connect_storage(message.object_storage_address)
            self.connected.set()
        elif isinstance(message, m.TaskLog):
            stream = sys.stdout if message.stream == 1 else sys.stderr
            for line in message.text.splitlines(keepends=True):
                stream.write(f"[task {message.task_id.hex()[:12]}] {line}")
            stream.flush()
        elif isinstance(message, m.ShutdownResponse):
            self.shutdown_response = message
            self.shutdown_answered.set()
        elif isinstance(message, m.ClientDropped):  # every pending future fails with the reason, none hangs
            self.failure = errors.ClientDroppedError(message.reason)
            self.loop.stop()
        else:
            logger.warning("dropping unexpected %s from scheduler", type(message).__name__)

    def _on_result(self, result: m.TaskResult) -> None:
        future = self.futures.get(result.task_id)
        if future is None:
            return
        payload = result.payload
        if payload is not None and payload.kind is m.ArgKind.OBJECT:
            # Large result: fetch it straight from object storage, then forget it there (read once).
            request_id = next(self.request_ids)
            self.storage_waiters[request_id] = lambda header, frames: self._complete(result, header, frames)
            assert self._storage is not None
            read_once = not future.keeps_result_object  # a graph node's result may still feed other nodes
            self._storage.send(codec.encode_one(m.ObjectGet(payload.data, request_id, read_once)))
            return
        self._complete(result, None, [payload.data] if payload is not None else [])

    def _complete(self, result: m.TaskResult, header: Any, frames: list[Any]) -> None:
        future = self.futures.pop(result.task_id, None)
        if future is None:
            return
        if header is not None and not header.found:
            error = errors.ObjectStorageError(f"the result of task {result.task_id.hex()} was lost in object storage")
            future._finish(error=error)
            return
        # Inline: one frame, the payload. From object storage: [encoding, payload] (see scaler.serialization).
        data = frames[-1] if frames else b""
        buffer = data.buffer if isinstance(data, zmq.Frame) else data
        status = result.status
        if status is m.ResultStatus.CANCELED:
            future._finish_cancelled()
            return
        try:
            if status is m.ResultStatus.SUCCESS:
                future._finish(self._serializer.deserialize(buffer), profile=result.profile)
            elif status is m.ResultStatus.FAILED:
                future._finish(error=load_exception(buffer), profile=result.profile)
            else:
                error_type = _STATUS_ERRORS.get(status, errors.TaskError)
                future._finish(error=error_type(bytes(buffer).decode(errors="replace")))
        except Exception as error:
            text = f"could not deserialize the {'result' if status is m.ResultStatus.SUCCESS else 'error'}: {error!r}"
            future._finish(error=errors.DeserializeError(text))

    def _on_storage(self) -> None:
        assert self._storage is not None
        for _ in range(1000):
            try:
                frames = self._storage.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                header = codec.decode(frames[0].buffer)[0]
            except (codec.DecodeError, IndexError) as error:
                logger.warning("dropping message from object storage: %s", error)
                continue
            waiter = self.storage_waiters.pop(getattr(header, "request_id", 0), None)
            if waiter is not None:
                waiter(header, frames[1:])

    def _fail_all(self, error: BaseException) -> None:
        futures, self.futures = self.futures, {}
        for future in futures.values():
            if isinstance(error, errors.ClientClosedError) and not isinstance(error, errors.SchedulerUnavailableError):
                future._finish_cancelled()
            else:
                future._finish(error=error)

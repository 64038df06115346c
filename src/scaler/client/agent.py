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

Same host: once object storage has read a probe file (see ``scaler.object_storage.shared_memory_probe``), large
uploads are written into this client's shared-memory segments (``Uploads.share``) and large results are mapped
from the processor's segments instead of crossing TCP.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from scaler import errors
from scaler.client.flow_control import SubmitCredits
from scaler.client.future import ScalerFuture, defer_wakes, stop_deferring
from scaler.client.results import finish_future, print_task_output
from scaler.client.resync import SentTasks, encode_batches, plan_resend
from scaler.client.uploads import SEND_ONLY_SUFFIX, Uploads
from scaler.io.loop import EventLoop
from scaler.io.object_client import READ_DEADLINE_SECONDS
from scaler.io.scheduler_link import SchedulerLink
from scaler.io.scheduler_link_core import Closed, CloseReason, LinkEvent, Restarted
from scaler.io.sockets import connect_dealer
from scaler.object_storage import shared_memory as shm
from scaler.object_storage.shared_memory_pool import SegmentPool
from scaler.object_storage.shared_memory_probe import may_share, remove_probe, write_probe
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.security.local import FROM_ENVIRONMENT
from scaler.serialization import Serializer

logger = logging.getLogger("scaler.client")

_TO_STORAGE, _STOP = b"O", b"X"
RESYNC_SWEEP_SECONDS = 2.0  # how often batches whose tasks are all done are forgotten
RESYNC_SEND_TIMEOUT_MS = 5000  # how long a resync waits for a reconnecting socket to accept a message
NOT_CONNECTED_REFUSAL = b"client is not connected"  # the start of the scheduler's text (scheduler/core.py)


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
        self.credits = SubmitCredits(self._ask_for_credits)  # back-pressure: see client/flow_control.py
        self.priority = 0  # > 0 inside a task (set by the Client): exempt from the scheduler's queue limit
        self.parent_task_id = b""  # inside a task (set by the Client): this client works for that task's client
        self._serializer = serializer
        self._timeout = timeout_seconds
        self._context: zmq.Context[Any] = zmq.Context()
        self._inbox_address = f"inproc://scaler-client-{client_id.hex()}"
        self._inbox = self._context.socket(zmq.PAIR)
        self._inbox.bind(self._inbox_address)
        self._outlet = self._context.socket(zmq.PAIR)  # the user threads' end, guarded by _outlet_lock
        self._outlet.connect(self._inbox_address)
        self._outlet_lock = threading.Lock()
        self._tx_lock = threading.Lock()
        self._tx_scheduler = connect_dealer(self._context, scheduler_address, client_id + SEND_ONLY_SUFFIX, credentials)
        self.uploads = Uploads(
            self._context,
            client_id,
            credentials,
            timeout_seconds,
            lambda: self.object_storage_address,
            lambda: threading.current_thread() is self,
        )
        self._result_reads: collections.deque[tuple[float, int, bytes]] = collections.deque()  # (deadline, id, obj)
        self._storage: zmq.Socket[Any] | None = None
        self._pending_storage: list[list[Any]] = []  # frames queued until the storage address is known
        self._stopped = False
        # What a restarted scheduler forgot and this client can tell it again (see resync.py).
        self.sent_tasks = SentTasks()
        self.late_results = 0  # results for tasks that had their outcome already (bench/chaos.py reports them)
        self._storage_epoch: tuple[bytes, int] | None = None  # (scheduler instance, storage epoch) of the last echo
        self._unadmitted: set[bytes] = set()  # tasks a scheduler refused as "client not connected" (see _on_result)
        self._probe_name = ""
        self.loop = EventLoop()
        self.loop.call_every(RESYNC_SWEEP_SECONDS, lambda: self.sent_tasks.sweep(self.futures))
        self.loop.call_every(heartbeat_interval, self._housekeeping)
        self._link = SchedulerLink(
            self._context,
            self.loop,
            scheduler_address,
            client_id,
            heartbeat_interval=heartbeat_interval,
            death_timeout=timeout_seconds,
            heartbeat=lambda: m.ClientHeartbeat(m.PROTOCOL_VERSION, self.client_id, 0.0, 0, self.parent_task_id),
            on_message=self._on_message,
            on_event=self._on_link_event,
            credentials=credentials,
        )

    # --- called from user threads ------------------------------------------------------------------------------

    def forward_to_scheduler(self, payload: bytes, task_ids: tuple[bytes, ...] | list[bytes] = ()) -> None:
        """Send from the calling thread; ``task_ids``: the tasks in ``payload``, kept to resend after a restart."""
        with self._tx_lock:
            if self._stopped:
                raise errors.ClientClosedError("client is disconnected")
            self._tx_scheduler.send(payload)
            if task_ids:
                self.sent_tasks.add(payload, task_ids)

    def _ask_for_credits(self, wanted: int) -> None:
        self.forward_to_scheduler(codec.encode_one(m.SubmitCreditRequest(wanted, self.priority)))

    def request_from_storage(self, frames: list[Any]) -> None:
        """Send a request whose answer this thread routes (register it in ``storage_waiters`` first)."""
        self._forward([_TO_STORAGE, *frames])

    def stop(self) -> None:
        if self.is_alive():
            self._forward([_STOP])
            self.join(10)
        self.uploads.flush_deferred()  # the last releases, if storage takes them now
        with self._tx_lock, self.uploads.lock:
            self._stopped = True
            for socket in (self._outlet, self._tx_scheduler):
                socket.close(linger=1000)
            self.uploads.close()
            if self._probe_name:
                remove_probe(self._probe_name)
        # Every socket is closed: this waits (up to their 1 s linger) for the last messages to leave, then ends the
        # context's I/O threads, so a disconnected client leaves no thread behind (a combo started next may fork).
        # destroy() rather than term(): a socket left open somewhere would make term() wait forever. Not while this
        # client's thread still runs (it did not stop in time): it may be using its sockets.
        if not self.is_alive():
            self._context.destroy(linger=1000)

    def _forward(self, frames: list[Any]) -> None:
        if self._stopped:
            raise errors.ClientClosedError("client is disconnected")
        with self._outlet_lock:
            self._outlet.send_multipart(frames)

    # --- the thread --------------------------------------------------------------------------------------------

    def run(self) -> None:
        loop = self.loop
        loop.add_reader(self._inbox, self._on_inbox)
        release_woken = defer_wakes()
        loop.before_sleep(release_woken)
        if self.object_storage_address:
            self._connect_storage(self.object_storage_address)
        try:
            loop.run()
        finally:
            self._stopped = True
            try:
                self.credits.fail(self.failure or errors.ClientClosedError("client is disconnected"))
                self._fail_all(self.failure or errors.ClientClosedError("client disconnected"))
            finally:
                stop_deferring(release_woken)  # no thread stays blocked on a future this thread settled
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
        if may_share(address):
            self._probe_shared_memory()

    def _probe_shared_memory(self) -> None:
        """Ask storage to read a probe file; large objects go through shared memory once it did (see module doc)."""
        assert self._storage is not None
        try:
            self._probe_name, token = write_probe()
        except OSError:
            return
        request_id = next(self.request_ids)

        def answered(header: Any, frames: list[zmq.Frame]) -> None:
            remove_probe(self._probe_name)
            self._probe_name = ""
            if isinstance(header, m.ObjectAck) and header.count == 1 and not self._stopped:
                self.uploads.segments = SegmentPool()
            else:
                logger.debug("object storage does not share this host's memory: %s", getattr(header, "reason", ""))

        self.storage_waiters[request_id] = answered
        self._storage.send(codec.encode_one(m.SharedMemoryProbe(request_id, self._probe_name, token)))

    def _on_inbox(self) -> None:
        for _ in range(1000):
            try:
                frames = self._inbox.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            kind = frames[0].bytes
            if kind == _TO_STORAGE:
                self.uploads.held.note([frame.bytes for frame in frames[1:2]])
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

    def _housekeeping(self) -> None:
        """On the heartbeat's rhythm: send uploads the I/O thread queued, expire overdue result reads, and remove
        shared-memory segments idle for a while."""
        self.uploads.flush_deferred()
        self._expire_result_reads()
        self.uploads.trim()

    def _expire_result_reads(self) -> None:
        """A large result's read has a deadline too: a storage that never answers fails the future (ObjectLostError)."""
        now, reads = time.monotonic(), self._result_reads
        while reads and (reads[0][0] <= now or reads[0][1] not in self.storage_waiters):  # due, or answered
            _, request_id, object_id = reads.popleft()
            waiter = self.storage_waiters.pop(request_id, None)
            if waiter is not None:
                why = f"object storage did not answer in {READ_DEADLINE_SECONDS:g}s"
                waiter(m.ObjectData(object_id, request_id, False, why), [])

    def _on_scheduler_restart(self) -> None:
        """The scheduler that held this client's tasks is gone; a new one answers at the same address: put back
        the uploads its object storage lost, send the unfinished tasks again, and fail what cannot be resent."""
        pending = self.futures.copy()  # user threads add futures meanwhile: work on a snapshot
        plan = plan_resend(pending, self.sent_tasks, self.uploads.held, self.scheduler_address)
        for task_id, error in plan.lost.items():
            self._fail(task_id, error)
        restored = self._restore_uploads()
        self._unadmitted.clear()
        self.credits.after_restart(len(plan.tasks))
        self._send_again(plan.tasks)
        logger.warning(
            "scheduler restarted: restored %d upload(s), sent %d unfinished task(s) again, %d lost",
            restored, len(plan.tasks), len(plan.lost),
        )  # fmt: skip

    def _restore_uploads(self) -> int:
        """Send every upload this client still holds to object storage again (it restarted empty); how many."""
        uploads = self.uploads.held.uploads()
        if uploads and self._storage is not None:
            for frames in uploads:
                if not self._storage.poll(RESYNC_SEND_TIMEOUT_MS, zmq.POLLOUT):
                    logger.error("object storage did not come back: %d upload(s) not restored", len(uploads))
                    break
                self._storage.send_multipart(frames, copy=False)
        return len(uploads)

    def _on_echo(self, echo: m.ClientHeartbeatEcho) -> None:
        if self._storage is None:
            self._connect_storage(echo.object_storage_address)
        epoch = (echo.scheduler_instance, echo.storage_epoch)
        seen, self._storage_epoch = self._storage_epoch, epoch
        if seen is not None and seen[0] == epoch[0] and seen[1] != epoch[1]:
            # The same scheduler restarted its object storage (a new scheduler is _on_scheduler_restart's case):
            # reads parked in the new storage for what this client kept are answered once it is back.
            restored = self._restore_uploads()
            logger.warning("object storage restarted: restored %d upload(s); objects not kept are lost", restored)
        self.connected.set()
        if self._unadmitted:  # the scheduler knows this client again: the tasks it refused can go now
            unadmitted, self._unadmitted = self._unadmitted, set()
            self._send_again(self.sent_tasks.pending_tasks({t for t in unadmitted if t in self.futures}))

    def _send_again(self, tasks: list[m.Task | m.GraphTask]) -> None:
        with self._tx_lock:
            for payload in encode_batches(tasks):
                if self._stopped or not self._tx_scheduler.poll(RESYNC_SEND_TIMEOUT_MS, zmq.POLLOUT):
                    logger.error("could not send %d task(s) again: the scheduler does not accept them", len(tasks))
                    return
                self._tx_scheduler.send(payload)

    def _fail(self, task_id: bytes, error: BaseException) -> None:
        future = self.futures.pop(task_id, None)
        if future is not None:
            future._finish(error=error)

    def _on_message(self, message: Any) -> None:
        if isinstance(message, m.TaskResult):
            self._on_result(message)
        elif isinstance(message, m.SubmitCredit):
            self.credits.add(message)
        elif isinstance(message, m.TaskCancelConfirm):
            future = self.futures.pop(message.task_id, None)
            if future is not None:
                future._finish_cancelled()
        elif isinstance(message, m.ClientHeartbeatEcho):
            self._on_echo(message)
        elif isinstance(message, m.TaskLog):
            print_task_output(message)
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
            self.late_results += 1  # e.g. a task that ran twice around a scheduler restart: its outcome stands
            return
        payload = result.payload
        if (
            result.status is m.ResultStatus.SCHEDULER_ERROR
            and payload is not None
            and payload.data.startswith(NOT_CONNECTED_REFUSAL)
        ):
            # Sent before a restarted scheduler had this client's heartbeat (zmq delivered what it had queued on
            # reconnect): not the task's fault. It goes again once the scheduler echoes this client.
            self._unadmitted.add(result.task_id)
            return
        if payload is not None and payload.kind is m.ArgKind.OBJECT:
            # Large result: fetch it straight from object storage, then forget it there (read once).
            read_once = not future.keeps_result_object  # a graph node's result may still feed other nodes
            self._read_result(result, payload.data, read_once, self.uploads.segments is not None)
            return
        self._complete(result, None, [payload.data] if payload is not None else [])

    def _read_result(self, result: m.TaskResult, object_id: bytes, read_once: bool, shared: bool) -> None:
        request_id = next(self.request_ids)
        self.storage_waiters[request_id] = lambda header, frames: self._on_result_object(
            result, object_id, read_once, header, frames
        )
        self._result_reads.append((time.monotonic() + READ_DEADLINE_SECONDS, request_id, object_id))
        assert self._storage is not None
        self._storage.send(codec.encode_one(m.ObjectGet(object_id, request_id, read_once, shared)))

    def _on_result_object(
        self, result: m.TaskResult, object_id: bytes, read_once: bool, header: Any, frames: list[Any]
    ) -> None:
        """A large result arrived: as frames, or as the name of a shared-memory segment to map."""
        segment = getattr(header, "segment", "") if getattr(header, "found", False) else ""
        if segment:
            try:
                frames = shm.open_segment(segment, object_id, writable=True)
            except shm.SegmentError as error:
                logger.warning("reading result %s over TCP: %s", object_id.hex(), error)
                self._read_result(result, object_id, read_once, False)
                return
            if read_once and self._storage is not None:
                self._storage.send(codec.encode_one(m.ObjectMapped((object_id,))))
        self._complete(result, header, frames)

    def _complete(self, result: m.TaskResult, header: Any, frames: list[Any]) -> None:
        future = self.futures.pop(result.task_id, None)
        if future is None:
            return
        if header is not None and not header.found:
            reason = f": {header.reason}" if header.reason else ""
            object_hex = result.payload.data.hex() if result.payload is not None else ""
            error = errors.ObjectLostError(
                f"the result of task {result.task_id.hex()} (object {object_hex}) is gone from object storage at "
                f"{self.object_storage_address}{reason}"
            )
            future._finish(error=error)
            return
        # Inline: one frame, the payload. From object storage: [encoding, payload] (see scaler.serialization).
        data = frames[-1] if frames else b""
        finish_future(future, result, data.buffer if isinstance(data, zmq.Frame) else data, self._serializer)

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

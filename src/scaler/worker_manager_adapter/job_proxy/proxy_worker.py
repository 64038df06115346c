"""A worker that runs each task as a job on an external system, at most ``max_concurrent_jobs`` at a time.

To the scheduler it is one ordinary worker (heartbeats, a task queue, results, cancel confirms). Tasks wait
in a priority queue here until a job slot frees up; a job past ``job_timeout_seconds`` is cancelled and its
task fails with TaskTimeoutError; a forced cancel cancels the job; a job that ends without output fails its
task with JobFailedError carrying the backend's explanation. Nothing is lost silently.

A proxy whose scheduler is silent for ``death_timeout_seconds`` (or refuses it) cancels its running jobs and
exits non-zero: jobs on paid capacity must not outlive the scheduler that wants their results.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import zmq

from scaler.errors import JobFailedError
from scaler.ids import new_worker_id, random_object_id, short
from scaler.io.loop import make_event_loop
from scaler.io.object_client import ObjectStorageConnection
from scaler.io.scheduler_link import SchedulerLink
from scaler.io.scheduler_link_core import Closed, LinkEvent, Restarted
from scaler.protocol import messages as m
from scaler.serialization import DEFAULT_SERIALIZER, SERIALIZED, decode_object_frames, dump_exception
from scaler.worker.agent.task_queue import AgentTaskQueue
from scaler.worker_manager_adapter.job_proxy.backend import JobBackend, JobOutcome
from scaler.worker_manager_adapter.job_proxy.payload import build_payload, parse_outcome

if TYPE_CHECKING:
    from scaler.config.sections.worker_manager import WorkerManagerConfig

logger = logging.getLogger("scaler.job_proxy")

INLINE_RESULT_LIMIT = 256 * 1024


@dataclass(frozen=True)
class JobProxySettings:
    scheduler_address: str
    manager_id: str
    worker_prefix: str
    max_concurrent_jobs: int  # -1: no limit
    job_timeout_seconds: float  # 0: no limit
    object_storage_address: str | None = None
    capabilities: dict[str, int] | None = None
    task_queue_size: int = 1000
    heartbeat_interval_seconds: float = 2.0
    poll_interval_seconds: float = 0.5
    event_loop: str = "builtin"
    io_threads: int = 1
    death_timeout_seconds: float = 300.0

    @classmethod
    def from_config(
        cls,
        config: WorkerManagerConfig,
        *,
        manager_id: str,
        worker_prefix: str,
        max_concurrent_jobs: int,
        job_timeout_seconds: float,
        poll_interval_seconds: float,
    ) -> JobProxySettings:
        """The proxy's settings from a manager's config section; the caller names what differs per backend."""
        return cls(
            scheduler_address=str(config.scheduler_address),
            manager_id=manager_id,
            worker_prefix=worker_prefix,
            max_concurrent_jobs=max_concurrent_jobs,
            job_timeout_seconds=job_timeout_seconds,
            object_storage_address=str(config.object_storage_address) if config.object_storage_address else None,
            capabilities=dict(config.per_worker_capabilities),
            task_queue_size=config.per_worker_task_queue_size,
            heartbeat_interval_seconds=config.heartbeat_interval_seconds,
            poll_interval_seconds=poll_interval_seconds,
            event_loop=config.event_loop,
            io_threads=config.io_threads,
            death_timeout_seconds=config.death_timeout_seconds,
        )


@dataclass
class _RunningJob:
    task: m.Task
    started: float


class JobProxyWorker:
    def __init__(self, settings: JobProxySettings, backend: JobBackend) -> None:
        self.settings = settings
        self.backend = backend
        self.worker_id = new_worker_id(f"{settings.worker_prefix}|{settings.manager_id}")
        self._context: zmq.Context[Any] = zmq.Context(io_threads=settings.io_threads)
        self._storage: ObjectStorageConnection | None = None
        self._storage_address = settings.object_storage_address or ""
        self._queue = AgentTaskQueue()
        self._running: dict[str, _RunningJob] = {}  # job key (task id hex) -> job
        self.peak_running = 0
        self.exit_code = 0
        self.loop = make_event_loop(settings.event_loop)
        self.loop.after_each_wake(self._start_jobs)  # tasks that arrived in this wake-up (before the link flushes)
        self._scheduler = SchedulerLink(
            self._context,
            self.loop,
            settings.scheduler_address,
            self.worker_id,
            heartbeat_interval=settings.heartbeat_interval_seconds,
            death_timeout=settings.death_timeout_seconds,
            heartbeat=self._heartbeat,
            on_message=self._on_message,
            on_event=self._on_link_event,
        )
        self.loop.call_every(settings.poll_interval_seconds, self._poll)

    def run(self) -> int:
        logger.info(
            "job proxy worker %s started (at most %s concurrent jobs)",
            short(self.worker_id),
            self.settings.max_concurrent_jobs if self.settings.max_concurrent_jobs >= 0 else "unlimited",
        )
        try:
            self.loop.run()
        finally:
            self._send(m.WorkerDisconnect("job proxy stopping"))
            self._cancel_running_jobs()
            self.backend.close()
            if self._storage is not None:
                self._storage.close()
            self._scheduler.close(linger_ms=500)
            self._context.term()
        return self.exit_code

    # --- scheduler side ----------------------------------------------------------------------------------------

    def _on_message(self, message: Any) -> None:
        if isinstance(message, m.Task):
            self._queue.push(message)
        elif isinstance(message, m.TaskCancel):
            self._cancel(message)
        elif isinstance(message, m.WorkerHeartbeatEcho):
            if not self.settings.object_storage_address:
                self._storage_address = message.object_storage_address
        elif isinstance(message, m.WorkerShutdown):
            logger.info("job proxy worker %s: stopping: %s", short(self.worker_id), message.reason)
            self.loop.stop()

    def _on_link_event(self, event: LinkEvent) -> None:
        if isinstance(event, Closed):
            logger.error("job proxy worker %s: cancelling its jobs and exiting: %s", short(self.worker_id), event.text)
            self.exit_code = 1
            self.loop.stop()
        elif isinstance(event, Restarted):
            # The new scheduler knows none of these tasks; their clients send them again (as on a worker agent).
            dropped = self._queue.clear() + len(self._running)
            self._cancel_running_jobs()
            logger.warning("job proxy %s: scheduler restarted; dropped its %d task(s)", short(self.worker_id), dropped)

    def _cancel_running_jobs(self) -> None:
        for key in list(self._running):
            try:
                self.backend.cancel(key)
            except Exception as error:  # keep cancelling the others: each one left running costs money
                logger.warning("could not cancel job %s: %s", key, error)
        self._running.clear()

    def _cancel(self, cancel: m.TaskCancel) -> None:
        if self._queue.remove(cancel.task_id):
            self._send(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.CANCELED))
            return
        key = cancel.task_id.hex()
        if key not in self._running:
            self._send(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.NOT_FOUND))
        elif not cancel.force:
            self._send(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.NOT_CANCELED))
        else:
            del self._running[key]
            self.backend.cancel(key)
            self._send(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.CANCELED))

    def _heartbeat(self) -> m.WorkerHeartbeat:
        return m.WorkerHeartbeat(
            protocol_version=m.PROTOCOL_VERSION,
            capabilities=dict(self.settings.capabilities or {}),
            queue_size=self.settings.task_queue_size,
            queued_tasks=len(self._queue),
            manager_id=self.settings.manager_id,
            hostname=os.uname().nodename,
            agent_cpu=0.0,
            agent_rss=0,
            free_memory=0,
            processors=(),
            latency_us=0,
        )

    # --- jobs --------------------------------------------------------------------------------------------------

    def _has_slot(self) -> bool:
        limit = self.settings.max_concurrent_jobs
        return limit < 0 or len(self._running) < limit

    def _start_jobs(self) -> None:
        while self._storage_address and self._queue and self._has_slot():
            task = self._queue.pop()
            if task is None:
                return
            key = task.task_id.hex()
            try:
                payload = self._build_payload(task)
                self.backend.submit(key, payload)
            except Exception as error:  # e.g. the cloud refused the job: the task fails, the proxy goes on
                logger.error("could not start job for task %s: %s", key, error)
                self._fail(task, JobFailedError(f"could not start the job: {error}"))
                continue
            self._running[key] = _RunningJob(task, time.monotonic())
            self.peak_running = max(self.peak_running, len(self._running))

    def _build_payload(self, task: m.Task) -> bytes:
        serializer = self._fetch(task.serializer_id) if task.serializer_id else None
        function = self._fetch(task.function_id)
        args = [self._resolve(arg) for arg in task.args]
        kwargs = {name: self._resolve(arg) for name, arg in task.kwargs.items()}
        return build_payload(serializer, function, args, kwargs)

    def _resolve(self, arg: m.TaskArg) -> bytes:
        return arg.data if arg.kind is m.ArgKind.INLINE else self._fetch(arg.data)

    def _fetch(self, object_id: bytes) -> bytes:
        """An uploaded object as one payload of the task's serializer (what the remote runner decodes)."""
        if self._storage is None:
            self._storage = ObjectStorageConnection(self._context, self._storage_address)
        frames = [frame.buffer for frame in self._storage.get(object_id, timeout=60)]
        if bytes(frames[0]) == SERIALIZED:
            return bytes(frames[1])
        # Raw bytes or a pickle with out-of-band buffers (only ever made by the default serializer): re-pickle
        # it in one piece, since the runner has no object storage to read buffers from.
        return DEFAULT_SERIALIZER.serialize(decode_object_frames(frames, DEFAULT_SERIALIZER))

    def _poll(self) -> None:
        try:
            outcomes = self.backend.poll()
        except Exception as error:  # a transient API failure: log it, keep the jobs, try again next time
            logger.warning("polling jobs failed: %s", error)
            outcomes = []
        for outcome in outcomes:
            self._on_outcome(outcome)
        self._expire_jobs()
        self._start_jobs()

    def _on_outcome(self, outcome: JobOutcome) -> None:
        job = self._running.pop(outcome.job_key, None)
        if job is None:
            return  # cancelled or timed out meanwhile
        if outcome.output is None:
            self._fail(job.task, JobFailedError(outcome.error or "the job ended without output"))
            return
        try:
            succeeded, payload = parse_outcome(outcome.output)
        except ValueError as error:
            self._fail(job.task, JobFailedError(str(error)))
            return
        status = m.ResultStatus.SUCCESS if succeeded else m.ResultStatus.FAILED
        self._send(m.TaskResult(job.task.task_id, status, self._result_arg(job.task, payload), None))

    def _expire_jobs(self) -> None:
        limit = self.settings.job_timeout_seconds
        if limit <= 0:
            return
        now = time.monotonic()
        for key, job in list(self._running.items()):
            if now - job.started > limit:
                del self._running[key]
                self.backend.cancel(key)
                text = f"job exceeded job timeout of {limit:g}s and was cancelled"
                self._send(
                    m.TaskResult(
                        job.task.task_id, m.ResultStatus.TIMEOUT, m.TaskArg(m.ArgKind.INLINE, text.encode()), None
                    )
                )

    def _fail(self, task: m.Task, error: BaseException) -> None:
        payload = dump_exception(error)
        self._send(m.TaskResult(task.task_id, m.ResultStatus.FAILED, self._result_arg(task, payload), None))

    def _result_arg(self, task: m.Task, payload: bytes) -> m.TaskArg:
        if len(payload) <= INLINE_RESULT_LIMIT or self._storage is None:
            return m.TaskArg(m.ArgKind.INLINE, payload)
        object_id = random_object_id(task.client_id)
        self._storage.put(object_id, [SERIALIZED, payload])
        return m.TaskArg(m.ArgKind.OBJECT, object_id)

    def _send(self, message: Any) -> None:
        self._scheduler.send(message)


def run_job_proxy(settings: JobProxySettings, backend: JobBackend) -> int:
    worker = JobProxyWorker(settings, backend)
    worker.loop.stop_on_signals()
    return worker.run()

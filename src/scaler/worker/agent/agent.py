"""The worker agent: the process the scheduler sees as "a worker".

It keeps the worker's task queue, feeds one task at a time to its active processor, and reports results.
It never runs user code, so it survives whatever a task does:

- a task that kills its processor fails with ProcessorDiedError, and a fresh processor is started;
- a task that runs past ``task_timeout_seconds`` has its processor killed and fails with TaskTimeoutError;
- a forced cancel of a running task kills its processor (the only way to stop arbitrary Python code);
- a queued task with a higher priority than the running one (a nested task, whose parent is waiting for it)
  gets a new processor while the current one is suspended, so recursion on one worker cannot deadlock;
- if the scheduler is silent for ``death_timeout_seconds``, the agent exits (code 1);
- if the scheduler restarted (a new instance echoes), the queued tasks are dropped: the new scheduler does
  not know them, and their clients send them again.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from typing import Any

import psutil
import zmq

from scaler.ids import new_worker_id, short
from scaler.io.loop import make_event_loop
from scaler.io.scheduler_link import SchedulerLink
from scaler.io.scheduler_link_core import Closed, LinkEvent, Restarted
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.worker.agent.options import WorkerOptions
from scaler.worker.agent.processors import ProcessorHandle, ProcessorState
from scaler.worker.agent.task_queue import AgentTaskQueue

logger = logging.getLogger("scaler.worker")

CHECK_SECONDS = 0.05


class WorkerAgent:
    def __init__(self, options: WorkerOptions, first_processor: ProcessorHandle | None = None) -> None:
        self.options = options
        self.worker_id = options.worker_id.encode() if options.worker_id else new_worker_id(options.worker_id_prefix)
        self._context: zmq.Context[Any] = zmq.Context()
        self._storage_address = options.object_storage_address or ""
        self._queue = AgentTaskQueue()
        self._processors: list[ProcessorHandle] = []  # the last one is active; earlier ones are suspended
        self._echo_latency_us = 0
        self._heartbeat_sent = 0.0
        self._psutil = psutil.Process()
        self.exit_code = 0

        self.loop = make_event_loop(options.event_loop)
        self._scheduler = SchedulerLink(
            self._context,
            self.loop,
            options.scheduler_address,
            self.worker_id,
            heartbeat_interval=options.heartbeat_interval_seconds,
            death_timeout=options.death_timeout_seconds,
            heartbeat=self._heartbeat_message,
            on_message=self._on_scheduler_message,
            on_event=self._on_link_event,
        )
        self.loop.after_each_wake(self._dispatch)  # tasks that arrived in this wake-up
        self.loop.call_every(CHECK_SECONDS, self._check_processors)
        if first_processor is None:
            self._start_processor()
        else:
            self._adopt(first_processor)

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def run(self) -> int:
        logger.info(
            "worker %s started (pid %d), scheduler %s",
            short(self.worker_id),
            os.getpid(),
            self.options.scheduler_address,
        )
        try:
            self.loop.run()
        finally:
            self._send(m.WorkerDisconnect("worker stopping"))
            for processor in self._processors:
                processor.kill()
            self._scheduler.close(linger_ms=100)  # give the disconnect notice a moment to leave
            self._context.term()
            logger.info("worker %s stopped", short(self.worker_id))
        return self.exit_code

    def _start_processor(self) -> ProcessorHandle:
        return self._adopt(ProcessorHandle(self.options))

    def _adopt(self, processor: ProcessorHandle) -> ProcessorHandle:
        self._processors.append(processor)
        self.loop.add_reader(processor.result_fd, lambda: self._on_processor(processor))
        return processor

    def _retire(self, processor: ProcessorHandle) -> None:
        self.loop.remove_reader(processor.result_fd)
        processor.kill()
        self._processors.remove(processor)

    # --- scheduler side ----------------------------------------------------------------------------------------

    def _on_scheduler_message(self, message: Any) -> None:
        if isinstance(message, m.Task):
            self._queue.push(message)
        elif isinstance(message, m.TaskCancel):
            self._cancel(message)
        elif isinstance(message, m.WorkerHeartbeatEcho):
            self._echo_latency_us = int((time.monotonic() - self._heartbeat_sent) * 1e6)
            if not self.options.object_storage_address:
                self._storage_address = message.object_storage_address
        elif isinstance(message, m.ObjectsReleased):
            for processor in self._processors:
                processor.send(message)
        elif isinstance(message, m.WorkerShutdown):
            logger.info("worker %s: shutdown requested by scheduler: %s", short(self.worker_id), message.reason)
            self.loop.stop()
        else:
            logger.warning("dropping unexpected %s from scheduler", type(message).__name__)

    def _cancel(self, cancel: m.TaskCancel) -> None:
        if self._queue.remove(cancel.task_id):
            self._send(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.CANCELED))
            return
        processor = next((p for p in self._processors if p.task and p.task.task_id == cancel.task_id), None)
        if processor is None:
            self._send(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.NOT_FOUND))
        elif not cancel.force:
            self._send(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.NOT_CANCELED))
        else:
            self._replace(processor)
            self._send(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.CANCELED))

    def _on_link_event(self, event: LinkEvent) -> None:
        if isinstance(event, Closed):
            logger.error("worker %s exiting: %s", short(self.worker_id), event.text)
            self.exit_code = 1
            self.loop.stop()
        elif isinstance(event, Restarted):
            # The new scheduler knows none of the queued tasks (their clients send them again); a running one
            # finishes, and its result is ignored unless the new scheduler gave this worker the same task.
            dropped = self._queue.clear()
            logger.warning("worker %s: scheduler restarted; dropped %d queued task(s)", short(self.worker_id), dropped)

    def _heartbeat_message(self) -> m.WorkerHeartbeat:
        self._heartbeat_sent = time.monotonic()
        statuses = []
        for processor in self._processors:
            try:
                process = psutil.Process(processor.pid)
                cpu, rss = process.cpu_percent(), process.memory_info().rss
            except psutil.Error:
                cpu, rss = 0.0, 0
            statuses.append(
                m.ProcessorStatus(
                    processor.pid, cpu, rss, processor.task is not None, processor.state is ProcessorState.SUSPENDED
                )
            )
        return m.WorkerHeartbeat(
            protocol_version=m.PROTOCOL_VERSION,
            capabilities=self.options.capabilities,
            queue_size=self.options.task_queue_size,
            queued_tasks=len(self._queue),
            manager_id=self.options.manager_id,
            hostname=socket.gethostname(),
            agent_cpu=self._psutil.cpu_percent(),
            agent_rss=self._psutil.memory_info().rss,
            free_memory=psutil.virtual_memory().available,
            processors=tuple(statuses),
            latency_us=self._echo_latency_us,
        )

    # --- processor side ----------------------------------------------------------------------------------------

    def _on_processor(self, processor: ProcessorHandle) -> None:
        for frame in processor.reader.feed():
            try:
                messages = codec.decode(frame)
            except codec.DecodeError as error:
                logger.warning("dropping message from processor %d: %s", processor.pid, error)
                continue
            for message in messages:
                self._on_processor_message(processor, message)
        if processor.reader.closed and processor in self._processors:
            try:
                processor.process.wait(5)  # end-of-file: it is exiting; collect its status for the report
            except subprocess.TimeoutExpired:
                pass
            self._on_processor_died(processor, processor.exit_description())
        self._dispatch()

    def _on_processor_message(self, processor: ProcessorHandle, message: Any) -> None:
        if isinstance(message, m.TaskResult):
            if processor.task is None or processor.task.task_id != message.task_id:
                return
            processor.release()
            self._send(message)
            self._resume_suspended()
        elif isinstance(message, m.TaskLog):
            self._send(message)
        elif isinstance(message, m.ProcessorReady):
            if message.error:
                logger.error("worker %s: %s", short(self.worker_id), message.error)
                self.exit_code = 1
                self.loop.stop()  # a worker that cannot run its preload must not accept tasks
                return
            processor.state = ProcessorState.IDLE

    def _dispatch(self) -> None:
        if not self._storage_address or not self._queue:
            return
        active = self._processors[-1]
        if active.state is ProcessorState.IDLE:
            task = self._queue.pop()
            if task is not None:
                self._run_on(active, task)
            return
        next_priority = self._queue.peek_priority()
        if (
            active.state is ProcessorState.BUSY
            and active.task is not None
            and next_priority is not None
            and next_priority > active.task.priority
        ):
            # The running task is (most likely) a parent waiting for this child: park it, start a new processor.
            active.suspend(self.options.hard_processor_suspend)
            self._start_processor()

    def _run_on(self, processor: ProcessorHandle, task: m.Task) -> None:
        processor.assign(task, self.options.task_timeout_seconds)
        processor.send(m.ProcessorTask(task, self._storage_address))

    def _resume_suspended(self) -> None:
        """When a higher-priority processor is done, hand control back to the one it displaced."""
        if len(self._processors) < 2 or self._processors[-1].state is not ProcessorState.IDLE:
            return
        next_priority = self._queue.peek_priority()
        suspended = self._processors[-2]
        if suspended.task is not None and next_priority is not None and next_priority > suspended.task.priority:
            return  # more nested work queued: keep the extra processor running it
        self._retire(self._processors[-1])
        suspended.resume()

    def _check_processors(self) -> None:
        now = time.monotonic()
        for processor in list(self._processors):
            if processor.has_exited():
                self._on_processor_died(processor, processor.exit_description())
            elif processor.deadline is not None and now > processor.deadline and processor.task is not None:
                seconds = self.options.task_timeout_seconds
                self._fail_running(
                    processor,
                    m.ResultStatus.TIMEOUT,
                    f"task exceeded task_timeout_seconds={seconds:g} and its processor was killed",
                )
                self._replace(processor)
        self._dispatch()

    def _on_processor_died(self, processor: ProcessorHandle, description: str) -> None:
        if processor.task is not None:
            logger.warning(
                "worker %s: %s while running task %s", short(self.worker_id), description, processor.task.task_id.hex()
            )
            self._fail_running(processor, m.ResultStatus.PROCESSOR_DIED, f"{description} while running the task")
        else:
            logger.warning("worker %s: %s", short(self.worker_id), description)
        self._replace(processor)

    def _fail_running(self, processor: ProcessorHandle, status: m.ResultStatus, text: str) -> None:
        task = processor.release()
        if task is not None:
            self._send(m.TaskResult(task.task_id, status, m.TaskArg(m.ArgKind.INLINE, text.encode()), None))

    def _replace(self, processor: ProcessorHandle) -> None:
        """Kill a processor and put a fresh one in its place (same position in the suspension stack)."""
        index = self._processors.index(processor)
        self._retire(processor)
        if index < len(self._processors):
            # A suspended processor died: its place simply goes away; the active one keeps running.
            return
        if self._processors and self._processors[-1].state is ProcessorState.SUSPENDED:
            self._processors[-1].resume()
            return
        self._start_processor()

    # --- output ------------------------------------------------------------------------------------------------

    def _send(self, message: Any) -> None:
        self._scheduler.send(message)


def run_worker(options: WorkerOptions, first_processor: ProcessorHandle | None = None) -> int:
    agent = WorkerAgent(options, first_processor)
    agent.loop.stop_on_signals()
    return agent.run()

"""The worker agent: the process the scheduler sees as "a worker".

It keeps the worker's task queue, feeds its active processor (which runs one task at a time; short tasks are
sent a few ahead, so that it need not wait for the agent between them), and reports results.
It never runs user code, so it survives whatever a task does:

- a task that kills its processor fails with ProcessorDiedError, and a fresh processor is started;
- a task that runs past ``task_timeout_seconds`` has its processor killed and fails with TaskTimeoutError;
- a forced cancel of a running task kills its processor (the only way to stop arbitrary Python code);
- a queued task with a higher priority than the running one (a nested task, whose parent is waiting for it)
  gets a new processor while the current one is suspended, so recursion on one worker cannot deadlock;
- if the scheduler is silent for ``death_timeout_seconds``, the agent exits (code 1);
- if the scheduler restarted (a new instance echoes), its tasks are dropped, running ones too: the new
  scheduler does not know them, and their clients send them again.

Those decisions are ``WorkerAgentCore``'s (core.py, no I/O); this module is the shell that owns the
processes, the pipes and the scheduler connection, and carries the core's actions out.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import psutil
import zmq

from scaler.ids import new_worker_id, short
from scaler.io.lifetime import exit_descriptor
from scaler.io.loop import make_event_loop
from scaler.io.scheduler_link import SchedulerLink
from scaler.io.scheduler_link_core import Closed, LinkEvent, Restarted
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.worker.agent import core as c
from scaler.worker.agent.options import WorkerOptions
from scaler.worker.agent.processors import ProcessorHandle

logger = logging.getLogger("scaler.worker")

# How often the core checks task deadlines, and processors are polled for an exit. A processor's pidfd tells of its
# exit at once, so with pidfds the poll is only a backstop and runs less often: every wake-up of an idle agent
# costs CPU that the tasks of a fully used machine would otherwise have.
CHECK_SECONDS = 0.25
POLL_SECONDS_WITHOUT_PIDFD = 0.05


class WorkerAgent:
    def __init__(self, options: WorkerOptions, first_processor: ProcessorHandle | None = None) -> None:
        self.options = options
        self.worker_id = options.worker_id.encode() if options.worker_id else new_worker_id(options.worker_id_prefix)
        self._context: zmq.Context[Any] = zmq.Context(io_threads=options.io_threads)
        self._storage_address = options.object_storage_address or ""
        self.core = c.WorkerAgentCore(options.task_timeout_seconds)
        self.core.can_run = bool(self._storage_address)
        self._processors: dict[int, ProcessorHandle] = {}  # by the core's slot number
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
        probe = exit_descriptor(os.getpid())  # whether this system has pidfds
        if probe is not None:
            os.close(probe)
        self.loop.call_every(CHECK_SECONDS if probe is not None else POLL_SECONDS_WITHOUT_PIDFD, self._check_processors)
        if first_processor is None:
            self._act(self.core.start())
        else:
            self._adopt(0, first_processor)
            self._act(self.core.start(slot=0))

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
            for processor in self._processors.values():
                processor.kill()
            self._scheduler.close(linger_ms=100)  # give the disconnect notice a moment to leave
            self._context.term()
            logger.info("worker %s stopped", short(self.worker_id))
        return self.exit_code

    def _adopt(self, slot: int, processor: ProcessorHandle) -> None:
        self._processors[slot] = processor
        self.loop.add_reader(processor.result_fd, lambda: self._on_processor(slot, processor))
        if processor.exit_fd is not None:
            self.loop.add_reader(processor.exit_fd, lambda: self._on_processor_exit(slot, processor))

    def _act(self, actions: list[c.Action]) -> None:
        for action in actions:
            if isinstance(action, c.ToScheduler):
                self._send(action.message)
            elif isinstance(action, c.RunTask):
                self._processors[action.slot].send(m.ProcessorTask(action.task, self._storage_address))
            elif isinstance(action, c.StartProcessor):
                self._adopt(action.slot, ProcessorHandle(self.options))
            elif isinstance(action, c.KillProcessor):
                processor = self._processors.pop(action.slot)
                self.loop.remove_reader(processor.result_fd)
                if processor.exit_fd is not None:
                    self.loop.remove_reader(processor.exit_fd)
                processor.kill()
            elif isinstance(action, c.SkipTask):
                self._processors[action.slot].send(m.TaskCancel(action.task_id, force=True))
            elif isinstance(action, c.Suspend):
                self._processors[action.slot].suspend(self.options.hard_processor_suspend)
            elif isinstance(action, c.Resume):
                self._processors[action.slot].resume()
            elif isinstance(action, c.Fatal):
                logger.error("worker %s: %s", short(self.worker_id), action.text)
                self.exit_code = 1
                self.loop.stop()

    # --- scheduler side ----------------------------------------------------------------------------------------

    def _on_scheduler_message(self, message: Any) -> None:
        if isinstance(message, m.Task):
            self._act(self.core.on_task(message, time.monotonic()))
        elif isinstance(message, m.TaskCancel):
            if self.core.has_ahead():
                self._holding_claims(lambda: self.core.on_cancel(message, time.monotonic()))
            else:
                self._act(self.core.on_cancel(message, time.monotonic()))
        elif isinstance(message, m.WorkerHeartbeatEcho):
            self._echo_latency_us = int((time.monotonic() - self._heartbeat_sent) * 1e6)
            if not self.options.object_storage_address:
                self._storage_address = message.object_storage_address
            if self._storage_address and not self.core.can_run:
                self.core.can_run = True
                self._act(self.core.dispatch(time.monotonic()))
        elif isinstance(message, m.ObjectsReleased):
            for processor in self._processors.values():
                processor.send(message)
        elif isinstance(message, m.WorkerShutdown):
            logger.info("worker %s: shutdown requested by scheduler: %s", short(self.worker_id), message.reason)
            self.loop.stop()
        else:
            logger.warning("dropping unexpected %s from scheduler", type(message).__name__)

    def _on_link_event(self, event: LinkEvent) -> None:
        if isinstance(event, Closed):
            logger.error("worker %s exiting: %s", short(self.worker_id), event.text)
            self.exit_code = 1
            self.loop.stop()
        elif isinstance(event, Restarted):
            dropped, actions = self.core.on_scheduler_restart()
            logger.warning("worker %s: scheduler restarted; dropped its %d task(s)", short(self.worker_id), dropped)
            self._act(actions)

    def _heartbeat_message(self) -> m.WorkerHeartbeat:
        self._heartbeat_sent = time.monotonic()
        statuses = []
        for slot in self.core.stack:
            processor = self._processors[slot.slot]
            try:
                process = psutil.Process(processor.pid)
                cpu, rss = process.cpu_percent(), process.memory_info().rss
            except psutil.Error:
                cpu, rss = 0.0, 0
            suspended = slot.state is c.SlotState.SUSPENDED
            statuses.append(m.ProcessorStatus(processor.pid, cpu, rss, slot.task is not None, suspended))
        return m.WorkerHeartbeat(
            protocol_version=m.PROTOCOL_VERSION,
            capabilities=self.options.capabilities,
            queue_size=self.options.task_queue_size,
            queued_tasks=len(self.core.queue),
            manager_id=self.options.manager_id,
            hostname=socket.gethostname(),
            agent_cpu=self._psutil.cpu_percent(),
            agent_rss=self._psutil.memory_info().rss,
            free_memory=psutil.virtual_memory().available,
            processors=tuple(statuses),
            latency_us=self._echo_latency_us,
        )

    # --- processor side ----------------------------------------------------------------------------------------

    def _on_processor(self, slot: int, processor: ProcessorHandle) -> None:
        for frame in processor.reader.feed():
            try:
                messages = codec.decode(frame)
            except codec.DecodeError as error:
                logger.warning("dropping message from processor %d: %s", processor.pid, error)
                continue
            for message in messages:
                self._on_processor_message(slot, message)
        if processor.reader.closed and self._processors.get(slot) is processor:
            try:
                processor.process.wait(5)  # end-of-file: it is exiting; collect its status for the report
            except subprocess.TimeoutExpired:
                pass
            self._on_processor_died(slot, processor)

    def _on_processor_exit(self, slot: int, processor: ProcessorHandle) -> None:
        """Its process ended: what it wrote first counts, then its death is reported (once: a pidfd stays readable)."""
        assert processor.exit_fd is not None
        self.loop.remove_reader(processor.exit_fd)
        if self._processors.get(slot) is processor:
            self._on_processor(slot, processor)  # its results, and the end-of-file that reports the death
        if self._processors.get(slot) is processor:  # no end-of-file: a process its task started holds the pipe
            self._on_processor_died(slot, processor)

    def _on_processor_message(self, slot: int, message: Any) -> None:
        if isinstance(message, m.TaskResult):
            self._act(self.core.on_result(slot, message, time.monotonic()))
        elif isinstance(message, m.TaskLog):
            self._send(message)
        elif isinstance(message, m.ProcessorReady):
            self._act(self.core.on_ready(slot, message.error, time.monotonic()))

    def _check_processors(self) -> None:
        for slot, processor in list(self._processors.items()):
            if self._processors.get(slot) is processor and processor.has_exited():
                self._on_processor_died(slot, processor)
        self._act(self.core.tick(time.monotonic()))

    def _holding_claims(self, decide: Callable[[], list[c.Action]]) -> None:
        """Carry out a decision about tasks sent ahead while no processor can take one (see core.py's docstring)."""
        with ExitStack() as held:
            for processor in self._processors.values():  # all: reading results below may send tasks ahead to any
                held.enter_context(processor.holding_claims())
            for slot_id, processor in list(self._processors.items()):
                self._on_processor(slot_id, processor)  # every result written so far: the core knows what runs
            self._act(decide())

    def _on_processor_died(self, slot: int, processor: ProcessorHandle) -> None:
        description = processor.exit_description()
        running = next((s.task for s in self.core.stack if s.slot == slot), None)
        if running is not None:
            logger.warning(
                "worker %s: %s while running task %s", short(self.worker_id), description, running.task_id.hex()
            )
        else:
            logger.warning("worker %s: %s", short(self.worker_id), description)
        self._act(self.core.on_processor_died(slot, description, time.monotonic()))

    # --- output ------------------------------------------------------------------------------------------------

    def _send(self, message: Any) -> None:
        self._scheduler.send(message)


def run_worker(options: WorkerOptions, first_processor: ProcessorHandle | None = None) -> int:
    agent = WorkerAgent(options, first_processor)
    agent.loop.stop_on_signals()
    return agent.run()

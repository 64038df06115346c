"""What a death costs a task: which deaths count against it, and when it stops being retried.

Two kinds of death end an attempt without an answer from the task itself:

- its worker vanished (heartbeat timeout, a crash, its manager saw it exit);
- its processor died under it (a SIGKILL from an operator or the OOM killer, or the task itself: ``os._exit``,
  a segfault), which the worker reports as a PROCESSOR_DIED result.

Either may be the task's fault (a poison task) or not (an innocent task on a machine an operator is cleaning
up). The scheduler cannot tell which, so it re-runs the task, on another worker when there is one, and counts
both kinds against one cap: after ``MAX_DEATHS`` re-runs the next death fails the task with the status of that
last death (WORKER_DIED or PROCESSOR_DIED), so a poison task ends instead of looping forever.

Only a task that had *started* is charged: a worker's death says nothing about the tasks that were only queued
on it, and they are re-queued for free. A worker that said goodbye (a scale-down) charges nobody.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scaler.ids import short
from scaler.protocol import messages as m
from scaler.scheduler.replies import failure
from scaler.scheduler.tables import TaskRecord, TaskState, WorkerRecord

if TYPE_CHECKING:
    from scaler.scheduler.core import SchedulerCore

logger = logging.getLogger("scaler.scheduler")

MAX_DEATHS = 3  # re-runs after a death; the (MAX_DEATHS + 1)th death fails the task


def recover_tasks(core: SchedulerCore, worker: WorkerRecord, graceful: bool) -> None:
    """Re-queue (or fail, or confirm the cancel of) every task the departed ``worker`` held."""
    worker_id = worker.worker_id
    for task_id in worker.tasks:
        record = core.tasks.get(task_id)
        if record is None or record.worker != worker_id:
            continue
        if record.state is TaskState.CANCELING or record.cancel_requested:
            record.worker = None
            core._finish(record, m.TaskCancelConfirm(task_id, m.CancelOutcome.CANCELED), "canceled")
            continue
        if graceful or not record.started:
            core._requeue(record)
            continue
        text = f"worker {short(worker_id)} died while running the task"
        _charge(core, record, worker_id, failure(task_id, m.ResultStatus.WORKER_DIED, text), "worker_died")


def processor_died(core: SchedulerCore, record: TaskRecord, worker_id: bytes, result: m.TaskResult) -> None:
    """The worker reports that the processor running ``record`` died: re-run it, or fail it after the cap."""
    if record.state is TaskState.CANCELING or record.cancel_requested:  # the client wanted it gone anyway
        core._finish(record, result, "processor_died")
        return
    _charge(core, record, worker_id, result, "processor_died")


def _charge(core: SchedulerCore, record: TaskRecord, worker_id: bytes, last: m.TaskResult, outcome: str) -> None:
    record.deaths += 1
    record.last_death_on = worker_id
    if record.deaths <= MAX_DEATHS:
        logger.info(
            "task %s: %s (death %d of %d allowed): running it again",
            record.task.task_id.hex(), outcome.replace("_", " "), record.deaths, MAX_DEATHS,
        )  # fmt: skip
        core._requeue(record)
        return
    core._finish(record, _final(last, record.deaths), outcome)


def _final(last: m.TaskResult, deaths: int) -> m.TaskResult:
    """The last death's own failure, told that it was the last of several."""
    if last.payload is None or last.payload.kind is not m.ArgKind.INLINE:
        return last
    note = f" (the task ran {deaths} times and its processor or worker died each time; it is not retried again)"
    text = last.payload.data.decode(errors="replace") + note
    return failure(last.task_id, last.status, text)

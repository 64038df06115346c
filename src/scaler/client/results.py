"""What the client makes of a task's outcome: the future's value or error, and the task's printed output."""

from __future__ import annotations

import sys
from typing import Any

from scaler import errors
from scaler.client.future import ScalerFuture
from scaler.protocol import messages as m
from scaler.serialization import Serializer, load_exception

_STATUS_ERRORS: dict[m.ResultStatus, type[Exception]] = {
    m.ResultStatus.PROCESSOR_DIED: errors.ProcessorDiedError,
    m.ResultStatus.TIMEOUT: errors.TaskTimeoutError,
    m.ResultStatus.WORKER_DIED: errors.WorkerDiedError,
    m.ResultStatus.NO_CAPABLE_WORKER: errors.NoCapableWorkerError,
    m.ResultStatus.SCHEDULER_ERROR: errors.TaskRejectedError,
}


def finish_future(future: ScalerFuture, result: m.TaskResult, payload: Any, serializer: Serializer) -> None:
    """Finish ``future`` with ``result``'s outcome; ``payload``: its bytes (inline, or read from object storage)."""
    status = result.status
    if status is m.ResultStatus.CANCELED:
        future._finish_cancelled()
        return
    try:
        if status is m.ResultStatus.SUCCESS:
            future._finish(serializer.deserialize(payload), profile=result.profile)
        elif status is m.ResultStatus.FAILED:
            future._finish(error=load_exception(payload), profile=result.profile)
        else:
            error_type = _STATUS_ERRORS.get(status, errors.TaskError)
            future._finish(error=error_type(bytes(payload).decode(errors="replace")))
    except Exception as error:
        text = f"could not deserialize the {'result' if status is m.ResultStatus.SUCCESS else 'error'}: {error!r}"
        future._finish(error=errors.DeserializeError(text))


def print_task_output(log: m.TaskLog) -> None:
    """Print what a task printed (whole lines; see ``scaler.worker.output``), each line labelled by its task."""
    stream = sys.stdout if log.stream == 1 else sys.stderr
    label = task_label(log.task_id)
    text = log.text if log.text.endswith("\n") else log.text + "\n"  # the task's last line had no newline
    stream.write("".join(f"[{label}] {line}" for line in text.splitlines(keepends=True)))
    stream.flush()


def task_label(task_id: bytes) -> str:
    """``task 3fa1-42``: the first hex digits of the client's prefix and the task's number (ids are prefix+counter).

    The prefix alone (what the first bytes of the id hold) is the same for every task of a client.
    """
    if len(task_id) == 16:
        return f"task {task_id[:2].hex()}-{int.from_bytes(task_id[8:], 'big')}"
    return f"task {task_id.hex()[-12:]}"

"""The messages the scheduler itself writes to clients: refusals and failures it decides on its own."""

from __future__ import annotations

from typing import Any

from scaler.protocol import messages as m


def failure_for_dependents(message: Any) -> m.TaskResult:
    """What the dependents of a node that did not succeed get: its own failure, or a cancellation."""
    if isinstance(message, m.TaskResult):
        return message
    return m.TaskResult(b"", m.ResultStatus.CANCELED, m.TaskArg(m.ArgKind.INLINE, b"a dependency was cancelled"), None)


def mismatch(received: int) -> m.ProtocolMismatch:
    text = f"protocol version {received} is not supported; this scheduler speaks version {m.PROTOCOL_VERSION}"
    return m.ProtocolMismatch(m.PROTOCOL_VERSION, received, text)


def failure(task_id: bytes, status: m.ResultStatus, text: str) -> m.TaskResult:
    return m.TaskResult(task_id, status, m.TaskArg(m.ArgKind.INLINE, text.encode()), None)


def rejection(task_id: bytes, text: str) -> m.TaskResult:
    return failure(task_id, m.ResultStatus.SCHEDULER_ERROR, text)


def no_capable_worker(task_id: bytes, required_keys: frozenset[str]) -> m.TaskResult:
    keys = sorted(required_keys)
    text = f"no connected worker has capabilities {keys} and no worker manager can provide them"
    return failure(task_id, m.ResultStatus.NO_CAPABLE_WORKER, text)

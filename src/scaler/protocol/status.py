"""The monitor stream: what a scheduler publishes about itself, once a second, at its monitor address.

The scheduler's PUB socket sends one ``SchedulerStatus`` per message, with no topic: a consumer connects a
SUB socket, subscribes to everything, and decodes each frame with ``decode_status``. Every status is a
complete picture (counts are totals, not deltas) except ``events``, which lists the task transitions since
the previous status, so a consumer that joins late or misses one message is whole again one second later;
``sequence`` tells it that it missed something.

Structs are msgpack arrays, like the control protocol's, so that a status with a thousand workers stays
small. New fields are only ever appended with a default, which keeps older consumers decoding newer
streams; ``STATUS_VERSION`` changes when that is not enough.

Times: ``time`` and each event's ``time`` are wall-clock seconds since the epoch (consumers run on other
machines and show them as dates); ages (``heartbeat_age_s``) and durations are plain seconds.
"""

from __future__ import annotations

import msgspec

from scaler.protocol.messages import DesiredTaskConcurrency, ProcessorStatus

STATUS_VERSION = 1
MAX_STATUS_BYTES = 64 * 1024 * 1024  # far above a real status (10,000 events are ~1 MB); refuses garbage early

__all__ = [
    "MAX_STATUS_BYTES",
    "STATUS_VERSION",
    "ClientStatus",
    "DesiredTaskConcurrency",
    "FunctionStats",
    "ManagerStatus",
    "ProcessorStatus",
    "SchedulerStatus",
    "StatusDecodeError",
    "TaskEvent",
    "WorkerStatus",
    "decode_status",
    "encode_status",
]


class _Status(msgspec.Struct, array_like=True, frozen=True):
    pass


class WorkerStatus(_Status, frozen=True):
    worker_id: str
    manager_id: str
    hostname: str
    capabilities: dict[str, int]
    agent_cpu: float  # percent of one core, for the agent process alone
    agent_rss: int
    free_memory: int  # bytes available on the worker's host
    processors: tuple[ProcessorStatus, ...]  # the active processor last; earlier ones are suspended
    queue_size: int  # how many tasks the worker accepts at once
    free_slots: int  # queue_size minus what the scheduler has sent and not heard back about
    sent: int  # tasks the scheduler sent to this worker that are not finished yet
    queued: int  # of those, the ones waiting in the worker's own queue (not on a processor)
    latency_ms: float  # round trip of the worker's last heartbeat
    heartbeat_age_s: float  # seconds since the scheduler last heard from the worker


class ManagerStatus(_Status, frozen=True):
    manager_id: str
    max_task_concurrency: int  # -1: unlimited
    capabilities: dict[str, int]
    reported_workers: int  # what the manager says it runs
    connected_workers: int  # workers connected to the scheduler that name this manager
    desired: tuple[DesiredTaskConcurrency, ...]  # the scheduler's last command to it; empty when it sent none
    heartbeat_age_s: float


class ClientStatus(_Status, frozen=True):
    client_id: str
    tasks: int  # unfinished tasks it submitted
    heartbeat_age_s: float


class FunctionStats(_Status, frozen=True):
    """Task counts for one function name: live ones (queued, running) and finished ones since start-up."""

    queued: int
    running: int  # on a worker (assigned, being balanced or being cancelled)
    succeeded: int
    failed: int  # every unsuccessful outcome but cancellation
    canceled: int


class TaskEvent(_Status, frozen=True):
    time: float
    task_id: str  # hex
    function: str
    state: str  # "queued", "assigned", or the outcome: "success", "failed", "canceled", "worker_died", ...
    worker: str  # "" when the task is on no worker
    elapsed_s: float  # finished tasks: from their last assignment to their end, as the scheduler saw it; else -1
    duration_s: float  # finished tasks that were profiled: their run time as the worker measured it; else -1
    peak_memory: int  # bytes, when the task was profiled; else -1
    capabilities: dict[str, int]


class SchedulerStatus(_Status, frozen=True):
    version: int
    sequence: int  # +1 per status: a gap means the consumer missed one
    time: float
    address: str  # the scheduler's own address, for the consumer's title
    pid: int
    uptime_s: float
    cpu_percent: float  # of one core, since the previous status
    rss: int
    free_memory: int  # bytes available on the scheduler's host
    tasks_by_state: dict[str, int]  # live tasks: queued, assigned, balancing, canceling, ...
    finished: dict[str, int]  # finished tasks since start-up, by outcome
    messages_received: dict[str, int]  # since start-up, by message type
    messages_sent: dict[str, int]
    workers: tuple[WorkerStatus, ...]
    managers: tuple[ManagerStatus, ...]
    clients: tuple[ClientStatus, ...]
    functions: dict[str, FunctionStats]
    events: tuple[TaskEvent, ...]  # task transitions since the previous status, oldest first
    events_complete: bool  # False when there were more transitions than the scheduler keeps (the oldest are left out)


class StatusDecodeError(ValueError):
    """Bytes that are not a status of this format (another program on the port, or a newer major version)."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SchedulerStatus)


def encode_status(status: SchedulerStatus) -> bytes:
    return _encoder.encode(status)


def decode_status(frame: bytes | memoryview) -> SchedulerStatus:
    if len(frame) > MAX_STATUS_BYTES:
        raise StatusDecodeError(f"status of {len(frame)} bytes exceeds the {MAX_STATUS_BYTES}-byte limit")
    try:
        return _decoder.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise StatusDecodeError(f"undecodable status of {len(frame)} bytes: {error}") from None

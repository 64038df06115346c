"""Every message that crosses a process boundary, in one place.

Conversations (who sends what to whom):

    client    -> scheduler   ClientHeartbeat, Task, TaskCancel, ObjectsReleased, ClientDisconnect, GraphTask,
                             SubmitCreditRequest
    scheduler -> client      ClientHeartbeatEcho, TaskResult, TaskCancelConfirm, ShutdownResponse, TaskLog,
                             ProtocolMismatch, ClientDropped, SubmitCredit
    worker    -> scheduler   WorkerHeartbeat, TaskResult, TaskCancelConfirm, TaskLog, WorkerDisconnect, TaskStarted
    scheduler -> worker      WorkerHeartbeatEcho, Task, TaskCancel, ObjectsReleased, WorkerShutdown, ProtocolMismatch
    manager   -> scheduler   WorkerManagerHeartbeat, WorkerDied
    scheduler -> manager     WorkerManagerHeartbeatEcho, WorkerManagerCommand, ProtocolMismatch
    agent     -> processor   ProcessorTask, ObjectsReleased
    processor -> agent       ProcessorReady, TaskResult, TaskLog
    anyone    -> storage     ObjectPut (+ payload frames), ObjectGet, ObjectDelete, ObjectDeleteOwner,
                             ObjectMapped, SharedMemoryProbe
    storage   -> anyone      ObjectData (+ payload frames), ObjectAck
    scheduler -> storage     ObjectOwnersAlive

A zmq frame carries a msgpack *list* of these (a batch), so that a burst of tasks or results costs one
send and one decode. Each struct is encoded as a msgpack array whose first element is its integer tag:
compact, and a decoder rejects an unknown tag instead of guessing. The first message a peer sends the
scheduler is a heartbeat carrying ``PROTOCOL_VERSION``; a peer that speaks another version is answered
with ``ProtocolMismatch`` and otherwise ignored.

Payloads (serialized functions, arguments, results) are opaque ``bytes``: only the client, the processor
and the user's serializer ever look inside them. Large payloads do not travel in these messages at all;
they go to the object storage server as separate zmq frames and only their 32-byte ids travel here.
"""

from __future__ import annotations

import enum

import msgspec

PROTOCOL_VERSION = 2  # 2: TaskStarted, submit credits, scheduler instance ids, storage epochs, object owners, refusals


class _Message(msgspec.Struct, array_like=True, frozen=True):
    pass


# --- shared pieces -------------------------------------------------------------------------------------------


class ArgKind(enum.IntEnum):
    INLINE = 0  # ``data`` holds the serialized value
    OBJECT = 1  # ``data`` holds an object id to fetch from object storage


# gc=False (Task, TaskArg): they hold only bytes, str, ints and containers of those, so no reference cycle can go
# through them; untracked, a million queued tasks cost 32 bytes less each and no garbage-collector passes.
class TaskArg(msgspec.Struct, array_like=True, frozen=True, gc=False):
    kind: ArgKind
    data: bytes


class ResultStatus(enum.IntEnum):
    SUCCESS = 0
    FAILED = 1  # the task raised; payload is the pickled exception with its traceback
    PROCESSOR_DIED = 2  # the process running the task died (os._exit, signal, out of memory)
    TIMEOUT = 3  # the task ran past task_timeout_seconds
    WORKER_DIED = 4  # retries exhausted after worker deaths
    NO_CAPABLE_WORKER = 5  # nothing connected, and no manager, can run a task with these capabilities
    SCHEDULER_ERROR = 6  # the scheduler refused the task (e.g. queue full); payload is a UTF-8 message
    CANCELED = 7  # (graph nodes) cancelled because another node of the graph failed or was cancelled


class CancelOutcome(enum.IntEnum):
    CANCELED = 0
    NOT_CANCELED = 1  # already running and the cancel was not forced, or already finished
    NOT_FOUND = 2


class Profile(msgspec.Struct, array_like=True, frozen=True):
    duration_s: float
    cpu_time_s: float
    memory_peak_bytes: int


class TaskFlags(enum.IntFlag):
    NONE = 0
    PROFILING = 1
    STREAM_OUTPUT = 2


# --- tasks -----------------------------------------------------------------------------------------------------


class Task(_Message, frozen=True, tag=1, gc=False):
    task_id: bytes
    client_id: bytes
    function_id: bytes  # object id of the serialized function
    serializer_id: bytes  # object id of the client's custom serializer, b"" for the default one
    args: tuple[TaskArg, ...]
    kwargs: dict[str, TaskArg]
    capabilities: dict[str, int]
    priority: int
    flags: int  # TaskFlags
    function_name: str
    # Graph nodes: the id a large result is stored under in object storage (dependents read it from there); a
    # small one travels inline and the scheduler hands it to the dependents.
    result_object_id: bytes = b""
    # Graph nodes with many dependents: the largest result to send inline (each dependent gets a copy); a larger
    # one is stored once and each worker fetches it once. -1: the processor's usual inline limit.
    result_inline_limit: int = -1


class TaskResult(_Message, frozen=True, tag=2):
    task_id: bytes
    status: ResultStatus
    payload: TaskArg | None  # the result or the pickled exception, inline or as an object id
    profile: Profile | None
    worker_id: bytes = b""


class TaskCancel(_Message, frozen=True, tag=3):
    task_id: bytes
    force: bool  # False: only if still queued (load balancing); True: also kill it if running


class TaskCancelConfirm(_Message, frozen=True, tag=4):
    task_id: bytes
    outcome: CancelOutcome


class TaskLog(_Message, frozen=True, tag=5):
    task_id: bytes
    stream: int  # 1 stdout, 2 stderr
    text: str


class TaskStarted(_Message, frozen=True, tag=7):
    """A worker began running this task on a processor (until then it was only queued there).

    The scheduler charges a worker's death only to the tasks that had started on it, and its load balancer
    moves only tasks that have not.
    """

    task_id: bytes


class GraphNode(msgspec.Struct, array_like=True, frozen=True):
    task: Task
    depends_on: tuple[bytes, ...]  # task ids (of this graph) whose results are arguments of this one


class GraphTask(_Message, frozen=True, tag=6):
    graph_id: bytes
    nodes: tuple[GraphNode, ...]
    targets: tuple[bytes, ...]  # task ids whose results go back to the client


# --- clients ---------------------------------------------------------------------------------------------------


class ClientHeartbeat(_Message, frozen=True, tag=10):
    protocol_version: int
    client_id: bytes
    cpu: float
    rss: int
    # A client created inside a task names that task: it works for the task's client, and leaves with it. On a
    # secured cluster a worker's key submits only through such a client, and only while that task runs there.
    parent_task_id: bytes = b""


class ClientHeartbeatEcho(_Message, frozen=True, tag=11):
    object_storage_address: str
    # Random per scheduler process: a peer that sees it change knows the scheduler restarted and forgot it.
    scheduler_instance: bytes = b""
    # Bumped each time the scheduler restarts the object storage it started: a client that sees it change
    # re-uploads the objects it still holds (the new storage is empty).
    storage_epoch: int = 0


class ClientDisconnect(_Message, frozen=True, tag=12):
    shutdown: bool  # True: ask the scheduler (and its workers) to exit, refused when protected


class ShutdownResponse(_Message, frozen=True, tag=13):
    accepted: bool
    reason: str


class ObjectsReleased(_Message, frozen=True, tag=14):
    """An owner (a client) dropped objects: workers evict them from their caches.

    With no ``object_ids``, every object of the owner (``clear()``, a client that left); otherwise just those.
    """

    owner_id: bytes
    object_ids: tuple[bytes, ...] = ()


class ProtocolMismatch(_Message, frozen=True, tag=15):
    expected: int
    received: int
    message: str


class ClientDropped(_Message, frozen=True, tag=16):
    """The answer to a client the scheduler already dropped (it was silent too long): its tasks are gone."""

    reason: str


class SubmitCreditRequest(_Message, frozen=True, tag=17):
    """A client out of submit credit asks for more (once per wait); see scheduler/flow_control.py."""

    wanted: int
    priority: int  # > 0: a client inside a task, never held back by the scheduler's queue limit (deadlock)


class SubmitCredit(_Message, frozen=True, tag=18):
    """How many more tasks the client may send, on top of what it holds: the scheduler's back-pressure.

    ``queue_limit`` and ``client_window`` name the bounds, for the client's error when it waits too long.
    """

    credits: int
    queue_limit: int  # the scheduler's max_number_of_tasks_waiting, -1 for none
    client_window: int  # most unfinished tasks one client may have in the scheduler


# --- workers ---------------------------------------------------------------------------------------------------


class ProcessorStatus(msgspec.Struct, array_like=True, frozen=True):
    pid: int
    cpu: float  # percent
    rss: int
    busy: bool
    suspended: bool


class WorkerHeartbeat(_Message, frozen=True, tag=20):
    protocol_version: int
    capabilities: dict[str, int]
    queue_size: int
    queued_tasks: int
    manager_id: str
    hostname: str
    agent_cpu: float
    agent_rss: int
    free_memory: int
    processors: tuple[ProcessorStatus, ...]
    latency_us: int


class WorkerHeartbeatEcho(_Message, frozen=True, tag=21):
    object_storage_address: str
    # Random per scheduler process: a peer that sees it change knows the scheduler restarted and forgot it.
    scheduler_instance: bytes = b""


class WorkerDisconnect(_Message, frozen=True, tag=22):
    reason: str


class WorkerShutdown(_Message, frozen=True, tag=23):
    reason: str


# --- worker managers -------------------------------------------------------------------------------------------


class WorkerManagerHeartbeat(_Message, frozen=True, tag=30):
    protocol_version: int
    manager_id: str
    max_task_concurrency: int  # -1: unlimited
    capabilities: dict[str, int]
    worker_count: int  # units it believes are alive


class WorkerManagerHeartbeatEcho(_Message, frozen=True, tag=31):
    accepted: bool
    message: str  # why it was refused (duplicate manager id), else ""


class DesiredTaskConcurrency(msgspec.Struct, array_like=True, frozen=True):
    capabilities: dict[str, int]
    task_concurrency: int


class WorkerManagerCommand(_Message, frozen=True, tag=32):
    desired: tuple[DesiredTaskConcurrency, ...]


class WorkerDied(_Message, frozen=True, tag=33):
    """A manager saw one of its workers exit: the scheduler need not wait for the heartbeat timeout."""

    worker_id: bytes
    exit_code: int


# --- agent <-> processor ---------------------------------------------------------------------------------------


class ProcessorReady(_Message, frozen=True, tag=40):
    pid: int
    error: str  # non-empty when the processor could not start (e.g. a failing --preload)


class ProcessorTask(_Message, frozen=True, tag=41):
    task: Task
    object_storage_address: str


# --- object storage --------------------------------------------------------------------------------------------


class ObjectPut(_Message, frozen=True, tag=50):
    """Followed by the payload frames. Acknowledged when ``request_id`` is non-zero."""

    object_id: bytes
    request_id: int
    segment: str = ""  # same host: the payload is in this shared-memory segment, not in frames (see shared_memory)


class ObjectGet(_Message, frozen=True, tag=51):
    """Answered with ObjectData once the object exists (held until then)."""

    object_id: bytes
    request_id: int
    delete_after: bool  # read-once objects (results): drop it as soon as it is served
    shared_memory: bool = False  # the reader maps same-host segments: answer with the segment's name, no frames


class ObjectDelete(_Message, frozen=True, tag=52):
    object_ids: tuple[bytes, ...]
    request_id: int


class ObjectDeleteOwner(_Message, frozen=True, tag=53):
    """Delete every object whose id starts with this owner prefix, and fail waiters on them."""

    owner_prefix: bytes
    request_id: int


class ObjectData(_Message, frozen=True, tag=54):
    """Followed by the payload frames; ``found`` is False when the object was deleted while awaited."""

    object_id: bytes
    request_id: int
    found: bool
    reason: str = ""  # why it was not found: deleted, never uploaded in time, refused (quota), owner gone
    segment: str = ""  # the payload is in this shared-memory segment (asked with ``shared_memory``), not in frames


class ObjectAck(_Message, frozen=True, tag=55):
    request_id: int
    count: int  # objects stored or deleted; 0 for a refused put, with the reason
    reason: str = ""


class ObjectStats(_Message, frozen=True, tag=56):
    request_id: int


class ObjectStatsReply(_Message, frozen=True, tag=57):
    request_id: int
    objects: int
    bytes: int
    waiting_requests: int


class ObjectOwnersAlive(_Message, frozen=True, tag=58):
    """The owners (prefixes of clients' ids) a scheduler knows, sent every second: object storage reclaims the
    objects of an owner left off these lists for ``grace_seconds`` (see scaler.object_storage.store)."""

    owner_prefixes: tuple[bytes, ...]
    grace_seconds: float


class ObjectMapped(_Message, frozen=True, tag=59):
    """A reader mapped the segments of these objects (asked with ``shared_memory`` and ``delete_after``): its own
    lock keeps them now, so storage may let the read-once objects go (it keeps them until then)."""

    object_ids: tuple[bytes, ...]


class SharedMemoryProbe(_Message, frozen=True, tag=60):
    """Does object storage see the sender's shared memory? The sender wrote ``token`` into the file ``name``;
    answered with ObjectAck (count 1: yes, same host and same /dev/shm; 0: no, with the reason)."""

    request_id: int
    name: str
    token: bytes


Message = (
    Task
    | TaskResult
    | TaskCancel
    | TaskCancelConfirm
    | TaskLog
    | GraphTask
    | TaskStarted
    | ClientHeartbeat
    | ClientHeartbeatEcho
    | ClientDisconnect
    | ShutdownResponse
    | ObjectsReleased
    | ProtocolMismatch
    | ClientDropped
    | SubmitCreditRequest
    | SubmitCredit
    | WorkerHeartbeat
    | WorkerHeartbeatEcho
    | WorkerDisconnect
    | WorkerShutdown
    | WorkerManagerHeartbeat
    | WorkerManagerHeartbeatEcho
    | WorkerManagerCommand
    | WorkerDied
    | ProcessorReady
    | ProcessorTask
    | ObjectPut
    | ObjectGet
    | ObjectDelete
    | ObjectDeleteOwner
    | ObjectData
    | ObjectAck
    | ObjectStats
    | ObjectStatsReply
    | ObjectOwnersAlive
    | ObjectMapped
    | SharedMemoryProbe
)

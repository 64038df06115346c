"""The processor: the subprocess that runs user code, one task at a time.

It is separate from the worker agent so that whatever user code does (crash, hang, leak, ``os._exit``)
the agent survives, reports it, and starts a fresh processor. It talks to its agent over a pair of pipes (tasks
in, results out) and directly to the object storage server (functions, large arguments and large results), so
big payloads never pass through the agent. The agent may send short tasks ahead of the running one, and later
take some back (a cancel, the balancer's included): it writes a skip for each while holding the claim lock, which
this process holds to take its next task, so a skip is always seen before its task starts.

Functions and arguments that came from object storage are cached here, deserialized, by object id: a
function is fetched once per processor, and an argument sent with ``send_object`` (or the same large object
passed again) is not transferred again. The cache drops a client's entries when that client leaves.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import select
import signal
import time
from collections import deque
from typing import Any

import zmq

from scaler.errors import ObjectLostError, ObjectStorageError
from scaler.ids import owner_prefix, random_object_id
from scaler.io.lifetime import exit_with_parent
from scaler.io.logs import basic_logging
from scaler.io.object_client import READ_DEADLINE_SECONDS, ObjectStorageConnection
from scaler.io.pipes import ClaimLock, PipeClosed, read_frame, write_frame
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.serialization import (
    DEFAULT_SERIALIZER,
    SERIALIZED,
    Serializer,
    decode_object_frames,
    dump_exception,
    function_not_found,
)
from scaler.worker.context import TaskContext, set_task_context
from scaler.worker.output import capture_output
from scaler.worker.preload import run_preload

logger = logging.getLogger("scaler.processor")

INLINE_RESULT_LIMIT = 256 * 1024
_MISSING = object()  # larger results go to object storage; the client fetches them directly


class Processor:
    """The processor running in this process, if any (``get_current_processor()`` is None outside a task)."""

    _current: Processor | None = None

    def __init__(
        self,
        task_fd: int,
        result_fd: int,
        claim_fd: int,
        scheduler_address: str,
        gc_interval: float,
        trim_threshold: int,
    ) -> None:
        self._context: zmq.Context[Any] = zmq.Context()
        self._task_fd = task_fd
        self._claims = ClaimLock(claim_fd)
        self._result_fd = result_fd
        self._scheduler_address = scheduler_address
        self._storage: ObjectStorageConnection | None = None
        self._cache: dict[bytes, Any] = {}
        self._gc_interval = gc_interval
        self._trim_threshold = trim_threshold
        self._last_gc = time.monotonic()
        self.current_task: m.Task | None = None

    @staticmethod
    def get_current_processor() -> Processor | None:
        return Processor._current

    def run(self, preload: str | None) -> None:
        error = ""
        if preload:
            try:
                run_preload(preload)
            except BaseException as exception:  # report it, whatever it is: a silent bad preload is worse
                error = f"preload {preload!r} failed: {type(exception).__name__}: {exception}"
        self._send(m.ProcessorReady(os.getpid(), error))
        if error:
            return
        inbox: deque[Any] = deque()
        pending = select.poll()
        pending.register(self._task_fd, select.POLLIN)
        while True:
            try:
                if not inbox:  # wait for the agent; reading needs no claim, only taking a task does
                    inbox.extend(self._read_messages())
                # While the agent holds the lock, keep reading what it sends: it may be writing as it decides, and
                # must not block on a full pipe. Once held, everything it sent before it let go is read, skips too.
                while not self._claims.acquire_now():
                    if pending.poll(1):
                        inbox.extend(self._read_messages())
                try:
                    while pending.poll(0):
                        inbox.extend(self._read_messages())
                    task = self._take_task(inbox)
                finally:
                    self._claims.release()
                if task is None:
                    continue  # nothing to run (yet): wait for the agent
            except PipeClosed:
                return  # the agent is gone or retired this processor
            self._send(self._run_task(task.task, task.object_storage_address))
            self._housekeeping()

    def _take_task(self, inbox: deque[Any]) -> m.ProcessorTask | None:
        """The next task to run, if any: objects released are evicted on the way, tasks the agent took back skipped."""
        while inbox:
            message = inbox.popleft()
            if isinstance(message, m.ProcessorTask):
                task_id = message.task.task_id
                if not any(isinstance(later, m.TaskCancel) and later.task_id == task_id for later in inbox):
                    return message
            elif isinstance(message, m.ObjectsReleased):
                self._evict(owner_prefix(message.owner_id), message.object_ids)
            # A TaskCancel reached here is spent: its task was skipped above (or sent again since, to run).
        return None

    def _read_messages(self) -> list[Any]:
        """The messages of the agent's next frame (waits for one); PipeClosed when the agent is gone."""
        try:
            return codec.decode(read_frame(self._task_fd))
        except codec.DecodeError as decode_error:
            logger.error("processor %d: bad message from agent: %s", os.getpid(), decode_error)
            return []

    def _run_task(self, task: m.Task, storage_address: str) -> m.TaskResult:
        profiling = bool(task.flags & _PROFILING)
        if profiling:
            _reset_peak_rss()
            started, cpu_started = time.perf_counter(), time.process_time()
        storage = self._connect_storage(storage_address)
        Processor._current = self
        self.current_task = task
        set_task_context(TaskContext(self._scheduler_address, storage_address, task.task_id, task.priority))
        status = m.ResultStatus.SUCCESS
        try:
            serializer = self._serializer(task)
            function = self._load_function(task, serializer)
            args = [self._argument(arg, serializer, i) for i, arg in enumerate(task.args)]
            kwargs = {name: self._argument(arg, serializer, name) for name, arg in task.kwargs.items()}
            with capture_output(self._result_fd, task) if task.flags & _STREAM_OUTPUT else _NO_CAPTURE:
                value = function(*args, **kwargs)
            payload = serializer.serialize(value)
        except BaseException as error:  # everything, KeyboardInterrupt and SystemExit included, is the task's
            status = m.ResultStatus.FAILED
            payload = dump_exception(error)
        finally:
            Processor._current = None
            self.current_task = None
            set_task_context(None)
        result_arg = m.TaskArg(m.ArgKind.INLINE, payload)
        limit = INLINE_RESULT_LIMIT
        if task.result_inline_limit >= 0 and status is m.ResultStatus.SUCCESS:  # a value many dependents will copy
            limit = min(limit, task.result_inline_limit)
        if len(payload) > limit:
            # A large result; a graph node's under the id its dependents read (a small one travels inline and the
            # scheduler hands it to them). Confirmed before the result is reported, so that nobody is told of an
            # object that is not there yet, or that storage refused.
            object_id = task.result_object_id or random_object_id(task.client_id)
            try:
                storage.put(object_id, [SERIALIZED, payload], wait=True, timeout=READ_DEADLINE_SECONDS)
                result_arg = m.TaskArg(m.ArgKind.OBJECT, object_id)
                if task.result_object_id and status is m.ResultStatus.SUCCESS:
                    # Its dependents are placed here when this worker is free: they use the value without a fetch.
                    # Evicted with the graph's other results when the client releases them.
                    self._cache[object_id] = value
            except ObjectStorageError as error:
                status, result_arg = m.ResultStatus.FAILED, m.TaskArg(m.ArgKind.INLINE, dump_exception(error))
        profile = None
        if profiling:
            profile = m.Profile(time.perf_counter() - started, time.process_time() - cpu_started, _peak_rss())
        return m.TaskResult(task.task_id, status, result_arg, profile)

    def _serializer(self, task: m.Task) -> Serializer:
        if not task.serializer_id:
            return DEFAULT_SERIALIZER
        serializer = self._cache.get(task.serializer_id)
        if serializer is None:
            serializer = decode_object_frames(self._fetch(task.serializer_id, "serializer"), DEFAULT_SERIALIZER)
            self._cache[task.serializer_id] = serializer
        return serializer  # type: ignore[no-any-return]

    def _load(self, object_id: bytes, serializer: Serializer, what: str) -> Any:
        # Not ``try: cache[id] except KeyError:``: a serializer error raised inside that handler would reach the
        # user chained to the cache miss ("During handling of the above exception (KeyError) ...").
        value = self._cache.get(object_id, _MISSING)
        if value is _MISSING:
            value = decode_object_frames(self._fetch(object_id, what), serializer)
            self._cache[object_id] = value
        return value

    def _load_function(self, task: m.Task, serializer: Serializer) -> Any:
        try:
            return self._load(task.function_id, serializer, "function")
        except (AttributeError, ImportError) as error:
            if serializer is DEFAULT_SERIALIZER:
                raise
            raise function_not_found(task.function_name, serializer, error) from None

    def _argument(self, arg: m.TaskArg, serializer: Serializer, position: int | str) -> Any:
        """The value of the argument at ``position`` (an index, or a keyword's name: for error messages only)."""
        if arg.kind is m.ArgKind.INLINE:
            return serializer.deserialize(arg.data)
        return self._load(arg.data, serializer, f"argument {position!r}")

    def _fetch(self, object_id: bytes, what: str) -> list[memoryview]:
        """The frames of an object the task needs; ObjectLostError naming it (and what it is) if it is not there
        within the read deadline: the task fails, and this processor moves on to the next one."""
        assert self._storage is not None
        try:
            frames = self._storage.get_buffers(object_id, timeout=READ_DEADLINE_SECONDS)
        except ObjectLostError as error:
            raise ObjectLostError(f"the task's {what}: {error}") from None
        if len(frames) < 2:
            raise ObjectStorageError(f"object {object_id.hex()} is malformed ({len(frames)} frames)")
        return frames

    def _connect_storage(self, address: str) -> ObjectStorageConnection:
        if self._storage is None or self._storage.address != address:
            if self._storage is not None:
                self._storage.close()
            self._storage = ObjectStorageConnection(self._context, address, shared_memory=True)
        return self._storage

    def _evict(self, prefix: bytes, object_ids: tuple[bytes, ...]) -> None:
        """Drop the owner's cached objects: all of them, or only ``object_ids`` (which must be the owner's)."""
        if object_ids:
            for object_id in object_ids:
                if object_id.startswith(prefix):
                    self._cache.pop(object_id, None)
            return
        for object_id in [i for i in self._cache if i.startswith(prefix)]:
            del self._cache[object_id]

    def _housekeeping(self) -> None:
        if self._storage is not None:
            self._storage.trim()
        now = time.monotonic()
        if self._gc_interval > 0 and now - self._last_gc >= self._gc_interval:
            self._last_gc = now
            gc.collect()
            if _current_rss() >= self._trim_threshold:
                _malloc_trim()

    def _send(self, message: Any) -> None:
        write_frame(self._result_fd, codec.encode_one(message))


# Plain ints: ``int & TaskFlags.X`` builds an enum member on every task.
_PROFILING = int(m.TaskFlags.PROFILING)
_STREAM_OUTPUT = int(m.TaskFlags.STREAM_OUTPUT)
_NO_CAPTURE = contextlib.nullcontext()  # reusable: what a task that does not stream its output runs under


def _reset_peak_rss() -> None:
    try:  # "5" resets the kernel's peak-RSS counter (VmHWM) for this process
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        pass


def _status_kb(field: str) -> int:
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _peak_rss() -> int:
    return _status_kb("VmHWM:")


def _current_rss() -> int:
    return _status_kb("VmRSS:")


def _keep_freed_memory(threshold: int) -> None:
    """Let malloc keep up to ``threshold`` bytes it freed, large blocks included, for reuse.

    By default glibc serves every block over 32 MB with a fresh mmap and unmaps it on free, so each large argument
    (a 100 MB ``bytes`` rebuilt from shared memory) pays for page faults on fresh memory, about 4x the copy itself.
    With mmap off for allocations and trimming at ``threshold`` (the processor's own trim policy, see
    ``_housekeeping``, which returns memory beyond it), freed memory is reused, and memory stays bounded.
    """
    if threshold <= 0:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        libc.mallopt(m_trim_threshold, min(threshold, 2**31 - 1))
        libc.mallopt(m_mmap_max, 0)
    except (OSError, AttributeError):
        pass


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> None:
    task_fd, result_fd, claim_fd, scheduler_address, gc_interval, trim_threshold, preload, log_level, agent_pid = argv
    exit_with_parent(int(agent_pid))  # a processor must never outlive its agent
    # Only the agent decides when a processor ends (and then uses SIGKILL). A SIGTERM or Ctrl-C sent to the
    # whole process group (a container or instance being stopped, a terminal) must reach the agent alone, so
    # that it can hand its tasks back to the scheduler instead of reporting them as crashed.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    basic_logging(log_level)
    _keep_freed_memory(int(trim_threshold))
    processor = Processor(
        int(task_fd), int(result_fd), int(claim_fd), scheduler_address, float(gc_interval), int(trim_threshold)
    )
    processor.run(preload or None)

"""``scaler.Client``: submit Python functions to a Scaler cluster.

    with Client(address="tcp://127.0.0.1:8516") as client:
        client.submit(pow, 2, 10).result()      # 1024
        client.map(abs, [-1, -2, 3])            # [1, 2, 3]

Inside a task, ``Client()`` with no address connects to the scheduler of the worker running the task, and
its tasks get a higher priority than their parent so that they run first (nested tasks cannot deadlock a
busy cluster). A client is picklable: the copy connects anew to the same scheduler.

Back-pressure: a submit blocks while the scheduler has no room for another task of this client (see
client/flow_control.py): at most ``--max-number-of-tasks-waiting`` queued tasks in all, and a bounded number
of unfinished tasks per client. ``submit_timeout_seconds`` bounds that wait (``SubmitTimeoutError``); None,
the default, waits as long as the scheduler is alive.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

from scaler import errors
from scaler.client.agent import ClientAgent
from scaler.client.arguments import PayloadEncoder
from scaler.client.executor import ScalerExecutor
from scaler.client.future import ScalerFuture
from scaler.client.graph import submit_graph
from scaler.client.notebook import client_html
from scaler.client.object_reference import ObjectReference
from scaler.client.progress import progress as show_progress
from scaler.ids import TaskIdFactory, new_client_id, owner_prefix
from scaler.io.address import Address
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.security.credentials import PeerCredentials
from scaler.security.local import client_credentials
from scaler.serialization import DEFAULT_SERIALIZER, Serializer
from scaler.worker.context import current_task_context

logger = logging.getLogger("scaler.client")

_BATCH = 1000


class Client:
    """A connection to a Scaler scheduler, through which functions run on its workers.

    Args:
        address: the scheduler's address, ``tcp://HOST:PORT`` (or ``ipc://PATH``). ``None`` is allowed only
            inside a task, where it means the scheduler of the worker running that task (nested tasks).
        profiling: record each task's duration, CPU time and peak memory; read them with
            ``future.profiling_info()``.
        timeout_seconds: how long the scheduler may stay silent before the client gives up: the constructor
            raises ``SchedulerUnavailableError`` if the first answer takes longer, and later every unfinished
            future fails with that error instead of waiting forever.
        heartbeat_interval_seconds: how often the client tells the scheduler it is alive. The scheduler drops
            a client silent past its own ``client_timeout_seconds`` (60 s by default), cancelling its tasks.
        serializer: a ``scaler.Serializer`` for functions, arguments and results instead of cloudpickle; it
            must be importable on the workers too.
        stream_output: show what tasks print (stdout and stderr) on this process's stdout and stderr, line
            by line, each line labelled with its task (``[task 3fa1-42]``: client prefix, task number).
        object_storage_address: the object storage server to use; by default the one the scheduler names
            (set it when the scheduler's answer is not reachable from here, e.g. behind NAT).
        submit_timeout_seconds: how long ``submit``/``map`` may block while the scheduler is full (it grants
            each client a window of unfinished tasks, and ``--max-number-of-tasks-waiting`` bounds its queue)
            before raising ``SubmitTimeoutError``; ``None`` waits as long as the scheduler keeps answering.
        credentials: this client's credentials file (from ``scaler_keys add --role client``) for a scheduler
            that requires them; by default the file named by ``SCALER_CREDENTIALS``, or none.

    Raises:
        ValueError: ``address`` is ``None`` outside a task, or is not a valid address.
        SchedulerUnavailableError: no answer from the scheduler within ``timeout_seconds``.

    Use it as a context manager (``with Client(...) as client:``) so that it disconnects at the end; the
    cluster keeps running. In a notebook, the client shows its address, workers and tasks as HTML.
    """

    def __init__(
        self,
        address: str | None = None,
        profiling: bool = False,
        timeout_seconds: int = 60,
        heartbeat_interval_seconds: int = 2,
        serializer: Serializer = DEFAULT_SERIALIZER,
        stream_output: bool = False,
        object_storage_address: str | None = None,
        submit_timeout_seconds: float | None = None,
        credentials: str | os.PathLike[str] | PeerCredentials | None = None,
    ) -> None:
        """Connect to the scheduler at ``address`` and wait for its first answer (parameters: see the class)."""
        context = current_task_context()
        if address is None:
            if context is None:
                raise ValueError("no scheduler address given, and not running inside a task to infer one from")
            address = context.scheduler_address
            object_storage_address = object_storage_address or context.object_storage_address
        Address.parse(address)
        self._address = address
        self._profiling = profiling
        self._stream_output = stream_output
        self._timeout_seconds = timeout_seconds
        self._submit_timeout_seconds = submit_timeout_seconds
        self._heartbeat_interval_seconds = heartbeat_interval_seconds
        self._serializer = serializer
        self._priority = context.priority + 1 if context is not None else 0
        self._flags = (m.TaskFlags.PROFILING if profiling else 0) | (m.TaskFlags.STREAM_OUTPUT if stream_output else 0)
        self._identity = new_client_id()
        self._new_task_id = TaskIdFactory()
        self._agent = ClientAgent(
            self._identity,
            address,
            serializer,
            heartbeat_interval_seconds,
            timeout_seconds,
            object_storage_address,
            client_credentials(credentials),
        )
        self._agent.priority = self._priority
        if context is not None and address == context.scheduler_address:  # a nested client, for the task's client
            self._agent.parent_task_id = context.task_id
        self._credits = self._agent.credits
        self._encoder = PayloadEncoder(
            self._identity,
            serializer,
            self._agent.uploads.upload,
            self._release_objects,
            self._agent.request_ids,
            share=self._agent.uploads.share,
        )
        collect = self._encoder.arguments.collect
        self._agent.loop.after_each_wake(collect)  # right after the results that finished tasks came in
        self._agent.loop.call_every(heartbeat_interval_seconds, lambda: collect(sweep=True))
        self._serializer_id = b""
        self._closed = False
        self._agent.start()
        # The agent gives up at the timeout itself, with a reason; the extra second only lets that reason win.
        if not self._agent.connected.wait(timeout_seconds + 1) or self._agent.failure is not None:
            failure = self._agent.failure
            self._agent.stop()
            self._closed = True
            if failure is not None:
                raise failure
            raise errors.SchedulerUnavailableError(f"no answer from the scheduler at {address} in {timeout_seconds}s")
        if serializer is not DEFAULT_SERIALIZER:
            self._serializer_id = self._encoder.upload_payload(DEFAULT_SERIALIZER.serialize(serializer))

    # --- identity and lifecycle --------------------------------------------------------------------------------

    @property
    def identity(self) -> bytes:
        """This client's unique id, as the scheduler knows it (also the prefix of its task ids)."""
        return self._identity

    @property
    def address(self) -> str:
        """The scheduler address this client is connected to."""
        return self._address

    def __enter__(self) -> Client:
        """The client itself; it disconnects when the block ends."""
        return self

    def _repr_html_(self) -> str:
        """The notebook view: address, workers, tasks by state (from the monitor stream), how to watch live."""
        return client_html(self._address, self._closed, list(self._agent.futures.values()))

    def __exit__(self, *exc_info: object) -> None:
        """Disconnect (cancelling unfinished tasks); the cluster keeps running."""
        self.disconnect()

    def __del__(self) -> None:
        try:
            self.disconnect()
        except Exception:
            pass

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_client,
            (
                self._address,
                self._profiling,
                self._timeout_seconds,
                self._heartbeat_interval_seconds,
                self._stream_output,
                self._submit_timeout_seconds,
            ),
        )

    def disconnect(self) -> None:
        """Cancel this client's unfinished tasks and close the connection; the scheduler keeps running."""
        if self._closed:
            return
        self._closed = True
        try:
            self._agent.forward_to_scheduler(codec.encode_one(m.ClientDisconnect(False)))
        except errors.ClientClosedError:
            pass
        self._agent.stop()

    def shutdown(self) -> None:
        """Ask the scheduler and its workers to exit.

        Raises:
            ShutdownRefusedError: (a ``ValueError``) the scheduler is protected, as a ``SchedulerClusterCombo``'s
                is by default; stop that one with ``cluster.shutdown()``.
            SchedulerUnavailableError: no answer within ``timeout_seconds``.
        """
        self._check_open()
        self._agent.shutdown_answered.clear()
        self._agent.forward_to_scheduler(codec.encode_one(m.ClientDisconnect(True)))
        if not self._agent.shutdown_answered.wait(self._timeout_seconds):
            raise errors.SchedulerUnavailableError("the scheduler did not answer the shutdown request")
        response = self._agent.shutdown_response
        if response is None or not response.accepted:
            raise errors.ShutdownRefusedError(response.reason if response else "scheduler is gone")
        self._closed = True
        self._agent.stop()

    # --- tasks -------------------------------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> ScalerFuture:
        """Run ``fn(*args, **kwargs)`` on a worker; returns a future for its result.

        The future is a ``concurrent.futures.Future`` (see ``ScalerFuture``): ``result()`` returns the value or
        raises the task's own exception with its remote traceback, or a ``scaler.errors.TaskError``.
        """
        return self.submit_verbose(fn, args, kwargs)

    def submit_verbose(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        capabilities: dict[str, int] | None = None,
        reserialize: bool = False,
    ) -> ScalerFuture:
        """``submit`` with options.

        Args:
            fn: the function to run.
            args: its positional arguments, as a tuple.
            kwargs: its keyword arguments, as a dict.
            capabilities: what a worker must offer to run it, e.g. ``{"gpu": 1}``; ``NoCapableWorkerError``
                when no worker has them and no worker manager can start one that has.
            reserialize: serialize the arguments again even if this client has already uploaded the same
                objects (use it after modifying an argument in place).
        """
        self._check_open()
        function_id = self._encoder.function_id(fn)
        self._credits.take(1, self._submit_timeout_seconds, self._pending_count)  # blocks while the scheduler is full
        try:
            task, future = self._build_task(fn, function_id, args, kwargs, capabilities, reserialize)
        except BaseException:
            self._credits.put_back(1)
            raise
        self._agent.futures[task.task_id] = future
        self._agent.forward_to_scheduler(codec.encode_one(task), (task.task_id,))
        return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        capabilities: dict[str, int] | None = None,
        reserialize: bool = False,
        progress: bool = False,
    ) -> list[Any]:
        """Like the builtin ``map``, run on the cluster: the list of results, in order.

        One task per element. The first error is raised and the batch's unfinished tasks are cancelled.
        ``capabilities`` and ``reserialize`` are as in ``submit_verbose``; ``progress=True`` shows a live bar
        (done, failed, total, rate) while waiting, on a terminal or in a notebook (see ``scaler.progress``).
        """
        if not iterables:
            raise TypeError("map() needs at least one iterable")
        return self.starmap(
            fn, zip(*iterables, strict=False), capabilities=capabilities, reserialize=reserialize, progress=progress
        )

    def starmap(
        self,
        fn: Callable[..., Any],
        iterable: Iterable[Sequence[Any]],
        capabilities: dict[str, int] | None = None,
        reserialize: bool = False,
        progress: bool = False,
    ) -> list[Any]:
        """``map`` for argument tuples: ``starmap(pow, [(2, 3), (3, 2)]) == [8, 9]``; options as in ``map``."""
        futures = self.submit_many(fn, iterable, capabilities, reserialize)
        try:
            if progress:
                show_progress(futures, stop_on_error=True)
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:  # the caller gets the first error; the rest of the batch is not left running
                if not future.done():
                    future.cancel(timeout=0)
            raise

    def submit_many(
        self,
        fn: Callable[..., Any],
        iterable: Iterable[Sequence[Any]],
        capabilities: dict[str, int] | None = None,
        reserialize: bool = False,
    ) -> list[ScalerFuture]:
        """Submit one task per argument tuple, in batches (one message per thousand tasks); the futures.

        Use it instead of ``starmap`` to handle results as they come (``concurrent.futures.as_completed``) or
        to follow them with ``scaler.progress(futures)``. Blocks while the scheduler is full (see the module's
        doc); if the wait times out or the client fails meanwhile, the tasks this call already sent are cancelled
        and the error is raised.
        """
        self._check_open()
        function_id = self._encoder.function_id(fn)
        futures: list[ScalerFuture] = []
        batch: list[m.Task] = []
        credits = 0
        try:
            for args in iterable:
                if credits == 0:
                    if batch:  # send what is built before waiting for room: the scheduler may need it to make room
                        self._send_batch(batch)
                        batch = []
                    credits = self._credits.take(_BATCH, self._submit_timeout_seconds, self._pending_count)
                task, future = self._build_task(fn, function_id, tuple(args), {}, capabilities, reserialize)
                credits -= 1
                self._agent.futures[task.task_id] = future
                futures.append(future)
                batch.append(task)
                if len(batch) >= _BATCH:
                    self._send_batch(batch)
                    batch = []
            if batch:
                self._send_batch(batch)
        except BaseException:
            self._abandon(futures, batch)
            raise
        finally:
            self._credits.put_back(credits)
        return futures

    def _send_batch(self, batch: list[m.Task]) -> None:
        self._agent.forward_to_scheduler(codec.encode(batch), [task.task_id for task in batch])

    def _abandon(self, futures: list[ScalerFuture], unsent: list[m.Task]) -> None:
        """A submit_many or a graph that failed half-way: cancel what it sent, forget what it did not."""
        for task in unsent:
            future = self._agent.futures.pop(task.task_id, None)
            if future is not None:
                future._finish_cancelled()
        sent = [f for f in futures if not f.done()]
        if sent and not self._closed and self._agent.is_alive():
            try:
                self._agent.forward_to_scheduler(codec.encode([m.TaskCancel(f.task_id, True) for f in sent]))
            except errors.ClientClosedError:
                pass

    def get(
        self,
        graph: Mapping[Hashable, Any],
        keys: Sequence[Hashable] | Hashable,
        block: bool = True,
        capabilities: dict[str, int] | None = None,
    ) -> dict[Hashable, Any]:
        """Evaluate a Dask-style graph; returns {key: value} (or {key: future} with ``block=False``).

        ``{"x": 1, "y": (inc, "x"), "z": (add, "x", "y")}`` with ``keys=["z"]`` gives ``{"z": 3}``: a value is a
        constant, a tuple ``(function, argument_or_key, ...)``, or another key. Independent nodes run in
        parallel and intermediate results never pass through the client. Unknown keys raise ``KeyError`` and cycles
        ``graphlib.CycleError`` before anything runs; a failing node fails its dependents with its exception.
        ``capabilities`` applies to every node.
        """
        self._check_open()
        key_list = list(keys) if isinstance(keys, list | tuple) else [keys]
        futures = submit_graph(
            self, graph, key_list, capabilities,
            new_task_id=self._new_task_id,
            encode_argument=self._encoder.argument,
            function_id=self._encoder.function_id,
            register=self._agent.futures.__setitem__,
            send=self._agent.forward_to_scheduler,
            delete_objects=self._release_objects,
            tasks_done=self._encoder.tasks_done,
            make_future=lambda task_id: ScalerFuture(task_id, self._request_cancel),
            abandon=self._abandon,
            priority=self._priority,
            flags=self._flags,
        )  # fmt: skip
        if not block:
            return futures
        return {key: value.result() if isinstance(value, ScalerFuture) else value for key, value in futures.items()}

    def executor(self) -> ScalerExecutor:
        """A ``concurrent.futures.Executor`` submitting through this client; its shutdown leaves the client open."""
        return ScalerExecutor(self)

    def send_object(self, obj: Any, name: str | None = None) -> ObjectReference:
        """Upload ``obj`` once; pass the returned reference as an argument to any number of tasks.

        Tasks receive the object itself (deserialized once per worker process and cached there). The upload
        lives while the reference is held or a task using it is unfinished, and at most until ``clear()`` or
        ``disconnect()``. ``name`` only labels the reference.
        """
        self._check_open()
        return self._encoder.send_object(obj, name)

    def clear(self) -> None:
        """Cancel every unfinished task of this client and delete all objects it uploaded."""
        self._check_open()
        pending = [f for f in list(self._agent.futures.values()) if not f.done()]
        if pending:
            cancels = [m.TaskCancel(f.task_id, True) for f in pending]
            self._agent.forward_to_scheduler(codec.encode(cancels))
            concurrent.futures.wait(pending, timeout=self._timeout_seconds)
        self._delete_owned_objects()
        self._agent.forward_to_scheduler(codec.encode_one(m.ObjectsReleased(self._identity)))
        self._encoder.reset()

    def _delete_owned_objects(self) -> None:
        done = concurrent.futures.Future[None]()
        request_id = next(self._agent.request_ids)
        self._agent.storage_waiters[request_id] = lambda header, frames: done.set_result(None)
        self._agent.request_from_storage(
            [codec.encode_one(m.ObjectDeleteOwner(owner_prefix(self._identity), request_id))]
        )
        try:
            done.result(self._timeout_seconds)
        except concurrent.futures.TimeoutError:
            text = "object storage did not confirm the deletion of this client's objects"
            raise errors.ObjectStorageError(text) from None

    def _build_task(
        self,
        fn: Callable[..., Any],
        function_id: bytes,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        capabilities: dict[str, int] | None,
        reserialize: bool,
    ) -> tuple[m.Task, ScalerFuture]:
        task_args, task_kwargs, uses_objects = self._encoder.call_arguments(args, kwargs, reserialize)
        task_id = self._new_task_id()
        task = m.Task(
            task_id=task_id,
            client_id=self._identity,
            function_id=function_id,
            serializer_id=self._serializer_id,
            args=task_args,
            kwargs=task_kwargs,
            capabilities=dict(capabilities) if capabilities else {},
            priority=self._priority,
            flags=self._flags,
            function_name=_function_name(fn),
        )
        future = ScalerFuture(task_id, self._request_cancel)
        if uses_objects:  # its large arguments' uploads may go once it is done
            future.add_done_callback(lambda _: self._encoder.tasks_done([task]))
        return task, future

    def _release_objects(self, object_ids: list[bytes]) -> None:
        """Delete these objects of this client from object storage and from every processor's cache."""
        try:
            self._agent.uploads.upload([codec.encode_one(m.ObjectDelete(tuple(object_ids), 0))])
            self._agent.forward_to_scheduler(codec.encode_one(m.ObjectsReleased(self._identity, tuple(object_ids))))
            self._agent.uploads.released(object_ids)
        except errors.ClientClosedError:
            pass  # closing: the scheduler and object storage free everything of this client anyway

    def _request_cancel(self, future: ScalerFuture) -> None:
        if not self._closed:
            self._agent.forward_to_scheduler(codec.encode_one(m.TaskCancel(future.task_id, True)))

    def _pending_count(self) -> int:
        return len(self._agent.futures)

    def _check_open(self) -> None:
        if self._closed or not self._agent.is_alive():
            raise errors.ClientClosedError(f"client is disconnected{_cause(self._agent.failure)}")


def _cause(failure: BaseException | None) -> str:
    return f": {failure}" if failure is not None else ""


def _function_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


def _rebuild_client(
    address: str,
    profiling: bool,
    timeout: int,
    heartbeat: int,
    stream_output: bool,
    submit_timeout: float | None = None,
) -> Client:
    return Client(
        address,
        profiling=profiling,
        timeout_seconds=timeout,
        heartbeat_interval_seconds=heartbeat,
        stream_output=stream_output,
        submit_timeout_seconds=submit_timeout,
    )

"""``scaler.Client``: submit Python functions to a Scaler cluster.

    with Client(address="tcp://127.0.0.1:8516") as client:
        client.submit(pow, 2, 10).result()      # 1024
        client.map(abs, [-1, -2, 3])            # [1, 2, 3]

Inside a task, ``Client()`` with no address connects to the scheduler of the worker running the task, and
its tasks get a higher priority than their parent so that they run first (nested tasks cannot deadlock a
busy cluster). A client is picklable: the copy connects anew to the same scheduler.
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
from scaler.client.object_reference import ObjectReference
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
    def __init__(
        self,
        address: str | None = None,
        profiling: bool = False,
        timeout_seconds: int = 60,
        heartbeat_interval_seconds: int = 2,
        serializer: Serializer = DEFAULT_SERIALIZER,
        stream_output: bool = False,
        object_storage_address: str | None = None,
        credentials: str | os.PathLike[str] | PeerCredentials | None = None,
    ) -> None:
        """``credentials``: this client's credentials file (from ``scaler_keys add --role client``); by default
        the file named by ``SCALER_CREDENTIALS``, or none."""
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
        self._encoder = PayloadEncoder(self._identity, serializer, self._agent.upload, self._release_objects)
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
        return self._identity

    @property
    def address(self) -> str:
        return self._address

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
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
        """Ask the scheduler and its workers to exit. Refused (ValueError) when the scheduler is protected."""
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
        """Run ``fn(*args, **kwargs)`` on a worker; returns a future for its result."""
        return self.submit_verbose(fn, args, kwargs)

    def submit_verbose(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        capabilities: dict[str, int] | None = None,
        reserialize: bool = False,
    ) -> ScalerFuture:
        """``submit`` with options: ``capabilities`` a worker must have; ``reserialize`` after mutating an arg."""
        self._check_open()
        task, future = self._build_task(fn, self._encoder.function_id(fn), args, kwargs, capabilities, reserialize)
        self._agent.futures[task.task_id] = future
        self._agent.forward_to_scheduler(codec.encode_one(task))
        return future

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        capabilities: dict[str, int] | None = None,
        reserialize: bool = False,
    ) -> list[Any]:
        """Like the builtin ``map``, run on the cluster: the list of results, in order."""
        if not iterables:
            raise TypeError("map() needs at least one iterable")
        return self.starmap(fn, zip(*iterables, strict=False), capabilities=capabilities, reserialize=reserialize)

    def starmap(
        self,
        fn: Callable[..., Any],
        iterable: Iterable[Sequence[Any]],
        capabilities: dict[str, int] | None = None,
        reserialize: bool = False,
    ) -> list[Any]:
        """``map`` for argument tuples: ``starmap(pow, [(2, 3), (3, 2)]) == [8, 9]``."""
        futures = self.submit_many(fn, iterable, capabilities, reserialize)
        try:
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
        """Submit one task per argument tuple, in batches (one message per thousand tasks); the futures."""
        self._check_open()
        function_id = self._encoder.function_id(fn)
        futures: list[ScalerFuture] = []
        batch: list[m.Task] = []
        for args in iterable:
            task, future = self._build_task(fn, function_id, tuple(args), {}, capabilities, reserialize)
            self._agent.futures[task.task_id] = future
            futures.append(future)
            batch.append(task)
            if len(batch) >= _BATCH:
                self._agent.forward_to_scheduler(codec.encode(batch))
                batch = []
        if batch:
            self._agent.forward_to_scheduler(codec.encode(batch))
        return futures

    def get(
        self,
        graph: Mapping[Hashable, Any],
        keys: Sequence[Hashable] | Hashable,
        block: bool = True,
        capabilities: dict[str, int] | None = None,
    ) -> dict[Hashable, Any]:
        """Evaluate a Dask-style graph; returns {key: value} (or {key: future} with ``block=False``).

        ``{"x": 1, "y": (inc, "x"), "z": (add, "x", "y")}`` with ``keys=["z"]`` gives ``{"z": 3}``. See
        ``scaler.client.graph`` for the format; unknown keys raise KeyError and cycles graphlib.CycleError.
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
        """Upload ``obj`` once; pass the returned reference as an argument to any number of tasks."""
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
            self._agent.upload([codec.encode_one(m.ObjectDelete(tuple(object_ids), 0))])
            self._agent.forward_to_scheduler(codec.encode_one(m.ObjectsReleased(self._identity, tuple(object_ids))))
        except errors.ClientClosedError:
            pass  # closing: the scheduler and object storage free everything of this client anyway

    def _request_cancel(self, future: ScalerFuture) -> None:
        if not self._closed:
            self._agent.forward_to_scheduler(codec.encode_one(m.TaskCancel(future.task_id, True)))

    def _check_open(self) -> None:
        if self._closed or not self._agent.is_alive():
            raise errors.ClientClosedError(f"client is disconnected{_cause(self._agent.failure)}")


def _cause(failure: BaseException | None) -> str:
    return f": {failure}" if failure is not None else ""


def _function_name(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


def _rebuild_client(address: str, profiling: bool, timeout: int, heartbeat: int, stream_output: bool) -> Client:
    return Client(
        address,
        profiling=profiling,
        timeout_seconds=timeout,
        heartbeat_interval_seconds=heartbeat,
        stream_output=stream_output,
    )

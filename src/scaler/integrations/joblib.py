"""joblib on Scaler: ``joblib.Parallel`` work, scikit-learn's ``n_jobs`` included, runs as tasks on a cluster.

    import joblib
    import scaler.integrations.joblib  # registers the "scaler" backend with joblib

    with joblib.parallel_backend("scaler", scheduler_address="tcp://127.0.0.1:8516"):
        GridSearchCV(model, grid, n_jobs=-1).fit(X, y)

Each joblib batch is one task. joblib's automatic batching groups many short calls into a batch, which keeps
the per-task cost small next to the work.

Options (keyword arguments of ``parallel_backend``/``parallel_config``, or of ``ScalerBackend``):

- ``scheduler_address``: connect a client to that scheduler when a ``Parallel`` call starts, and disconnect
  it when joblib terminates the backend. Or ``client``: use that connected client and leave it connected.
  Inside a task, neither is needed: the backend connects to the worker's scheduler.
- ``n_workers``: how many tasks the cluster runs at once, which is what ``n_jobs=-1`` means (joblib cuts the
  work into about that many pieces). The scheduler does not tell clients its worker count, so without it
  this is the number of CPUs of this machine, the right answer for a local ``SchedulerClusterCombo``.
- ``nested``: what a ``Parallel`` call made *inside* a task does. ``"sequential"`` (default) runs it in the
  task: a worker runs one task on one core, so threads there would only compete for that core.
  ``"scaler"`` sends it back to the cluster as nested tasks, worth it when the inner work is coarse.
- any other keyword (``timeout_seconds``, ``profiling``, ...) is passed to ``Client``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import joblib
from joblib.parallel import AutoBatchingMixin, ParallelBackendBase, SequentialBackend

from scaler.client.client import Client
from scaler.client.future import ScalerFuture
from scaler.worker.context import current_task_context

__all__ = ["ScalerBackend", "register"]

BACKEND_NAME = "scaler"
NESTING_POLICIES = ("sequential", "scaler")


class ScalerJob:
    """One batch in flight. ``get()`` is the ``AsyncResult`` method joblib calls to read a result."""

    __slots__ = ("future",)

    def __init__(self, future: ScalerFuture) -> None:
        self.future = future

    def get(self, timeout: float | None = None) -> Any:
        return self.future.result(timeout)

    def done(self) -> bool:
        return self.future.done()

    def cancel(self) -> bool:
        return self.future.cancel(timeout=0)


# joblib ships no type information, so its base classes are Any to mypy.
class ScalerBackend(AutoBatchingMixin, ParallelBackendBase):  # type: ignore[misc]
    default_n_jobs = -1  # Parallel() with no n_jobs under this backend uses the whole cluster
    supports_retrieve_callback = True  # results are read in the callback, which also enables timeouts
    supports_sharedmem = False  # tasks run in other processes: require="sharedmem" falls back to threads
    uses_threads = False

    def __init__(
        self,
        scheduler_address: str | None = None,
        client: Client | None = None,
        n_workers: int | None = None,
        nested: str = "sequential",
        nesting_level: int | None = None,
        inner_max_num_threads: int | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__(nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads)
        if scheduler_address is not None and client is not None:
            raise ValueError("give scheduler_address or client, not both")
        if nested not in NESTING_POLICIES:
            raise ValueError(f"nested={nested!r}: expected one of {', '.join(NESTING_POLICIES)}")
        if n_workers is not None and n_workers < 1:
            raise ValueError(f"n_workers={n_workers}: expected a positive number")
        self._scheduler_address = scheduler_address
        self._client = client
        self._owns_client = False
        self._n_workers = n_workers
        self._nested = nested
        self._client_options = client_options
        self._lock = threading.Lock()
        self._jobs: set[ScalerJob] = set()

    def __reduce__(self) -> tuple[Callable[..., ScalerBackend], tuple[Any, ...]]:
        # A backend travels to workers inside joblib's batches (as the nested backend): its settings go, never
        # its client, which belongs to this process.
        settings = (self._scheduler_address, self._n_workers, self._nested, self.nesting_level, self._client_options)
        return (_rebuild, settings)

    @property
    def client(self) -> Client | None:
        """The client tasks go through: None before a ``Parallel`` call starts and after the backend terminates."""
        return self._client

    # --- what joblib calls ------------------------------------------------------------------------------------

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            n_jobs = self.default_n_jobs
        if n_jobs < 0:  # joblib's convention: -1 is every worker, -2 all but one, ...
            return max(1, self._capacity() + 1 + n_jobs)
        return n_jobs

    def configure(self, n_jobs: int = 1, parallel: Any = None, **backend_kwargs: Any) -> int:
        self.parallel = parallel
        n_jobs = self.effective_n_jobs(n_jobs)
        self._connect()  # here and not in __init__: joblib builds backends that may never run anything
        return n_jobs

    def submit(self, func: Callable[[], Any], callback: Callable[[ScalerJob], None] | None = None) -> ScalerJob:
        client = self._connect()
        job = ScalerJob(client.submit(func))
        with self._lock:
            self._jobs.add(job)
        job.future.add_done_callback(lambda _: self._forget(job))
        if callback is not None:
            # Runs on the client's I/O thread; joblib's callback only records the result and submits more.
            job.future.add_done_callback(lambda _: callback(job))
        return job

    def retrieve_result_callback(self, out: ScalerJob) -> Any:
        return out.get()

    def abort_everything(self, ensure_ready: bool = True) -> None:
        # A batch failed or timed out: joblib will not read the others, so stop them on the workers too.
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        if not ensure_ready:
            self.terminate()

    def terminate(self) -> None:
        with self._lock:
            client, owned = self._client, self._owns_client
            if owned:
                self._client, self._owns_client = None, False
            self._jobs.clear()
        if owned and client is not None:
            client.disconnect()
        self.reset_batch_stats()

    def get_nested_backend(self) -> tuple[ParallelBackendBase, int | None]:
        nesting_level = (self.nesting_level or 0) + 1
        if self._nested == "scaler":
            # No address: inside the task, the backend connects to the worker's scheduler (nested tasks run at a
            # higher priority than their parent, so waiting parents cannot starve them).
            nested = ScalerBackend(None, None, self._n_workers, "scaler", nesting_level, **self._client_options)
            return nested, None
        return SequentialBackend(nesting_level=nesting_level), None

    # --- internals ---------------------------------------------------------------------------------------------

    def _capacity(self) -> int:
        return self._n_workers if self._n_workers is not None else (os.cpu_count() or 1)

    def _connect(self) -> Client:
        with self._lock:
            if self._client is not None:
                return self._client
            if self._scheduler_address is None and current_task_context() is None:
                raise ValueError(
                    'the "scaler" joblib backend needs scheduler_address= or client= (except inside a task)'
                )
            self._client = Client(address=self._scheduler_address, **self._client_options)
            self._owns_client = True
            return self._client

    def _forget(self, job: ScalerJob) -> None:
        with self._lock:
            self._jobs.discard(job)


def _rebuild(
    address: str | None, n_workers: int | None, nested: str, nesting_level: int | None, client_options: dict[str, Any]
) -> ScalerBackend:
    return ScalerBackend(address, None, n_workers, nested, nesting_level, **client_options)


def register() -> None:
    """Make ``"scaler"`` a joblib backend name (importing this module already did)."""
    joblib.register_parallel_backend(BACKEND_NAME, ScalerBackend)


register()

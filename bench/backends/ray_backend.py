"""Ray: a new local instance with ``num_cpus`` = workers, dashboard and usage stats off."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from bench.core import Backend, FutureLike

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


class _RayFuture:
    __slots__ = ("ref",)

    def __init__(self, ref: Any) -> None:
        self.ref = ref

    def result(self, timeout: float | None = None) -> Any:
        import ray

        return ray.get(self.ref, timeout=timeout)


class RayBackend(Backend):
    name = "ray"

    def __init__(self) -> None:
        self._remote: dict[Callable[..., Any], Any] = {}
        self._started = False

    def version(self) -> str:
        import ray

        return f"ray {ray.__version__}"

    def _fn(self, fn: Callable[..., Any]) -> Any:
        remote = self._remote.get(fn)
        if remote is None:
            import ray

            remote = self._remote[fn] = ray.remote(fn)
        return remote

    def start(self, n_workers: int) -> None:
        import ray

        # address="local": always a new local instance, never one left behind by a `ray start` on this machine.
        # Ray advertises the host's interface address whatever it is asked; compare.py runs it in a private network
        # namespace (loopback only) so that its traffic stays on 127.0.0.1.
        ray.init(
            address="local",
            num_cpus=n_workers,
            include_dashboard=False,
            logging_level="warning",
            log_to_driver=False,
        )
        self._started = True

    def submit(self, fn: Callable[..., Any], *args: Any) -> FutureLike:
        return _RayFuture(self._fn(fn).remote(*args))

    def gather(self, futures: Sequence[FutureLike]) -> list[Any]:
        import ray

        refs = [future.ref for future in futures]  # type: ignore[attr-defined]
        return list(ray.get(refs))

    def map(self, fn: Callable[..., Any], xs: Sequence[Any]) -> list[Any]:
        import ray

        remote = self._fn(fn)
        return list(ray.get([remote.remote(x) for x in xs]))

    def put(self, obj: Any) -> Any:
        import ray

        return ray.put(obj)

    def run_graph(self, graph: dict[str, Any], keys: list[str]) -> list[Any] | None:
        """Each node a ``.remote`` call whose key arguments are the ObjectRefs of their nodes (Ray resolves them on
        the worker, chaining tasks without the driver waiting); the graph's dependencies come before their users."""
        import ray

        refs: dict[str, Any] = {}
        for key, (fn, *args) in graph.items():
            refs[key] = self._fn(fn).remote(*(refs.get(a, a) if isinstance(a, str) else a for a in args))
        return list(ray.get([refs[key] for key in keys]))

    def scheduler_pids(self) -> list[int]:
        """Ray schedules in its GCS server and its raylet (native processes); found through Ray's node handle, a
        private API, so [] ("-") if this Ray version lays it out differently."""
        try:
            import ray

            processes = ray._private.worker._global_node.all_processes
            return [info.process.pid for name in ("gcs_server", "raylet") for info in processes.get(name, [])]
        except Exception:
            return []

    def shutdown(self) -> None:
        import ray

        self._remote.clear()
        if self._started:
            self._started = False
            ray.shutdown()

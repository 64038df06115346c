"""Dask distributed: LocalCluster of single-threaded worker processes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.core import Backend, FutureLike


class DaskBackend(Backend):
    name = "dask"

    def __init__(self) -> None:
        self._cluster: Any = None
        self._client: Any = None

    def version(self) -> str:
        import distributed

        return f"distributed {distributed.__version__}"

    def start(self, n_workers: int) -> None:
        from distributed import Client, LocalCluster

        self._cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        try:
            self._client = Client(self._cluster)
        except BaseException:
            self._cluster.close()
            self._cluster = None
            raise

    def submit(self, fn: Callable[..., Any], *args: Any) -> FutureLike:
        # pure=False: every call is a new task (no de-duplication by argument hash), like the other systems
        future: FutureLike = self._client.submit(fn, *args, pure=False)
        return future

    def gather(self, futures: Sequence[FutureLike]) -> list[Any]:
        return list(self._client.gather(list(futures)))

    def map(self, fn: Callable[..., Any], xs: Sequence[Any]) -> list[Any]:
        return list(self._client.gather(self._client.map(fn, xs, pure=False)))

    def put(self, obj: Any) -> Any:
        return self._client.scatter(obj)

    def run_graph(self, graph: dict[str, Any], keys: list[str]) -> list[Any] | None:
        return list(self._client.get(graph, keys))  # the same Dask-style graph dict; values in the order of keys

    def shutdown(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()

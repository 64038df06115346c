"""concurrent.futures.ProcessPoolExecutor: the standard library baseline (no put facility)."""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bench.core import Backend, FutureLike


class ProcessPoolBackend(Backend):
    name = "procpool"

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def version(self) -> str:
        return f"python {platform.python_version()} ProcessPoolExecutor"

    def start(self, n_workers: int) -> None:
        self._pool = ProcessPoolExecutor(max_workers=n_workers)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            raise RuntimeError("not started")
        return self._pool

    def submit(self, fn: Callable[..., Any], *args: Any) -> FutureLike:
        return self._executor().submit(fn, *args)

    def map(self, fn: Callable[..., Any], xs: Sequence[Any]) -> list[Any]:
        return list(self._executor().map(fn, xs))

    def run_graph(self, graph: dict[str, Any], keys: list[str]) -> list[Any] | None:
        """A pool cannot chain futures: a node whose argument is another node's value waits for it in the driver, so
        independent nodes run in parallel and a chain runs as sequential round trips."""
        futures: dict[str, Any] = {}
        for key, (fn, *args) in graph.items():
            values = [futures[a].result() if isinstance(a, str) and a in futures else a for a in args]
            futures[key] = self._executor().submit(fn, *values)
        return [futures[key].result() for key in keys]

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

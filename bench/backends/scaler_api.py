"""Backends for our Scaler and for opengris-scaler: the same public API (import name ``scaler``).

The two share an import name, so each runs in its own virtual environment; :meth:`_ScalerBackend.version` checks
that the ``scaler`` found on the path is the one this backend is meant to measure.
"""

from __future__ import annotations

import inspect
import os
import socket
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.core import Backend, FutureLike

OUR_SOURCE = Path(__file__).resolve().parents[2] / "src"


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _ScalerBackend(Backend):
    distribution = "?"
    expect_in_repo = False

    def __init__(self) -> None:
        self._cluster: Any = None
        self._client: Any = None

    def version(self) -> str:
        import scaler

        location = Path(scaler.__file__ or "").resolve()
        in_repo = OUR_SOURCE in location.parents
        if in_repo != self.expect_in_repo:
            raise RuntimeError(f"wrong 'scaler' package for {self.name}: imported from {location}")
        try:
            version = metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            version = str(getattr(scaler, "__version__", "?"))
        return f"{self.distribution} {version}"

    def start(self, n_workers: int) -> None:
        from scaler import Client, SchedulerClusterCombo

        address = f"tcp://127.0.0.1:{free_tcp_port()}"
        kwargs: dict[str, Any] = {}
        if "logging_level" in inspect.signature(SchedulerClusterCombo).parameters:
            kwargs["logging_level"] = os.environ.get("BENCH_SCALER_LOGGING_LEVEL", "WARNING")
        self._cluster = SchedulerClusterCombo(address=address, n_workers=n_workers, **kwargs)
        try:
            self._client = Client(address=address)
        except BaseException:
            self._cluster.shutdown()
            self._cluster = None
            raise

    def submit(self, fn: Callable[..., Any], *args: Any) -> FutureLike:
        future: FutureLike = self._client.submit(fn, *args)
        return future

    def gather(self, futures: Sequence[FutureLike]) -> list[Any]:
        return [future.result() for future in futures]

    def map(self, fn: Callable[..., Any], xs: Sequence[Any]) -> list[Any]:
        return list(self._client.map(fn, xs))

    def put(self, obj: Any) -> Any:
        return self._client.send_object(obj)

    def run_graph(self, graph: dict[str, Any], keys: list[str]) -> list[Any] | None:
        values = self._client.get(graph, keys)  # {key: value}, in both ours and opengris-scaler
        return [values[key] for key in keys]

    def scheduler_pids(self) -> list[int]:
        cluster = self._cluster
        pid = getattr(cluster, "scheduler_pid", None)  # ours
        if pid is None:  # opengris-scaler: its scheduler is a multiprocessing.Process
            pid = getattr(getattr(cluster, "_scheduler", None), "pid", None)
        return [pid] if isinstance(pid, int) else []

    def shutdown(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        try:
            if client is not None:
                client.disconnect()
        finally:
            if cluster is not None:
                cluster.shutdown()


class OursBackend(_ScalerBackend):
    """Our Scaler, from this repository (installed editable in the repository's .venv)."""

    name = "ours"
    distribution = "scaler"
    expect_in_repo = True


class OpengrisBackend(_ScalerBackend):
    """opengris-scaler from PyPI, in bench/.peers/opengris."""

    name = "opengris"
    distribution = "opengris-scaler"
    expect_in_repo = False

    def run_graph(self, graph: dict[str, Any], keys: list[str]) -> list[Any] | None:
        # opengris-scaler reads every argument of a task as a key of the graph: literals become constant nodes.
        with_constants: dict[str, Any] = {}
        for key, (fn, *args) in graph.items():
            for index, arg in enumerate(args):
                if not (isinstance(arg, str) and arg in graph):
                    with_constants[f"{key}.{index}"] = arg
                    args[index] = f"{key}.{index}"
            with_constants[key] = (fn, *args)
        return super().run_graph(with_constants, keys)

"""What the measurements are written against: the small backend interface every system implements, the settings
of a run, and the recorder its numbers go to.

Every system (ours, opengris-scaler, Dask, Ray, ProcessPoolExecutor) implements :class:`Backend`; ``bench.measures``
measures it.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Protocol

MB = 1_000_000


class FutureLike(Protocol):
    def result(self, timeout: float | None = None) -> Any: ...


class Backend(ABC):
    """One system under test. A backend is started once per cluster life (``start`` .. ``shutdown``)."""

    #: short name used on the command line and in the table
    name: str = "?"

    @abstractmethod
    def version(self) -> str:
        """Version string of the system (imported here, so an import failure shows up as an error)."""

    @abstractmethod
    def start(self, n_workers: int) -> None:
        """Start a local cluster of ``n_workers`` single-task workers and connect a client to it."""

    @abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any) -> FutureLike:
        """Submit one task; the returned object has ``.result()``."""

    def gather(self, futures: Sequence[FutureLike]) -> list[Any]:
        """Results of many submitted tasks, in order (the system's idiomatic way to wait for a batch)."""
        return [future.result() for future in futures]

    @abstractmethod
    def map(self, fn: Callable[..., Any], xs: Sequence[Any]) -> list[Any]:
        """The system's ``map``: one task per element, results as a list."""

    def put(self, obj: Any) -> Any:
        """Store ``obj`` in the cluster once; return a reference usable as a positional task argument.

        Systems without such a facility return None (the table prints "-").
        """
        return None

    def run_graph(self, graph: dict[str, Any], keys: list[str]) -> list[Any] | None:
        """Evaluate a Dask-style graph (``{key: (fn, arg_or_key, ...)}``); the values of ``keys``, in order.

        Systems that cannot run such a graph return None (the table prints "-").
        """
        return None

    @abstractmethod
    def shutdown(self) -> None:
        """Disconnect the client and stop every process of the cluster."""

    def scheduler_pids(self) -> list[int]:
        """The processes that schedule (their memory and CPU are the scale rows'); [] where there is none of its own."""
        return []


@dataclass
class Settings:
    n_workers: int = 2
    map_tasks: int = 10_000
    map_reps: int = 3
    submit_tasks: int = 10_000
    submit_reps: int = 3
    latency_warmup: int = 100
    latency_samples: int = 2_000
    rtt_sizes_mb: list[int] = field(default_factory=lambda: [1, 10, 100])
    rtt_reps: int = 3
    efficiency_tasks: int = 200
    efficiency_task_s: float = 0.020
    efficiency_reps: int = 2
    start_cycles: int = 3  # cluster lives measured for start_to_first_result and shutdown (the main one included)
    rep_budget_s: float = 60.0  # no further repetition of a measurement once its repetitions took this long
    only: list[str] = field(default_factory=list)  # run only these steps of measures._run_all (run_one --only)

    scale_map_tasks: int = 100_000  # bench/scale.py: one map this large (throughput, peak RSS of client and scheduler)
    scale_workers: int = 32  # bench/scale.py: a cluster of this many workers on the machine's cores
    scale_budget_s: float = 120.0  # the big map is skipped when the 10k map's rate says it would take longer

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            map_tasks=1_000,
            map_reps=1,
            submit_tasks=1_000,
            submit_reps=1,
            latency_warmup=20,
            latency_samples=200,
            rtt_sizes_mb=[1, 10],
            rtt_reps=1,
            efficiency_tasks=40,
            efficiency_reps=1,
            start_cycles=1,
            rep_budget_s=10.0,
            scale_map_tasks=2_000,
            scale_workers=4,
            scale_budget_s=20.0,
        )


class Recorder:
    """Collects results and streams each one as a JSON line (so a run killed half-way still reports what it had)."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream
        self.results: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def _emit(self, record: dict[str, Any]) -> None:
        if self.stream is not None:
            self.stream.write(json.dumps(record) + "\n")
            self.stream.flush()

    def begin(self, step: str) -> None:
        self._emit({"event": "begin", "step": step, "t": time.time()})
        print(f"[bench] {step} ...", file=sys.stderr, flush=True)

    def value(self, key: str, value: Any) -> None:
        self.results[key] = value
        self._emit({"event": "value", "key": key, "value": value})
        print(f"[bench]   {key} = {value}", file=sys.stderr, flush=True)

    def error(self, step: str, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}"
        self.errors[step] = text
        self._emit({"event": "error", "step": step, "error": text, "traceback": traceback.format_exc()})
        print(f"[bench]   {step} FAILED: {text}", file=sys.stderr, flush=True)


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def repeated(measure: Callable[[], float], reps: int, budget_s: float) -> float:
    """Median of up to ``reps`` runs of ``measure``: at least one, and no new one once ``budget_s`` has passed."""
    values: list[float] = []
    t0 = time.perf_counter()
    while len(values) < max(1, reps):
        values.append(measure())
        if time.perf_counter() - t0 >= budget_s:
            break
    return median(values)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return float(ordered[index])


def settings_dict(settings: Settings) -> dict[str, Any]:
    return asdict(settings)

"""The measurements, written once against ``bench.core.Backend``: each takes a started system and records numbers.

``run_all`` runs every step that ``Settings`` selects, each failure recorded while the rest still run. Nothing here
asserts on time: the numbers are recorded and printed, never judged.
"""

from __future__ import annotations

import gc
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import scale, tasks
from bench.core import MB, Backend, Recorder, Settings, median, percentile, repeated

# --- payloads ---------------------------------------------------------------------------------------------------


class Payloads:
    """Makes distinct pseudo-random payloads: incompressible (no system gains from compressing them) and each one
    different from the last (no system gains from recognising content it has seen)."""

    def __init__(self) -> None:
        self._counter = 0
        self._base: dict[int, bytes] = {}

    def make(self, kind: str, size: int) -> Any:
        import random

        if size not in self._base:
            self._base[size] = random.Random(size).randbytes(size)
        self._counter += 1
        buf = bytearray(self._base[size])
        stamp = self._counter.to_bytes(8, "little")
        buf[: len(stamp)] = stamp[:size]
        if kind == "bytes":
            return bytes(buf)
        import numpy

        return numpy.frombuffer(buf, dtype=numpy.uint8).copy()


_PAYLOADS = Payloads()


# --- measurements -----------------------------------------------------------------------------------------------


def measure_first_result(backend: Backend, n_workers: int) -> float:
    """Seconds from before starting the cluster to the first task's result in hand."""
    t0 = time.perf_counter()
    backend.start(n_workers)
    result = backend.submit(tasks.noop, 1).result()
    elapsed = time.perf_counter() - t0
    if result != 1:
        raise RuntimeError(f"first task returned {result!r}, expected 1")
    return elapsed


def measure_shutdown(backend: Backend) -> float:
    t0 = time.perf_counter()
    backend.shutdown()
    return time.perf_counter() - t0


def measure_map(backend: Backend, n: int) -> float:
    xs = list(range(n))
    t0 = time.perf_counter()
    results = backend.map(tasks.noop, xs)
    elapsed = time.perf_counter() - t0
    if len(results) != n or results[0] != 0 or results[-1] != n - 1:
        raise RuntimeError(f"map returned wrong results ({len(results)} items)")
    return n / elapsed


def measure_submit(backend: Backend, n: int) -> float:
    t0 = time.perf_counter()
    futures = [backend.submit(tasks.noop, i) for i in range(n)]
    results = backend.gather(futures)
    elapsed = time.perf_counter() - t0
    if len(results) != n or results[-1] != n - 1:
        raise RuntimeError(f"submit/gather returned wrong results ({len(results)} items)")
    return n / elapsed


def measure_latency(backend: Backend, warmup: int, samples: int, budget_s: float) -> tuple[float, float, int]:
    """(median ms, p99 ms, samples taken) of sequential ``submit(noop, i).result()``.

    Sampling stops early (after at least 100 samples) once it has taken ``budget_s``, so a slow system still finishes.
    """
    for i in range(warmup):
        backend.submit(tasks.noop, i).result()
    timings: list[float] = []
    start = time.perf_counter()
    for i in range(samples):
        t0 = time.perf_counter()
        backend.submit(tasks.noop, i).result()
        timings.append(time.perf_counter() - t0)
        if len(timings) >= 100 and time.perf_counter() - start >= budget_s:
            break
    return median(timings) * 1e3, percentile(timings, 99) * 1e3, len(timings)


def _timed_call(backend: Backend, arg: Any, expected: int) -> float:
    t0 = time.perf_counter()
    got = backend.submit(tasks.nbytes, arg).result()
    elapsed = time.perf_counter() - t0
    if got != expected:
        raise RuntimeError(f"nbytes task returned {got!r}, expected {expected}")
    return elapsed


def measure_round_trips(backend: Backend, kind: str, size_mb: int, reps: int, budget_s: float, rec: Recorder) -> None:
    """Round trip of ``nbytes(x)`` for one payload kind and size: fresh object, same object again, put reference."""
    size = size_mb * MB
    payloads = _PAYLOADS
    prefix = f"rtt_{kind}_{size_mb}MB"

    step = f"{prefix}_fresh_s"
    rec.begin(step)
    try:

        def fresh() -> float:
            return _timed_call(backend, payloads.make(kind, size), size)

        rec.value(step, repeated(fresh, reps, budget_s))
    except Exception as exc:  # one failing metric must not stop the others
        rec.error(step, exc)

    step = f"{prefix}_reuse_s"
    rec.begin(step)
    try:
        obj = payloads.make(kind, size)
        _timed_call(backend, obj, size)  # first use: the object is new to the system
        rec.value(step, repeated(lambda: _timed_call(backend, obj, size), reps, budget_s))
    except Exception as exc:
        rec.error(step, exc)

    step = f"{prefix}_put_s"
    rec.begin(step)
    try:
        obj = payloads.make(kind, size)
        t0 = time.perf_counter()
        ref = backend.put(obj)
        put_s = time.perf_counter() - t0
        if ref is None:
            rec.value(step, None)
            rec.value(f"{prefix}_put_once_s", None)
        else:
            del obj
            _timed_call(backend, ref, size)  # first task on the reference (may move the object to a worker)
            rec.value(f"{prefix}_put_once_s", put_s)
            rec.value(step, repeated(lambda: _timed_call(backend, ref, size), reps, budget_s))
            del ref
    except Exception as exc:
        rec.error(step, exc)
    gc.collect()


def measure_efficiency(backend: Backend, n_tasks: int, task_s: float, n_workers: int) -> tuple[float, float]:
    """(efficiency, stretch) of ``n_tasks`` tasks that each burn ``task_s`` of CPU, submitted at once.

    efficiency = (n_tasks * task_s / n_workers) / wall time. stretch = mean wall time / mean CPU time of a task inside
    its worker: 1.0 when the worker had its core to itself, more when other processes competed for it.
    """
    t0 = time.perf_counter()
    futures = [backend.submit(tasks.burn, task_s) for _ in range(n_tasks)]
    results = backend.gather(futures)
    wall = time.perf_counter() - t0
    cpu_total = sum(cpu for cpu, _ in results)
    wall_total = sum(task_wall for _, task_wall in results)
    return (n_tasks * task_s / n_workers) / wall, wall_total / max(cpu_total, 1e-9)


def run_all(backend: Backend, settings: Settings, rec: Recorder) -> None:
    """Run every measurement on ``backend``; each failure is recorded and the rest still run."""
    _record_load(rec, "load_at_start")
    try:
        _run_all(backend, settings, rec)
    finally:
        _record_load(rec, "load_at_end")


def _record_load(rec: Recorder, key: str) -> None:
    """The machine's 1-minute load average: how busy the (shared) machine was, to read the numbers with."""
    try:
        rec.value(key, os.getloadavg()[0])
    except (AttributeError, OSError):
        pass


def _run_all(backend: Backend, settings: Settings, rec: Recorder) -> None:
    rec.begin("version")
    try:
        rec.value("version", backend.version())
    except Exception as exc:
        rec.error("version", exc)
        return

    first_results: list[float] = []
    shutdowns: list[float] = []
    rec.begin("start_to_first_result")
    try:
        first_results.append(measure_first_result(backend, settings.n_workers))
    except Exception as exc:
        rec.error("start_to_first_result_s", exc)
        _try_shutdown(backend)
        return
    rec.value("start_to_first_result_first_s", first_results[0])

    budget = settings.rep_budget_s
    steps: list[tuple[str, Callable[[], None]]] = [
        (
            "map_tasks_per_s",
            lambda: rec.value(
                "map_tasks_per_s", repeated(lambda: measure_map(backend, settings.map_tasks), settings.map_reps, budget)
            ),
        ),
        (
            "submit_tasks_per_s",
            lambda: rec.value(
                "submit_tasks_per_s",
                repeated(lambda: measure_submit(backend, settings.submit_tasks), settings.submit_reps, budget),
            ),
        ),
        ("latency", lambda: _record_latency(backend, settings, rec)),
        ("graphs", lambda: _record_graphs(backend, settings, rec)),
        ("efficiency_20ms", lambda: _record_efficiency(backend, settings, rec)),
    ]
    for step, action in steps:
        _step(step, action, settings, rec)
    _step("scale_map", lambda: scale.measure_big_map(backend, settings, rec), settings, rec)

    rec.begin("numpy_warmup")
    try:  # workers import numpy on their first array: keep that one-off cost out of the round-trip numbers
        small = _PAYLOADS.make("numpy", 8)
        backend.gather([backend.submit(tasks.nbytes, small) for _ in range(4 * settings.n_workers)])
    except Exception as exc:
        rec.error("numpy_warmup", exc)
    for size_mb in settings.rtt_sizes_mb:
        for kind in ("bytes", "numpy"):
            measure_round_trips(backend, kind, size_mb, settings.rtt_reps, settings.rep_budget_s, rec)

    rec.begin("shutdown")
    try:
        shutdowns.append(measure_shutdown(backend))
    except Exception as exc:
        rec.error("shutdown_s", exc)
        _try_shutdown(backend)
        rec.value("start_to_first_result_s", first_results[0])
        return

    for cycle in range(1, settings.start_cycles):
        rec.begin(f"start_cycle_{cycle}")
        try:
            first_results.append(measure_first_result(backend, settings.n_workers))
            shutdowns.append(measure_shutdown(backend))
        except Exception as exc:
            rec.error(f"start_cycle_{cycle}", exc)
            _try_shutdown(backend)
            break
    rec.value("start_to_first_result_samples_s", first_results)
    rec.value("shutdown_samples_s", shutdowns)
    rec.value("start_to_first_result_s", median(first_results))
    if shutdowns:
        rec.value("shutdown_s", median(shutdowns))

    _step("scale_workers", lambda: scale.measure_many_workers(backend, settings, rec), settings, rec)


def _step(step: str, action: Callable[[], None], settings: Settings, rec: Recorder) -> None:
    """Run one named measurement (unless ``--only`` leaves it out); an error is recorded and the next one runs."""
    if settings.only and step not in settings.only:
        return
    rec.begin(step)
    try:
        action()
    except Exception as exc:
        rec.error(step, exc)


def _record_efficiency(backend: Backend, settings: Settings, rec: Recorder) -> None:
    stretches: list[float] = []

    def once() -> float:
        efficiency, stretch = measure_efficiency(
            backend, settings.efficiency_tasks, settings.efficiency_task_s, settings.n_workers
        )
        stretches.append(stretch)
        return efficiency

    rec.value("efficiency_20ms", repeated(once, settings.efficiency_reps, settings.rep_budget_s))
    rec.value("efficiency_task_stretch", median(stretches))


def _record_latency(backend: Backend, settings: Settings, rec: Recorder) -> None:
    med, p99, taken = measure_latency(backend, settings.latency_warmup, settings.latency_samples, settings.rep_budget_s)
    rec.value("latency_median_ms", med)
    rec.value("latency_p99_ms", p99)
    rec.value("latency_samples_taken", taken)


# --- graphs (wide and chain) -----------------------------------------------------------------------------------


def graph_shape(shape: str, n: int) -> tuple[dict[str, Any], list[str], list[Any]]:
    """(graph, keys, expected values) of ``n`` no-op nodes: "wide" (independent, every key requested) or "chain"
    (node i takes node i - 1's value; only the last key requested, and its value is node 0's)."""
    if shape == "wide":
        graph: dict[str, Any] = {f"n{i}": (tasks.noop, i) for i in range(n)}
        return graph, list(graph), list(range(n))
    graph = {"n0": (tasks.noop, 0)}
    graph.update({f"n{i}": (tasks.noop, f"n{i - 1}") for i in range(1, n)})
    return graph, [f"n{n - 1}"], [0]


def measure_graph(backend: Backend, shape: str, n: int) -> float | None:
    """Nodes per second of one ``shape`` graph of ``n`` nodes, results in hand; None if the system cannot."""
    graph, keys, expected = graph_shape(shape, n)
    t0 = time.perf_counter()
    values = backend.run_graph(graph, keys)
    elapsed = time.perf_counter() - t0
    if values is None:
        return None
    if list(values) != expected:
        raise RuntimeError(f"{shape} graph returned wrong values ({len(values)} items)")
    return n / elapsed


def _record_graphs(backend: Backend, settings: Settings, rec: Recorder) -> None:
    """Wide and chain graphs of ``map_tasks`` nodes, with the issue's two ratios: the wide graph's rate over the map
    rate (target >= 0.8) and the chain's time per node over the sequential latency (target <= 1.2)."""
    n = settings.map_tasks
    for shape in ("wide", "chain"):
        key = f"graph_{shape}_nodes_per_s"
        t0 = time.perf_counter()
        first = measure_graph(backend, shape, n)
        rates = [first] if first is not None else []
        while rates and len(rates) < settings.map_reps and time.perf_counter() - t0 < settings.rep_budget_s:
            rates.append(measure_graph(backend, shape, n) or 0.0)
        rec.value(key, median(rates) if rates else None)
    wide, chain = rec.results.get("graph_wide_nodes_per_s"), rec.results.get("graph_chain_nodes_per_s")
    map_rate, latency_ms = rec.results.get("map_tasks_per_s"), rec.results.get("latency_median_ms")
    rec.value("graph_wide_vs_map", wide / map_rate if wide and map_rate else None)
    rec.value("graph_chain_vs_latency", 1e3 / chain / latency_ms if chain and latency_ms else None)


def _try_shutdown(backend: Backend) -> None:
    try:
        backend.shutdown()
    except Exception:
        traceback.print_exc()

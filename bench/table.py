"""What the runs of each system produced, combined over runs, and the markdown table that shows it.

``compare.py`` runs the systems and hands each run's ``Outcome`` here; ``combine`` takes the median of each value
over a system's runs and ``render`` prints one row per metric with a column per system and the target beside it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.core import Settings


@dataclass
class Outcome:
    """What one run of one system produced."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    fatal: str | None = None  # the whole system failed: not installed, could not start, timed out, crashed
    wall_s: float = 0.0


FATAL_STEPS = ("load_backend", "version", "start_to_first_result_s")


def combine(outcomes: list[Outcome]) -> Outcome:
    """Median of each numeric value over the runs that produced it."""
    combined = Outcome()
    keys: list[str] = []
    for outcome in outcomes:
        keys.extend(k for k in outcome.values if k not in keys)
        combined.errors.update(outcome.errors)
    for key in keys:
        present = [o.values[key] for o in outcomes if key in o.values]
        numbers = [v for v in present if isinstance(v, (int, float)) and not isinstance(v, bool)]
        combined.values[key] = statistics.median(numbers) if numbers and len(numbers) == len(present) else present[0]
    fatal = [o.fatal for o in outcomes if o.fatal]
    if fatal and len(fatal) == len(outcomes):
        combined.fatal = fatal[0]
    elif fatal:
        combined.errors["run"] = f"{len(fatal)} of {len(outcomes)} runs failed: {fatal[0]}"
    return combined


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    fmt: Callable[[Any], str]
    target: str = ""


def _rate(v: float) -> str:
    return f"{v:,.0f}"


def _ms(v: float) -> str:
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def _seconds(v: float) -> str:
    return f"{v:.4f}" if v < 0.1 else f"{v:.3f}" if v < 100 else f"{v:.0f}"


def _ratio(v: float) -> str:
    return f"{v:.3f}"


def _text(v: Any) -> str:
    return str(v)


def rows(settings: Settings) -> list[Row]:
    table = [
        Row("version", "version", _text),
        Row("map_tasks_per_s", f"map, {settings.map_tasks:,} no-op tasks (tasks/s)", _rate, ">= ProcessPool"),
        Row("submit_tasks_per_s", f"submit all then results, {settings.submit_tasks:,} no-op (tasks/s)", _rate),
        Row(
            "latency_median_ms",
            f"latency submit().result(), median of <= {settings.latency_samples:,} (ms)",
            _ms,
            "<= 0.4",
        ),
        Row("latency_p99_ms", "latency p99 (ms)", _ms),
    ]
    for size in settings.rtt_sizes_mb:
        for kind in ("bytes", "numpy"):
            name = f"{size} MB {'bytes' if kind == 'bytes' else 'numpy uint8'}"
            prefix = f"rtt_{kind}_{size}MB"
            fresh_target = {(100, "bytes"): "<= 0.08", (100, "numpy"): "<= 0.03"}.get((size, kind), "")
            put_target = "<= 0.01" if size == 100 else ""
            table += [
                Row(f"{prefix}_fresh_s", f"{name}: fresh argument (s)", _seconds, fresh_target),
                Row(f"{prefix}_reuse_s", f"{name}: same object again (s)", _seconds),
                Row(f"{prefix}_put_s", f"{name}: put once, task on the reference (s)", _seconds, put_target),
            ]
            if size == max(settings.rtt_sizes_mb):
                table.append(Row(f"{prefix}_put_once_s", f"{name}: the put itself (s)", _seconds))
    table += _graph_rows(settings)
    table += [
        Row("efficiency_20ms", f"efficiency, {settings.efficiency_tasks} x 20 ms CPU tasks", _ratio, ">= 0.95"),
        Row("efficiency_task_stretch", "  task wall / CPU time in its worker (1.0: had its core)", _ratio),
        Row("start_to_first_result_s", "start to first result (s)", _seconds, "<= 0.3"),
        Row("shutdown_s", "shutdown (s)", _seconds),
        Row("load_at_end", "machine load average (1 min) at the end", _ratio),
    ]
    table += scale_rows(settings)
    return table


def _graph_rows(settings: Settings) -> list[Row]:
    n = settings.map_tasks
    return [
        Row("graph_wide_nodes_per_s", f"graph, wide: {n:,} independent nodes (nodes/s)", _rate),
        Row("graph_wide_vs_map", "  wide graph rate / map rate", _ratio, ">= 0.8"),
        Row("graph_chain_nodes_per_s", f"graph, chain of {n:,} nodes (nodes/s)", _rate),
        Row("graph_chain_vs_latency", "  chain time per node / latency median", _ratio, "<= 1.2"),
    ]


def _mb(v: float) -> str:
    return f"{v:,.0f}"


def scale_rows(settings: Settings) -> list[Row]:
    """bench/scale.py's rows; "-": the system has no scheduler process of its own (Dask: inside the client)."""
    n, workers, small = settings.scale_map_tasks, settings.scale_workers, settings.map_tasks
    return [
        Row("scale_map_tasks_per_s", f"map, {n:,} no-op tasks (tasks/s)", _rate),
        Row("scale_map_client_peak_mb", "  client peak RSS during it (MB)", _mb),
        Row("scale_map_client_bytes_per_task", "  client growth per task (bytes)", _rate),
        Row("scale_map_scheduler_peak_mb", "  scheduler peak RSS during it (MB)", _mb),
        Row("scale_map_scheduler_bytes_per_task", "  scheduler growth per task (bytes)", _rate),
        Row("scale_workers_tasks_per_s", f"map, {small:,} no-op tasks, {workers} workers (tasks/s)", _rate),
        Row("scale_workers_scheduler_cpu_us_per_task", "  scheduler CPU per task (us)", _rate),
    ]


def _cell(row: Row, outcome: Outcome) -> str:
    if row.key in outcome.values:
        value = outcome.values[row.key]
        if value is None:
            return "-"
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        return row.fmt(value)
    if outcome.fatal:
        return "n/a"
    for step in outcome.errors:
        if row.key == step or row.key.startswith(step.removesuffix("_s")):
            return "ERR"
    return "n/a"


def _status(outcome: Outcome) -> str:
    if outcome.fatal:
        return _short(outcome.fatal)
    if outcome.errors:
        return f"ok, {len(outcome.errors)} error(s) (below)"
    return "ok"


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render(names: list[str], labels: dict[str, str], outcomes: dict[str, Outcome], settings: Settings) -> str:
    header = ["metric", *(labels[n] for n in names), "target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * len(names) + ["---"]) + "|"]
    lines.append("| status | " + " | ".join(_status(outcomes[n]) for n in names) + " | |")
    for row in rows(settings):
        cells = [_cell(row, outcomes[n]) for n in names]
        lines.append(f"| {row.label} | " + " | ".join(cells) + f" | {row.target} |")
    notes = []
    for n in names:
        outcome = outcomes[n]
        if outcome.fatal:
            notes.append(f"- {labels[n]}: {outcome.fatal}")
        for step, error in outcome.errors.items():
            if outcome.fatal and step in FATAL_STEPS:
                continue
            notes.append(f"- {labels[n]}: {step}: {_short(error, 300)}")
    if notes:
        lines += ["", "Errors:", *notes]
    return "\n".join(lines)

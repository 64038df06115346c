"""What ``scaler_top`` draws, as plain lines of text: no curses here, so tests read the screen as strings.

``render(status, view, width, height)`` returns at most ``height`` lines of at most ``width`` characters, each
with a style name that the curses front end maps to attributes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from scaler.monitor import units
from scaler.protocol.status import DesiredTaskConcurrency, SchedulerStatus, WorkerStatus

Style = Literal["title", "label", "text", "header", "warning", "footer"]
Line = tuple[str, Style]

MIN_WIDTH, MIN_HEIGHT = 60, 12
_LABEL_WIDTH = 11


@dataclass(frozen=True)
class Column:
    key: str  # the single key that sorts by this column
    title: str
    width: int
    sort_value: Callable[[WorkerStatus], float | str]
    text: Callable[[WorkerStatus], str]
    numeric: bool = True  # right-aligned, and sorted largest first


def _processor_cpu(worker: WorkerStatus) -> float:
    return sum(processor.cpu for processor in worker.processors)


def _processor_rss(worker: WorkerStatus) -> int:
    return sum(processor.rss for processor in worker.processors)


def _suspended(worker: WorkerStatus) -> int:
    return sum(1 for processor in worker.processors if processor.suspended)


# Widths leave room for the brackets that mark the sorted column; the worker column's width is the flexible one.
COLUMNS: tuple[Column, ...] = (
    Column("g", "manager", 12, lambda w: w.manager_id, lambda w: w.manager_id, numeric=False),
    Column("n", "worker", 16, lambda w: w.worker_id, lambda w: units.short_worker(w.worker_id), numeric=False),
    Column("C", "agt_cpu", 9, lambda w: w.agent_cpu, lambda w: units.percent(w.agent_cpu)),
    Column("M", "agt_rss", 9, lambda w: w.agent_rss, lambda w: units.size(w.agent_rss)),
    Column("c", "cpu", 7, _processor_cpu, lambda w: units.percent(_processor_cpu(w))),
    Column("m", "rss", 7, _processor_rss, lambda w: units.size(_processor_rss(w))),
    Column("F", "mem_free", 10, lambda w: w.free_memory, lambda w: units.size(w.free_memory)),
    Column("f", "free", 6, lambda w: w.free_slots, lambda w: units.count(w.free_slots)),
    Column("w", "sent", 7, lambda w: w.sent, lambda w: units.count(w.sent)),
    Column("d", "queued", 8, lambda w: w.queued, lambda w: units.count(w.queued)),
    Column("s", "susp", 6, _suspended, lambda w: str(_suspended(w))),
    Column("l", "lag", 7, lambda w: w.latency_ms, lambda w: units.duration(w.latency_ms / 1000)),
    Column("a", "seen", 7, lambda w: w.heartbeat_age_s, lambda w: units.duration(w.heartbeat_age_s)),
)
SORT_KEYS = {column.key: column for column in COLUMNS}
_WORKER_COLUMN = 1
_WORKER_WIDTH_MAX = 40


@dataclass(frozen=True)
class View:
    """What the user chose and what the front end knows beyond the status itself."""

    monitor_address: str
    sort_key: str = "n"
    reverse: bool = False  # against the column's natural order (A..Z for text, largest first for numbers)
    status_age_s: float = 0.0  # since the last status arrived
    stale_after_s: float = 5.0

    def press(self, key: str) -> View:
        """The view after a key press: a new column sorts by it, the same column again reverses the order."""
        if key not in SORT_KEYS:
            return self
        if key == self.sort_key:
            return replace(self, reverse=not self.reverse)
        return replace(self, sort_key=key, reverse=False)


def sorted_workers(workers: tuple[WorkerStatus, ...], view: View) -> list[WorkerStatus]:
    column = SORT_KEYS[view.sort_key]
    descending = column.numeric != view.reverse
    # Ties keep a stable, readable order: by worker id.
    by_id = sorted(workers, key=lambda w: w.worker_id)
    return sorted(by_id, key=column.sort_value, reverse=descending)


def render(status: SchedulerStatus, view: View, width: int, height: int) -> list[Line]:
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        message = f"terminal too small: {width}x{height}, scaler_top needs at least {MIN_WIDTH}x{MIN_HEIGHT}"
        warning: list[Line] = [(line, "warning") for line in _wrap_words(message, width)][: height - 1]
        return [(text[:width], style) for text, style in [*warning, ("q quits", "footer")]]
    lines: list[Line] = [(_title(status, view, width), "title")]
    if view.status_age_s > view.stale_after_s:
        lines.append((f"no status for {units.duration(view.status_age_s)}: is the scheduler still up?", "warning"))
    lines += _summary(status, width)
    lines.append(("", "text"))
    footer = _footer(status, view)
    room = height - len(lines) - len(footer) - 1  # one line for the table header
    widths = _column_widths(width)
    lines.append((_table_row([_header_cell(c, view) for c in COLUMNS], widths, width), "header"))
    workers = sorted_workers(status.workers, view)
    shown = workers if len(workers) <= room else workers[: max(0, room - 1)]
    lines += [(_table_row([c.text(w) for c in COLUMNS], widths, width), "text") for w in shown]
    if len(shown) < len(workers):
        lines.append((f"... {len(workers) - len(shown)} more worker(s): enlarge the terminal to see them", "text"))
    lines += [("", "text")] * (height - len(lines) - len(footer))
    lines += footer
    return [(text[:width], style) for text, style in lines[:height]]


def _title(status: SchedulerStatus, view: View, width: int) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(status.time))
    left = f"scaler_top  {status.address} (pid {status.pid}, up {units.duration(status.uptime_s)})"
    right = f"monitor {view.monitor_address}  {clock}"
    gap = width - len(left) - len(right)
    return left + " " * gap + right if gap >= 2 else left


def _summary(status: SchedulerStatus, width: int) -> list[Line]:
    managers = ", ".join(f"{m.manager_id} {m.connected_workers}/{_desired(m.desired)} workers" for m in status.managers)
    live = _pairs((state, n) for state, n in sorted(status.tasks_by_state.items()))
    done = _pairs(sorted(status.finished.items(), key=lambda item: -item[1]))
    sections = [
        (
            "scheduler",
            f"cpu {units.percent(status.cpu_percent)}  rss {units.size(status.rss)}  "
            f"mem_free {units.size(status.free_memory)}  clients {len(status.clients)}  "
            f"workers {len(status.workers)}  managers {manager_count(status)}",
        ),
        ("tasks", f"{live or 'none live'}  |  finished: {done or 'none'}"),
        ("received", _pairs(sorted(status.messages_received.items(), key=lambda item: -item[1])) or "nothing"),
        ("sent", _pairs(sorted(status.messages_sent.items(), key=lambda item: -item[1])) or "nothing"),
        ("functions", _functions(status) or "none"),
    ]
    if managers:
        sections.append(("managers", managers + "  (connected/desired)"))
    lines: list[Line] = []
    for label, text in sections:
        wrapped = _wrap_words(text, width - _LABEL_WIDTH)[:2]  # two lines at most: the worker table matters more
        for index, part in enumerate(wrapped):
            lines.append(((label if index == 0 else "").ljust(_LABEL_WIDTH) + part, "label" if index == 0 else "text"))
    return lines


def manager_count(status: SchedulerStatus) -> int:
    """Connected worker managers plus the groups their workers name (a ``SchedulerClusterCombo``'s workers name a
    manager that never connects): the header and the footer count alike, so they can never disagree."""
    return len({w.manager_id for w in status.workers} | {m.manager_id for m in status.managers})


def _functions(status: SchedulerStatus) -> str:
    busiest = sorted(status.functions.items(), key=lambda item: -(item[1].queued + item[1].running))
    parts = [
        f"{name} q{units.count(f.queued)} r{units.count(f.running)} ok{units.count(f.succeeded)} "
        f"err{units.count(f.failed)}" + (f" cxl{units.count(f.canceled)}" if f.canceled else "")
        for name, f in busiest
    ]
    return "   ".join(parts)


def _desired(desired: tuple[DesiredTaskConcurrency, ...]) -> str:
    return str(sum(d.task_concurrency for d in desired)) if desired else "?"


def _pairs(items: Iterable[tuple[str, int]]) -> str:
    return "  ".join(f"{name} {units.count(n)}" for name, n in items)


def _header_cell(column: Column, view: View) -> str:
    return f"[{column.title}]" if column.key == view.sort_key else column.title


def _column_widths(width: int) -> list[int]:
    """Every column's width, the worker column taking what the terminal has to spare (within limits)."""
    widths = [column.width for column in COLUMNS]
    spare = width - (sum(widths) + len(widths) - 1)
    widths[_WORKER_COLUMN] = min(_WORKER_WIDTH_MAX, max(widths[_WORKER_COLUMN], widths[_WORKER_COLUMN] + spare))
    return widths


def _table_row(cells: list[str], widths: list[int], total_width: int) -> str:
    """The cells that fit whole in the terminal (a narrow one loses the rightmost columns, not half of one)."""
    parts: list[str] = []
    used = -1  # no separator before the first cell
    for column, cell, width in zip(COLUMNS, cells, widths, strict=True):
        used += 1 + width
        if used > total_width:
            break
        text = units.truncate(cell, width)
        parts.append(text.rjust(width) if column.numeric else text.ljust(width))
    return " ".join(parts)


def _footer(status: SchedulerStatus, view: View) -> list[Line]:
    managers = manager_count(status)
    column = SORT_KEYS[view.sort_key]
    if column.numeric:
        order = "smallest first" if view.reverse else "largest first"
    else:
        order = "Z..A" if view.reverse else "A..Z"
    summary = f"{len(status.workers)} worker(s) under {managers} manager(s), sorted by {column.title} ({order})"
    if not status.events_complete:
        summary += "  (busy: some task events were not reported)"
    keys = " ".join(f"{c.key}={c.title}" for c in COLUMNS)
    return [(summary, "footer"), (f"sort: {keys} (again: reverse)  q=quit", "footer")]


def _wrap_words(text: str, width: int) -> list[str]:
    """Split ``text`` at double spaces (between items) so that no line is wider than ``width``."""
    lines: list[str] = []
    current = ""
    for item in text.split("  "):
        candidate = f"{current}  {item}" if current else item
        if len(candidate) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = item
    lines.append(current)
    return [line[:width] for line in lines]

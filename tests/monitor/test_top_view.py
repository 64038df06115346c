"""scaler_top's screen, rendered as plain text: sections, sorting, and terminals of every size."""

from __future__ import annotations

import pytest

from scaler.monitor import units
from scaler.monitor.top_view import COLUMNS, MIN_HEIGHT, MIN_WIDTH, View, render, sorted_workers
from scaler.protocol.status import DesiredTaskConcurrency, ManagerStatus
from tests.monitor.samples import status, worker

VIEW = View("tcp://127.0.0.1:8518")


def screen(workers: int = 3, width: int = 160, height: int = 30, view: View = VIEW) -> list[str]:
    sample = status(tuple(worker(n, agent_cpu=float(n), sent=n) for n in range(1, workers + 1)))
    return [text for text, _ in render(sample, view, width, height)]


def test_every_section_is_shown() -> None:
    text = "\n".join(screen())
    expected_parts = (
        *("scaler_top", "tcp://127.0.0.1:8516", "pid 4242", "scheduler", "cpu 2.5%", "rss 50.0M", "tasks"),
        *("assigned 2", "queued 3", "success 1,234", "failed 5", "received", "Task 1,241", "sent", "functions"),
        *("square q3 r2 ok1,234 err5", "3 worker(s) under 1 manager(s)", "q=quit"),
    )
    for expected in expected_parts:
        assert expected in text, expected


def test_the_screen_fits_the_terminal_exactly() -> None:
    for width, height in ((MIN_WIDTH, MIN_HEIGHT), (80, 24), (200, 60)):
        lines = screen(width=width, height=height)
        assert len(lines) == height
        assert all(len(line) <= width for line in lines)


def test_worker_rows_sorted_by_each_key_and_reversed_by_pressing_it_again() -> None:
    workers = tuple(worker(n, agent_cpu=float(10 - n), sent=n) for n in range(1, 4))
    view = VIEW.press("C")  # agent cpu: largest first
    assert [w.agent_cpu for w in sorted_workers(workers, view)] == [9.0, 8.0, 7.0]
    view = view.press("C")
    assert view.reverse and [w.agent_cpu for w in sorted_workers(workers, view)] == [7.0, 8.0, 9.0]
    view = view.press("w")  # another column: its natural order again
    assert not view.reverse and [w.sent for w in sorted_workers(workers, view)] == [3, 2, 1]
    assert view.press("x") == view  # not a sort key


def test_the_sorted_column_is_marked_and_named_in_the_footer() -> None:
    lines = screen(view=VIEW.press("m"))
    header = next(line for line in lines if "manager" in line and "agt_cpu" in line)
    assert "[rss]" in header and "[worker]" not in header
    assert any("sorted by rss (largest first)" in line for line in lines)


def test_every_column_has_a_distinct_key_listed_in_the_footer() -> None:
    keys = [column.key for column in COLUMNS]
    assert len(set(keys)) == len(keys)
    footer = screen()[-1]
    assert all(f"{column.key}={column.title}" in footer for column in COLUMNS)


def test_too_small_a_terminal_gets_a_message_not_a_crash() -> None:
    lines = screen(width=40, height=8)
    assert "terminal too small" in " ".join(lines) and len(lines) <= 8
    assert all(len(line) <= 40 for line in lines)
    assert screen(width=5, height=2)  # absurdly small: still no exception


def test_more_workers_than_rows_says_how_many_are_hidden() -> None:
    lines = screen(workers=50, height=MIN_HEIGHT + 4)
    assert any("more worker(s)" in line for line in lines)


def test_a_narrow_terminal_drops_whole_columns() -> None:
    header = next(line for line in screen(width=70) if "manager" in line and "worker" in line)
    assert header.split()[-1] in {column.title for column in COLUMNS} | {"[worker]"}


def test_stale_status_is_flagged() -> None:
    lines = screen(view=View("addr", status_age_s=12.0, stale_after_s=5.0))
    assert any("no status for 12.0s" in line for line in lines)


def test_managers_show_connected_and_desired_workers() -> None:
    manager = ManagerStatus("wm", 8, {}, 2, 2, (DesiredTaskConcurrency({}, 4),), 0.5)
    sample = status((worker(1),), managers=(manager,))
    text = "\n".join(line for line, _ in render(sample, VIEW, 160, 30))
    assert "wm 2/4 workers" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0B"), (1023, "1023B"), (1536, "1.50K"), (50 << 20, "50.0M"), (3 << 30, "3.00G"), (-1, "-")],
)
def test_sizes(value: int, expected: str) -> None:
    assert units.size(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0123, "12ms"), (1.5, "1.5s"), (62, "1m02s"), (3720, "1h02m"), (183600, "2d03h"), (-1, "-")],
)
def test_durations(value: float, expected: str) -> None:
    assert units.duration(value) == expected


def test_counts_and_truncation() -> None:
    assert (units.count(1234), units.count(12_345_678)) == ("1,234", "12.3M")
    assert units.truncate("Worker|FIX|very-long-host|123|abcd", 12) == "..t|123|abcd"  # the end is what differs
    assert units.truncate("short", 12) == "short"

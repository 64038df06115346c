"""The web page's model: a full picture for a new page, then increments, all of it bounded."""

from __future__ import annotations

from msgspec.structs import replace

from scaler.monitor.gui import model as gm
from scaler.monitor.gui.model import MonitorModel
from tests.monitor.samples import event, status, worker


def test_a_new_page_gets_everything_then_only_what_changed() -> None:
    monitor = MonitorModel()
    monitor.apply(status((worker(1), worker(2))))
    full = monitor.full()
    assert full["type"] == "full" and full["status"]["address"] == "tcp://127.0.0.1:8516"
    assert [row["id"] for row in full["workers"]["set"]] == ["Worker|FIX|host|1|abcd", "Worker|FIX|host|2|abcd"]
    assert full["functions"]["set"][0] == {
        "id": "square", "queued": 3, "running": 2, "succeeded": 1234, "failed": 5, "canceled": 0,
    }  # fmt: skip
    update = monitor.apply(status((worker(1, sent=1), worker(2)), sequence=2))
    assert update["type"] == "update"
    assert [row["id"] for row in update["workers"]["set"]] == ["Worker|FIX|host|1|abcd"]  # only the changed row
    assert update["functions"] == {"set": [], "del": []}
    update = monitor.apply(status((worker(1, sent=1),), sequence=3))
    assert update["workers"] == {"set": [], "del": ["Worker|FIX|host|2|abcd"]}


def test_worker_rows_sum_their_processors() -> None:
    row = MonitorModel().apply(status((worker(3, suspended=1, rss=100),)))["workers"]["set"][0]
    assert (row["cpu"], row["rss"], row["suspended"], len(row["processors"])) == (60.0, 200, 1, 2)
    assert row["processors"][0] == {"pid": 1030, "cpu": 30.0, "rss": 100, "busy": True, "suspended": True}


def test_task_log_follows_each_task_through_its_states() -> None:
    monitor = MonitorModel()
    update = monitor.apply(status(events=(event(1, "queued", 10.0, None), event(1, "assigned", 10.5))))
    (row,) = update["tasks"]
    assert (row["state"], row["submitted"], row["started"], row["ended"]) == ("assigned", 10.0, 10.5, None)
    update = monitor.apply(status(events=(event(1, "success", 12.0, duration=1.5),), sequence=2))
    (row,) = update["tasks"]
    assert (row["state"], row["ended"], row["elapsed_s"], row["duration_s"], row["worker"]) == (
        "success", 12.0, 1.5, -1.0, "Worker|FIX|host|1|abcd",
    )  # fmt: skip
    assert monitor.full()["tasks"] == [row]


def test_task_stream_has_one_bar_per_stay_on_a_worker() -> None:
    monitor = MonitorModel()
    busy = (worker(1, sent=1), worker(2, sent=1))
    update = monitor.apply(status(busy, (event(1, "assigned", 10.0, 1),)))
    (bar,) = update["bars"]
    assert (bar["worker"], bar["start"], bar["end"], bar["state"]) == ("Worker|FIX|host|1|abcd", 10.0, None, "assigned")
    # Taken back by the balancer and placed on worker 2: the first bar ends as "moved", a second one opens.
    update = monitor.apply(status(busy, (event(1, "assigned", 11.0, 2),), sequence=2))
    states = sorted((b["worker"][-6], b["state"], b["end"]) for b in update["bars"])
    assert states == [("1", "moved", 11.0), ("2", "assigned", None)]
    update = monitor.apply(status(busy, (event(1, "failed", 12.0, 2),), sequence=3))
    assert [(b["state"], b["end"]) for b in update["bars"]] == [("failed", 12.0)]


def test_bars_start_when_the_task_most_likely_began_to_run() -> None:
    monitor = MonitorModel()
    busy = (worker(1, sent=2),)
    monitor.apply(status(busy, (event(1, "assigned", 10.0), event(2, "assigned", 10.0), event(3, "assigned", 10.0))))
    profiled = replace(event(3, "success", 14.0), duration_s=0.25)
    update = monitor.apply(status(busy, (event(1, "success", 11.0), event(2, "success", 12.5), profiled)))
    spans = [(bar["task"][-1], bar["start"], bar["end"]) for bar in update["bars"]]
    # The second waited in the worker's queue until the first ended; the third ran for its measured 0.25 s.
    assert spans == [("1", 10.0, 11.0), ("2", 11.0, 12.5), ("3", 13.75, 14.0)]


def test_bars_whose_end_was_never_reported_are_closed() -> None:
    monitor = MonitorModel()
    monitor.apply(status((worker(1, sent=1),), (event(1, "assigned", 10.0, 1),)))
    update = monitor.apply(status((worker(1, sent=0),), time=1001.0, sequence=2))  # the worker holds nothing now
    assert [(b["state"], b["end"]) for b in update["bars"]] == [("unknown", 1001.0)]


def test_everything_kept_is_bounded() -> None:
    monitor = MonitorModel()
    many = tuple(event(n, "success", 10.0 + n * 1e-3, duration=0.1) for n in range(gm.MAX_TASK_ROWS + 500))
    monitor.apply(status(events=many))
    assert len(monitor.full()["tasks"]) == gm.MAX_TASK_ROWS
    for n in range(gm.MEMORY_SAMPLES + 10):
        monitor.apply(status((worker(1),), time=2000.0 + n, sequence=n + 2))
    assert len(monitor.full()["memory"]) == gm.MEMORY_SAMPLES
    # Bars older than the longest window are dropped.
    monitor.apply(status(events=(event(9, "assigned", 1.0), event(9, "success", 2.0)), time=1e6))
    assert monitor.full()["bars"] == []


def test_memory_samples_add_up_workers_and_name_the_largest() -> None:
    workers = tuple(worker(n, rss=n << 20) for n in range(1, gm.MEMORY_WORKERS + 3))
    (sample,) = MonitorModel().apply(status(workers))["memory"]
    assert sample["scheduler"] == 50 << 20
    assert sample["workers"] == sum((20 << 20) + (n << 20) for n in range(1, gm.MEMORY_WORKERS + 3))
    assert len(sample["by_worker"]) == gm.MEMORY_WORKERS
    assert "Worker|FIX|host|1|abcd" not in sample["by_worker"]  # the smallest are only in the total
    assert sample["free"] == 8 << 30  # one host, counted once

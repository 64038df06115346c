"""Hand-made statuses for the monitor's unit tests."""

from __future__ import annotations

from scaler.protocol import status as s


def worker(
    n: int, *, manager: str = "wm", agent_cpu: float = 1.0, sent: int = 0, rss: int = 10 << 20, suspended: int = 0
) -> s.WorkerStatus:
    processors = tuple(
        s.ProcessorStatus(1000 + n * 10 + i, 10.0 * n, rss, True, i < suspended) for i in range(suspended + 1)
    )
    return s.WorkerStatus(
        worker_id=f"Worker|FIX|host|{n}|abcd",
        manager_id=manager,
        hostname="host",
        capabilities={},
        agent_cpu=agent_cpu,
        agent_rss=20 << 20,
        free_memory=8 << 30,
        processors=processors,
        queue_size=10,
        free_slots=10 - sent,
        sent=sent,
        queued=0,
        latency_ms=1.5,
        heartbeat_age_s=0.5,
    )


def event(task: int, state: str, time: float, worker_n: int | None = 1, duration: float = -1.0) -> s.TaskEvent:
    return s.TaskEvent(
        time=time,
        task_id=f"{task:032x}",
        function="square",
        state=state,
        worker=f"Worker|FIX|host|{worker_n}|abcd" if worker_n is not None else "",
        elapsed_s=duration,
        duration_s=-1.0,
        peak_memory=-1,
        capabilities={},
    )


def status(
    workers: tuple[s.WorkerStatus, ...] = (),
    events: tuple[s.TaskEvent, ...] = (),
    *,
    time: float = 1000.0,
    sequence: int = 1,
    managers: tuple[s.ManagerStatus, ...] = (),
) -> s.SchedulerStatus:
    return s.SchedulerStatus(
        version=s.STATUS_VERSION,
        sequence=sequence,
        time=time,
        address="tcp://127.0.0.1:8516",
        pid=4242,
        uptime_s=75.0,
        cpu_percent=2.5,
        rss=50 << 20,
        free_memory=16 << 30,
        tasks_by_state={"queued": 3, "assigned": 2},
        finished={"success": 1234, "failed": 5},
        messages_received={"Task": 1241, "TaskResult": 1239, "WorkerHeartbeat": 60},
        messages_sent={"Task": 1241, "TaskResult": 1239},
        workers=workers,
        managers=managers,
        clients=(s.ClientStatus("Client|abc", 5, 0.2),),
        functions={"square": s.FunctionStats(3, 2, 1234, 5, 0)},
        events=events,
        events_complete=True,
    )

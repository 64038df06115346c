"""A client created inside a task works for that task's client: it leaves with it (scheduler core, no sockets)."""

from __future__ import annotations

from tests.unit.core.test_scheduler_core import CLIENT, W1, connect, make_core, sent, task

from scaler.protocol import messages as m

NESTED, NESTED_TWICE = b"Client|nested", b"Client|nested-in-nested"


def _nested_task(client_id: bytes, n: int) -> m.Task:
    return m.Task(client_id + n.to_bytes(4, "big"), client_id, b"f", b"", (), {}, {}, 1, 0, "f")


def _hello(client_id: bytes, parent_task_id: bytes) -> m.ClientHeartbeat:
    return m.ClientHeartbeat(m.PROTOCOL_VERSION, client_id, 0.0, 0, parent_task_id)


def test_nested_clients_leave_with_the_client_they_work_for() -> None:
    core = make_core()
    connect(core, workers=(W1,))
    core.handle(CLIENT, task(1), 1.0)
    core.flush()  # task 1 runs on W1; it creates a nested client, whose task creates another
    core.handle(NESTED, _hello(NESTED, task(1).task_id), 2.0)
    core.handle(NESTED, _nested_task(NESTED, 1), 2.0)
    core.flush()
    core.handle(NESTED_TWICE, _hello(NESTED_TWICE, _nested_task(NESTED, 1).task_id), 2.0)
    core.handle(NESTED_TWICE, _nested_task(NESTED_TWICE, 1), 2.0)
    core.handle(b"Client|unrelated", _hello(b"Client|unrelated", b"?" * 8), 2.0)
    core.flush()
    assert core.clients[NESTED_TWICE].works_for == NESTED and core.clients[NESTED].works_for == CLIENT

    core.handle(CLIENT, m.ClientDisconnect(False), 3.0)
    assert set(core.clients) == {b"Client|unrelated"}
    assert not any(record.task.client_id in (NESTED, NESTED_TWICE) for record in core.tasks.values())
    # A nested client that calls again (its processor is being stopped) is told why, not taken for a new one.
    core.handle(NESTED, _hello(NESTED, task(1).task_id), 4.0)
    dropped = sent(core.flush().to_peers, NESTED, m.ClientDropped)
    assert len(dropped) == 1 and "worked for client" in dropped[0].reason  # type: ignore[attr-defined]
    assert NESTED not in core.clients

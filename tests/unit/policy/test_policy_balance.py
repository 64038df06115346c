"""balance_advice: idle workers take the youngest queued tasks of busy ones, deterministically."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from scaler.scheduler.policy import WorkerLoad, balance_advice

NONE: frozenset[str] = frozenset()
GPU = frozenset({"gpu"})


def worker(
    worker_id: str,
    queued: Sequence[bytes | tuple[bytes, frozenset[str]]] = (),
    running: int = 0,
    free_slots: int = 100,
    caps: Mapping[str, int] | None = None,
) -> WorkerLoad:
    items = [item if isinstance(item, tuple) else (item, NONE) for item in queued]
    return WorkerLoad(worker_id, dict(caps or {}), items, running, free_slots)


def tasks(prefix: str, count: int) -> list[bytes]:
    return [f"{prefix}{i}".encode() for i in range(1, count + 1)]  # oldest first


def test_idle_worker_takes_the_youngest_queued_tasks() -> None:
    busy = worker("a", queued=tasks("t", 5), running=1)
    idle = worker("b")
    # 6 units of work over 2 workers: target 3, so the 3 youngest leave a's queue.
    assert balance_advice([busy, idle], capability_aware=False) == {"a": [b"t5", b"t4", b"t3"]}


def test_nothing_moves_without_an_idle_worker() -> None:
    busy = worker("a", queued=tasks("t", 5), running=1)
    working = worker("b", running=1)
    assert balance_advice([busy, working], capability_aware=False) == {}


def test_nothing_moves_when_no_worker_has_queued_tasks() -> None:
    running_only = worker("a", running=4)  # running tasks cannot be taken back
    assert balance_advice([running_only, worker("b")], capability_aware=False) == {}


def test_nothing_moves_for_a_single_or_empty_pool() -> None:
    assert balance_advice([], capability_aware=False) == {}
    assert balance_advice([worker("a", queued=tasks("t", 3), running=1)], capability_aware=False) == {}


def test_never_more_than_the_idle_capacity_can_take() -> None:
    busy = worker("a", queued=tasks("t", 9), running=1)
    small = worker("b", free_slots=2)
    assert balance_advice([busy, small], capability_aware=False) == {"a": [b"t9", b"t8"]}


def test_idle_worker_without_free_slots_receives_nothing() -> None:
    busy = worker("a", queued=tasks("t", 9), running=1)
    assert balance_advice([busy, worker("b", free_slots=0)], capability_aware=False) == {}


def test_load_is_evened_across_several_givers_and_receivers() -> None:
    a = worker("a", queued=tasks("a", 8), running=1)  # load 9
    b = worker("b", queued=tasks("b", 4), running=1)  # load 5
    c, d = worker("c"), worker("d")
    # 14 units over 4 workers: target 4. The most loaded gives first, until nobody is above the target.
    advice = balance_advice([a, b, c, d], capability_aware=False)
    assert advice == {"a": [b"a8", b"a7", b"a6", b"a5", b"a4"], "b": [b"b4"]}


def test_under_loaded_busy_workers_also_receive() -> None:
    a = worker("a", queued=tasks("t", 9), running=1)  # load 10
    b = worker("b", running=1)  # load 1
    c = worker("c")  # idle: the trigger
    # 11 units over 3 workers: target 4; a gives 6, shared between c (up to 4) and b (up to 3).
    advice = balance_advice([a, b, c], capability_aware=False)
    assert advice == {"a": tasks("t", 9)[3:][::-1]}


def test_capability_aware_only_moves_tasks_a_receiver_can_run() -> None:
    busy = worker("a", queued=[(b"g1", GPU), (b"p1", NONE), (b"g2", GPU)], running=1, caps={"gpu": 1})
    plain = worker("b")
    assert balance_advice([busy, plain], capability_aware=True) == {"a": [b"p1"]}
    # Without capability awareness the youngest go, whatever they need.
    assert balance_advice([busy, plain], capability_aware=False) == {"a": [b"g2", b"p1"]}


def test_capability_aware_moves_tasks_to_a_capable_idle_worker() -> None:
    busy = worker("a", queued=[(b"g1", GPU), (b"g2", GPU), (b"g3", GPU)], running=1, caps={"gpu": 1})
    plain = worker("b")
    capable = worker("c", caps={"gpu": 2, "linux": -1})
    # target ceil(4/3) = 2: a gives 2, and only c can take gpu tasks, up to its room of 2.
    assert balance_advice([busy, plain, capable], capability_aware=True) == {"a": [b"g3", b"g2"]}


def test_capability_aware_gives_nothing_when_no_receiver_can_run_the_tasks() -> None:
    busy = worker("a", queued=[(b"g1", GPU), (b"g2", GPU)], running=1, caps={"gpu": 1})
    assert balance_advice([busy, worker("b")], capability_aware=True) == {}


def test_advice_is_deterministic_whatever_the_input_order() -> None:
    workers = [
        worker("a", queued=tasks("a", 6), running=1),
        worker("b", queued=tasks("b", 6), running=1),
        worker("c"),
        worker("d", running=1),
        worker("e"),
    ]
    expected = balance_advice(workers, capability_aware=False)
    assert expected  # something moves
    for permutation in itertools.permutations(workers):
        assert balance_advice(list(permutation), capability_aware=False) == expected
        assert balance_advice(list(permutation), capability_aware=False) == expected
    # 15 units over 5 workers: target 3, so each equal giver sheds 4 (load 7 -> 3), youngest first.
    assert expected == {"a": [b"a6", b"a5", b"a4", b"a3"], "b": [b"b6", b"b5", b"b4", b"b3"]}

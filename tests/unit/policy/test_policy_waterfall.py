"""The waterfall_v1 engine, one heartbeat at a time: priority fill, caps, capability groups, draining order."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pytest

from scaler.scheduler.policy import (
    DemandView,
    DesiredConcurrency,
    ManagerView,
    WaterfallPolicyEngine,
    make_policy_engine,
)

NONE: frozenset[str] = frozenset()
GPU = frozenset({"gpu"})


def manager(manager_id: str, cap: int = -1, workers: int = 0, caps: Mapping[str, int] | None = None) -> ManagerView:
    return ManagerView(manager_id, cap, dict(caps or {}), workers)


def waterfall(content: str) -> WaterfallPolicyEngine:
    engine = make_policy_engine("waterfall_v1", content)
    assert isinstance(engine, WaterfallPolicyEngine)
    return engine


def demand(groups: Mapping[frozenset[str], int], managers: list[ManagerView]) -> DemandView:
    workers = sum(m.worker_count for m in managers)
    return DemandView(sum(groups.values()), dict(groups), workers)


def totals(
    engine: WaterfallPolicyEngine, managers: list[ManagerView], groups: Mapping[frozenset[str], int]
) -> dict[str, int | None]:
    """manager id -> total desired workers (None: no command)."""
    view = demand(groups, managers)
    out: dict[str, int | None] = {}
    for m in managers:
        answer = engine.desired_concurrency(m, managers, view)
        out[m.manager_id] = None if answer is None else sum(d.task_concurrency for d in answer)
    return out


def test_single_manager_wants_one_worker_per_ten_tasks() -> None:
    engine = waterfall("1,a")
    a = manager("a")
    assert engine.desired_concurrency(a, [a], demand({NONE: 1}, [a])) == [DesiredConcurrency({}, 1)]
    assert engine.desired_concurrency(a, [a], demand({NONE: 95}, [a])) == [DesiredConcurrency({}, 10)]


def test_lower_priority_number_fills_first_and_the_rest_spills() -> None:
    engine = waterfall("2,cloud\n1,on_prem,3")
    managers = [manager("cloud"), manager("on_prem")]
    assert totals(engine, managers, {NONE: 20}) == {"on_prem": 2, "cloud": 0}
    assert totals(engine, managers, {NONE: 100}) == {"on_prem": 3, "cloud": 7}


def test_cap_is_the_smaller_of_rule_and_heartbeat() -> None:
    engine = waterfall("1,a,5; 2,b,-1; 3,c")
    managers = [manager("a", cap=3), manager("b", cap=4), manager("c", cap=-1)]
    # 200 tasks want 20 workers: a takes min(5, 3), b min(unlimited, 4), c (heartbeat: unlimited) the rest.
    assert totals(engine, managers, {NONE: 200}) == {"a": 3, "b": 4, "c": 13}


def test_rule_cap_applies_when_heartbeat_is_unlimited() -> None:
    engine = waterfall("1,a,2\n2,b")
    assert totals(engine, [manager("a"), manager("b")], {NONE: 100}) == {"a": 2, "b": 8}


def test_rule_cap_zero_skips_a_manager() -> None:
    engine = waterfall("1,a,0\n2,b")
    assert totals(engine, [manager("a"), manager("b")], {NONE: 30}) == {"a": 0, "b": 3}
    assert not engine.could_provide(NONE, [manager("a")])


def test_offline_managers_are_skipped() -> None:
    engine = waterfall("1,a,2\n2,b")
    assert totals(engine, [manager("b")], {NONE: 30}) == {"b": 3}


def test_equal_priorities_fill_in_rule_order() -> None:
    engine = waterfall("1,z,1\n1,a,1")
    assert totals(engine, [manager("a"), manager("z")], {NONE: 10}) == {"a": 0, "z": 1}


def test_capability_groups_only_use_managers_that_cover_them() -> None:
    engine = waterfall("1,cpu\n2,gpu")
    cpu, gpu = manager("cpu", caps={"linux": -1}), manager("gpu", caps={"gpu": 1, "linux": -1})
    view = demand({NONE: 100, GPU: 15}, [cpu, gpu])
    assert engine.desired_concurrency(cpu, [cpu, gpu], view) == [DesiredConcurrency({}, 10)]
    assert engine.desired_concurrency(gpu, [cpu, gpu], view) == [DesiredConcurrency({"gpu": 1}, 2)]


def test_specific_groups_are_served_before_generic_ones_sharing_a_cap() -> None:
    engine = waterfall("1,gpu,3\n2,cpu")
    gpu, cpu = manager("gpu", caps={"gpu": 1}), manager("cpu")
    view = demand({NONE: 50, GPU: 20}, [gpu, cpu])
    # gpu's 3 slots: 2 go to the gpu group first, 1 to generic work; the other 4 generic workers spill to cpu.
    assert engine.desired_concurrency(gpu, [gpu, cpu], view) == [
        DesiredConcurrency({"gpu": 1}, 2),
        DesiredConcurrency({}, 1),
    ]
    assert engine.desired_concurrency(cpu, [gpu, cpu], view) == [DesiredConcurrency({}, 4)]


def test_idle_manager_with_no_busy_later_tier_drains_to_zero() -> None:
    engine = waterfall("1,a\n2,b")
    assert totals(engine, [manager("a", workers=3), manager("b")], {}) == {"a": 0, "b": 0}


def test_idle_earlier_tier_keeps_its_workers_while_a_later_tier_has_workers() -> None:
    engine = waterfall("1,a\n2,b")
    a, b = manager("a", workers=3), manager("b", workers=2)
    view = demand({}, [a, b])
    assert engine.desired_concurrency(a, [a, b], view) == [DesiredConcurrency({}, 3)]
    assert engine.desired_concurrency(b, [a, b], view) == []


def test_unruled_manager_gets_no_command_and_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    engine = waterfall("1,a")
    stranger = manager("stranger")
    with caplog.at_level(logging.WARNING, logger="scaler.policy"):
        for _ in range(3):
            assert engine.desired_concurrency(stranger, [stranger], demand({NONE: 10}, [stranger])) is None
    warnings = [r for r in caplog.records if r.name == "scaler.policy"]
    assert len(warnings) == 1
    assert "'stranger' has no waterfall_v1 rule" in warnings[0].getMessage()


def test_unruled_managers_take_no_part_in_the_ladder() -> None:
    engine = waterfall("1,a,1\n2,b")
    assert totals(engine, [manager("x"), manager("a"), manager("b")], {NONE: 30}) == {"x": None, "a": 1, "b": 2}


def test_could_provide_needs_an_online_ruled_covering_manager_with_capacity() -> None:
    engine = waterfall("1,a\n2,b,0")
    assert engine.could_provide(GPU, [manager("a", caps={"gpu": 1})])
    assert not engine.could_provide(GPU, [manager("a")])
    assert not engine.could_provide(GPU, [manager("b", caps={"gpu": 1})])  # rule cap 0
    assert not engine.could_provide(GPU, [manager("x", caps={"gpu": 1})])  # no rule
    assert not engine.could_provide(GPU, [manager("a", cap=0, caps={"gpu": 1})])  # heartbeat cap 0
    assert not engine.could_provide(GPU, [])

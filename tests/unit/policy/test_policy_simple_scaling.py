"""The simple engine's scaling rules, one heartbeat at a time: no, vanilla and capability."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from scaler.scheduler.policy import DemandView, DesiredConcurrency, ManagerView, SimplePolicyEngine, make_policy_engine
from scaler.scheduler.policy.scaling import apportion, water_fill

NONE: frozenset[str] = frozenset()
GPU = frozenset({"gpu"})


def manager(
    manager_id: str = "m", cap: int = -1, workers: int = 0, caps: Mapping[str, int] | None = None
) -> ManagerView:
    return ManagerView(manager_id, cap, dict(caps or {}), workers)


def demand(groups: Mapping[frozenset[str], int], workers: int) -> DemandView:
    return DemandView(total_tasks=sum(groups.values()), tasks_by_capability_keys=dict(groups), total_workers=workers)


def simple(scaling: str) -> SimplePolicyEngine:
    engine = make_policy_engine("simple", f"allocate=even_load; scaling={scaling}")
    assert isinstance(engine, SimplePolicyEngine)
    return engine


def vanilla(me: ManagerView, tasks: int, workers: int, others: tuple[ManagerView, ...] = ()) -> int:
    answer = simple("vanilla").desired_concurrency(me, [me, *others], demand({NONE: tasks}, workers))
    assert answer is not None and len(answer) == 1
    assert answer[0].capabilities == {}  # always one wildcard request
    return answer[0].task_concurrency


# --- no ---------------------------------------------------------------------------------------------------------


def test_no_scaling_sends_no_command() -> None:
    me = manager(workers=3)
    assert simple("no").desired_concurrency(me, [me], demand({NONE: 1000}, 3)) is None


def test_no_scaling_cannot_provide_a_missing_capability() -> None:
    assert not simple("no").could_provide(GPU, [manager(caps={"gpu": 1})])


# --- vanilla ----------------------------------------------------------------------------------------------------


def test_vanilla_idle_cluster_with_no_workers_stays_at_zero() -> None:
    assert vanilla(manager(), tasks=0, workers=0) == 0


def test_vanilla_idle_cluster_scales_to_zero() -> None:
    assert vanilla(manager(workers=4), tasks=0, workers=4) == 0


def test_vanilla_first_task_with_no_workers_starts_one() -> None:
    assert vanilla(manager(), tasks=1, workers=0) == 1


def test_vanilla_burst_with_no_workers_grows_by_the_whole_deficit() -> None:
    # ceil(100 / 10) = 10 workers bring the ratio back to 10.
    assert vanilla(manager(), tasks=100, workers=0) == 10


def test_vanilla_scales_up_above_ten_tasks_per_worker() -> None:
    assert vanilla(manager(workers=2), tasks=21, workers=2) == 3
    assert vanilla(manager(workers=2), tasks=100, workers=2) == 10


def test_vanilla_keeps_its_count_inside_the_band() -> None:
    for tasks in (2, 10, 20):
        assert vanilla(manager(workers=2), tasks=tasks, workers=2) == 2


def test_vanilla_scales_down_below_one_task_per_worker_to_one_worker_per_task() -> None:
    assert vanilla(manager(workers=8), tasks=3, workers=8) == 3


def test_vanilla_scale_down_keeps_at_least_one_worker_while_there_is_work() -> None:
    assert vanilla(manager(workers=8), tasks=1, workers=20) == 1


def test_vanilla_scale_down_never_grows_a_manager_without_workers() -> None:
    # Other managers' surplus must not make this one start workers.
    assert vanilla(manager(workers=0), tasks=5, workers=20) == 0


def test_vanilla_scale_down_keeps_each_managers_proportional_share() -> None:
    a, b = manager("a", workers=6), manager("b", workers=2)
    # 4 tasks over 8 workers: a keeps ceil(4*6/8) = 3, b keeps ceil(4*2/8) = 1.
    assert vanilla(a, tasks=4, workers=8, others=(b,)) == 3
    assert vanilla(b, tasks=4, workers=8, others=(a,)) == 1


def test_vanilla_is_capped_by_max_task_concurrency() -> None:
    assert vanilla(manager(cap=4), tasks=100, workers=0) == 4
    assert vanilla(manager(cap=4, workers=4), tasks=1000, workers=4) == 4


def test_vanilla_never_scales_a_manager_with_cap_zero() -> None:
    assert vanilla(manager(cap=0), tasks=100, workers=0) == 0


def test_vanilla_splits_the_deficit_between_managers_that_can_grow() -> None:
    a, b = manager("a"), manager("b")
    assert vanilla(a, tasks=100, workers=0, others=(b,)) == 5
    assert vanilla(b, tasks=100, workers=0, others=(a,)) == 5


def test_vanilla_full_managers_do_not_take_a_share_of_the_deficit() -> None:
    full, growing = manager("full", cap=2, workers=2), manager("grow", workers=0)
    # 100 tasks want 10 workers; 2 exist; the one manager that can grow gets all 8 missing.
    assert vanilla(growing, tasks=100, workers=2, others=(full,)) == 8


def test_vanilla_counts_workers_no_manager_started() -> None:
    # 30 tasks on 3 fixed workers is inside the band: nothing to start.
    assert vanilla(manager(), tasks=30, workers=3) == 0


def test_vanilla_could_provide_when_a_covering_manager_may_scale() -> None:
    engine = simple("vanilla")
    assert engine.could_provide(GPU, [manager(caps={"gpu": 1, "linux": -1})])
    assert engine.could_provide(NONE, [manager()])
    assert not engine.could_provide(GPU, [manager(caps={"linux": -1})])
    assert not engine.could_provide(GPU, [manager(caps={"gpu": 1}, cap=0)])
    assert not engine.could_provide(GPU, [])


# --- capability -------------------------------------------------------------------------------------------------


def capability(
    me: ManagerView, groups: Mapping[frozenset[str], int], others: tuple[ManagerView, ...] = ()
) -> list[DesiredConcurrency]:
    workers = me.worker_count + sum(o.worker_count for o in others)
    answer = simple("capability").desired_concurrency(me, [me, *others], demand(groups, workers))
    assert answer is not None
    return answer


def test_capability_no_tasks_gives_an_empty_command() -> None:
    assert capability(manager(workers=3), {}) == []


def test_capability_scales_a_group_to_one_worker_per_five_tasks() -> None:
    me = manager(caps={"gpu": 2, "linux": -1})
    assert capability(me, {GPU: 12}) == [DesiredConcurrency({"gpu": 2}, 3)]


def test_capability_request_carries_only_the_groups_keys() -> None:
    me = manager(caps={"gpu": 2, "linux": -1})
    assert capability(me, {NONE: 1}) == [DesiredConcurrency({}, 1)]


def test_capability_keeps_its_count_inside_the_band() -> None:
    me = manager(workers=4, caps={"gpu": 1})
    for tasks in (2, 10, 20):
        assert capability(me, {GPU: tasks}) == [DesiredConcurrency({"gpu": 1}, 4)]


def test_capability_scales_up_above_five_tasks_per_worker() -> None:
    me = manager(workers=2, caps={"gpu": 1})
    assert capability(me, {GPU: 11}) == [DesiredConcurrency({"gpu": 1}, 3)]


def test_capability_scales_down_below_half_a_task_per_worker() -> None:
    me = manager(workers=10, caps={"gpu": 1})
    assert capability(me, {GPU: 4}) == [DesiredConcurrency({"gpu": 1}, 4)]


def test_capability_ignores_groups_the_manager_cannot_serve() -> None:
    plain = manager("plain", caps={"linux": -1})
    assert capability(plain, {GPU: 50}) == []


def test_capability_splits_the_total_between_groups_by_their_tasks() -> None:
    me = manager(caps={"gpu": 1})
    # Only one manager: it takes both groups; 30 tasks -> 6 workers, 20:10 -> 4:2.
    assert capability(me, {GPU: 20, NONE: 10}) == [DesiredConcurrency({"gpu": 1}, 4), DesiredConcurrency({}, 2)]


def test_capability_total_is_capped_across_groups() -> None:
    me = manager(cap=3, caps={"gpu": 1})
    answer = capability(me, {GPU: 100, NONE: 100})
    assert sum(d.task_concurrency for d in answer) == 3


def test_capability_generic_work_goes_to_the_best_fitting_manager_first() -> None:
    plain, gpu = manager("plain"), manager("gpu", caps={"gpu": 1})
    assert capability(plain, {NONE: 20}, others=(gpu,)) == [DesiredConcurrency({}, 4)]
    assert capability(gpu, {NONE: 20}, others=(plain,)) == []


def test_capability_generic_work_spills_to_a_less_fitting_manager_when_the_best_is_full() -> None:
    plain, gpu = manager("plain", cap=2), manager("gpu", caps={"gpu": 1})
    # plain absorbs 2 workers x 5 tasks; the other 40 tasks spill to the gpu manager.
    assert capability(plain, {NONE: 50}, others=(gpu,)) == [DesiredConcurrency({}, 2)]
    assert capability(gpu, {NONE: 50}, others=(plain,)) == [DesiredConcurrency({}, 8)]


def test_capability_equally_fitting_managers_share_a_group() -> None:
    a, b = manager("a"), manager("b")
    assert capability(a, {NONE: 50}, others=(b,)) == [DesiredConcurrency({}, 5)]
    assert capability(b, {NONE: 50}, others=(a,)) == [DesiredConcurrency({}, 5)]


def test_capability_manager_with_cap_zero_gets_nothing_and_cannot_provide() -> None:
    me = manager(cap=0, caps={"gpu": 1})
    assert capability(me, {GPU: 10}) == []
    assert not simple("capability").could_provide(GPU, [me])
    assert simple("capability").could_provide(GPU, [me, manager("other", caps={"gpu": 1})])


def test_capability_treats_an_ungrouped_total_as_generic() -> None:
    me = manager()
    answer = simple("capability").desired_concurrency(me, [me], DemandView(10, {}, 0))
    assert answer == [DesiredConcurrency({}, 2)]


# --- helpers ----------------------------------------------------------------------------------------------------


def test_water_fill_splits_whole_tasks_evenly_and_respects_capacities() -> None:
    assert water_fill(9, {"a": -1, "b": -1, "c": -1}) == {"a": 3, "b": 3, "c": 3}
    assert water_fill(10, {"a": -1, "b": -1, "c": -1}) == {"a": 4, "b": 3, "c": 3}
    assert water_fill(9, {"a": 1, "b": -1}) == {"a": 1, "b": 8}
    assert water_fill(9, {"a": 1, "b": 2}) == {"a": 1, "b": 2}


def test_capability_three_equal_managers_split_a_group_without_rounding_dust() -> None:
    a, b, c = manager("a"), manager("b"), manager("c")
    # 10 tasks: 4, 3, 3 whole tasks; one worker each, and nothing left over to spill anywhere.
    for me, others in ((a, (b, c)), (b, (a, c)), (c, (a, b))):
        assert capability(me, {NONE: 10}, others=others) == [DesiredConcurrency({}, 1)]


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (0, {GPU: 1}, {GPU: 0}),
        (5, {GPU: 1, NONE: 1}, {GPU: 3, NONE: 2}),  # tie on remainder: the more specific group wins
        (10, {GPU: 3, NONE: 1}, {GPU: 8, NONE: 2}),
    ],
)
def test_apportion_sums_to_the_total_deterministically(
    total: int, weights: dict[frozenset[str], int], expected: dict[frozenset[str], int]
) -> None:
    assert apportion(total, weights) == expected

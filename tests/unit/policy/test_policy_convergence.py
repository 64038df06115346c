"""Convergence over many heartbeats: desired counts are fed back as worker counts, tick after tick.

Each tick the engine answers every manager from the same snapshot, and each manager then moves toward its
desired count by at most ``step`` workers. This models workers that take a while to boot or stop. The
histories show whole scenarios: a burst grows to the cap, an idle cluster drains to 0, and waterfall tiers
fill in priority order and drain in reverse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from scaler.scheduler.policy import DemandView, ManagerView, PolicyEngine, make_policy_engine

NONE: frozenset[str] = frozenset()
GPU = frozenset({"gpu"})


@dataclass
class Cluster:
    engine: PolicyEngine
    caps: dict[str, int]  # manager id -> heartbeat max_task_concurrency
    capabilities: dict[str, dict[str, int]] = field(default_factory=dict)
    step: int = 1_000  # how many workers a manager may start or stop per tick
    workers: dict[str, int] = field(default_factory=dict)
    unmanaged_workers: int = 0

    def tick(self, groups: Mapping[frozenset[str], int]) -> dict[str, int]:
        views = [
            ManagerView(i, cap, self.capabilities.get(i, {}), self.workers.get(i, 0)) for i, cap in self.caps.items()
        ]
        total = sum(self.workers.values()) + self.unmanaged_workers
        demand = DemandView(sum(groups.values()), dict(groups), total)
        desired = {}
        for view in views:
            answer = self.engine.desired_concurrency(view, views, demand)
            desired[view.manager_id] = view.worker_count if answer is None else sum(d.task_concurrency for d in answer)
        for manager_id, target in desired.items():
            current = self.workers.get(manager_id, 0)
            move = max(-self.step, min(self.step, target - current))
            self.workers[manager_id] = current + move
        return dict(self.workers)

    def run(self, schedule: Sequence[Mapping[frozenset[str], int]]) -> list[dict[str, int]]:
        return [self.tick(groups) for groups in schedule]


def simple(scaling: str) -> PolicyEngine:
    return make_policy_engine("simple", f"allocate=even_load; scaling={scaling}")


def test_vanilla_burst_grows_to_the_cap_then_an_idle_cluster_drains_to_zero() -> None:
    cluster = Cluster(simple("vanilla"), {"m": 4}, step=2)
    history = cluster.run([{NONE: 100}] * 4 + [{NONE: 30}] * 2 + [{NONE: 3}] * 2 + [{}] * 3)
    assert [h["m"] for h in history] == [2, 4, 4, 4, 4, 4, 3, 3, 1, 0, 0]


def test_vanilla_unlimited_manager_asks_for_the_same_count_while_workers_boot() -> None:
    # Desired counts are computed from connected workers, so slow booting must not make them pile up.
    cluster = Cluster(simple("vanilla"), {"m": -1}, step=3)
    history = cluster.run([{NONE: 100}] * 6)
    assert [h["m"] for h in history] == [3, 6, 9, 10, 10, 10]


def test_vanilla_two_managers_share_a_burst_without_overshooting() -> None:
    cluster = Cluster(simple("vanilla"), {"a": -1, "b": 3})
    history = cluster.run([{NONE: 200}] * 4 + [{}])
    assert history[0] == {"a": 10, "b": 3}  # the deficit of 20 split evenly, b capped at 3
    assert history[1] == {"a": 17, "b": 3}  # the remaining 7 go to the manager that can still grow
    assert history[-2] == {"a": 17, "b": 3}  # 200 / 20 = 10 tasks per worker: inside the band, stable
    assert history[-1] == {"a": 0, "b": 0}


def test_vanilla_stays_inside_the_band_without_flapping() -> None:
    cluster = Cluster(simple("vanilla"), {"m": -1})
    cluster.run([{NONE: 50}])
    history = cluster.run([{NONE: n} for n in (50, 40, 30, 20, 10, 5)])
    assert {h["m"] for h in history} == {5}


def test_capability_scaling_converges_per_group_and_drains() -> None:
    cluster = Cluster(
        simple("capability"),
        {"cpu": -1, "gpu": 2},
        capabilities={"cpu": {"linux": -1}, "gpu": {"gpu": 1, "linux": -1}},
        step=1,
    )
    history = cluster.run([{NONE: 20, GPU: 30}] * 5 + [{}] * 4)
    assert history[4] == {"cpu": 4, "gpu": 2}  # gpu capped at 2; generic work stays on the plain manager
    assert history[-1] == {"cpu": 0, "gpu": 0}


def test_waterfall_fills_in_priority_order_and_drains_in_reverse() -> None:
    engine = make_policy_engine("waterfall_v1", "1,on_prem,3\n2,cloud")
    cluster = Cluster(engine, {"on_prem": -1, "cloud": -1}, step=1)
    ramp = [{NONE: n} for n in (10, 20, 30, 30, 30)] + [{NONE: 60}] * 4
    history = cluster.run(ramp)
    # on_prem fills to its 3 before the cloud gets anything, then the cloud takes the spill-over.
    assert [h["on_prem"] for h in history[:5]] == [1, 2, 3, 3, 3]
    assert [h["cloud"] for h in history[:5]] == [0, 0, 0, 0, 0]
    assert history[-1] == {"on_prem": 3, "cloud": 3}

    history = cluster.run([{}] * 8)
    # Idle: the cloud drains first; on_prem keeps its workers until the cloud has none, then drains too.
    assert [h["cloud"] for h in history] == [2, 1, 0, 0, 0, 0, 0, 0]
    assert [h["on_prem"] for h in history] == [3, 3, 3, 2, 1, 0, 0, 0]


def test_waterfall_shrinking_demand_releases_the_later_tier_first() -> None:
    engine = make_policy_engine("waterfall_v1", "1,a,2; 2,b,2; 3,c")
    cluster = Cluster(engine, {"a": -1, "b": -1, "c": -1})
    assert cluster.tick({NONE: 100}) == {"a": 2, "b": 2, "c": 6}
    assert cluster.tick({NONE: 35}) == {"a": 2, "b": 2, "c": 0}
    assert cluster.tick({NONE: 15}) == {"a": 2, "b": 0, "c": 0}

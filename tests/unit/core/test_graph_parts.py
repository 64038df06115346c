"""``Client.get`` sends a graph in parts as it builds it (client/graph.py): each part must hold every dependency of
its nodes (the scheduler resolves dependencies within one GraphTask), every node must go exactly once, and a graph
that fails half-way through building cancels what went out. No processes: the client's callbacks are fakes."""

from __future__ import annotations

import itertools
import pickle
import random
import types
from collections.abc import Hashable
from typing import Any

import pytest

from scaler.client.future import ScalerFuture
from scaler.client.graph import _Parts, submit_graph
from scaler.protocol import codec
from scaler.protocol import messages as m


def inc(x: int) -> int:
    return x + 1


class Recorder:
    def __init__(self) -> None:
        self.parts: list[m.GraphTask] = []
        self.futures: dict[bytes, ScalerFuture] = {}
        self.abandoned: tuple[list[ScalerFuture], list[m.Task]] | None = None
        self._ids = itertools.count(1)

    def submit(self, graph: dict[Hashable, Any], keys: list[Hashable]) -> dict[Hashable, Any]:
        client = types.SimpleNamespace(identity=b"C" * 16, _serializer_id=b"")

        def send(payload: bytes, targets: list[bytes]) -> None:
            (part,) = codec.decode(payload)
            assert list(part.targets) == targets
            self.parts.append(part)

        def abandon(futures: list[ScalerFuture], unsent: list[m.Task]) -> None:
            self.abandoned = (futures, unsent)

        return submit_graph(
            client,  # type: ignore[arg-type]
            graph, keys, None,
            new_task_id=lambda: next(self._ids).to_bytes(16, "big"),
            encode_argument=lambda value: m.TaskArg(m.ArgKind.INLINE, pickle.dumps(value)),
            function_id=lambda function: b"f",
            register=self.futures.__setitem__,
            send=send,
            delete_objects=lambda ids: None,
            tasks_done=lambda tasks: None,
            make_future=lambda task_id: ScalerFuture(task_id, lambda future: None),
            abandon=abandon,
            priority=0,
            flags=0,
        )  # fmt: skip

    def check_parts(self, n_tasks: int) -> None:
        """Every node sent once, every part self-contained, every registered future a target of exactly one part."""
        seen: set[bytes] = set()
        targets: list[bytes] = []
        for part in self.parts:
            ids = {node.task.task_id for node in part.nodes}
            assert not ids & seen
            seen |= ids
            for node in part.nodes:
                assert set(node.depends_on) <= ids, "a part depends on a node of another part"
            assert set(part.targets) <= ids
            targets.extend(part.targets)
        assert len(seen) == n_tasks
        assert sorted(targets) == sorted(self.futures)


def test_a_wide_graph_goes_out_in_growing_parts() -> None:
    recorder = Recorder()
    graph: dict[Hashable, Any] = {f"n{i}": (inc, i) for i in range(5000)}
    futures = recorder.submit(graph, list(graph))
    sizes = [len(part.nodes) for part in recorder.parts]
    assert sizes[0] == _Parts.FIRST_PART and sizes[1] == 2 * _Parts.FIRST_PART
    assert max(sizes) <= _Parts.LARGEST_PART and sum(sizes) == 5000
    recorder.check_parts(5000)
    assert len(futures) == 5000


def test_a_chain_cannot_be_cut_and_goes_as_one() -> None:
    recorder = Recorder()
    graph: dict[Hashable, Any] = {"k0": (inc, 0)}
    graph.update({f"k{i}": (inc, f"k{i - 1}") for i in range(1, 2000)})
    recorder.submit(graph, ["k1999"])
    assert len(recorder.parts) == 1
    recorder.check_parts(2000)


def test_random_graphs_with_aliases_and_constants_are_cut_only_where_nothing_crosses() -> None:
    rng = random.Random(7)
    for trial in range(20):
        recorder = Recorder()
        graph: dict[Hashable, Any] = {"c": 5}
        n = rng.randrange(300, 3000)
        for i in range(n):
            earlier = [f"t{j}" for j in rng.sample(range(i), min(i, rng.choice((0, 0, 0, 1, 2))))]
            if rng.random() < 0.05 and earlier:
                graph[f"t{i}"] = earlier[0]  # an alias
            else:
                graph[f"t{i}"] = (inc, *earlier, "c") if earlier else (inc, i)
        keys: list[Hashable] = [f"t{i}" for i in rng.sample(range(n), n // 3)] + ["c"]
        results = recorder.submit(graph, keys)
        n_tasks = sum(len(part.nodes) for part in recorder.parts)
        recorder.check_parts(n_tasks)
        assert results["c"] == 5
        assert all(isinstance(results[key], ScalerFuture) for key in keys if key != "c"), trial


def test_an_argument_that_cannot_be_serialized_cancels_what_went_out_and_raises() -> None:
    recorder = Recorder()
    graph: dict[Hashable, Any] = {f"n{i}": (inc, i) for i in range(2000)}
    graph["n1500"] = (inc, lambda: None)  # pickle cannot serialize a lambda
    with pytest.raises((pickle.PicklingError, AttributeError)):
        recorder.submit(graph, list(graph))
    assert recorder.parts, "the first parts went out before the bad node was built"
    assert recorder.abandoned is not None
    futures, unsent = recorder.abandoned
    sent = {node.task.task_id for part in recorder.parts for node in part.nodes}
    assert {future.task_id for future in futures} == set(recorder.futures)  # every registered future, sent or not
    assert unsent and not {task.task_id for task in unsent} & sent

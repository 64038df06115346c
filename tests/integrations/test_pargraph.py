"""pargraph graphs on a real cluster: GraphEngine(client), and the same graph through client.get."""

from __future__ import annotations

import pytest

pargraph = pytest.importorskip("pargraph")

from scaler import Client  # noqa: E402
from scaler.worker.context import current_task_context  # noqa: E402


@pargraph.delayed
def add(a: int, b: int) -> int:
    return a + b


@pargraph.delayed
def multiply(a: int, b: int) -> int:
    return a * b


@pargraph.delayed
def in_a_task(value: int) -> bool:
    return current_task_context() is not None


@pargraph.graph
def polynomial(x: int, y: int) -> int:
    return add(multiply(x, x), multiply(y, 3))  # x * x + 3 * y


@pargraph.graph
def ran_remotely(x: int) -> bool:
    return in_a_task(add(x, 1))


def test_graph_engine_with_a_scaler_client(client: Client) -> None:
    graph, keys = polynomial.to_graph().to_dict(x=4, y=5)
    assert pargraph.GraphEngine(client).get(graph, keys) == [4 * 4 + 3 * 5]
    graph, keys = ran_remotely.to_graph().to_dict(x=1)
    assert pargraph.GraphEngine(client).get(graph, keys) == [True]


def test_the_same_graph_through_client_get(client: Client) -> None:
    if not hasattr(Client, "get"):
        pytest.skip("Client.get (graph evaluation) is not available")
    graph, keys = polynomial.to_graph().to_dict(x=4, y=5)
    assert client.get(graph, keys) == {keys[0]: 4 * 4 + 3 * 5}

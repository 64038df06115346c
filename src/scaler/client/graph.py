"""``Client.get``: evaluate a Dask-style task graph on the cluster.

A graph is a dict. A value that is a tuple whose first element is callable is a task, ``(fn, arg, ...)``; an
argument that is a key of the graph stands for that node's value, any other argument is passed as it is. A
value that is itself a key is an alias; anything else is a constant. (Lists of keys are not resolved: pass
such values through a task that builds the list.)

Everything is checked before anything runs: requested keys that are not in the graph raise KeyError, and
cycles raise graphlib.CycleError. Only the ancestors of the requested keys are submitted. Each task node
names its result with an object id chosen here: a small result travels inline to the scheduler, which hands it
to the dependents (and the requested ones to the client); a large one is written to object storage under that id
and read there. Either way intermediate values never travel through the client. Stored ones are deleted once
every requested result is in.
"""

from __future__ import annotations

import graphlib
import os
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from scaler.client.future import ScalerFuture
from scaler.ids import owner_prefix
from scaler.protocol import codec
from scaler.protocol import messages as m

if TYPE_CHECKING:
    from scaler.client.client import Client

FANOUT_INLINE_BYTES = 1024 * 1024  # most bytes of one node's inline result copied to all its dependents together


def is_task(value: Any) -> bool:
    return isinstance(value, tuple) and bool(value) and callable(value[0])


def _is_key(value: Any, graph: Mapping[Hashable, Any]) -> bool:
    try:
        return value in graph
    except TypeError:  # unhashable: a literal
        return False


def _dependencies(value: Any, graph: Mapping[Hashable, Any]) -> list[Hashable]:
    if is_task(value):
        return [arg for arg in value[1:] if _is_key(arg, graph)]
    if _is_key(value, graph):
        return [value]
    return []


def _cull(graph: Mapping[Hashable, Any], keys: Sequence[Hashable]) -> dict[Hashable, list[Hashable]]:
    """The requested keys and their ancestors, each with its dependencies."""
    needed: dict[Hashable, list[Hashable]] = {}
    stack = list(keys)
    while stack:
        key = stack.pop()
        if key in needed:
            continue
        dependencies = _dependencies(graph[key], graph)
        needed[key] = dependencies
        stack.extend(dependencies)
    return needed


def submit_graph(
    client: Client,
    graph: Mapping[Hashable, Any],
    keys: Sequence[Hashable],
    capabilities: dict[str, int] | None,
    new_task_id: Callable[[], bytes],
    encode_argument: Callable[[Any], m.TaskArg],
    function_id: Callable[[Any], bytes],
    register: Callable[[bytes, ScalerFuture], None],
    send: Callable[[bytes, list[bytes]], None],
    delete_objects: Callable[[list[bytes]], None],
    tasks_done: Callable[[list[m.Task]], None],
    make_future: Callable[[bytes], ScalerFuture],
    priority: int,
    flags: int,
) -> dict[Hashable, Any]:
    """Submit the graph; returns key -> future for task nodes, key -> value for constants."""
    missing = [key for key in keys if not _is_key(key, graph)]
    if missing:
        raise KeyError(f"key {missing[0]!r} is not in the graph")
    dependencies = _cull(graph, keys)
    order = list(graphlib.TopologicalSorter(dependencies).static_order())  # raises CycleError

    # What each key resolves to: ("task", task id, result object id) or ("value", constant).
    resolved: dict[Hashable, tuple[str, Any, Any]] = {}
    nodes: list[m.GraphNode] = []
    owner = owner_prefix(client.identity)  # a node's result id: this client's objects, then its (unique) task id
    for key in order:
        value = graph[key]
        if is_task(value):
            task_id = new_task_id()
            result_id = owner + task_id
            args, depends_on = [], []
            for arg in value[1:]:
                if _is_key(arg, graph):
                    kind, first, second = resolved[arg]
                    if kind == "task":
                        args.append(m.TaskArg(m.ArgKind.OBJECT, second))
                        depends_on.append(first)
                    else:
                        args.append(encode_argument(first))
                else:
                    args.append(encode_argument(arg))
            function = value[0]
            task = m.Task(
                task_id=task_id, client_id=client.identity, function_id=function_id(function),
                serializer_id=client._serializer_id, args=tuple(args), kwargs={},
                capabilities=dict(capabilities or {}), priority=priority, flags=flags,
                function_name=getattr(function, "__qualname__", type(function).__name__), result_object_id=result_id,
            )  # fmt: skip
            nodes.append(m.GraphNode(task, tuple(depends_on)))
            resolved[key] = ("task", task_id, result_id)
        elif _is_key(value, graph):
            resolved[key] = resolved[value]
        else:
            resolved[key] = ("value", value, None)

    nodes = _limit_fanned_out_results(nodes)

    results: dict[Hashable, Any] = {}
    targets: list[bytes] = []
    by_task: dict[bytes, ScalerFuture] = {}  # one future per node, however many keys name it (aliases)
    for key in keys:
        kind, first, _ = resolved[key]
        if kind == "value":
            results[key] = first
            continue
        future = by_task.get(first)
        if future is None:
            future = by_task[first] = make_future(first)
            future.keeps_result_object = True
            register(first, future)
            targets.append(first)
        results[key] = future
    futures = list(by_task.values())
    if nodes:
        _delete_when_done(futures, [n.task for n in nodes], delete_objects, tasks_done)
        # With its targets: the client keeps the graph to send again should the scheduler restart meanwhile.
        send(codec.encode_one(m.GraphTask(os.urandom(16), tuple(nodes), tuple(targets))), targets)
    return results


def _limit_fanned_out_results(nodes: list[m.GraphNode]) -> list[m.GraphNode]:
    """A node with several dependents may send only a smaller result inline (``FANOUT_INLINE_BYTES`` shared among
    them): the scheduler writes an inline result into every dependent's task, so a 200 KB value feeding 1,000 nodes
    would cross the network 1,000 times, where from object storage each worker fetches it once."""
    fanout: dict[bytes, int] = {}
    for node in nodes:
        for dependency in set(node.depends_on):
            fanout[dependency] = fanout.get(dependency, 0) + 1
    return [
        m.GraphNode(msgspec.structs.replace(n.task, result_inline_limit=FANOUT_INLINE_BYTES // count), n.depends_on)
        if (count := fanout.get(n.task.task_id, 0)) > 1
        else n
        for n in nodes
    ]


def _delete_when_done(
    futures: list[ScalerFuture],
    tasks: list[m.Task],
    delete: Callable[[list[bytes]], None],
    tasks_done: Callable[[list[m.Task]], None],
) -> None:
    """Once every requested result has been fetched (or has failed): delete the graph's result objects, and let go
    of the uploads of its arguments."""
    remaining = [len(futures)]
    lock = threading.Lock()

    def on_done(_: Any) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            tasks_done(tasks)
            delete([task.result_object_id for task in tasks])

    for future in futures:
        future.add_done_callback(on_done)

"""``Client.get``: evaluate a Dask-style task graph on the cluster.

A graph is a dict. A value that is a tuple whose first element is callable is a task, ``(fn, arg, ...)``; an
argument that is a key of the graph stands for that node's value, any other argument is passed as it is. A
value that is itself a key is an alias; anything else is a constant. (Lists of keys are not resolved: pass
such values through a task that builds the list.)

Requested keys that are not in the graph raise KeyError, and cycles raise graphlib.CycleError, before anything
is sent. Only the ancestors of the requested keys are submitted, in parts sent while the rest is built (a part
holds all its nodes' dependencies); an argument that cannot be serialized stops the building, and what was sent
is cancelled. Each task node
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
    abandon: Callable[[list[ScalerFuture], list[m.Task]], None],
    priority: int,
    flags: int,
) -> dict[Hashable, Any]:
    """Submit the graph; returns key -> future for task nodes, key -> value for constants.

    The nodes go out in parts as they are built (``_Parts``), so that workers start on the first ones while the client
    builds the rest. Unknown keys and cycles are found before anything is sent; an argument that cannot be serialized
    is found while building, and then what was already sent is cancelled before the error is raised.
    """
    missing = [key for key in keys if not _is_key(key, graph)]
    if missing:
        raise KeyError(f"key {missing[0]!r} is not in the graph")
    dependencies = _cull(graph, keys)
    order = list(graphlib.TopologicalSorter(dependencies).static_order())  # raises CycleError
    parts = _Parts(order, dependencies, send)

    # What each key resolves to: ("task", task id, result object id) or ("value", constant).
    resolved: dict[Hashable, tuple[str, Any, Any]] = {}
    requested = set(keys)
    results: dict[Hashable, Any] = {}
    by_task: dict[bytes, ScalerFuture] = {}  # one future per node, however many keys name it (aliases)
    tasks: list[m.Task] = []
    owner = owner_prefix(client.identity)  # a node's result id: this client's objects, then its (unique) task id
    client_id, serializer_id, shared_capabilities = client.identity, client._serializer_id, dict(capabilities or {})
    names: dict[int, str] = {}
    try:
        for position, key in enumerate(order):
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
                name = names.get(id(function))
                if name is None:
                    name = names[id(function)] = getattr(function, "__qualname__", type(function).__name__)
                task = m.Task(
                    task_id=task_id, client_id=client_id, function_id=function_id(function),
                    serializer_id=serializer_id, args=tuple(args), kwargs={}, capabilities=shared_capabilities,
                    priority=priority, flags=flags, function_name=name, result_object_id=result_id,
                )  # fmt: skip
                tasks.append(task)
                parts.nodes.append(m.GraphNode(task, tuple(depends_on)))
                resolved[key] = ("task", task_id, result_id)
            elif _is_key(value, graph):
                resolved[key] = resolved[value]
            else:
                resolved[key] = ("value", value, None)
            if key in requested:
                kind, first, _ = resolved[key]
                if kind == "task" and first not in by_task:
                    future = by_task[first] = make_future(first)
                    future.keeps_result_object = True
                    register(first, future)  # before its part is sent: the result may come back at once
                    parts.targets.append(first)
            parts.reached(position, key)
    except BaseException:
        futures = list(by_task.values())
        # What went out may have stored results before the cancel reaches it: those, and the uploads of every built
        # node's arguments, go once the requested nodes have ended (cancelled, or finished after all).
        if tasks:
            _delete_when_done(futures, tasks, delete_objects, tasks_done)
        abandon(futures, [node.task for node in parts.nodes])
        raise

    for key in keys:
        kind, first, _ = resolved[key]
        results[key] = first if kind == "value" else by_task[first]
    if tasks:
        _delete_when_done(list(by_task.values()), tasks, delete_objects, tasks_done)
    return results


class _Parts:
    """Sends a graph's nodes, in topological order, in parts that each hold all their nodes' dependencies.

    A part may end after position ``i`` when no node up to ``i`` has a dependent after ``i`` (``_last_use``): the
    scheduler then needs nothing from another part, and a wide graph goes out a few hundred nodes at a time. A
    chain cannot be cut, and goes as one. Parts grow (``FIRST_PART`` nodes, doubling up to ``LARGEST_PART``): the first
    reaches the workers soon, and the rest is not sliced thinner than it needs to be.
    """

    FIRST_PART = 256
    LARGEST_PART = 4096

    def __init__(
        self,
        order: list[Hashable],
        dependencies: dict[Hashable, list[Hashable]],
        send: Callable[[bytes, list[bytes]], None],
    ) -> None:
        self._last_use: dict[Hashable, int] = {}
        for position, key in enumerate(order):
            for dependency in dependencies[key]:
                self._last_use[dependency] = position
        self._send = send
        self._size = self.FIRST_PART
        self._reach = -1  # the last position a node sent so far (or being built) is needed at
        self._end = len(order) - 1
        self.nodes: list[m.GraphNode] = []
        self.targets: list[bytes] = []

    def reached(self, position: int, key: Hashable) -> None:
        """``key``, at ``position``, is built: send the part if it is long enough and may end here, or all is built."""
        last_use = self._last_use.get(key, -1)
        if last_use > self._reach:
            self._reach = last_use
        if position == self._end or (len(self.nodes) >= self._size and self._reach <= position):
            self.flush()

    def flush(self) -> None:
        if not self.nodes:
            return
        nodes, targets = _limit_fanned_out_results(self.nodes), self.targets
        self.nodes, self.targets = [], []
        self._size = min(2 * self._size, self.LARGEST_PART)
        # With its targets: the client keeps the part to send again should the scheduler restart meanwhile.
        self._send(codec.encode_one(m.GraphTask(os.urandom(16), tuple(nodes), tuple(targets))), targets)


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
    of the uploads of its arguments. At once when none was requested."""
    if not futures:
        tasks_done(tasks)
        delete([task.result_object_id for task in tasks])
        return
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

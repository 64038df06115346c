"""Graph tasks in the scheduler: hold each node until its dependencies have finished, then queue it.

The client builds every node's Task up front: an argument that is another node's value is written as that
node's ``Task.result_object_id`` (an OBJECT argument). The scheduler orders the nodes and moves their results:

- a node with unfinished dependencies is WAITING; when the last one succeeds it is queued like any task;
- a small result comes back inline in the TaskResult, like any task's (the processor's inline limit). The
  scheduler keeps it (``ClientRecord.node_results``) while dependents wait for it and, when a dependent is
  queued, writes it into that dependent's arguments as INLINE ones: no object-storage write or read per node.
  The dependent's Task then holds the value itself, so a re-run after a worker death still has its inputs, and
  the kept copy goes as soon as no waiting node needs it (or when the client leaves);
- a large result is in object storage under the node's ``result_object_id`` (dependents read it there), and
  its dependents prefer the worker that produced it, whose processor still holds it (allocation.py);
- a node that fails (or is cancelled) ends all its dependents, transitively, with the same failure, so
  every requested result raises the original exception;
- only the nodes the client asked for (``targets``) are reported back, with the result as it came (inline or
  an object id); the others just feed dependents.

A graph whose nodes name a dependency outside the graph is refused as a whole before anything runs (the
client validates cycles and unknown keys too; this is the scheduler not trusting its input).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from scaler.protocol import messages as m
from scaler.scheduler.tables import NO_KEYS, ClientRecord, NodeResult, TaskRecord, TaskState, next_sequence

if TYPE_CHECKING:
    from scaler.scheduler.core import SchedulerCore


def accept_graph(core: SchedulerCore, client: ClientRecord, graph: m.GraphTask, now: float) -> None:
    node_ids = {node.task.task_id for node in graph.nodes}
    problem = _validate(graph, node_ids, core)
    if problem:
        for target in graph.targets:
            text = f"graph {graph.graph_id.hex()} refused: {problem}"
            core._send(
                client.client_id,
                m.TaskResult(target, m.ResultStatus.SCHEDULER_ERROR, m.TaskArg(m.ArgKind.INLINE, text.encode()), None),
            )
        return
    targets = set(graph.targets)
    records: dict[bytes, TaskRecord] = {}
    for node in graph.nodes:
        task = node.task
        keys = frozenset(task.capabilities) if task.capabilities else NO_KEYS
        record = TaskRecord(task, TaskState.WAITING, next_sequence(), now, required_keys=keys)
        record.depends_on = tuple(set(node.depends_on))
        record.waiting_on = len(record.depends_on)
        record.reported = task.task_id in targets
        records[task.task_id] = record
    for node in graph.nodes:
        for dependency in set(node.depends_on):
            parent = records[dependency]
            if parent.dependents is None:
                parent.dependents = []
            parent.dependents.append(node.task.task_id)
    for task_id, record in records.items():
        core.tasks[task_id] = record
        client.tasks.add(task_id)
        if record.waiting_on == 0:
            record.state = TaskState.QUEUED
            core.queue.push(task_id, record.task.priority, record.sequence)


def release_dependents(core: SchedulerCore, finished: TaskRecord, outcome: m.TaskResult) -> None:
    """Queue the dependents whose last dependency just succeeded, or end every transitive dependent with
    ``outcome``.

    The failure cascade walks with an explicit stack, never by recursion: a chain of 100,000 nodes whose root
    fails must not hit Python's recursion limit (which would leave the rest of the chain waiting forever). A node
    reached twice (a diamond) is ended once: ``core._end`` removes it from the table.
    """
    assert finished.dependents is not None
    if outcome.status is m.ResultStatus.SUCCESS:
        client = core.clients.get(finished.task.client_id)
        waiting = [core.tasks.get(task_id) for task_id in finished.dependents]
        ready = [d for d in waiting if d is not None and d.state is TaskState.WAITING]
        if client is None:
            return  # its tasks are gone with it
        if ready and outcome.payload is not None:
            kept = NodeResult(finished.task.result_object_id, outcome.payload, finished.worker, len(ready))
            client.node_results[finished.task.task_id] = kept
        for node in ready:
            node.waiting_on -= 1
            if node.waiting_on == 0:
                _queue_with_inputs(core, client, node)
        return
    stack = [finished.dependents]
    while stack:
        for task_id in stack.pop():
            dependent = core.tasks.get(task_id)
            if dependent is None or dependent.state is not TaskState.WAITING:
                continue
            copy = m.TaskResult(task_id, outcome.status, outcome.payload, None, outcome.worker_id)
            core._end(dependent, copy, "dependency_failed")
            if dependent.dependents:
                stack.append(dependent.dependents)


def forget_inputs(core: SchedulerCore, record: TaskRecord) -> None:
    """A WAITING node ended (failure cascade, cancel): the results it was waiting with are needed once less."""
    client = core.clients.get(record.task.client_id)
    if client is not None:
        for dependency in record.depends_on:
            _take(client, dependency)


def _take(client: ClientRecord, dependency: bytes) -> NodeResult | None:
    """One waiting dependent's use of a kept result, which is dropped after its last one."""
    kept = client.node_results.get(dependency)
    if kept is not None:
        kept.waiting -= 1
        if kept.waiting <= 0:
            del client.node_results[dependency]
    return kept


def _queue_with_inputs(core: SchedulerCore, client: ClientRecord, record: TaskRecord) -> None:
    """Queue a node whose dependencies all succeeded, its arguments naming inline results replaced by their values."""
    inline: dict[bytes, m.TaskArg] = {}
    for dependency in record.depends_on:
        kept = _take(client, dependency)
        if kept is None:
            continue
        if kept.payload.kind is m.ArgKind.INLINE:
            inline[kept.object_id] = kept.payload
        elif record.preferred_worker is None:
            record.preferred_worker = kept.worker
    if inline:
        task = record.task
        record.task = msgspec.structs.replace(
            task,
            args=tuple(_inline(arg, inline) for arg in task.args),
            kwargs={name: _inline(arg, inline) for name, arg in task.kwargs.items()},
        )
    record.state = TaskState.QUEUED
    core.queue.push(record.task.task_id, record.task.priority, record.sequence)


def _inline(arg: m.TaskArg, inline: dict[bytes, m.TaskArg]) -> m.TaskArg:
    return inline.get(arg.data, arg) if arg.kind is m.ArgKind.OBJECT else arg


def _validate(graph: m.GraphTask, node_ids: set[bytes], core: SchedulerCore) -> str:
    if len(node_ids) != len(graph.nodes):
        return "duplicate node ids"
    for node in graph.nodes:
        if node.task.task_id in core.tasks:
            return f"node {node.task.task_id.hex()} is already known"
        missing = [d for d in node.depends_on if d not in node_ids]
        if missing:
            return f"node {node.task.task_id.hex()} depends on {missing[0].hex()}, which is not in the graph"
    if not set(graph.targets) <= node_ids:
        return "a target is not a node of the graph"
    if _has_cycle(graph):
        return "its dependencies form a cycle"
    return ""


def _has_cycle(graph: m.GraphTask) -> bool:
    """Kahn's algorithm: a graph is acyclic iff every node can be removed after its dependencies."""
    remaining = {node.task.task_id: len(set(node.depends_on)) for node in graph.nodes}
    dependents: dict[bytes, list[bytes]] = {}
    for node in graph.nodes:
        for dependency in set(node.depends_on):
            dependents.setdefault(dependency, []).append(node.task.task_id)
    ready = [task_id for task_id, count in remaining.items() if count == 0]
    removed = 0
    while ready:
        task_id = ready.pop()
        removed += 1
        for dependent in dependents.get(task_id, ()):
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                ready.append(dependent)
    return removed != len(remaining)

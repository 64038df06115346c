"""Graph tasks in the scheduler: hold each node until its dependencies have finished, then queue it.

The client builds every node's Task up front: a node that depends on another reads that node's result from
object storage under an id the client chose (``Task.result_object_id``), so results flow from node to node
without a round trip through the client. The scheduler only orders them:

- a node with unfinished dependencies is WAITING; when the last one succeeds it is queued like any task;
- a node that fails (or is cancelled) ends all its dependents, transitively, with the same failure, so
  every requested result raises the original exception;
- only the nodes the client asked for (``targets``) are reported back; the others just feed dependents.

A graph whose nodes name a dependency outside the graph is refused as a whole before anything runs (the
client validates cycles and unknown keys too; this is the scheduler not trusting its input).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scaler.protocol import messages as m
from scaler.scheduler.tables import ClientRecord, TaskRecord, TaskState, next_sequence

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
        record = TaskRecord(task, TaskState.WAITING, next_sequence(), now, required_keys=frozenset(task.capabilities))
        record.waiting_on = len(set(node.depends_on))
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
        for task_id in finished.dependents:
            dependent = core.tasks.get(task_id)
            if dependent is None or dependent.state is not TaskState.WAITING:
                continue
            dependent.waiting_on -= 1
            if dependent.waiting_on == 0:
                dependent.state = TaskState.QUEUED
                core.queue.push(task_id, dependent.task.priority, dependent.sequence)
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

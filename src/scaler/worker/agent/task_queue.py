"""The agent's queue of tasks waiting for a processor: highest priority first, then first come.

Nested tasks carry their parent's priority + 1, so a child always jumps ahead of queued top-level work.
"""

from __future__ import annotations

import heapq
import itertools

from scaler.protocol import messages as m


class AgentTaskQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[int, int, bytes]] = []
        self._tasks: dict[bytes, m.Task] = {}
        self._order = itertools.count()
        self._front = itertools.count(-1, -1)  # orders before any pushed task's

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, task_id: bytes) -> bool:
        return task_id in self._tasks

    def push(self, task: m.Task) -> None:
        self._tasks[task.task_id] = task
        heapq.heappush(self._heap, (-task.priority, next(self._order), task.task_id))

    def push_front(self, tasks: list[m.Task]) -> None:
        """Put back tasks that were taken but never started: ahead of the others of their priority, in order."""
        for task in reversed(tasks):
            self._tasks[task.task_id] = task
            heapq.heappush(self._heap, (-task.priority, next(self._front), task.task_id))

    def remove(self, task_id: bytes) -> bool:
        return self._tasks.pop(task_id, None) is not None

    def clear(self) -> int:
        """Forget every queued task; how many there were."""
        count = len(self._tasks)
        self._tasks.clear()
        self._heap.clear()
        return count

    def peek_priority(self) -> int | None:
        self._skip_removed()
        return -self._heap[0][0] if self._heap else None

    def peek(self) -> m.Task | None:
        self._skip_removed()
        return self._tasks[self._heap[0][2]] if self._heap else None

    def pop(self) -> m.Task | None:
        self._skip_removed()
        if not self._heap:
            return None
        _, _, task_id = heapq.heappop(self._heap)
        return self._tasks.pop(task_id)

    def _skip_removed(self) -> None:
        while self._heap and self._heap[0][2] not in self._tasks:
            heapq.heappop(self._heap)

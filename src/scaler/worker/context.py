"""What a running task can learn about where it runs: used by ``Client()`` with no address (nested tasks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskContext:
    scheduler_address: str
    object_storage_address: str
    task_id: bytes
    priority: int


_current: TaskContext | None = None


def current_task_context() -> TaskContext | None:
    return _current


def set_task_context(context: TaskContext | None) -> None:
    global _current
    _current = context

"""The worker agent's decisions, with no processes, pipes or clock (sans-I/O).

The agent keeps a queue of tasks and a *stack* of processors: the last one is active, earlier ones are
suspended (each is running a task that waits for the nested tasks queued above it). The core decides what
each event means; the shell (agent.py) owns the real subprocesses and carries out the returned actions:

- a task arrives: queue it; an idle active processor takes the highest-priority queued task;
- a queued task outranks the running one (a nested task whose parent is waiting for it): suspend the active
  processor and start a new one on top, so recursion on one worker cannot deadlock;
- a result arrives: report it; the processor is idle again, and once nothing outranks the one it displaced,
  the extra processor is retired and the suspended one resumed;
- a task runs past its timeout, or is cancelled by force: its processor is killed and replaced;
- a processor dies: its task (if any) fails with PROCESSOR_DIED, and it is replaced in the same place;
- tasks are short (``PIPELINE_SECONDS``): the active processor is handed the next few before its current one
  ends, so it goes from one to the next without waiting for the agent (``_feed_ahead``). Those stay the agent's
  to take back: a cancel (the balancer's too, moving it to an idle worker) is answered as for a queued task. The
  shell calls ``on_cancel`` holding the processors' claim locks (see processor.py), having read every result
  written: a task sent ahead is then one the processor has not taken, and a skip reaches it before it would;
- the scheduler restarted: every task here is an orphan (its client sends it again): all are dropped.

Processors are named by small integers the core hands out (``StartProcessor.slot``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from scaler.protocol import messages as m
from scaler.worker.agent.task_queue import AgentTaskQueue

# How much expected work (by the recent tasks' mean run time) may wait in a processor's pipe behind its running
# task, and at most how many tasks. Sent ahead, a task no longer waits for the agent to see the previous result:
# that round trip is what otherwise bounds a worker's rate of tiny tasks.
PIPELINE_SECONDS = 0.005
MAX_AHEAD = 8
# Whatever their length, one task of the running one's priority waits in the pipe, so that the processor never idles
# between tasks for the agent's turn-around (a few hundred microseconds on a busy host). Only if it is small: the
# processor does not read its pipe while it runs a task, and the agent's writes must never wait for a full pipe.
AHEAD_BYTES = 16 * 1024
_RUN_TIME_WEIGHT = 0.2  # of the latest task in the running mean


def _inline_size(task: m.Task) -> int:
    """About how many bytes ``task`` takes in a pipe."""
    return 256 + sum(len(arg.data) for arg in task.args) + sum(len(arg.data) for arg in task.kwargs.values())


class SlotState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    SUSPENDED = "suspended"


@dataclass
class ProcessorSlot:
    slot: int
    state: SlotState = SlotState.STARTING
    task: m.Task | None = None
    deadline: float | None = None
    started: float = 0.0
    ahead: list[m.Task] = field(default_factory=list)  # sent to the processor after ``task``, in order


@dataclass(frozen=True)
class StartProcessor:
    slot: int


@dataclass(frozen=True)
class RunTask:
    slot: int
    task: m.Task


@dataclass(frozen=True)
class Suspend:
    slot: int


@dataclass(frozen=True)
class Resume:
    slot: int


@dataclass(frozen=True)
class KillProcessor:
    slot: int


@dataclass(frozen=True)
class SkipTask:
    """Tell the processor not to run a task sent ahead (written while its claim lock is held: see the module)."""

    slot: int
    task_id: bytes


@dataclass(frozen=True)
class ToScheduler:
    message: m.TaskResult | m.TaskCancelConfirm | m.TaskStarted


@dataclass(frozen=True)
class Fatal:
    """The worker cannot work (its processors cannot start): it must exit."""

    text: str


Action = StartProcessor | RunTask | Suspend | Resume | KillProcessor | SkipTask | ToScheduler | Fatal


class WorkerAgentCore:
    def __init__(self, task_timeout_seconds: float = 0.0) -> None:
        self.task_timeout_seconds = task_timeout_seconds
        self.queue = AgentTaskQueue()
        self.stack: list[ProcessorSlot] = []  # the last one is active; earlier ones are suspended
        self.can_run = False  # False until the object storage address is known: tasks cannot be fed before
        self._next_slot = 0
        self._out: list[Action] = []
        self.mean_run_seconds: float | None = None  # of recent tasks; None until one has finished

    # --- events ------------------------------------------------------------------------------------------------

    def start(self, slot: int | None = None) -> list[Action]:
        """The first processor: started by the core, or adopted (``slot``: one the shell already runs)."""
        if slot is None:
            self._start_processor()
        else:
            self._next_slot = max(self._next_slot, slot + 1)
            self.stack.append(ProcessorSlot(slot))
        return self._take()

    def on_task(self, task: m.Task, now: float) -> list[Action]:
        self.queue.push(task)
        return self.dispatch(now)

    def on_cancel(self, cancel: m.TaskCancel, now: float) -> list[Action]:
        if self.queue.remove(cancel.task_id):
            self._report(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.CANCELED))
            return self._take()
        holder = next((s for s in self.stack if any(t.task_id == cancel.task_id for t in s.ahead)), None)
        if holder is not None:  # sent ahead, not taken (see the module): as good as queued
            holder.ahead = [task for task in holder.ahead if task.task_id != cancel.task_id]
            self._out.append(SkipTask(holder.slot, cancel.task_id))
            self._report(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.CANCELED))
            return self._take()
        slot = next((s for s in self.stack if s.task is not None and s.task.task_id == cancel.task_id), None)
        if slot is None:
            self._report(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.NOT_FOUND))
        elif not cancel.force:
            self._report(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.NOT_CANCELED))
        else:
            slot.task = None  # cancelled: nothing is reported for it but the confirmation
            self._replace(slot)
            self._report(m.TaskCancelConfirm(cancel.task_id, m.CancelOutcome.CANCELED))
        return self._take() + self.dispatch(now)

    def on_ready(self, slot_id: int, error: str, now: float) -> list[Action]:
        slot = self._slot(slot_id)
        if slot is None:
            return []
        if error:
            return [Fatal(error)]  # a worker that cannot run its preload must not accept tasks
        if slot.state is SlotState.STARTING:
            slot.state = SlotState.IDLE
        return self.dispatch(now)

    def on_result(self, slot_id: int, result: m.TaskResult, now: float) -> list[Action]:
        slot = self._slot(slot_id)
        if slot is None or slot.task is None or slot.task.task_id != result.task_id:
            return []  # a result for a task this processor no longer holds (cancelled, timed out)
        run_seconds = now - slot.started
        mean = self.mean_run_seconds
        self.mean_run_seconds = run_seconds if mean is None else mean + _RUN_TIME_WEIGHT * (run_seconds - mean)
        self._report(result)
        self._next(slot, now)
        self._resume_displaced()
        return self._take() + self.dispatch(now)

    def has_ahead(self) -> bool:
        return any(slot.ahead for slot in self.stack)

    def on_processor_died(self, slot_id: int, description: str, now: float) -> list[Action]:
        slot = self._slot(slot_id)
        if slot is None:
            return []
        self._fail(slot, m.ResultStatus.PROCESSOR_DIED, f"{description} while running the task")
        self._replace(slot)
        return self._take() + self.dispatch(now)

    def on_scheduler_restart(self) -> tuple[int, list[Action]]:
        """A new scheduler knows none of this worker's tasks, and their clients send them again: drop the queue and
        stop the running ones (how many, and the actions). A running task must not be left to finish: it may be
        waiting on an object that died with the old scheduler's storage, and the new graph node that would make
        it again can be queued behind it, here."""
        dropped = self.queue.clear()
        if all(slot.task is None for slot in self.stack):
            return dropped, []
        for slot in self.stack:
            dropped += (slot.task is not None) + len(slot.ahead)
            self._out.append(KillProcessor(slot.slot))
        self.stack.clear()
        self._start_processor()
        return dropped, self._take()

    def tick(self, now: float) -> list[Action]:
        for slot in list(self.stack):
            if slot.deadline is not None and now > slot.deadline and slot.task is not None:
                seconds = self.task_timeout_seconds
                text = f"task exceeded task_timeout_seconds={seconds:g} and its processor was killed"
                self._fail(slot, m.ResultStatus.TIMEOUT, text)
                self._replace(slot)
        return self._take() + self.dispatch(now)

    def dispatch(self, now: float) -> list[Action]:
        """Feed the active processor, or start one on top when a queued task outranks the running one."""
        if self.can_run and self.queue and self.stack:
            active = self.stack[-1]
            next_priority = self.queue.peek_priority()
            if active.state is SlotState.IDLE:
                task = self.queue.pop()
                if task is not None:
                    self._out.append(RunTask(active.slot, task))
                    self._begin(active, task, now)
                    self._feed_ahead(active)
            elif (
                active.state is SlotState.BUSY
                and active.task is not None
                and next_priority is not None
                and next_priority > active.task.priority
            ):
                # The running task is (most likely) a parent waiting for this child: park it, start a new one.
                active.state = SlotState.SUSPENDED
                self._out.append(Suspend(active.slot))
                self._start_processor()
            elif active.state is SlotState.BUSY:
                self._feed_ahead(active)
        return self._take()

    # --- internals ---------------------------------------------------------------------------------------------

    def _slot(self, slot_id: int) -> ProcessorSlot | None:
        return next((slot for slot in self.stack if slot.slot == slot_id), None)

    def _start_processor(self) -> None:
        slot = ProcessorSlot(self._next_slot)
        self._next_slot += 1
        self.stack.append(slot)
        self._out.append(StartProcessor(slot.slot))

    def _begin(self, slot: ProcessorSlot, task: m.Task, now: float) -> None:
        """``task`` is now the one the processor runs (just sent, or next in its pipe)."""
        # A suspended processor whose task ended goes on with those sent ahead, still under the one on top of it.
        slot.state = SlotState.SUSPENDED if slot.state is SlotState.SUSPENDED else SlotState.BUSY
        slot.task, slot.started = task, now
        timeout = self.task_timeout_seconds
        slot.deadline = now + timeout if timeout > 0 else None
        # Leaves in this wake's batch, long before the task can have loaded its function: the scheduler then knows a
        # death of this worker is this task's to answer for, and balancing cannot move it.
        self._report(m.TaskStarted(task.task_id))

    def _next(self, slot: ProcessorSlot, now: float) -> None:
        """The processor is done with its task: it goes on with the next one sent ahead, or is idle."""
        if slot.ahead:
            self._begin(slot, slot.ahead.pop(0), now)
        else:
            self._release(slot)

    def _feed_ahead(self, slot: ProcessorSlot) -> None:
        """Send the busy ``slot`` more tasks: one of its task's priority whatever their length, more while they are
        short (PIPELINE_SECONDS); never one that outranks the running task, nor more than AHEAD_BYTES in all."""
        mean = self.mean_run_seconds
        running = slot.task
        assert running is not None
        while (priority := self.queue.peek_priority()) is not None and len(slot.ahead) < MAX_AHEAD:
            short = mean is not None and (len(slot.ahead) + 1) * mean <= PIPELINE_SECONDS
            # The first one, long or not, only at the running task's priority: a later task that outranks it then
            # outranks the running task too and gets a processor of its own, rather than waiting behind a long one.
            if priority > running.priority or not (short or (not slot.ahead and priority == running.priority)):
                return
            task = self.queue.peek()
            assert task is not None
            if sum(map(_inline_size, slot.ahead)) + _inline_size(task) > AHEAD_BYTES:
                return
            self.queue.pop()
            slot.ahead.append(task)
            self._out.append(RunTask(slot.slot, task))

    def _release(self, slot: ProcessorSlot) -> m.Task | None:
        task, slot.task, slot.deadline = slot.task, None, None
        slot.state = SlotState.IDLE
        return task

    def _fail(self, slot: ProcessorSlot, status: m.ResultStatus, text: str) -> None:
        task = self._release(slot)
        if task is not None:
            self._report(m.TaskResult(task.task_id, status, m.TaskArg(m.ArgKind.INLINE, text.encode()), None))

    def _resume_displaced(self) -> None:
        """When a higher-priority processor is done, hand control back to the one it displaced."""
        if len(self.stack) < 2 or self.stack[-1].state is not SlotState.IDLE:
            return
        next_priority = self.queue.peek_priority()
        suspended = self.stack[-2]
        if suspended.task is not None and next_priority is not None and next_priority > suspended.task.priority:
            return  # more nested work queued: keep the extra processor running it
        retired = self.stack.pop()
        self._out.append(KillProcessor(retired.slot))
        self._resume(suspended)

    def _replace(self, slot: ProcessorSlot) -> None:
        """Kill a processor and put a fresh one in its place (same position in the suspension stack)."""
        index = self.stack.index(slot)
        self.stack.remove(slot)
        self._out.append(KillProcessor(slot.slot))
        self.queue.push_front(slot.ahead)  # never started: first in line for the next processor
        slot.ahead = []
        if index < len(self.stack):
            return  # a suspended processor died: its place simply goes away; the active one keeps running
        if self.stack and self.stack[-1].state is SlotState.SUSPENDED:
            self._resume(self.stack[-1])
            return
        self._start_processor()

    def _resume(self, slot: ProcessorSlot) -> None:
        slot.state = SlotState.BUSY if slot.task is not None else SlotState.IDLE
        self._out.append(Resume(slot.slot))

    def _report(self, message: m.TaskResult | m.TaskCancelConfirm | m.TaskStarted) -> None:
        self._out.append(ToScheduler(message))

    def _take(self) -> list[Action]:
        out, self._out = self._out, []
        return out

"""The worker agent's decisions (queue, processors, suspension, timeouts, cancels), with a fake clock and no
processes: each test feeds events and checks the actions the shell would carry out."""

from __future__ import annotations

import msgspec

from scaler.protocol import messages as m
from scaler.worker.agent.core import (
    AHEAD_BYTES,
    MAX_AHEAD,
    PIPELINE_SECONDS,
    Action,
    Fatal,
    KillProcessor,
    Resume,
    RunTask,
    SkipTask,
    SlotState,
    StartProcessor,
    Suspend,
    ToScheduler,
    WorkerAgentCore,
)


def task(number: int, priority: int = 0) -> m.Task:
    return m.Task(bytes([number]) * 16, b"client", b"fn", b"", (), {}, {}, priority, 0, f"task{number}")


def result(number: int) -> m.TaskResult:
    return m.TaskResult(task(number).task_id, m.ResultStatus.SUCCESS, m.TaskArg(m.ArgKind.INLINE, b"ok"), None)


def reported(actions: list[Action]) -> list[object]:
    return [action.message for action in actions if isinstance(action, ToScheduler)]


def ready_core(timeout: float = 0.0) -> WorkerAgentCore:
    core = WorkerAgentCore(task_timeout_seconds=timeout)
    assert core.start() == [StartProcessor(0)]
    core.can_run = True
    assert core.on_ready(0, "", 0.0) == []
    return core


def started(slot: int, queued: m.Task) -> list[Action]:
    """What the core does when a task starts on a processor: run it, and tell the scheduler it started."""
    return [RunTask(slot, queued), ToScheduler(m.TaskStarted(queued.task_id))]


def test_tasks_wait_for_a_ready_processor_then_run_one_at_a_time_by_priority() -> None:
    core = WorkerAgentCore()
    core.start()
    core.can_run = True
    assert core.on_task(task(1), 0.0) == []  # the processor is still starting
    assert core.on_task(task(2, priority=5), 0.0) == []
    assert core.on_ready(0, "", 0.1) == started(0, task(2, priority=5))
    actions = core.on_result(0, result(2), 0.2)
    assert reported(actions) == [result(2), m.TaskStarted(task(1).task_id)]
    assert RunTask(0, task(1)) in actions


def test_nothing_runs_before_the_object_storage_address_is_known() -> None:
    core = WorkerAgentCore()
    core.start()
    core.on_ready(0, "", 0.0)
    assert core.on_task(task(1), 0.0) == []
    core.can_run = True
    assert core.dispatch(0.1) == started(0, task(1))


def test_a_result_for_a_task_the_processor_no_longer_holds_is_ignored() -> None:
    core = ready_core()
    core.on_task(task(1), 0.0)
    assert core.on_result(0, result(9), 0.1) == []
    assert core.on_result(7, result(1), 0.1) == []  # an unknown processor


def test_a_task_past_its_timeout_fails_and_its_processor_is_replaced() -> None:
    core = ready_core(timeout=10.0)
    core.on_task(task(1), 0.0)
    assert core.tick(10.0) == []  # not past yet
    actions = core.tick(10.5)
    [failure] = reported(actions)
    assert isinstance(failure, m.TaskResult) and failure.status is m.ResultStatus.TIMEOUT
    assert failure.payload is not None and b"task_timeout_seconds=10" in failure.payload.data
    assert KillProcessor(0) in actions and StartProcessor(1) in actions
    assert core.on_result(0, result(1), 11.0) == []  # the killed processor's late result counts for nothing


def test_a_dead_processor_fails_its_task_and_a_new_one_takes_the_queue() -> None:
    core = ready_core()
    core.on_task(task(1), 0.0)
    core.on_task(task(2), 0.0)
    actions = core.on_processor_died(0, "processor (pid 5) was killed by signal SIGKILL", 1.0)
    [failure] = reported(actions)
    assert isinstance(failure, m.TaskResult) and failure.status is m.ResultStatus.PROCESSOR_DIED
    assert actions[-2:] == [KillProcessor(0), StartProcessor(1)]
    assert core.on_ready(1, "", 2.0) == started(1, task(2))


def test_an_idle_processor_that_dies_is_replaced_without_a_report() -> None:
    core = ready_core()
    assert core.on_processor_died(0, "processor exited with code 1", 1.0) == [KillProcessor(0), StartProcessor(1)]


def test_a_higher_priority_task_suspends_the_running_one_and_resumes_it_after() -> None:
    core = ready_core()
    core.on_task(task(1, priority=0), 0.0)
    actions = core.on_task(task(2, priority=1), 0.1)  # a nested task: its parent (task 1) waits for it
    assert actions == [Suspend(0), StartProcessor(1)]
    assert [slot.state for slot in core.stack] == [SlotState.SUSPENDED, SlotState.STARTING]
    assert core.on_ready(1, "", 0.2) == started(1, task(2, priority=1))
    actions = core.on_result(1, result(2), 0.3)
    assert reported(actions) == [result(2)]
    assert actions[1:] == [KillProcessor(1), Resume(0)]
    assert [slot.state for slot in core.stack] == [SlotState.BUSY]


def test_more_nested_work_keeps_the_extra_processor() -> None:
    core = ready_core()
    core.on_task(task(1, priority=0), 0.0)
    core.on_task(task(2, priority=1), 0.1)
    core.on_ready(1, "", 0.2)
    assert sent(core.on_task(task(3, priority=1), 0.3)) == [task(3, priority=1)]  # ahead of task 2, its priority
    actions = core.on_result(1, result(2), 0.4)
    assert m.TaskStarted(task(3).task_id) in reported(actions) and Resume(0) not in actions


def test_a_suspended_processor_that_dies_leaves_the_active_one_running() -> None:
    core = ready_core()
    core.on_task(task(1, priority=0), 0.0)
    core.on_task(task(2, priority=1), 0.1)
    core.on_ready(1, "", 0.2)
    actions = core.on_processor_died(0, "processor was killed", 0.3)
    [failure] = reported(actions)
    assert isinstance(failure, m.TaskResult) and failure.task_id == task(1).task_id
    assert KillProcessor(0) in actions and not [a for a in actions if isinstance(a, StartProcessor)]
    assert [slot.slot for slot in core.stack] == [1]


def test_the_active_processor_dying_resumes_the_suspended_one() -> None:
    core = ready_core()
    core.on_task(task(1, priority=0), 0.0)
    core.on_task(task(2, priority=1), 0.1)
    core.on_ready(1, "", 0.2)
    actions = core.on_processor_died(1, "processor was killed", 0.3)
    assert actions[-2:] == [KillProcessor(1), Resume(0)]


def test_cancels_queued_running_and_unknown() -> None:
    core = ready_core()
    core.on_task(task(1), 0.0)
    core.on_task(task(2), 0.0)
    assert reported(core.on_cancel(m.TaskCancel(task(2).task_id, force=False), 0.1)) == [
        m.TaskCancelConfirm(task(2).task_id, m.CancelOutcome.CANCELED)
    ]
    assert reported(core.on_cancel(m.TaskCancel(task(1).task_id, force=False), 0.1)) == [
        m.TaskCancelConfirm(task(1).task_id, m.CancelOutcome.NOT_CANCELED)
    ]
    actions = core.on_cancel(m.TaskCancel(task(1).task_id, force=True), 0.2)
    assert reported(actions) == [m.TaskCancelConfirm(task(1).task_id, m.CancelOutcome.CANCELED)]
    assert KillProcessor(0) in actions and StartProcessor(1) in actions
    assert reported(core.on_cancel(m.TaskCancel(task(7).task_id, force=True), 0.3)) == [
        m.TaskCancelConfirm(task(7).task_id, m.CancelOutcome.NOT_FOUND)
    ]


def test_a_failing_preload_is_fatal() -> None:
    core = WorkerAgentCore()
    core.start()
    assert core.on_ready(0, "preload failed: boom", 0.0) == [Fatal("preload failed: boom")]


def test_a_scheduler_restart_drops_every_task_running_ones_too() -> None:
    core = ready_core()
    core.on_task(task(1), 0.0)
    core.on_task(task(2), 0.0)
    core.on_task(task(3), 0.0)
    dropped, actions = core.on_scheduler_restart()
    assert dropped == 3 and len(core.queue) == 0
    assert actions == [KillProcessor(0), StartProcessor(1)]
    assert core.on_result(0, result(1), 1.0) == []  # the killed processor's last word counts for nothing


def test_a_scheduler_restart_leaves_an_idle_worker_alone() -> None:
    core = ready_core()
    assert core.on_scheduler_restart() == (0, [])


def test_an_adopted_first_processor_keeps_its_slot() -> None:
    core = WorkerAgentCore()
    assert core.start(slot=0) == []
    core.can_run = True
    core.on_ready(0, "", 0.0)
    assert core.on_task(task(1), 0.0) == started(0, task(1))


# --- short tasks sent ahead ------------------------------------------------------------------------------------


def pipelining_core(timeout: float = 0.0, run_seconds: float = 0.001) -> WorkerAgentCore:
    """A core that has seen one task of ``run_seconds`` finish (1 ms: short, so it sends the next ones ahead)."""
    core = ready_core(timeout)
    core.on_task(task(100), 0.0)
    core.on_result(0, result(100), run_seconds)
    return core


def sent(actions: list[Action]) -> list[m.Task]:
    return [action.task for action in actions if isinstance(action, RunTask)]


def test_short_tasks_go_to_the_processor_ahead_and_start_in_turn() -> None:
    core = pipelining_core()
    actions = core.on_task(task(1), 1.0)
    assert actions == started(0, task(1))
    assert sent(core.on_task(task(2), 1.0)) == [task(2)]  # sent ahead of the running task 1: not reported started
    assert reported(core.on_task(task(3), 1.0)) == []
    assert core.stack[0].ahead == [task(2), task(3)]
    # Task 1's result: the processor is already on task 2; nothing more needs sending to it.
    actions = core.on_result(0, result(1), 1.001)
    assert reported(actions) == [result(1), m.TaskStarted(task(2).task_id)]
    assert sent(actions) == []
    assert core.stack[0].task == task(2) and core.stack[0].ahead == [task(3)]


def test_how_many_go_ahead_follows_the_tasks_run_time() -> None:
    # However long they run, one waits in the pipe: the processor never idles for the agent between two tasks.
    for run_seconds, ahead in ((0.0001, MAX_AHEAD), (0.002, int(PIPELINE_SECONDS / 0.002)), (0.5, 1)):
        core = pipelining_core(run_seconds=run_seconds)
        for number in range(1, 30):
            core.on_task(task(number), 1.0)
        assert len(core.stack[0].ahead) == ahead, run_seconds
        assert len(core.queue) == 28 - ahead  # the rest stays where the balancer can still move it


def test_a_task_that_outranks_the_running_one_is_not_sent_ahead_but_suspends_it() -> None:
    core = pipelining_core()
    core.on_task(task(1, priority=0), 1.0)
    actions = core.on_task(task(2, priority=1), 1.0)
    assert actions == [Suspend(0), StartProcessor(1)]
    assert core.stack[0].ahead == []


def test_a_task_sent_ahead_is_cancelled_like_a_queued_one_and_the_processor_skips_it() -> None:
    core = pipelining_core()
    for number in (1, 2, 3, 4):
        core.on_task(task(number), 1.0)
    for force in (False, True):  # the balancer's cancel takes it back too: it goes where the balancer wants
        number = 2 if force else 3
        assert core.on_cancel(m.TaskCancel(task(number).task_id, force=force), 1.1) == [
            SkipTask(0, task(number).task_id),
            ToScheduler(m.TaskCancelConfirm(task(number).task_id, m.CancelOutcome.CANCELED)),
        ]
    assert core.stack[0].ahead == [task(4)]
    actions = core.on_result(0, result(1), 1.2)
    assert reported(actions) == [result(1), m.TaskStarted(task(4).task_id)]


def test_tasks_sent_ahead_of_a_task_whose_processor_dies_run_first_on_the_next_one() -> None:
    core = pipelining_core()
    for number in (1, 2, 3, 4):
        core.on_task(task(number), 1.0)
    core.on_cancel(m.TaskCancel(task(3).task_id, force=True), 1.0)
    actions = core.on_processor_died(0, "processor was killed by signal SIGKILL", 1.1)
    [failure] = reported(actions)  # task 3 was cancelled before: it is not run again
    assert isinstance(failure, m.TaskResult) and failure.task_id == task(1).task_id
    assert failure.status is m.ResultStatus.PROCESSOR_DIED
    core.on_task(task(5), 1.2)  # queued after them: runs after them
    assert core.on_ready(1, "", 1.3)[:1] == [RunTask(1, task(2))]
    assert [t.task_id for t in core.stack[0].ahead] == [task(4).task_id, task(5).task_id]


def test_a_task_sent_ahead_gets_its_whole_timeout_from_when_it_starts() -> None:
    core = pipelining_core(timeout=10.0)
    core.on_task(task(1), 1.0)
    core.on_task(task(2), 1.0)
    core.on_result(0, result(1), 8.0)  # task 2 starts now, not when it was sent
    assert core.tick(17.5) == []
    [failure] = reported(core.tick(18.5))
    assert isinstance(failure, m.TaskResult) and failure.task_id == task(2).task_id
    assert failure.status is m.ResultStatus.TIMEOUT


def test_a_scheduler_restart_counts_the_tasks_sent_ahead() -> None:
    core = pipelining_core()
    for number in (1, 2, 3):
        core.on_task(task(number), 1.0)
    dropped, actions = core.on_scheduler_restart()
    assert dropped == 3 and actions == [KillProcessor(0), StartProcessor(1)]


def test_one_long_task_goes_ahead_only_at_the_running_ones_priority() -> None:
    core = pipelining_core(run_seconds=0.5)
    core.on_task(task(1, priority=1), 1.0)
    assert sent(core.on_task(task(2, priority=0), 1.0)) == []  # lower: it would wait behind a long task
    assert sent(core.on_task(task(3, priority=1), 1.0)) == [task(3, priority=1)]
    assert sent(core.on_task(task(4, priority=1), 1.0)) == []  # long: one is enough
    assert core.stack[0].ahead == [task(3, priority=1)] and len(core.queue) == 2


def test_what_goes_ahead_fits_in_a_pipe_the_processor_does_not_read_while_it_runs() -> None:
    def big(number: int) -> m.Task:
        arg = m.TaskArg(m.ArgKind.INLINE, bytes(AHEAD_BYTES // 3))
        return msgspec.structs.replace(task(number), args=(arg,))

    core = pipelining_core()
    core.on_task(task(1), 1.0)
    for number in range(2, 6):
        core.on_task(big(number), 1.0)
    assert core.stack[0].ahead == [big(2), big(3)] and len(core.queue) == 2
    core = pipelining_core()
    core.on_task(task(1), 1.0)
    too_big = msgspec.structs.replace(task(2), args=(m.TaskArg(m.ArgKind.INLINE, bytes(AHEAD_BYTES)),))
    assert sent(core.on_task(too_big, 1.0)) == []

"""ScalerFuture keeps the concurrent.futures.Future contract while building its Condition only on demand."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from scaler.client.future import ScalerFuture


def make() -> ScalerFuture:
    return ScalerFuture(b"t", lambda future: None)


def test_a_pending_or_finished_future_nobody_waited_on_has_no_condition() -> None:
    future = make()
    assert not future.done() and not future.running() and not future.cancelled()
    future._finish(42)
    assert future.result() == 42 and future.exception() is None
    assert future._cond is None  # the ~2 KB Condition the stdlib would have built for every future


def test_result_blocks_until_another_thread_finishes_it() -> None:
    future = make()
    finisher = threading.Timer(0.05, lambda: future._finish("done"))
    finisher.start()
    assert future.result(timeout=30) == "done"
    with pytest.raises(concurrent.futures.TimeoutError):
        make().result(timeout=0.01)


def test_every_thread_blocked_in_result_is_woken_and_one_that_timed_out_is_forgotten() -> None:
    from tests.conftest import wait_until

    future = make()
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(timeout=0.01)
    assert not future._sleepers  # the thread that gave up is no longer among those to wake
    results: list[object] = []
    waiters = [threading.Thread(target=lambda: results.append(future.result(timeout=30))) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    wait_until(lambda: len(future._sleepers or ()) == 3, timeout=30)
    future._finish("done")
    for waiter in waiters:
        waiter.join(30)
    assert results == ["done"] * 3 and future._sleepers is None

    cancelled = make()

    def wait_for_the_cancel() -> None:
        try:
            cancelled.result(timeout=30)
        except concurrent.futures.CancelledError as error:
            results.append(error)

    blocked = threading.Thread(target=wait_for_the_cancel)
    blocked.start()
    wait_until(lambda: bool(cancelled._sleepers), timeout=30)
    cancelled._finish_cancelled()
    blocked.join(30)
    assert isinstance(results[-1], concurrent.futures.CancelledError)


def test_a_thread_that_defers_its_wakes_releases_the_blocked_threads_when_it_says_so() -> None:
    """The client's I/O thread settles futures during a wake-up and releases their waiters just before it sleeps;
    other threads (and this one once it stops deferring) wake them at once."""
    from tests.conftest import wait_until

    from scaler.client.future import defer_wakes, stop_deferring

    futures = [make() for _ in range(3)]
    results: list[object] = []
    waiters = [threading.Thread(target=lambda f=f: results.append(f.result(timeout=30))) for f in futures]
    for waiter in waiters:
        waiter.start()
    wait_until(lambda: all(f._sleepers for f in futures), timeout=30)
    settled = threading.Event()

    def io_thread() -> None:
        release = defer_wakes()
        futures[0]._finish("first")
        waiters[0].join(0.05)
        assert futures[0].done() and waiters[0].is_alive()  # done, not yet woken
        release()
        waiters[0].join(30)
        futures[1]._finish("second")
        stop_deferring(release)  # e.g. the thread's loop ended: what it held is released
        settled.set()

    thread = threading.Thread(target=io_thread)
    thread.start()
    thread.join(30)
    assert settled.is_set()
    futures[2]._finish("third")  # another thread: at once
    for waiter in waiters:
        waiter.join(30)
    assert sorted(map(str, results)) == ["first", "second", "third"]


def test_exception_and_callbacks_in_order_once() -> None:
    future = make()
    seen: list[str] = []
    future.add_done_callback(lambda f: seen.append("first"))
    future.add_done_callback(lambda f: seen.append("second"))
    future._finish(error=ValueError("boom"))
    future._finish("ignored")  # a second outcome never replaces the first
    future.add_done_callback(lambda f: seen.append("late"))  # added after the end: called at once
    assert seen == ["first", "second", "late"]
    with pytest.raises(ValueError, match="boom"):
        future.result()
    assert isinstance(future.exception(), ValueError)
    assert "raised ValueError" in repr(future)


def test_wait_and_as_completed_see_results_and_cancellations() -> None:
    futures = [make() for _ in range(3)]
    threading.Timer(0.05, lambda: futures[0]._finish(1)).start()
    done, pending = concurrent.futures.wait(futures, timeout=30, return_when=concurrent.futures.FIRST_COMPLETED)
    assert done == {futures[0]} and pending == {futures[1], futures[2]}
    threading.Timer(0.05, futures[1]._finish_cancelled).start()
    threading.Timer(0.1, lambda: futures[2]._finish(3)).start()
    assert set(concurrent.futures.as_completed(futures, timeout=30)) == set(futures)
    assert futures[1].cancelled() and futures[2].result() == 3


def test_cancel_asks_the_scheduler_and_waits_for_its_answer() -> None:
    requested: list[ScalerFuture] = []

    def request(future: ScalerFuture) -> None:
        requested.append(future)
        threading.Timer(0.05, future._finish_cancelled).start()  # the scheduler confirms later

    future = ScalerFuture(b"t", request)
    assert future.cancel(timeout=30) is True
    assert requested == [future] and future.cancelled()
    with pytest.raises(concurrent.futures.CancelledError):
        future.result()
    finished = ScalerFuture(b"u", request)
    finished._finish(1)
    assert finished.cancel() is False and requested == [future]


def test_awaitable_from_asyncio() -> None:
    future = make()

    async def main() -> object:
        asyncio.get_running_loop().call_later(0.05, future._finish, "async ok")
        return await future

    assert asyncio.run(main()) == "async ok"

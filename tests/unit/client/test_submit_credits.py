"""The client's submit credits, driven from threads with no scheduler: take, block, wake, time out, fail."""

from __future__ import annotations

import threading

import pytest

from scaler import errors
from scaler.client.flow_control import SubmitCredits
from scaler.protocol import messages as m


def grant(credits: int, limit: int = 5, window: int = 100) -> m.SubmitCredit:
    return m.SubmitCredit(credits, limit, window)


def test_take_spends_what_is_there_without_asking() -> None:
    asked: list[int] = []
    gate = SubmitCredits(asked.append)
    gate.add(grant(3))
    assert gate.take(2, None, lambda: 0) == 2
    assert gate.take(5, None, lambda: 0) == 1
    assert asked == []


def test_a_submit_without_credit_asks_once_and_blocks_until_a_grant() -> None:
    asked: list[int] = []
    gate = SubmitCredits(asked.append)
    taken: list[int] = []
    waiter = threading.Thread(target=lambda: taken.append(gate.take(10, 60.0, lambda: 0)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and taken == []  # blocked: nothing to take
    gate.add(grant(4))
    waiter.join(30)
    assert taken == [4] and asked == [10]


def test_the_wait_times_out_with_an_error_naming_the_bound() -> None:
    gate = SubmitCredits(lambda wanted: None)
    gate.add(grant(1, limit=5, window=100))
    gate.take(1, None, lambda: 0)
    with pytest.raises(errors.SubmitTimeoutError) as raised:
        gate.take(1, 0.05, lambda: 7)
    text = str(raised.value)
    assert "7 unfinished tasks" in text and "max_number_of_tasks_waiting=5" in text
    assert isinstance(raised.value, TimeoutError)


def test_a_failed_client_wakes_every_waiting_submit_with_its_error() -> None:
    gate = SubmitCredits(lambda wanted: None)
    raised: list[BaseException] = []

    def submit() -> None:
        try:
            gate.take(1, 60.0, lambda: 0)
        except BaseException as error:
            raised.append(error)

    waiters = [threading.Thread(target=submit) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    gate.fail(errors.SchedulerUnavailableError("scheduler gone"))
    for waiter in waiters:
        waiter.join(30)
    assert len(raised) == 3 and all(isinstance(e, errors.SchedulerUnavailableError) for e in raised)


def test_credits_put_back_are_taken_again() -> None:
    gate = SubmitCredits(lambda wanted: None)
    gate.add(grant(2))
    assert gate.take(2, None, lambda: 0) == 2
    gate.put_back(1)
    assert gate.take(5, 0.0, lambda: 0) == 1

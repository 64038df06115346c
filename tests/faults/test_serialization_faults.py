"""Things that cannot cross the wire: each fails its own task (or call) with an error naming the cause, and the
client and the cluster go on serving."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from scaler import Client
from scaler.errors import DeserializeError
from scaler.serialization import UnpicklableTaskError


def identity(value: Any) -> Any:
    return value


def return_a_lock() -> Any:
    return threading.Lock()


class LockedError(Exception):
    def __init__(self) -> None:
        super().__init__("this error holds a lock")
        self.lock = threading.Lock()


def raise_locked_error() -> None:
    raise LockedError()


class TwoArgumentError(Exception):
    # Pickles (args holds one value) but cannot be rebuilt: __init__ wants two. The client must say so.
    def __init__(self, first: str, second: str) -> None:
        super().__init__(first)
        self.second = second


def raise_two_argument_error() -> None:
    raise TwoArgumentError("first", "second")


class BreaksOnLoad:
    """Pickles on the client; unpickling it on the worker raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_refuse, ("no way",))


def _refuse(reason: str) -> None:
    raise RuntimeError(f"cannot rebuild: {reason}")


def test_unpicklable_function_fails_at_submit_and_the_client_goes_on(client: Client) -> None:
    lock = threading.Lock()

    def uses_lock() -> bool:
        return lock.locked()

    with pytest.raises(TypeError, match="lock"):
        client.submit(uses_lock)
    assert client.submit(abs, -3).result(timeout=30) == 3


def test_unpicklable_argument_fails_at_submit(client: Client) -> None:
    with pytest.raises(TypeError, match="lock"):
        client.submit(identity, threading.Lock())
    assert client.map(abs, [-1, -2]) == [1, 2]


def test_argument_that_cannot_be_rebuilt_on_the_worker_fails_its_task(client: Client) -> None:
    future = client.submit(identity, BreaksOnLoad())
    with pytest.raises(RuntimeError, match="cannot rebuild: no way"):
        future.result(timeout=30)
    assert client.submit(abs, -4).result(timeout=30) == 4


def test_unpicklable_result_fails_its_task_with_the_pickling_error(client: Client) -> None:
    with pytest.raises(TypeError, match="lock"):
        client.submit(return_a_lock).result(timeout=30)
    assert client.submit(abs, -5).result(timeout=30) == 5


def test_unpicklable_exception_arrives_as_its_type_and_message(client: Client) -> None:
    with pytest.raises(UnpicklableTaskError, match="LockedError: this error holds a lock"):
        client.submit(raise_locked_error).result(timeout=30)


def test_exception_the_client_cannot_rebuild_is_a_deserialize_error(client: Client) -> None:
    with pytest.raises(DeserializeError, match="could not deserialize the error"):
        client.submit(raise_two_argument_error).result(timeout=30)
    assert client.submit(abs, -6).result(timeout=30) == 6

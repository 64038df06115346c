"""The SDK-call pool every adapter shares: failures are logged, throttling backs off and is logged once."""

from __future__ import annotations

import logging
import threading

import pytest

from scaler.worker_manager_adapter.sdk_calls import SdkCallPool, is_throttling


class ClientError(Exception):  # the shape of botocore's
    def __init__(self, code: str) -> None:
        super().__init__(f"An error occurred ({code})")
        self.response = {"Error": {"Code": code}}


class ServiceError(Exception):  # the shape of oci's
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.status = status


def test_throttling_is_recognised_for_both_sdks() -> None:
    assert is_throttling(ClientError("ThrottlingException")) and is_throttling(ClientError("RequestLimitExceeded"))
    assert is_throttling(ServiceError(429))
    assert not is_throttling(ClientError("AccessDenied")) and not is_throttling(ServiceError(404))
    assert not is_throttling(ValueError("x"))


def test_a_failing_call_is_logged_not_lost(caplog: pytest.LogCaptureFixture) -> None:
    pool = SdkCallPool("test-sdk", logging.getLogger("scaler.test_sdk"), threads=1)

    def describe_tasks() -> None:
        raise ClientError("AccessDenied")

    with caplog.at_level("WARNING", logger="scaler.test_sdk"):
        pool.spawn(describe_tasks)
        pool.shutdown(wait=True)
    assert "test-sdk: describe_tasks failed: An error occurred (AccessDenied)" in caplog.text


def test_throttling_backs_off_doubling_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    slept: list[float] = []
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            slept.append(round(seconds, 3))
            now[0] += seconds

    pool = SdkCallPool("test-sdk", logging.getLogger("scaler.test_sdk"), threads=1, clock=lambda: now[0], sleep=sleep)
    answers = [ClientError("Throttling"), ClientError("Throttling"), None, None]

    def run_task() -> None:
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    with caplog.at_level("INFO", logger="scaler.test_sdk"):
        for _ in range(4):
            pool.spawn(run_task)
        pool.shutdown(wait=True)
    assert slept == [1.0, 2.0]  # the second call waited 1 s, the third 2 s; the fourth none (accepted again)
    assert caplog.text.count("throttled by the service") == 1
    assert "the service accepts calls again" in caplog.text

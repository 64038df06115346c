"""What a listener on the network sees between a client and the scheduler: with credentials, nothing readable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scaler import Client, SchedulerClusterCombo
from scaler.io.address import Address
from tests.security.capturing_proxy import CapturingProxy
from tests.security.conftest import make_keys

ARGUMENT = b"ARGUMENT-BYTES-9d2e51" * 4


@contextmanager
def proxied(combo: SchedulerClusterCombo) -> Iterator[CapturingProxy]:
    scheduler = Address.parse(combo.get_address())
    proxy = CapturingProxy(scheduler.host, scheduler.port)
    try:
        yield proxy
    finally:
        proxy.close()


def distinctive_function_name_4f1c(data: bytes) -> bytes:
    return data[::-1]


@pytest.mark.parametrize("secure", [False, True])
def test_function_names_and_arguments_never_travel_in_clear(secure: bool, tmp_path: Path) -> None:
    make_keys(tmp_path, {"alice": "client"})
    credentials = tmp_path / "scheduler.toml" if secure else None
    with SchedulerClusterCombo(n_workers=1, secure=secure, credentials=credentials, logging_level="WARNING") as combo:
        with proxied(combo) as proxy:
            client_credentials = tmp_path / "alice.toml" if secure else None
            with Client(proxy.address, credentials=client_credentials) as client:
                # A local copy travels by value (workers cannot import tests/), name and all.
                function = _by_value(distinctive_function_name_4f1c)
                assert client.submit(function, ARGUMENT).result(timeout=60) == ARGUMENT[::-1]
            captured = proxy.captured()
    assert len(captured) > 200  # the proxy did carry the conversation
    seen = b"distinctive_function_name_4f1c" in captured, ARGUMENT in captured, ARGUMENT[::-1] in captured
    # The control (no credentials) shows the listener would see them; with credentials it sees none.
    assert seen == ((False, False, False) if secure else (True, True, True))


def _by_value(function: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def distinctive_function_name_4f1c(data: bytes) -> bytes:
        return data[::-1]

    return distinctive_function_name_4f1c

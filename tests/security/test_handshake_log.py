"""Connections refused before ZAP (no keys at all) are logged as a summary, never one line per attempt."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import zmq

from scaler.io.sockets import connect_dealer, secure_server
from scaler.security.credentials import new_server_credentials
from scaler.security.handshake_log import HandshakeFailureLog
from scaler.security.keyring import stop_authentication


class _ManualLoop:
    def __init__(self) -> None:
        self.readers: list[Any] = []

    def add_reader(self, source: Any, callback: Any) -> None:
        self.readers.append((source, callback))

    def call_every(self, interval: float, callback: Any, first_delay: float | None = None) -> None:
        pass


def test_keyless_peers_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    context: zmq.Context[Any] = zmq.Context()
    socket = context.socket(zmq.ROUTER)
    secure_server(socket, context, new_server_credentials())
    port = socket.bind_to_random_port("tcp://127.0.0.1")
    loop = _ManualLoop()
    refusals = HandshakeFailureLog(socket, loop, "the scheduler")  # type: ignore[arg-type]
    monitor, on_event = loop.readers[0]
    peers = [connect_dealer(context, f"tcp://127.0.0.1:{port}", f"p{i}".encode(), None) for i in range(3)]
    try:
        with caplog.at_level(logging.WARNING, logger="scaler.security"):
            deadline = time.monotonic() + 30
            while not caplog.records and time.monotonic() < deadline:
                if monitor.poll(100):
                    on_event()
            assert caplog.records, "the first refusal is logged at once"
            refusals.flush()
        lines = [record.getMessage() for record in caplog.records]
        assert lines and all("without credentials" in line for line in lines)
        assert len(lines) <= 2  # a summary (the first attempt, then the rest), not one line per attempt
    finally:
        refusals.close()
        for peer in peers:
            peer.close(linger=0)
        socket.close(linger=0)
        stop_authentication(context)
        context.term()

"""The secured scheduler's router loop, driven in this process: what an authenticated peer's bad input costs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import zmq

from scaler.io.address import free_tcp_port
from scaler.io.sockets import connect_dealer
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.scheduler.server import SchedulerOptions, SchedulerServer
from scaler.security.credentials import Identity, PeerCredentials, new_peer_credentials, new_server_credentials
from tests.conftest import wait_until


@pytest.fixture
def server_and_peers() -> Iterator[tuple[SchedulerServer, dict[str, PeerCredentials]]]:
    server_keys = new_server_credentials()
    peers = {role: new_peer_credentials(server_keys, role, role) for role in ("client", "worker")}
    authorized = {peer.public_key: Identity(peer.name, peer.role) for peer in peers.values()}
    server_keys = replace(server_keys, authorized=authorized)
    address, storage = f"tcp://127.0.0.1:{free_tcp_port()}", f"tcp://127.0.0.1:{free_tcp_port()}"
    server = SchedulerServer(SchedulerOptions(address, object_storage_address=storage, credentials=server_keys))
    try:
        yield server, peers
    finally:
        server.close()


def _drain_until(server: SchedulerServer, done: Any, timeout: float = 30.0) -> None:
    """Run the router's handler (the loop itself is not started) until ``done()``."""

    def step() -> bool:
        if server._router.poll(10):
            server._on_router()
        return bool(done())

    wait_until(step, timeout=timeout, interval=0)


def test_garbage_from_an_authenticated_peer_is_logged_at_a_bounded_rate(
    server_and_peers: tuple[SchedulerServer, dict[str, PeerCredentials]], caplog: pytest.LogCaptureFixture
) -> None:
    server, peers = server_and_peers
    context: zmq.Context[Any] = zmq.Context()
    try:
        peer = connect_dealer(context, server.address, b"Client|noisy", peers["client"])
        for _ in range(50):
            peer.send(b"\xff not a message")
        peer.send(codec.encode_one(m.ClientHeartbeat(m.PROTOCOL_VERSION, b"Client|noisy", 0.0, 0)))
        with caplog.at_level(logging.WARNING, logger="scaler.scheduler"):
            _drain_until(server, lambda: b"Client|noisy" in server.core.clients)
        drops = [r for r in caplog.records if "dropping message" in r.getMessage()]
        assert 1 <= len(drops) <= 10, f"{len(drops)} lines for 50 bad frames"
    finally:
        context.destroy(linger=0)

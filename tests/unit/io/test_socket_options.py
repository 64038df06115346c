"""The options every connecting socket gets (scaler.io.sockets)."""

from __future__ import annotations

import os
from typing import Any

import zmq

from scaler.io.sockets import new_dealer


def test_a_refused_connection_is_retried_within_a_tenth_of_a_second_not_a_backed_off_second() -> None:
    # Peers that start together (a combo) connect before their scheduler listens. With zmq's back-off up to 1 s a
    # client connected up to twice the scheduler's start-up time late (a combo's first result took 2.3 s, not 0.8).
    context: zmq.Context[Any] = zmq.Context()
    socket = new_dealer(context, "tcp://127.0.0.1:1", b"probe", None)
    try:
        assert socket.getsockopt(zmq.RECONNECT_IVL) <= 100
        assert 0 < socket.getsockopt(zmq.RECONNECT_IVL_MAX) <= 100
    finally:
        socket.close(linger=0)
        context.term()


def test_a_connecting_socket_does_not_load_the_server_side_authentication() -> None:
    # zmq.auth (and asyncio under it) cost a processor, a worker agent and a client ~25 ms of start-up each.
    import subprocess
    import sys

    code = "import sys, scaler.io.sockets, scaler.worker.processor; print('zmq.auth.thread' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_the_monitor_socket_knows_whether_anyone_subscribes() -> None:
    # The scheduler builds a status (about 10 us per task event) only for a stream someone reads.
    import time

    from scaler.io.sockets import MonitorSubscriptions, bind_publisher

    context: zmq.Context[Any] = zmq.Context()
    publisher = bind_publisher(context, "tcp://127.0.0.1:*")
    subscriptions = MonitorSubscriptions(publisher)
    address = publisher.getsockopt(zmq.LAST_ENDPOINT).decode()
    subscribers = [context.socket(zmq.SUB) for _ in range(2)]

    def settle(expected: bool) -> None:
        deadline = time.monotonic() + 30
        while subscriptions.anyone != expected:
            assert time.monotonic() < deadline, f"subscribed should be {expected}"
            publisher.poll(100)
            subscriptions.on_readable()

    try:
        assert not subscriptions.anyone
        for subscriber in subscribers:
            subscriber.connect(address)
            subscriber.setsockopt(zmq.SUBSCRIBE, b"")
        settle(True)
        subscribers[0].close(linger=0)  # one of two leaves: someone still reads
        deadline = time.monotonic() + 30
        while not subscribers[1].poll(100):  # until its subscription has reached the publisher (a slow joiner)
            assert time.monotonic() < deadline, "the second subscriber never received a status"
            publisher.send(b"status")
        assert subscribers[1].recv() == b"status"
        publisher.poll(200)  # whatever the first one's leaving told the publisher, read it
        subscriptions.on_readable()
        assert subscriptions.anyone
        subscribers[1].close(linger=0)  # the last one leaves (disconnecting unsubscribes)
        settle(False)
    finally:
        for subscriber in subscribers:
            subscriber.close(linger=0)
        publisher.close(linger=0)
        context.term()


def test_a_router_reads_identity_and_payload_and_counts_the_frames_beyond() -> None:
    from tests.conftest import wait_until

    from scaler.io.sockets import receive_routed, send_routed

    context: zmq.Context[Any] = zmq.Context()
    router = context.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer = new_dealer(context, f"tcp://127.0.0.1:{port}", b"peer", None)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    try:
        dealer.send(b"one")
        dealer.send_multipart([b"a", b"b", b"c"])
        dealer.send(b"two")
        received: list[tuple[Any, Any, int]] = []

        def three_read() -> bool:
            try:
                received.append(receive_routed(router, frame=False))
            except zmq.Again:
                pass
            return len(received) == 3

        wait_until(three_read, timeout=30)
        assert received == [(b"peer", b"one", 0), (b"peer", b"a", 2), (b"peer", b"two", 0)]
        send_routed(router, b"peer", b"back")
        send_routed(router, b"nobody", b"dropped")  # an unknown peer: dropped, never blocks
        assert dealer.poll(30_000) and dealer.recv() == b"back"
    finally:
        dealer.close(linger=0)
        router.close(linger=0)
        context.term()


def test_a_pidfd_becomes_readable_when_its_process_exits() -> None:
    import select
    import subprocess
    import sys

    from scaler.io.lifetime import exit_descriptor

    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    fd = exit_descriptor(child.pid)
    assert fd is not None  # Linux 5.3 or later: what this project's CI runs on
    try:
        assert select.select([fd], [], [], 0)[0] == []
        assert child.stdin is not None
        child.stdin.close()  # it exits
        assert select.select([fd], [], [], 30)[0] == [fd]
        assert child.wait(30) == 0
    finally:
        os.close(fd)
        child.kill()
        child.wait()

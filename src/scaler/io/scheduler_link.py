"""One connection to the scheduler, shared by every kind of peer (worker agent, client, manager, job proxy).

A thin shell over ``SchedulerLinkCore``: it owns the DEALER socket and a zmq socket monitor, feeds the core
what they see, sends the heartbeats the core asks for, and hands every other message to the peer. The
peer learns of the connection's life through ``on_event``: ``Connected``, ``Restarted`` (the scheduler is a
new process: resend what it forgot) and ``Closed`` (dead, refused, or not a scheduler at all: stop).

The socket monitor is what lets a peer name the wrong kind of peer: a DEALER that reaches a PUB socket
(a scheduler's monitor address) connects at the TCP level and is then closed during the ZMTP handshake,
which the monitor reports as a disconnect without a completed handshake.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import zmq

from scaler.io.address import Address
from scaler.io.loop import Loop
from scaler.io.monitor_events import receive_monitor_event
from scaler.io.scheduler_link_core import (
    CheckGreeting,
    Closed,
    Connected,
    LinkEvent,
    Restarted,
    SchedulerLinkCore,
    SendHeartbeat,
    SendProbe,
    Warn,
)
from scaler.io.sockets import has_input, new_dealer, secured
from scaler.protocol import codec
from scaler.protocol import messages as m
from scaler.security.local import FROM_ENVIRONMENT

logger = logging.getLogger("scaler.io")

PROBE_REQUEST_ID = 0x5C  # any non-zero id: object storage answers ObjectStats with it
TICK_SECONDS = 0.25  # how often the core's clock is advanced: the precision of timeouts and warnings
_MONITORED = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
_ECHOES = (m.ClientHeartbeatEcho, m.WorkerHeartbeatEcho, m.WorkerManagerHeartbeatEcho)


class SchedulerLink:
    def __init__(
        self,
        context: zmq.Context[Any],
        loop: Loop,
        address: str,
        identity: bytes,
        *,
        heartbeat_interval: float,
        death_timeout: float,
        heartbeat: Callable[[], Any] | None,
        on_message: Callable[[Any], None],
        on_event: Callable[[LinkEvent], None],
        waiting_warning_seconds: float = 3.0,
        credentials: Any = FROM_ENVIRONMENT,
    ) -> None:
        """``heartbeat`` builds the peer's heartbeat message (None: this peer sends none and expects no echo)."""
        self.address = address
        self.core = SchedulerLinkCore(
            address,
            time.monotonic(),
            heartbeat_interval if heartbeat is not None else 0.0,
            death_timeout,
            waiting_warning_seconds,
        )
        self.socket = new_dealer(context, address, identity, credentials)
        self._secured = secured(credentials, address)
        self._monitor = self.socket.get_monitor_socket(_MONITORED)
        self.socket.connect(address)
        self._heartbeat = heartbeat
        self._on_message = on_message
        self._on_event = on_event
        self._outbox: list[Any] = []
        self._unsent: deque[bytes] = deque()  # batches zmq could not take yet (no live connection to queue them on)
        self._awaiting_handshake = False
        loop.add_reader(self.socket, self._on_readable)
        loop.add_reader(self._monitor, self._on_monitor)
        loop.call_every(min(TICK_SECONDS, heartbeat_interval), self.tick, first_delay=0)
        loop.after_each_wake(self.flush)

    # --- sending -----------------------------------------------------------------------------------------------

    def send(self, message: Any) -> None:
        """Queue a message; everything queued in one wake-up of the loop leaves as one batch."""
        self._outbox.append(message)

    def flush(self) -> None:
        if self._outbox:
            outbox, self._outbox = self._outbox, []
            self._unsent.append(codec.encode(outbox))
        while self._unsent:
            # Never block: a DEALER with no live connection (the peer refused the handshake, or the connection
            # was just lost) blocks send(), which would freeze this loop and every deadline it keeps.
            if not self._send_now(self._unsent[0]):
                return
            self._unsent.popleft()

    def _send_now(self, frame: bytes) -> bool:
        try:
            self.socket.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def close(self, linger_ms: int) -> None:
        self.flush()
        self.socket.disable_monitor()
        self._monitor.close(linger=0)
        self.socket.close(linger=linger_ms)

    # --- receiving ---------------------------------------------------------------------------------------------

    def tick(self) -> None:
        self._act(self.core.tick(time.monotonic()))

    def _on_readable(self) -> None:
        dealer = self.socket
        for count in range(2000):
            if count and not has_input(dealer):
                return
            try:
                frame = dealer.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                messages = codec.decode(frame.buffer)
            except codec.DecodeError as error:
                logger.warning("dropping message from the scheduler at %s: %s", self.address, error)
                continue
            self._on_batch(messages)

    def _on_batch(self, messages: list[Any]) -> None:
        now = time.monotonic()
        if messages and not isinstance(messages[0], _ECHOES):  # an echo says more (on_echo below)
            self._act(self.core.on_message(now))  # once per batch: any message proves the scheduler is alive
        for message in messages:
            if isinstance(message, m.ObjectStatsReply):
                self._act(self.core.on_storage_reply())
                continue
            if isinstance(message, m.ProtocolMismatch):
                self._act(self.core.on_refused(message.message))
                continue
            if isinstance(message, m.WorkerManagerHeartbeatEcho) and not message.accepted:
                self._act(self.core.on_refused(message.message))
                continue
            if isinstance(message, _ECHOES):
                instance = getattr(message, "scheduler_instance", b"")
                self._act(self.core.on_echo(instance, now))
            self._on_message(message)

    def _on_monitor(self) -> None:
        for _ in range(100):
            try:
                event, value = receive_monitor_event(self._monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            except (zmq.ZMQError, ValueError):  # the monitor was closed
                return
            refused = False
            if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH or (
                event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
            ):
                self._act(self.core.on_authentication_failed(self._secured))
                continue
            if event == zmq.EVENT_CONNECTED:
                self._awaiting_handshake = True
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._awaiting_handshake = False
            elif event == zmq.EVENT_DISCONNECTED:
                refused, self._awaiting_handshake = self._awaiting_handshake, False
            else:  # a handshake failure
                refused = True
            self.core.on_transport(
                tcp_connected=event == zmq.EVENT_CONNECTED,
                handshake_ok=event == zmq.EVENT_HANDSHAKE_SUCCEEDED,
                handshake_refused=refused,
            )

    # --- acting on the core's decisions ------------------------------------------------------------------------

    def _act(self, events: list[LinkEvent]) -> None:
        for event in events:
            if isinstance(event, SendHeartbeat):
                assert self._heartbeat is not None
                self.flush()  # what is queued first; then the heartbeat, now (not at the loop's next wake-up)
                self._send_now(codec.encode_one(self._heartbeat()))  # one that cannot leave is simply skipped
            elif isinstance(event, SendProbe):
                self._send_now(codec.encode_one(m.ObjectStats(PROBE_REQUEST_ID)))
            elif isinstance(event, CheckGreeting):
                self.core.on_greeting(speaks_zeromq(self.address))
            elif isinstance(event, Warn):
                logger.warning("%s", event.text)
            else:
                if isinstance(event, Connected):
                    logger.info("connected to the scheduler at %s", self.address)
                elif isinstance(event, Restarted):
                    logger.warning("the scheduler at %s restarted (a new instance answers)", self.address)
                elif isinstance(event, Closed):
                    logger.error("%s", event.text)
                self._on_event(event)


_ZMTP_SIGNATURE_START, _ZMTP_SIGNATURE_END = 0xFF, 0x7F  # bytes 0 and 9 of every ZeroMQ (ZMTP 3) greeting
GREETING_TIMEOUT_SECONDS = 0.5


def speaks_zeromq(address: str, timeout: float = GREETING_TIMEOUT_SECONDS) -> bool:
    """Whether the peer at ``address`` sends a ZeroMQ greeting on a plain TCP connection (a ZeroMQ socket sends its
    signature as soon as it accepts); False when it closes, resets or stays silent. Addresses other than tcp:// are
    taken to be ZeroMQ (nothing forwards them)."""
    try:
        parsed = Address.parse(address)
    except ValueError:
        return True
    if parsed.scheme != "tcp":
        return True
    try:
        with socket.create_connection((parsed.host, parsed.port), timeout=timeout) as connection:
            connection.sendall(bytes([_ZMTP_SIGNATURE_START]) + bytes(8) + bytes([_ZMTP_SIGNATURE_END]))
            received = b""
            while len(received) < 10:
                chunk = connection.recv(10 - len(received))
                if not chunk:
                    break
                received += chunk
    except OSError:
        return False
    return len(received) == 10 and received[0] == _ZMTP_SIGNATURE_START and received[9] == _ZMTP_SIGNATURE_END

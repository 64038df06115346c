"""What every peer's connection to the scheduler decides, with no sockets and no clock (sans-I/O).

Worker agents, clients, worker managers and job proxies all hold one DEALER to the scheduler and need the
same things from it: a heartbeat on a schedule, a deadline after which a silent scheduler counts as gone,
a clear word when nobody (or the wrong kind of peer) answers at the address, and notice when the scheduler
at the other end is a *new* one (it restarted and forgot everything this peer told it).

The shell (``scheduler_link.py``) feeds this core what it sees (a decoded message arrived, an echo named
this scheduler instance, the transport connected or was refused at the handshake) and calls ``tick(now)``;
each call returns the events the shell must act on. Tests drive it with a fake clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

WRONG_PEER_GRACE_SECONDS = 1.0  # after a ZeroMQ greeting, how long a handshake may still succeed (see _on_silence)


class CloseReason(enum.Enum):
    DEAD = "dead"  # the scheduler was silent for the death timeout
    REFUSED = "refused"  # the scheduler answered but refused this peer (protocol version, duplicate id)
    WRONG_PEER = "wrong peer"  # something answers at the address, and it is not a scheduler
    UNAUTHORIZED = "unauthorized"  # the scheduler refused this peer's credentials (or their absence)


@dataclass(frozen=True)
class SendHeartbeat:
    pass


@dataclass(frozen=True)
class SendProbe:
    """Ask the peer what it is: object storage answers an ObjectStats request, a scheduler does not."""


@dataclass(frozen=True)
class CheckGreeting:
    """Find out whether the peer that closes every handshake speaks ZeroMQ at all (answer with ``on_greeting``).

    Both a ZeroMQ socket of another kind (a scheduler's monitor PUB socket) and a TCP forwarder whose scheduler is
    not listening yet (an SSH tunnel, a port-forward, a proxy started first) accept the connection and close it
    before the handshake completes; only the first one sends a ZeroMQ greeting on a plain TCP connection.
    """


@dataclass(frozen=True)
class Warn:
    text: str


@dataclass(frozen=True)
class Connected:
    instance: bytes


@dataclass(frozen=True)
class Restarted:
    """The echo names another scheduler instance than before: whatever this peer sent the old one is gone."""

    previous: bytes
    instance: bytes


@dataclass(frozen=True)
class Closed:
    reason: CloseReason
    text: str


LinkEvent = SendHeartbeat | SendProbe | CheckGreeting | Warn | Connected | Restarted | Closed


class SchedulerLinkCore:
    """``heartbeat_interval`` 0 sends no heartbeats (and so expects no echo); ``death_timeout`` 0 never gives up."""

    def __init__(
        self,
        address: str,
        now: float,
        heartbeat_interval: float,
        death_timeout: float,
        waiting_warning_seconds: float = 3.0,
    ) -> None:
        self.address = address
        self.heartbeat_interval = heartbeat_interval
        self.death_timeout = death_timeout
        self.waiting_warning_seconds = waiting_warning_seconds
        self.instance: bytes | None = None  # the scheduler instance of the latest echo; None before the first
        self.closed: Closed | None = None
        self._last_heard = now  # the start counts as "heard": the death timeout runs from there
        self._next_heartbeat = now
        self._warned_silence = False
        self._tcp_connected = False
        self._handshake_ok = False
        self._handshake_refusals = 0
        self._probed = False
        self._greeting: bool | None = None  # does the peer that closes every handshake speak ZeroMQ? (None: unknown)
        self._greeting_asked = False
        self._greeting_checked_at = 0.0

    @property
    def connected(self) -> bool:
        return self.instance is not None and self.closed is None

    # --- what the shell saw ------------------------------------------------------------------------------------

    def on_message(self, now: float) -> list[LinkEvent]:
        """Any message from the scheduler proves it is alive."""
        self._last_heard = now
        if self._warned_silence:
            self._warned_silence = False
            if self.instance is not None:
                return [Warn(f"the scheduler at {self.address} answers again")]
        return []

    def on_echo(self, instance: bytes, now: float) -> list[LinkEvent]:
        events = self.on_message(now)
        if self.closed is not None:
            return events
        previous, self.instance = self.instance, instance
        if previous is None:
            events.append(Connected(instance))
        elif previous != instance:
            events = [Restarted(previous, instance)]  # says more than "answers again"
        return events

    def on_refused(self, text: str) -> list[LinkEvent]:
        """The scheduler answered with a refusal (protocol mismatch, an id already in use)."""
        return self._close(CloseReason.REFUSED, text)

    def on_authentication_failed(self, with_credentials: bool) -> list[LinkEvent]:
        """The security handshake failed: the scheduler refused this peer's key, or one side has none."""
        if with_credentials:
            text = (
                f"the scheduler at {self.address} refused this peer's credentials (unknown or revoked key, or a "
                "scheduler without credentials)"
            )
        else:
            text = (
                f"the scheduler at {self.address} requires credentials: pass credentials=FILE (--credentials, "
                "or set SCALER_CREDENTIALS)"
            )
        return self._close(CloseReason.UNAUTHORIZED, text)

    def on_storage_reply(self) -> list[LinkEvent]:
        """An answer to the probe: an object storage server, not a scheduler, listens at the address."""
        return self._close(
            CloseReason.WRONG_PEER,
            f"{self.address} is an object storage server, not a scheduler "
            "(the scheduler usually listens one port below its object storage)",
        )

    def on_greeting(self, zeromq: bool) -> None:
        """The answer to ``CheckGreeting``: whether a plain connection to the address got a ZeroMQ greeting."""
        self._greeting = zeromq

    def on_transport(self, tcp_connected: bool, handshake_ok: bool, handshake_refused: bool) -> None:
        """Transport events: a TCP connection, a completed ZMTP handshake, or a connection closed before one."""
        self._tcp_connected |= tcp_connected
        self._handshake_ok |= handshake_ok
        self._handshake_refusals += int(handshake_refused)

    # --- time --------------------------------------------------------------------------------------------------

    def tick(self, now: float) -> list[LinkEvent]:
        if self.closed is not None:
            return []
        silent = now - self._last_heard
        if self.death_timeout > 0 and silent >= self.death_timeout:
            if self.instance is None:
                text = f"no scheduler answered at {self.address} within {self.death_timeout:g}s"
                hint = self._what_is_there()
                return self._close(CloseReason.DEAD, f"{text} ({hint})" if hint else text)
            return self._close(
                CloseReason.DEAD, f"no answer from the scheduler at {self.address} for {self.death_timeout:g}s"
            )
        events: list[LinkEvent] = []
        if self.heartbeat_interval > 0 and now >= self._next_heartbeat:
            self._next_heartbeat += self.heartbeat_interval
            if self._next_heartbeat <= now:  # a late tick (a busy loop): resume the rhythm from now, no burst
                self._next_heartbeat = now + self.heartbeat_interval
            events.append(SendHeartbeat())
        # Once connected, a silence is worth a warning only past a few missed echoes (a busy scheduler is not news).
        warn_after = self.waiting_warning_seconds
        if self.instance is not None:
            warn_after = max(warn_after, 3 * self.heartbeat_interval)
        if silent >= warn_after and self.heartbeat_interval > 0:
            events.extend(self._on_silence(silent, now))
        return events

    def _on_silence(self, silent: float, now: float) -> list[LinkEvent]:
        if self.instance is None:
            if self._handshake_refusals and not self._handshake_ok:
                if not self._greeting_asked:
                    self._greeting_asked = True
                    self._greeting_checked_at = now
                    return [CheckGreeting()]
                if self._greeting:
                    # A ZeroMQ peer. A forwarder whose scheduler came up just before the check would also greet: then
                    # this peer's own next connection completes its handshake within the grace, and nothing closes.
                    if now - self._greeting_checked_at < WRONG_PEER_GRACE_SECONDS:
                        return []
                    return self._close(
                        CloseReason.WRONG_PEER,
                        f"{self.address} is not a scheduler: the peer there closes every ZeroMQ connection at the "
                        "handshake, as a publisher does (is it a scheduler's monitor address, the one scaler_top "
                        "reads?)",
                    )
            if self._handshake_ok and not self._probed:
                self._probed = True
                return [SendProbe()]
        if self._warned_silence:
            return []
        self._warned_silence = True
        limit = f"; giving up after {self.death_timeout:g}s" if self.death_timeout > 0 else ""
        if self.instance is None:
            hint = self._what_is_there()
            return [Warn(f"waiting for a scheduler at {self.address} ({hint}){limit}")]
        return [Warn(f"no answer from the scheduler at {self.address} for {silent:.0f}s, waiting for it{limit}")]

    def _what_is_there(self) -> str:
        if self._greeting is False and self._handshake_refusals and not self._handshake_ok:
            return (
                "something accepts TCP connections there and closes them before any ZeroMQ handshake: a tunnel or "
                "proxy whose scheduler is not listening yet?"
            )
        if self._handshake_ok:
            return "a ZeroMQ peer accepted the connection but does not answer as a scheduler"
        if self._tcp_connected:
            return "something accepts TCP connections there but does not speak ZeroMQ"
        return "nothing accepts connections there yet"

    def _close(self, reason: CloseReason, text: str) -> list[LinkEvent]:
        if self.closed is not None:
            return []
        self.closed = Closed(reason, text)
        return [self.closed]

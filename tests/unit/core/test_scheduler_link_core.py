"""The scheduler connection's decisions, driven with a fake clock and no sockets."""

from __future__ import annotations

from scaler.io.scheduler_link_core import (
    CheckGreeting,
    Closed,
    CloseReason,
    Connected,
    LinkEvent,
    Restarted,
    SchedulerLinkCore,
    SendHeartbeat,
    SendProbe,
    Warn,
)

ADDRESS = "tcp://127.0.0.1:1234"


def make(heartbeat: float = 1.0, death: float = 10.0, warn_after: float = 3.0) -> SchedulerLinkCore:
    return SchedulerLinkCore(ADDRESS, 0.0, heartbeat, death, warn_after)


def kinds(events: list[LinkEvent]) -> list[type]:
    return [type(event) for event in events]


def run_until(core: SchedulerLinkCore, end: float, step: float = 0.25) -> list[LinkEvent]:
    events: list[LinkEvent] = []
    now = 0.0
    while now <= end:
        events.extend(core.tick(now))
        now += step
    return events


def test_heartbeats_follow_the_interval_from_the_first_tick() -> None:
    core = make(heartbeat=1.0)
    beats = [now for now in (0.0, 0.5, 1.0, 1.5, 2.0, 2.9, 3.0) if SendHeartbeat() in core.tick(now)]
    assert beats == [0.0, 1.0, 2.0, 3.0]


def test_a_late_tick_sends_one_heartbeat_not_a_burst() -> None:
    core = make(heartbeat=1.0)
    core.tick(0.0)
    core.on_echo(b"A", 0.0)
    assert kinds(core.tick(5.5)).count(SendHeartbeat) == 1
    assert SendHeartbeat() not in core.tick(6.0)
    assert SendHeartbeat() in core.tick(6.5)


def test_first_echo_connects_and_the_same_instance_again_changes_nothing() -> None:
    core = make()
    assert core.on_echo(b"A", 0.1) == [Connected(b"A")]
    assert core.connected
    assert core.on_echo(b"A", 1.1) == []


def test_an_echo_from_another_instance_reports_a_restart() -> None:
    core = make()
    core.on_echo(b"A", 0.1)
    assert core.on_echo(b"B", 2.0) == [Restarted(b"A", b"B")]
    assert core.instance == b"B"


def test_nobody_there_warns_once_after_a_few_seconds_then_gives_up_at_the_death_timeout() -> None:
    core = make(death=10.0, warn_after=3.0)
    events = run_until(core, 9.9)
    warnings = [event for event in events if isinstance(event, Warn)]
    assert len(warnings) == 1
    assert f"waiting for a scheduler at {ADDRESS}" in warnings[0].text
    assert "nothing accepts connections" in warnings[0].text
    closed = core.tick(10.0)
    assert len(closed) == 1 and isinstance(closed[0], Closed)
    assert closed[0].reason is CloseReason.DEAD
    assert "within 10s" in closed[0].text
    assert core.tick(11.0) == []  # closed once, silent afterwards


def test_no_warning_when_the_scheduler_answers_in_time() -> None:
    core = make(warn_after=3.0)
    core.tick(0.0)
    core.on_echo(b"A", 0.2)
    events = []
    for step in range(1, 40):
        now = step * 0.25
        events.extend(core.tick(now))
        if step % 4 == 0:
            core.on_echo(b"A", now)
    assert not [event for event in events if not isinstance(event, SendHeartbeat)]


def test_any_message_keeps_the_link_alive() -> None:
    core = make(death=5.0)
    core.on_echo(b"A", 0.0)
    for now in (2.0, 4.0, 6.0, 8.0):
        core.on_message(now)
        assert not [event for event in core.tick(now + 0.5) if isinstance(event, Closed)]


def test_a_silent_scheduler_is_dead_after_the_timeout_counted_from_its_last_message() -> None:
    core = make(death=5.0, warn_after=3.0)
    core.on_echo(b"A", 1.0)
    events = core.tick(4.0)
    assert next(event for event in events if isinstance(event, Warn)).text.startswith(
        f"no answer from the scheduler at {ADDRESS} for 3s"
    )
    assert not [event for event in core.tick(5.9) if isinstance(event, Closed)]
    closed = [event for event in core.tick(6.0) if isinstance(event, Closed)]
    assert closed and closed[0].reason is CloseReason.DEAD


def test_a_scheduler_that_answers_again_is_announced() -> None:
    core = make(death=50.0, warn_after=3.0)
    core.on_echo(b"A", 0.0)
    core.tick(4.0)
    events = core.on_echo(b"A", 5.0)
    assert [event.text for event in events if isinstance(event, Warn)] == [f"the scheduler at {ADDRESS} answers again"]


def test_zero_death_timeout_never_gives_up() -> None:
    core = make(death=0.0)
    assert not [event for event in run_until(core, 1000.0, 5.0) if isinstance(event, Closed)]


def test_refusal_closes_with_the_schedulers_words() -> None:
    core = make()
    assert core.on_refused("protocol version 1 expected") == [
        Closed(CloseReason.REFUSED, "protocol version 1 expected")
    ]
    assert core.tick(1.0) == []


def _refused_handshake(core: SchedulerLinkCore) -> None:
    core.on_transport(tcp_connected=True, handshake_ok=False, handshake_refused=False)
    core.on_transport(tcp_connected=False, handshake_ok=False, handshake_refused=True)


def test_a_zeromq_peer_that_closes_every_handshake_is_named_as_not_a_scheduler() -> None:
    core = make(warn_after=3.0)
    core.tick(0.0)
    _refused_handshake(core)
    assert not [event for event in core.tick(2.0) if isinstance(event, Closed)]  # give a scheduler its chance
    assert CheckGreeting() in core.tick(3.0)
    core.on_greeting(True)  # it speaks ZeroMQ
    assert core.tick(3.5) == []  # a forwarder's scheduler that just came up would complete a handshake by now
    closed = [event for event in core.tick(4.0) if isinstance(event, Closed)]
    assert closed and closed[0].reason is CloseReason.WRONG_PEER
    assert "monitor" in closed[0].text


def test_a_zeromq_greeting_from_a_forwarder_whose_scheduler_just_came_up_is_not_taken_for_a_wrong_peer() -> None:
    core = make(warn_after=3.0)
    core.tick(0.0)
    _refused_handshake(core)
    assert CheckGreeting() in core.tick(3.0)
    core.on_greeting(True)  # the scheduler behind the forwarder answered the check
    core.on_transport(tcp_connected=True, handshake_ok=True, handshake_refused=False)  # and this peer's next try
    assert not [event for event in run_until(core, 8.0) if isinstance(event, Closed)]


def test_a_forwarder_whose_scheduler_is_not_up_yet_is_waited_for_not_named_a_wrong_peer() -> None:
    # An SSH tunnel or proxy accepts the connection and closes it until its scheduler listens; before, the link
    # called that "not a scheduler" after 3 s and gave up (a client started next to a slowly starting scheduler).
    core = make(death=10.0, warn_after=3.0)
    core.tick(0.0)
    _refused_handshake(core)
    assert CheckGreeting() in core.tick(3.0)
    core.on_greeting(False)  # closed without a ZeroMQ greeting
    events = core.tick(3.1)
    _refused_handshake(core)
    events += core.tick(5.0)
    assert not [event for event in events if isinstance(event, Closed)]
    assert [event for event in events if isinstance(event, Warn) and "tunnel or proxy" in event.text]
    core.on_transport(tcp_connected=True, handshake_ok=True, handshake_refused=False)  # the scheduler came up
    assert [event for event in core.on_echo(b"instance", 6.0) if isinstance(event, Connected)]


def test_a_forwarder_that_never_reaches_a_scheduler_is_described_at_the_timeout() -> None:
    core = make(death=6.0, warn_after=3.0)
    core.tick(0.0)
    _refused_handshake(core)
    core.tick(3.0)
    core.on_greeting(False)
    closed = [event for event in run_until(core, 6.0) if isinstance(event, Closed)]
    assert closed and closed[0].reason is CloseReason.DEAD and "tunnel or proxy" in closed[0].text


def test_a_zeromq_peer_that_does_not_echo_is_probed_once_and_named_object_storage_if_it_answers() -> None:
    core = make(warn_after=3.0)
    core.tick(0.0)
    core.on_transport(tcp_connected=True, handshake_ok=True, handshake_refused=False)
    assert SendProbe() in core.tick(3.0)
    assert SendProbe() not in core.tick(3.25) + core.tick(3.5)
    closed = core.on_storage_reply()
    assert len(closed) == 1 and isinstance(closed[0], Closed)
    assert closed[0].reason is CloseReason.WRONG_PEER and "object storage" in closed[0].text


def test_a_peer_that_is_not_zeromq_is_described_when_giving_up() -> None:
    core = make(death=6.0, warn_after=3.0)
    core.on_transport(tcp_connected=True, handshake_ok=False, handshake_refused=False)
    events = run_until(core, 6.0)
    closed = [event for event in events if isinstance(event, Closed)]
    assert closed and "does not speak ZeroMQ" in closed[0].text


def test_no_heartbeat_means_no_waiting_warning() -> None:
    core = make(heartbeat=0.0, death=0.0)
    assert run_until(core, 100.0, 1.0) == []


def test_a_restart_after_silence_is_reported_as_a_restart_only() -> None:
    core = make(death=50.0, warn_after=3.0)
    core.on_echo(b"A", 0.0)
    core.tick(4.0)
    assert core.on_echo(b"B", 5.0) == [Restarted(b"A", b"B")]


def test_a_connected_link_warns_of_silence_only_after_three_missed_echoes() -> None:
    core = make(heartbeat=2.0, death=60.0, warn_after=3.0)
    core.on_echo(b"A", 0.0)
    assert not [event for event in core.tick(5.9) if isinstance(event, Warn)]
    assert [event for event in core.tick(6.0) if isinstance(event, Warn)]

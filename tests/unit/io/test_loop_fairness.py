"""The event loop keeps polling its sockets while a periodic timer takes longer than its interval."""

from __future__ import annotations

import os
import threading
import time

from scaler.io.loop import EventLoop


def test_a_slow_periodic_timer_does_not_starve_readers() -> None:
    # A scheduler tick over a million queued tasks took longer than the tick interval: the loop re-ran it at
    # once, forever, never read a socket, and every client timed out waiting for its heartbeat echo.
    loop = EventLoop()
    read_end, write_end = os.pipe()
    ticks: list[int] = []
    ticks_before_read: list[int] = []

    def slow_tick() -> None:
        ticks.append(1)
        if len(ticks) < 50:  # then fast, so that a loop that starves its readers still ends and the test fails
            time.sleep(0.03)  # three times its interval

    def on_readable() -> None:
        os.read(read_end, 64)
        ticks_before_read.append(len(ticks))
        loop.stop()

    loop.call_every(0.01, slow_tick, first_delay=0)
    loop.add_reader(read_end, on_readable)
    os.write(write_end, b"x")
    watchdog = threading.Timer(20.0, loop.stop)  # only a broken loop gets this far
    watchdog.start()
    try:
        loop.run()
    finally:
        watchdog.cancel()
        os.close(read_end)
        os.close(write_end)
    assert ticks_before_read and ticks_before_read[0] <= 3

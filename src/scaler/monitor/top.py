"""``scaler_top``: a live terminal dashboard of one scheduler, redrawn on every status it publishes.

The screen itself is built by ``top_view.render`` (plain strings); this module only owns the terminal:
curses set-up, keys, and waiting on both the keyboard and the monitor socket at once, so a key press is
answered at once and a status is drawn as soon as it arrives.
"""

from __future__ import annotations

import curses
import sys
import time
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from scaler.config import TopConfig
from scaler.io.address import Address
from scaler.monitor.subscriber import StatusSubscriber
from scaler.monitor.top_view import Line, Style, View, render
from scaler.protocol.status import SchedulerStatus

_REDRAW_SECONDS = 1.0  # even with no new status, so that the staleness warning appears on time
_QUIT_KEYS = frozenset({ord("q"), ord("Q")})


def run_top(config: TopConfig) -> None:
    """Entry point of ``scaler_top``: exits 1 when nothing publishes at the address within the timeout."""
    address = str(config.monitor_address)
    with StatusSubscriber(address, latest_only=True) as subscriber:
        try:
            first = subscriber.receive(config.timeout)
            if first is None:
                print(f"scaler_top: {_nothing_published(address, config.timeout)}", file=sys.stderr)
                raise SystemExit(1)
            if not (sys.stdin.isatty() and sys.stdout.isatty()):
                print("scaler_top: needs a terminal (stdin and stdout must be a tty)", file=sys.stderr)
                raise SystemExit(1)
            curses.wrapper(lambda screen: _Dashboard(screen, subscriber, first, config).run())
        except KeyboardInterrupt:
            pass  # Ctrl-C is an ordinary way to leave a dashboard: exit 0 (curses.wrapper restored the terminal)


def _nothing_published(address: str, timeout: float) -> str:
    """Why no status came, as far as can be told: the common mistake is a scheduler's main port."""
    text = f"no status received from {address} within {timeout:g} s"
    if not _something_else_listens(address):
        return text + ": is a scheduler publishing there?"
    text += ": something listens there but does not publish statuses"
    try:
        monitor = str(Address.parse(address).with_port_offset(2))
    except ValueError:
        return text
    with StatusSubscriber(monitor, latest_only=True) as subscriber:
        if subscriber.receive(_PROBE_SECONDS) is not None:
            return (
                f"{text}: it is a scheduler's port; the scheduler publishes its monitor at {monitor} "
                f"(port + 2): run scaler_top {monitor}"
            )
    return (
        f"{text} (a scheduler's or object storage's port?); a scheduler's monitor is at its port + 2 "
        "unless --monitor-address says otherwise"
    )


_PROBE_SECONDS = 1.5


def _something_else_listens(address: str) -> bool:
    """Whether a ZeroMQ socket that is not a publisher listens at ``address``.

    A SUB connecting to another kind of socket (a scheduler's ROUTER) is connected, then dropped at once by the
    handshake; nothing listening gives only connection retries, and a publisher keeps the connection.
    """
    context: zmq.Context[Any] = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    events = socket.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
    try:
        socket.connect(address)
        connected = False
        deadline = time.monotonic() + _PROBE_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            if not events.poll(max(1, int(left * 1000))):
                return False
            event = recv_monitor_message(events)["event"]
            if event == zmq.EVENT_CONNECTED:
                connected = True
            elif event == zmq.EVENT_DISCONNECTED and connected:
                return True
        return False
    except zmq.ZMQError:
        return False
    finally:
        socket.disable_monitor()
        events.close(linger=0)
        socket.close(linger=0)
        context.term()


class _Dashboard:
    def __init__(self, screen: Any, subscriber: StatusSubscriber, first: SchedulerStatus, config: TopConfig) -> None:
        self._screen = screen
        self._subscriber = subscriber
        self._status = first
        self._received_at = time.monotonic()
        self._view = View(str(config.monitor_address), stale_after_s=max(config.timeout, 3 * _REDRAW_SECONDS))
        self._styles = _styles()

    def run(self) -> None:
        screen = self._screen
        screen.nodelay(True)
        screen.keypad(True)
        _hide_cursor()
        poller = zmq.Poller()
        poller.register(self._subscriber.socket, zmq.POLLIN)
        poller.register(sys.stdin.fileno(), zmq.POLLIN)
        while True:
            self._draw()
            poller.poll(int(_REDRAW_SECONDS * 1000))
            status = self._subscriber.latest()
            if status is not None:
                self._status, self._received_at = status, time.monotonic()
            while (key := screen.getch()) != -1:
                if key in _QUIT_KEYS:
                    return
                if 0 < key < 256:
                    self._view = self._view.press(chr(key))
                # KEY_RESIZE needs nothing: the next draw measures the screen again.

    def _draw(self) -> None:
        screen = self._screen
        height, width = screen.getmaxyx()
        view = self._view
        self._view = view = View(
            view.monitor_address, view.sort_key, view.reverse, time.monotonic() - self._received_at, view.stale_after_s
        )
        lines = render(self._status, view, width, height)
        screen.erase()
        for row, line in enumerate(lines):
            self._put(row, line, width, height)
        screen.refresh()

    def _put(self, row: int, line: Line, width: int, height: int) -> None:
        text, style = line
        # curses refuses to write the bottom-right cell (the cursor would leave the screen): stop one short.
        limit = width - 1 if row == height - 1 else width
        try:
            self._screen.addnstr(row, 0, text, limit, self._styles.get(style, 0))
        except curses.error:
            pass  # the terminal shrank between measuring and drawing: the next draw fits again


def _styles() -> dict[Style, int]:
    styles: dict[Style, int] = {
        "title": curses.A_BOLD,
        "label": curses.A_BOLD,
        "text": curses.A_NORMAL,
        "header": curses.A_REVERSE,
        "warning": curses.A_BOLD,
        "footer": curses.A_DIM,
    }
    if curses.has_colors():
        try:
            curses.use_default_colors()
            curses.init_pair(1, curses.COLOR_RED, -1)
            curses.init_pair(2, curses.COLOR_CYAN, -1)
        except curses.error:
            return styles  # a terminal without default colours: plain attributes read fine
        styles["warning"] |= curses.color_pair(1)
        styles["title"] |= curses.color_pair(2)
    return styles


def _hide_cursor() -> None:
    try:
        curses.curs_set(0)
    except curses.error:
        pass  # some terminals cannot hide it; a visible cursor is harmless

"""How a ``Client`` or a ``SchedulerClusterCombo`` shows itself in a Jupyter notebook (``_repr_html_``).

The cluster's state comes from the scheduler's monitor stream (the same snapshot ``scaler_top`` draws), read
once with a short timeout: a repr must never hang a notebook, so when nothing publishes there the table says
the state is unknown and why, rather than waiting.
"""

from __future__ import annotations

import html
import socket
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from scaler.io.address import Address
from scaler.protocol.status import SchedulerStatus

STATUS_TIMEOUT_SECONDS = 1.5  # a scheduler publishes once a second by default
GUI_HOST, GUI_PORT = "127.0.0.1", 50001  # scaler_gui's default --gui-address


def latest_status(monitor_address: str, timeout: float = STATUS_TIMEOUT_SECONDS) -> SchedulerStatus | None:
    """One status published at ``monitor_address``, or None when none arrives within ``timeout`` seconds."""
    from scaler.monitor.subscriber import StatusSubscriber  # zmq is loaded anyway; the monitor module is not

    try:
        with StatusSubscriber(monitor_address) as subscriber:
            return subscriber.receive(timeout)
    except Exception:  # a bad address or a closed context: the repr says "unknown" instead of failing
        return None


def cluster_html(
    title: str, rows: Sequence[tuple[str, str]], monitor_address: str, status: SchedulerStatus | None
) -> str:
    """An HTML table: ``rows`` (label, text), then the workers and tasks from ``status``, then a monitoring hint."""
    cells = list(rows)
    if status is None:
        cells.append(("workers", f"unknown (no status from {monitor_address} within {STATUS_TIMEOUT_SECONDS:g} s)"))
    else:
        slots = sum(worker.queue_size for worker in status.workers)
        cells.append(("workers", f"{len(status.workers)} ({slots} task slots)"))
        live = ", ".join(f"{state} {count}" for state, count in sorted(status.tasks_by_state.items()) if count)
        cells.append(("tasks", live or "none running or queued"))
        finished = ", ".join(f"{outcome} {count}" for outcome, count in sorted(status.finished.items()) if count)
        cells.append(("finished", finished or "none yet"))
        cells.append(("clients", str(len(status.clients))))
    gui = f"http://{GUI_HOST}:{GUI_PORT}/"
    link = f'<a href="{gui}" target="_blank">{gui}</a>'
    if _listening(GUI_HOST, GUI_PORT):
        hint = f"{link} (a web server answers there: scaler_gui's default address), or "
    else:
        hint = f"<code>scaler_gui {html.escape(monitor_address)}</code> then open {link}, or "
    cells.append(("monitor", hint + f"<code>scaler_top {html.escape(monitor_address)}</code> in a terminal"))
    body = "".join(
        f'<tr><th style="text-align: left">{html.escape(label)}</th><td style="text-align: left">{_cell(label, text)}'
        "</td></tr>"
        for label, text in cells
    )
    return f'<div class="scaler-repr"><strong>{html.escape(title)}</strong><table>{body}</table></div>'


def client_html(address: str, closed: bool, futures: Sequence[Future[Any]]) -> str:
    """A ``Client``'s view; its scheduler's monitor is assumed at the default address (port + 2)."""
    monitor = str(Address.parse(address).with_port_offset(2))
    rows = [
        ("scheduler", address),
        ("state", "disconnected" if closed else "connected"),
        ("this client's unfinished tasks", str(sum(not future.done() for future in futures))),
    ]
    return cluster_html("Scaler Client", rows, monitor, None if closed else latest_status(monitor))


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _cell(label: str, text: str) -> str:
    return text if label == "monitor" else html.escape(text)  # the hint is our own markup; the rest is data

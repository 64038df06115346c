"""A live progress display for a batch of futures: ``scaler.progress(futures)`` and ``map(..., progress=True)``.

On a terminal it redraws one line in place (done, failed, total, rate, elapsed time); in a Jupyter notebook it
refreshes one HTML output instead. Anywhere else (a pipe, a log file, CI) it prints nothing unless asked with
``force=True``, and then writes a plain line now and then rather than carriage returns that would fill a log.

Counting is done by done-callbacks (O(1) per finished task, on the client's I/O thread); the waiting thread only
redraws, a few times a second, so a batch of a million tasks costs the same to watch as one of ten.
"""

from __future__ import annotations

import html
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TextIO

_TERMINAL_REFRESH_SECONDS = 0.2
_PLAIN_REFRESH_SECONDS = 10.0  # a log gets one line per ten seconds, not five per second
_BAR_WIDTH = 30


@dataclass(frozen=True)
class ProgressCounts:
    """A snapshot of a batch: how many futures finished, how many of those failed or were cancelled."""

    done: int
    failed: int
    total: int
    elapsed_seconds: float

    @property
    def rate(self) -> float:
        """Finished futures per second since the display started."""
        return self.done / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def text(self) -> str:
        """One line: ``[#####.....] 50/100 done, 1 failed | 12.5 tasks/s | 4.0 s``."""
        filled = _BAR_WIDTH * self.done // self.total if self.total else _BAR_WIDTH
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        return (
            f"[{bar}] {self.done}/{self.total} done, {self.failed} failed"
            f" | {self.rate:.1f} tasks/s | {self.elapsed_seconds:.1f} s"
        )

    def html(self) -> str:
        """The same as an HTML fragment (a ``<progress>`` bar and the counts) for a notebook."""
        maximum = max(self.total, 1)
        return (
            '<div class="scaler-progress">'
            f'<progress value="{self.done}" max="{maximum}" style="width: 20em"></progress> '
            f"<span>{html.escape(self.text().split('] ', 1)[1])}</span></div>"
        )


class _Counter:
    def __init__(self, futures: list[Future[Any]], stop_on_error: bool) -> None:
        self.total = len(futures)
        self.done = 0
        self.failed = 0
        self.finished = threading.Event()  # all done, or (stop_on_error) one failed
        self._stop_on_error = stop_on_error
        self._lock = threading.Lock()
        if not futures:
            self.finished.set()
        for future in futures:
            future.add_done_callback(self._on_done)  # runs at once for a future already done

    def _on_done(self, future: Future[Any]) -> None:
        failed = future.cancelled() or future.exception() is not None
        with self._lock:
            self.done += 1
            self.failed += failed
            if self.done >= self.total or (failed and self._stop_on_error):
                self.finished.set()


Display = Callable[[ProgressCounts, bool], None]
"""Draws one snapshot; the flag is True for the last one."""


def progress(
    futures: Iterable[Future[Any]],
    *,
    force: bool = False,
    file: TextIO | None = None,
    stop_on_error: bool = False,
) -> ProgressCounts:
    """Show a live progress bar until every future in ``futures`` has finished; returns the final counts.

    Args:
        futures: the futures to follow (any ``concurrent.futures.Future``, e.g. from ``Client.submit_many``).
        force: draw even when ``file`` is not a terminal and this is not a notebook (then a plain line every
            ten seconds and one at the end, so that a log stays readable).
        file: where to draw on a terminal; by default ``sys.stderr``.
        stop_on_error: return as soon as one future fails (``Client.map`` then raises that error).

    Nothing is printed when ``file`` is not a terminal, this is not a Jupyter notebook and ``force`` is False;
    the call still waits for the futures.
    """
    batch = list(futures)
    counter = _Counter(batch, stop_on_error)
    stream = sys.stderr if file is None else file
    display = _choose_display(stream, force)
    started = time.monotonic()
    interval = _TERMINAL_REFRESH_SECONDS if display is not None else None
    if display is not None and not _is_terminal(stream) and _notebook_display() is None:
        interval = _PLAIN_REFRESH_SECONDS
    while not counter.finished.wait(interval):
        assert display is not None  # interval is None (wait forever) when there is no display
        display(_snapshot(counter, started), False)
    final = _snapshot(counter, started)
    if display is not None:
        display(final, True)
    return final


def _snapshot(counter: _Counter, started: float) -> ProgressCounts:
    return ProgressCounts(counter.done, counter.failed, counter.total, time.monotonic() - started)


def _choose_display(stream: TextIO, force: bool) -> Display | None:
    notebook = _notebook_display()
    if notebook is not None:
        return notebook
    if _is_terminal(stream):
        return _terminal_display(stream)
    if force:
        return _plain_display(stream)
    return None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _terminal_display(stream: TextIO) -> Display:
    def draw(counts: ProgressCounts, last: bool) -> None:
        stream.write("\r" + counts.text() + ("\n" if last else ""))  # \r: redraw the same line
        stream.flush()

    return draw


def _plain_display(stream: TextIO) -> Display:
    def draw(counts: ProgressCounts, last: bool) -> None:
        stream.write(counts.text() + "\n")
        stream.flush()

    return draw


def _notebook_display() -> Display | None:
    """An HTML display refreshed in place, when running in a Jupyter kernel with IPython; otherwise None."""
    shell = _ipython_shell()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":  # a terminal IPython draws like a terminal
        return None
    from IPython.display import HTML, display  # present: get_ipython() answered

    handle: list[Any] = []

    def draw(counts: ProgressCounts, last: bool) -> None:
        if not handle:
            handle.append(display(HTML(counts.html()), display_id=True))
        else:
            handle[0].update(HTML(counts.html()))

    return draw


def _ipython_shell() -> Any:
    module = sys.modules.get("IPython")  # only when IPython is already running: never import it ourselves
    if module is None:
        return None
    get_ipython = getattr(module, "get_ipython", None)
    return get_ipython() if get_ipython is not None else None

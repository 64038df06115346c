"""``scaler.progress`` and ``Client.map(..., progress=True)``: a live bar on a terminal, HTML in a notebook,
nothing on a pipe unless forced."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import textwrap
import threading
import types
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

import scaler
from scaler.client.progress import ProgressCounts


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _finish_later(futures: list[Future[Any]], failures: int = 0) -> threading.Thread:
    def run() -> None:
        for index, future in enumerate(futures):
            if index < failures:
                future.set_exception(ValueError(f"failure {index}"))
            else:
                future.set_result(index)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_counts_and_text() -> None:
    counts = ProgressCounts(done=50, failed=2, total=100, elapsed_seconds=4.0)
    assert counts.rate == 12.5
    assert counts.text() == "[" + "#" * 15 + "." * 15 + "] 50/100 done, 2 failed | 12.5 tasks/s | 4.0 s"
    assert '<progress value="50" max="100"' in counts.html() and "50/100 done, 2 failed" in counts.html()


def test_terminal_gets_a_redrawn_line_ending_with_the_totals() -> None:
    futures: list[Future[Any]] = [Future() for _ in range(20)]
    terminal = _FakeTerminal()
    thread = _finish_later(futures, failures=3)
    counts = scaler.progress(futures, file=terminal)
    thread.join()
    assert (counts.done, counts.failed, counts.total) == (20, 3, 20)
    output = terminal.getvalue()
    assert output.startswith("\r[") and output.endswith("\n")
    assert output.rsplit("\r", 1)[1].startswith("[" + "#" * 30 + "] 20/20 done, 3 failed | ")


def test_nothing_is_printed_on_a_pipe_unless_forced() -> None:
    pipe = io.StringIO()
    futures: list[Future[Any]] = [Future() for _ in range(5)]
    _finish_later(futures).join()
    assert scaler.progress(futures, file=pipe).done == 5
    assert pipe.getvalue() == ""
    assert scaler.progress(futures, file=pipe, force=True).done == 5
    assert pipe.getvalue().startswith("[") and "\r" not in pipe.getvalue()  # plain lines for a log
    assert pipe.getvalue().splitlines()[-1].startswith("[" + "#" * 30 + "] 5/5 done, 0 failed | ")


def test_stop_on_error_returns_at_the_first_failure() -> None:
    futures: list[Future[Any]] = [Future() for _ in range(3)]
    futures[1].set_exception(ValueError("boom"))
    counts = scaler.progress(futures, file=io.StringIO(), stop_on_error=True)  # the others never finish
    assert (counts.done, counts.failed) == (1, 1)


def test_empty_batch() -> None:
    assert scaler.progress([], file=_FakeTerminal()).total == 0


def test_notebook_gets_one_html_output_updated_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []

    class ZMQInteractiveShell:  # the class name IPython's kernel shell has
        pass

    class Handle:
        def update(self, value: Any) -> None:
            shown.append("update:" + value.data)

    class HTML:
        def __init__(self, data: str) -> None:
            self.data = data

    def display(value: Any, display_id: bool = False) -> Handle:
        assert display_id
        shown.append("display:" + value.data)
        return Handle()

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = ZMQInteractiveShell  # type: ignore[attr-defined]
    ipython_display = types.ModuleType("IPython.display")
    ipython_display.HTML = HTML  # type: ignore[attr-defined]
    ipython_display.display = display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython_display)
    futures: list[Future[Any]] = [Future() for _ in range(4)]
    gate = threading.Event()

    def finish() -> None:
        gate.wait(30)
        _finish_later(futures).join()

    thread = threading.Thread(target=finish)
    thread.start()
    threading.Timer(0.5, gate.set).start()  # at least one refresh happens before the end (each 0.2 s)
    scaler.progress(futures, file=io.StringIO())
    thread.join()
    assert shown[0].startswith('display:<div class="scaler-progress">')
    assert len(shown) >= 2 and all(item.startswith("update:") for item in shown[1:])
    assert "4/4 done, 0 failed" in shown[-1]


def test_map_with_progress_draws_on_a_terminal(tmp_path: Path, cluster: scaler.SchedulerClusterCombo) -> None:
    script = tmp_path / "map_progress.py"
    script.write_text(
        textwrap.dedent(f"""
        from scaler import Client
        with Client(address={cluster.get_address()!r}) as client:
            print(client.map(abs, [-1, -2, -3, 4], progress=True))
            print(client.map(abs, [-5], progress=False))
    """)
    )
    leader, follower = pty.openpty()  # stderr is a real terminal, as in an interactive session
    try:
        result = subprocess.run(
            [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=follower, timeout=120, text=True
        )
        os.close(follower)
        follower = -1
        terminal = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the other side is closed and everything was read
                break
            if not chunk:
                break
            terminal += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["[1, 2, 3, 4]", "[5]"]
    text = terminal.decode()
    assert "] 4/4 done, 0 failed | " in text and "tasks/s" in text
    assert "1/1 done" not in text  # progress=False draws nothing


def test_map_with_progress_on_a_pipe_prints_nothing(client: scaler.Client, capfd: pytest.CaptureFixture[str]) -> None:
    assert client.map(abs, [-1, -2], progress=True) == [1, 2]
    captured = capfd.readouterr()
    assert "done," not in captured.err and "done," not in captured.out


def test_map_with_progress_still_raises_the_first_error(client: scaler.Client) -> None:
    with pytest.raises(ZeroDivisionError):
        client.map(lambda x: 1 / x, [1, 0, 2], progress=True)

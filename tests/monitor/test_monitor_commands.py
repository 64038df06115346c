"""The monitor stream of a real scheduler, and the scaler_top / scaler_gui commands around it."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from scaler import Client
from scaler.io.address import free_tcp_port
from scaler.monitor.subscriber import StatusSubscriber
from tests.cli.helpers import command, run, stop, wait_for_port
from tests.monitor.conftest import MonitoredCluster

aiohttp = pytest.importorskip("aiohttp", reason="scaler_gui needs the gui extra (aiohttp)")


def cube(x: int) -> int:
    return x * x * x


def test_scheduler_publishes_a_status_every_second(monitored_cluster: MonitoredCluster) -> None:
    with StatusSubscriber(monitored_cluster.monitor_address, latest_only=False) as subscriber:
        first = subscriber.receive(5.0)
        with Client(address=monitored_cluster.address) as client:
            assert client.map(cube, range(20)) == [x**3 for x in range(20)]
        statuses = [first]
        while sum(len(s.events) for s in statuses if s is not None) < 60:  # 20 tasks: queued, assigned, success
            statuses.append(subscriber.receive(5.0))
            assert statuses[-1] is not None and len(statuses) < 20
    assert first is not None and len(first.workers) == 2
    last = statuses[-1]
    assert last is not None
    # On average one a second (one status may come late on a loaded machine, and the next one early).
    assert 0.5 < (last.time - first.time) / (len(statuses) - 1) < 2.0
    assert [s.sequence for s in statuses if s] == list(range(first.sequence, first.sequence + len(statuses)))
    assert last.functions["cube"].succeeded >= 20 and last.finished["success"] >= 20
    events = [e for s in statuses if s for e in s.events if e.function == "cube"]
    assert {e.state for e in events} == {"queued", "assigned", "success"}
    assert all(e.elapsed_s >= 0 for e in events if e.state == "success")
    assert {e.worker for e in events if e.state == "success"} <= {w.worker_id for w in last.workers}


def test_top_says_so_when_nothing_publishes(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_tcp_port()}"
    started = time.monotonic()
    result = run("scaler_top", address, "--timeout", "0.5")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"scaler_top: no status received from {address} within 0.5 s: is a scheduler publishing there?"
    )
    assert time.monotonic() - started < 10


def test_top_reads_its_toml_section(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{free_tcp_port()}"
    config = tmp_path / "top.toml"
    config.write_text(f'[top]\nmonitor_address = "{address}"\ntimeout = 0.3\n')
    result = run("scaler_top", "--config", str(config))
    assert result.returncode == 1 and f"from {address} within 0.3 s" in result.stderr


def test_top_needs_a_terminal(monitored_cluster: MonitoredCluster) -> None:
    result = run("scaler_top", monitored_cluster.monitor_address, "--timeout", "5")
    assert result.returncode == 1 and "needs a terminal" in result.stderr


def test_gui_serves_its_page_and_streams_the_cluster(monitored_cluster: MonitoredCluster, tmp_path: Path) -> None:
    port = free_tcp_port()
    config = tmp_path / "gui.toml"
    config.write_text(f'[gui]\ngui_address = "127.0.0.1:{port}"\nlogging_level = "DEBUG"\n')
    with command("scaler_gui", "--config", str(config), monitored_cluster.monitor_address) as gui:
        wait_for_port(port)
        asyncio.run(_check_gui(f"http://127.0.0.1:{port}", monitored_cluster.address, gui))


async def _check_gui(base: str, scheduler: str, gui: subprocess.Popen[str]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/") as page:
            html = await page.text()
            assert page.status == 200 and "<title>Scaler monitor</title>" in html
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]
            assert "http" not in html.replace('name="viewport"', "")  # every asset is local: no URL to elsewhere
        for asset in ("app.js", "charts.js", "format.js", "style.css"):
            async with session.get(f"{base}/static/{asset}") as response:
                assert response.status == 200, asset
        async with session.ws_connect(base + "/ws") as ws:
            full = await _receive(ws)
            assert full["type"] == "full"
            workers = {row["id"] for row in full["workers"]["set"]}
            while len(workers) < 2:  # the GUI may have connected before its first status
                workers |= {row["id"] for row in (await _receive(ws))["workers"]["set"]}
            loop = asyncio.get_running_loop()
            results = loop.run_in_executor(None, _run_tasks, scheduler)
            done: set[str] = set()
            deadline = time.monotonic() + 30
            while len(done) < 10 and time.monotonic() < deadline:
                update = await _receive(ws)
                assert update["type"] == "update", update["type"]
                done |= {t["id"] for t in update["tasks"] if t["function"] == "cube" and t["state"] == "success"}
            assert len(done) == 10
            assert await results == [x**3 for x in range(10)]
            # SIGTERM with a page still connected: the server closes the page's socket and exits at once.
            started = time.monotonic()
            assert await loop.run_in_executor(None, stop, gui) == 0
            assert time.monotonic() - started < 5
            assert (await ws.receive(timeout=5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


def _run_tasks(scheduler: str) -> list[int]:
    with Client(address=scheduler) as client:
        return client.map(cube, range(10))


async def _receive(ws: Any) -> dict[str, Any]:
    message = await ws.receive(timeout=10)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)  # type: ignore[no-any-return]


def test_gui_reports_a_busy_port(monitored_cluster: MonitoredCluster) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("scaler_gui", monitored_cluster.monitor_address, "--gui-address", f"127.0.0.1:{port}")
    assert result.returncode == 1 and f"cannot serve on 127.0.0.1:{port}" in result.stderr


def test_gui_tells_pages_when_the_scheduler_is_silent() -> None:
    port = free_tcp_port()
    silent = f"tcp://127.0.0.1:{free_tcp_port()}"
    with command("scaler_gui", silent, "--gui-address", f"127.0.0.1:{port}"):
        wait_for_port(port)
        asyncio.run(_check_idle(f"http://127.0.0.1:{port}/ws"))


async def _check_idle(url: str) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        assert (await _receive(ws))["type"] == "full"
        idle = await _receive(ws)
        assert idle["type"] == "idle" and idle["seconds"] >= 3

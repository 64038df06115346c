"""scaler_gui in a real headless browser (Debian's chromium, driven by Playwright) against a running cluster.

Set SCALER_UPDATE_SCREENSHOTS=1 to refresh the README's screenshots in docs/ from this run.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scaler import Client
from scaler.io.address import free_tcp_port
from tests.cli.helpers import command, stop, wait_for_port
from tests.monitor.conftest import MonitoredCluster

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="chromium is not installed: run scripts/install-system-deps"
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e '.[test]'")

# Chromium must not reach out to anything (there is no network here, and a test should not need one).
BROWSER_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SUCCESS_GREEN = (63, 185, 80)  # charts.js COLORS.success
UPDATE_SCREENSHOTS = bool(os.environ.get("SCALER_UPDATE_SCREENSHOTS"))


def slow_square(x: int) -> int:
    time.sleep(0.02 * (x % 5))
    return x * x


def fail_on_seven(x: int) -> int:
    if x == 7:
        raise ValueError("seven")
    return x


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 760})
        finally:
            browser.close()


def test_the_page_shows_the_cluster_live_and_reconnects(
    monitored_cluster: MonitoredCluster, page: Any, tmp_path: Path
) -> None:
    port = free_tcp_port()
    url = f"http://127.0.0.1:{port}/"
    problems: list[str] = []  # script errors and console errors (a blocked asset, a CSP violation) fail the test
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.extend([f"console: {message.text}"] if message.type == "error" else []))
    expect = sync_api.expect

    with command("scaler_gui", monitored_cluster.monitor_address, "--gui-address", f"127.0.0.1:{port}") as gui:
        wait_for_port(port)
        page.goto(url)
        expect(page.locator("#connection")).to_have_text("live", timeout=15_000)
        workers = page.locator("#workers-table tbody tr[data-id]")
        expect(workers).to_have_count(2, timeout=15_000)
        expect(page.locator("#scheduler-address")).to_contain_text(monitored_cluster.address)

        # The page follows tasks as they run.
        with Client(address=monitored_cluster.address) as client:
            assert client.map(slow_square, range(60)) == [x * x for x in range(60)]
            futures = [client.submit(fail_on_seven, x) for x in range(10)]
            assert sum(1 for f in futures if f.exception(timeout=30) is not None) == 1
        functions = page.locator("#functions-table tbody tr")
        expect(functions.filter(has_text="slow_square")).to_contain_text("60", timeout=15_000)
        expect(functions.filter(has_text="fail_on_seven")).to_contain_text("9", timeout=15_000)
        expect(page.locator("#task-figures")).to_contain_text("finished: success")

        page.click("nav button[data-tab=tasks]")
        log = page.locator("#task-log tbody tr[data-id]")
        expect(log.filter(has_text="slow_square").filter(has_text="success").first).to_be_visible()
        expect(log.filter(has_text="fail_on_seven").filter(has_text="failed")).to_have_count(1)
        page.fill("#task-filter", "fail_on_seven")
        expect(log).to_have_count(10)
        page.fill("#task-filter", "")

        page.click("nav button[data-tab=workers]")
        expect(page.locator("#processor-groups .group[data-manager=combo] .worker")).to_have_count(2)

        page.click("nav button[data-tab=timeline]")
        assert page.evaluate("state.bars.size") >= 60
        page.wait_for_function(_CANVAS_HAS_COLOR, arg=["timeline", *SUCCESS_GREEN], timeout=10_000)

        page.click("nav button[data-tab=memory]")
        expect(page.locator("#memory-legend")).to_contain_text("scheduler")
        samples = page.evaluate("state.memory.length")
        page.wait_for_function("n => state.memory.length > n", arg=samples, timeout=10_000)  # one a second

        page.click("nav button[data-tab=overview]")
        if UPDATE_SCREENSHOTS:
            _take_screenshots(page, monitored_cluster.address)

        # The server goes away: the page says so, and comes back by itself when a server is there again.
        stop(gui)
        expect(page.locator("#connection")).to_contain_text("disconnected", timeout=10_000)
    with command("scaler_gui", monitored_cluster.monitor_address, "--gui-address", f"127.0.0.1:{port}"):
        expect(page.locator("#connection")).to_have_text("live", timeout=20_000)
        expect(workers).to_have_count(2, timeout=15_000)

    disconnect_noise = [p for p in problems if "WebSocket" not in p and "ERR_CONNECTION_REFUSED" not in p]
    assert disconnect_noise == []


# True once the canvas has a pixel of the given colour (a drawn bar of that state).
_CANVAS_HAS_COLOR = """([id, r, g, b]) => {
  const canvas = document.getElementById(id);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] === r && data[i + 1] === g && data[i + 2] === b) return true;
  }
  return false;
}"""


def _take_screenshots(page: Any, address: str) -> None:
    """The README's pictures: the overview in the middle of a varied workload, then its task stream."""
    workload = threading.Thread(target=_showcase, args=(address,))
    workload.start()
    try:
        page.wait_for_timeout(6_000)
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "gui.png"))
    finally:
        workload.join()
    page.click("nav button[data-tab=timeline]")
    page.wait_for_timeout(1_500)
    page.screenshot(path=str(DOCS / "gui-task-stream.png"))
    page.click("nav button[data-tab=overview]")


def _showcase(address: str) -> None:
    with Client(address=address, profiling=True) as client:
        for wave in range(12):
            futures = [client.submit(time.sleep, 0.05 + 0.1 * ((wave * 7 + n) % 6)) for n in range(5)]
            futures.append(client.submit(fail_on_seven, 7 if wave % 4 == 3 else wave))
            for future in futures:
                future.exception(timeout=30)

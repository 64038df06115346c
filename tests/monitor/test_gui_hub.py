"""The GUI server's fan-out to pages: a full picture first, increments after, and no backlog for a slow page."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("aiohttp", reason="scaler_gui needs the gui extra (aiohttp)")

from scaler.monitor.gui.server import OUTBOX_LIMIT, Hub
from tests.monitor.samples import status, worker


def test_pages_get_the_full_picture_then_increments() -> None:
    async def scenario() -> None:
        hub = Hub()
        hub.model.apply(status((worker(1),)))
        page = hub.join()
        first = json.loads(page.get_nowait())
        assert first["type"] == "full" and len(first["workers"]["set"]) == 1
        hub.broadcast(hub.model.apply(status((worker(1), worker(2)), sequence=2)))
        update = json.loads(page.get_nowait())
        assert update["type"] == "update" and [w["id"][-6] for w in update["workers"]["set"]] == ["2"]
        hub.leave(page)
        hub.broadcast({"type": "idle", "seconds": 3})
        assert page.empty() and hub.pages == 0

    asyncio.run(scenario())


def test_a_page_that_falls_behind_gets_a_fresh_full_picture_instead_of_a_backlog() -> None:
    async def scenario() -> None:
        hub = Hub()
        slow, fast = hub.join(), hub.join()
        fast.get_nowait()
        for sequence in range(OUTBOX_LIMIT + 5):
            hub.broadcast(hub.model.apply(status((worker(1),), sequence=sequence)))
            while not fast.empty():
                fast.get_nowait()  # this page keeps up
        assert slow.qsize() <= OUTBOX_LIMIT
        kinds = [json.loads(slow.get_nowait())["type"] for _ in range(slow.qsize())]
        assert kinds[0] == "full" and kinds.count("full") == 1

    asyncio.run(scenario())

"""scaler_gui on a non-loopback address: no token, no page (and no cluster data over the WebSocket)."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from scaler.monitor.gui.server import make_app
from scaler.monitor.gui.token import COOKIE


def test_every_request_needs_the_token_or_the_cookie_it_sets() -> None:
    async def scenario() -> None:
        app = make_app("tcp://127.0.0.1:1", token="s3cret-token")
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            assert (await client.get("/")).status == 403
            assert (await client.get("/ws")).status == 403
            assert (await client.get("/?token=wrong")).status == 403
            opened = await client.get("/?token=s3cret-token")
            assert opened.status == 200
            assert opened.cookies[COOKIE].value == "s3cret-token"
            assert (await client.get("/")).status == 200  # the cookie is enough from now on

    asyncio.run(scenario())


def test_without_a_token_the_page_is_open_as_before() -> None:
    async def scenario() -> None:
        async with TestClient(TestServer(make_app("tcp://127.0.0.1:1"), host="127.0.0.1")) as client:
            assert (await client.get("/")).status == 200

    asyncio.run(scenario())

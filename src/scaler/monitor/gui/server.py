"""The ``scaler_gui`` web server: static page + one WebSocket, fed by the scheduler's monitor stream.

    GET /          the page (static/index.html); every script and style it uses is under /static/ too:
                   nothing is fetched from elsewhere, so it works on a machine with no internet
    GET /ws        a WebSocket: the full picture first, then one increment per scheduler status, and
                   ``{"type": "idle", "seconds": N}`` each second while the scheduler is silent

One task reads the monitor socket and folds each status into the ``MonitorModel``; every page has its own
bounded outbox, so a slow browser never holds up the others: when its outbox overflows it is emptied and
the page gets a fresh full picture instead of a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import zmq
import zmq.asyncio

from scaler.config import GuiConfig
from scaler.config.checks import split_host_port
from scaler.io.address import Address
from scaler.monitor.gui.model import MonitorModel
from scaler.monitor.subscriber import configure_subscriber, decode_or_none
from scaler.security.exposure import is_loopback

try:
    from aiohttp import WSCloseCode, WSMsgType, web
except ModuleNotFoundError as error:  # an optional extra: say how to get it rather than print a traceback
    raise SystemExit(f"scaler_gui needs aiohttp, from the 'gui' extra: pip install 'scaler[gui]' ({error})") from None

logger = logging.getLogger("scaler.monitor.gui")

STATIC_DIR = Path(__file__).parent / "static"
IDLE_AFTER_SECONDS = 3.0  # tell pages the stream stopped once a few statuses are missing
OUTBOX_LIMIT = 32
# The page loads nothing from anywhere else, and says so to the browser.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
_encoder = msgspec.json.Encoder()


class Hub:
    """The model and the open pages."""

    def __init__(self) -> None:
        self.model = MonitorModel()
        self.last_status = time.monotonic()
        self._outboxes: set[asyncio.Queue[str]] = set()

    def join(self) -> asyncio.Queue[str]:
        outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_LIMIT)
        outbox.put_nowait(_encode(self.model.full()))
        self._outboxes.add(outbox)
        return outbox

    def leave(self, outbox: asyncio.Queue[str]) -> None:
        self._outboxes.discard(outbox)

    @property
    def pages(self) -> int:
        return len(self._outboxes)

    def broadcast(self, message: dict[str, Any]) -> None:
        if not self._outboxes:
            return
        text = _encode(message)
        for outbox in self._outboxes:
            if outbox.full():
                logger.info("a page is not keeping up: sending it the full picture instead of a backlog")
                while not outbox.empty():
                    outbox.get_nowait()
                outbox.put_nowait(_encode(self.model.full()))
            else:
                outbox.put_nowait(text)

    async def read_statuses(self, address: str) -> None:
        context = zmq.asyncio.Context()
        socket = context.socket(zmq.SUB)
        configure_subscriber(socket, address, latest_only=False)  # every status: each carries its own task events
        try:
            while True:
                frame = await socket.recv()
                status = decode_or_none(frame, address)
                if status is None:
                    continue
                if self.model.statuses == 0:
                    logger.info("receiving statuses from scheduler %s at %s", status.address, address)
                self.last_status = time.monotonic()
                try:
                    update = self.model.apply(status)
                except Exception:  # a bug in one status must not freeze the page for good
                    logger.exception("could not apply status %d from %s", status.sequence, address)
                    continue
                self.broadcast(update)
        finally:
            socket.close(linger=0)
            context.term()

    async def report_idle(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            silent = time.monotonic() - self.last_status
            if silent >= IDLE_AFTER_SECONDS:
                self.broadcast({"type": "idle", "seconds": round(silent)})


def make_app(monitor_address: str, token: str | None = None) -> web.Application:
    """``token``: required of every request (see ``token``); None serves anyone who reaches the port."""
    hub = Hub()
    from scaler.monitor.gui.token import token_middleware  # after the aiohttp check above

    middlewares = [_security_headers, *([token_middleware(token)] if token else [])]
    app = web.Application(middlewares=middlewares)
    sockets: set[web.WebSocketResponse] = set()

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20.0)
        await ws.prepare(request)
        outbox = hub.join()
        sockets.add(ws)
        sender = asyncio.create_task(_send_all(ws, outbox))
        try:
            async for message in ws:  # the page sends nothing; this only notices when it goes away
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            sockets.discard(ws)
            hub.leave(outbox)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    async def start_background(app: web.Application) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(hub.read_statuses(monitor_address)), asyncio.create_task(hub.report_idle())]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close_sockets(app: web.Application) -> None:
        # Open WebSockets would hold the server's shutdown for its whole grace period: tell the pages we are
        # going (they reconnect by themselves to whatever serves this address next).
        await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY) for ws in list(sockets)))

    app.on_shutdown.append(close_sockets)
    app.router.add_get("/", index)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static/", STATIC_DIR)
    app.cleanup_ctx.append(start_background)
    return app


async def _send_all(ws: web.WebSocketResponse, outbox: asyncio.Queue[str]) -> None:
    try:
        while True:
            await ws.send_str(await outbox.get())
    except ConnectionError:
        pass  # the page went away mid-send: the receive loop ends too and cleans up


@web.middleware
async def _security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    if not response.prepared:  # a WebSocket's headers are already sent
        response.headers.update(_SECURITY_HEADERS)
    return response


def _encode(message: dict[str, Any]) -> str:
    return _encoder.encode(message).decode()


async def serve(monitor_address: str, host: str, port: int, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set (by default: until SIGINT or SIGTERM)."""
    stop = stop or _stop_on_signals()
    # Reachable from other machines: only those given the URL (with its token) may look.
    from scaler.monitor.gui.token import new_token

    token = None if is_loopback(Address("tcp", host or "0.0.0.0", port)) else new_token()
    runner = web.AppRunner(make_app(monitor_address, token), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        shown = f"[{host}]" if ":" in host else host
        query = f"?token={token}" if token else ""
        logger.info(
            "scaler_gui serving http://%s:%d/%s for the scheduler monitor at %s", shown, port, query, monitor_address
        )
        await stop.wait()
    finally:
        await runner.cleanup()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop


def run_gui(config: GuiConfig) -> None:
    """Entry point of ``scaler_gui``."""
    host, port = split_host_port(config.gui_address)
    try:
        asyncio.run(serve(str(config.monitor_address), host, port))
    except OSError as error:  # the usual one: the port is taken
        raise SystemExit(f"scaler_gui: cannot serve on {config.gui_address}: {error}") from None

"""A token for ``scaler_gui`` served on a non-loopback address, as Jupyter does: printed once in the URL to
open; the first request that carries it (``?token=...``) gets a cookie, and every request needs one or the
other. Anyone else who can reach the port gets 403 and learns nothing about the cluster."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from aiohttp import web

COOKIE = "scaler_gui_token"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_middleware(token: str) -> Any:
    @web.middleware
    async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.query.get("token") or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return web.Response(status=403, text="scaler_gui: open the URL with ?token=... that scaler_gui printed")
        response: web.StreamResponse = await handler(request)
        if "token" in request.query and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    return require_token

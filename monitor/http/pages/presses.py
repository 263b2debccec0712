"""The press banner's feeds (contract §5): `GET /events`, a server-sent event stream of the viewer's
unacknowledged presses (sent at once on connect and on every change, a comment every 15 s to keep
proxies from closing it), and `GET /presses`, the same list as JSON for browsers whose event stream
fails (the banner's script falls back to polling it every second).

Both take the page session (cookie), admit the bureau and officers (of their schools only), and
re-check the session on every change, so a revoked token stops its stream.
"""

from __future__ import annotations

import logging

import orjson
from aiohttp import web

from monitor.http.auth import AuthError, Principal, require
from monitor.http.context import context
from monitor.http.errors import error, json_response
from monitor.http.pages.base import PRESS_WATCHERS, lang_of, session_of

log = logging.getLogger(__name__)
KEEPALIVE_S = 15.0
RETRY_MS = 2000  # how soon a browser reconnects a dropped stream


async def _watcher(request: web.Request) -> Principal:
    session = await session_of(request)
    if session is None:
        raise AuthError(401, "log in first")
    return require(session.principal, PRESS_WATCHERS)


def _payload(request: web.Request, principal: Principal) -> dict[str, object]:
    lang = lang_of(request)
    items = [p.view(lang) for p in context(request).presses.unacknowledged(principal.sees_school)]
    return {"items": items, "count": len(items)}


async def presses_json(request: web.Request) -> web.Response:
    try:
        principal = await _watcher(request)
    except AuthError as exc:
        return error(exc.status, exc.message)
    resp = json_response(_payload(request, principal))
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def events(request: web.Request) -> web.StreamResponse:
    try:
        principal = await _watcher(request)
    except AuthError as exc:
        return error(exc.status, exc.message)
    board = context(request).presses
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                       "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    sent: bytes | None = None
    try:
        await resp.write(f"retry: {RETRY_MS}\n\n".encode())
        while not board.closed:
            version = board.version
            data = orjson.dumps(_payload(request, principal))
            if data != sent:
                await resp.write(b"event: presses\ndata: " + data + b"\n\n")
                sent = data
            else:
                await resp.write(b": still here\n\n")
            await board.changed(version, KEEPALIVE_S)
            session = await session_of(request)  # a revoked token or ended session ends the stream
            if session is None:
                break
            principal = session.principal
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    return resp


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/events", events)
    r.add_get("/presses", presses_json)

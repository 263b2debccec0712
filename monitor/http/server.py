"""The HTTP edge: health, metrics, the JSON API (contract §5) and the pages, with one error shape.

Every /api/v1 route names the roles it admits and checks the school of what it shows; an officer
never sees another school's data. Errors are `{"error": {"status": N, "message": "..."}}`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from monitor.config import parse_listen
from monitor.http.actions import PRINCIPAL, who
from monitor.http.api import add_api_routes
from monitor.http.auth import AuthError
from monitor.http.client import client_address
from monitor.http.context import CTX, HttpContext, context
from monitor.http.errors import CannotListen, HttpError, error, json_response
from monitor.http.pages import add_pages

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_and_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        if request.path.startswith("/api/") and request.path != "/api/v1/openapi.json":
            found = await context(request).auth.principal(request.headers.get("Authorization", ""),
                                                          client_address(request))
            if found is not None:
                request[PRINCIPAL] = found
        return await handler(request)
    except (AuthError, HttpError) as exc:
        return error(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error(exc.status, exc.reason)
        raise
    except Exception:  # noqa: BLE001
        log.exception("error serving %s %s", request.method, request.path)
        return error(500, "internal error; see the monitor's log")


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ok, detail = await context(request).ready()
    return json_response({"status": "ready" if ok else "not ready", **detail}, 200 if ok else 503)


async def metrics(request: web.Request) -> web.StreamResponse:
    """The cached exposition (monitor.services.metrics.Exposition), written piece by piece."""
    c = context(request)
    if not c.cfg.metrics_public:
        found = await c.auth.principal(request.headers.get("Authorization", ""), client_address(request))
        if found is not None:
            request[PRINCIPAL] = found
        who(request, ("bureau", "officer", "maintenance"))
    body = await c.metrics.body()
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
    if "gzip" in request.headers.get("Accept-Encoding", ""):  # as Prometheus asks: the cached body as is
        pieces: tuple[bytes, ...] = body.gzip
        response.headers["Content-Encoding"] = "gzip"
    else:
        pieces = (await asyncio.to_thread(body.text),)
    response.content_length = sum(len(p) for p in pieces)
    try:
        await response.prepare(request)
        for piece in pieces:
            await response.write(piece)
        await response.write_eof()
    except ConnectionResetError:  # the scraper went away mid-body (timed out, stopped): nothing wrong here
        log.debug("metrics: the client closed the connection before the body was written")
    return response


def make_web_app(c: HttpContext) -> web.Application:
    web_app = web.Application(middlewares=[errors_and_auth], client_max_size=64 * 1024)
    web_app[CTX] = c
    r = web_app.router
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/metrics", metrics)
    add_api_routes(r)
    add_pages(web_app)
    return web_app


class HttpServer:
    """The aiohttp server on `[http] listen`; `address` is the bound one (port 0 picks a free port)."""

    def __init__(self, listen: str, web_app: web.Application) -> None:
        self.listen = listen
        self.web_app = web_app
        self.address: tuple[str, int] | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        host, port = parse_listen(self.listen)
        self._runner = web.AppRunner(self.web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise CannotListen(self.listen, exc) from None
        bound = self._runner.addresses
        self.address = (host, int(bound[0][1]) if bound else port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

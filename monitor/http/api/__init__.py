"""The JSON API under `/api/v1` (contract §5), one module per resource."""

from __future__ import annotations

from aiohttp import web

from monitor.http.api import alerts, audit, buses, maintenance, records, schools, tickets
from monitor.http.errors import json_response
from monitor.http.openapi import document


async def openapi(request: web.Request) -> web.Response:
    return json_response(document())


def add_api_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/api/v1/openapi.json", openapi)
    for resource in (schools, alerts, tickets, buses, maintenance, audit, records):
        resource.add_routes(r)

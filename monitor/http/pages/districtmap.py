"""The district map (`/map`): schools coloured by their worst state, bus routes, and the buses where
their last fix puts them, drawn with Leaflet (vendored under static/vendor/leaflet, BSD-2).

The base map is `[http] map_tiles` (nothing is fetched from the internet when it is empty, the
default); `map_datum = "gcj02"` moves every point from WGS-84 onto GCJ-02 for Chinese tile services.
Schools are placed where their buses' routes end (`devices.places`); the page lists the ones with no
place. `/map.json` is the same data, which the page fetches every 10 s to move the buses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from devices.gcj02 import wgs84_to_gcj02
from devices.places import school_places
from monitor.http.actions import READ_ROLES
from monitor.http.auth import Principal
from monitor.http.context import HttpContext, context
from monitor.http.errors import json_response
from monitor.http.pages.base import SESSION, page, render
from monitor.http.pages.overview import school_rows
from monitor.http.views import bus_view
from monitor.storage import alert_store

Convert = Callable[[float, float], tuple[float, float]]


def converter(c: HttpContext) -> Convert:
    if c.cfg.map_datum == "gcj02":
        return wgs84_to_gcj02
    return lambda lon, lat: (lon, lat)


def worst(row: dict[str, Any]) -> str:
    """`bad` (press, dark zone, school offline), `warn` (other alerts, dead cameras) or `ok`, as the
    overview colours its rows."""
    if row["offline"] or row["pressed"] or row["dark"]:
        return "bad"
    if row["firing"] or row["dead"]:
        return "warn"
    return "ok"


async def map_data(c: HttpContext, principal: Principal) -> dict[str, Any]:
    by_severity = await c.db.call(alert_store.count_firing_alerts)
    by_rule = await c.db.call(alert_store.count_open_by_rule)
    rows = school_rows(c, principal, by_severity, by_rule)
    places = school_places(c.registry)
    move = converter(c)
    schools, unplaced = [], []
    for row in rows:
        place = places.get(row["id"])
        if place is None:
            unplaced.append({"id": row["id"], "name": row["name"], "state": worst(row)})
            continue
        lon, lat = move(*place)
        schools.append({"id": row["id"], "name": row["name"], "lat": lat, "lon": lon, "state": worst(row),
                        "pressed": row["pressed"], "dark": row["dark"], "dead": row["dead"], "cameras": row["cameras"],
                        "firing": row["firing"]})
    buses, routes = [], {}
    for bus in c.registry.buses:
        if not principal.sees_school(bus.school):
            continue
        route = c.registry.route(bus.route)
        if route is not None and route.id not in routes:
            routes[route.id] = {"id": route.id, "path": [list(reversed(move(lon, lat))) for lon, lat in route.path]}
        view = bus_view(c, bus)
        pos = view["position"]
        if pos is None:
            continue
        lon, lat = move(pos["lon"], pos["lat"])
        buses.append({"id": bus.id, "plate": bus.plate, "school": bus.school, "lat": lat, "lon": lon,
                      "off_route": view["off_route"], "gps": view["gps"], "speed_kmh": view["speed_kmh"]})
    return {"tiles": c.cfg.map_tiles, "attribution": c.cfg.map_attribution, "schools": schools,
            "unplaced": unplaced, "routes": list(routes.values()), "buses": buses}


@page(READ_ROLES)
async def map_page(request: web.Request) -> web.Response:
    c = context(request)
    data = await map_data(c, request[SESSION].principal)
    return render(request, "map.html", data=data)


@page(READ_ROLES)
async def map_json(request: web.Request) -> web.Response:
    return json_response(await map_data(context(request), request[SESSION].principal))


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/map", map_page)
    r.add_get("/map.json", map_json)

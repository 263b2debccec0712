"""A bus's page: its route corridor and recent track drawn as SVG."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from devices.model import DeviceKind, Route
from devices.schedule import in_service
from monitor.http.actions import READ_ROLES, find_bus, track_of
from monitor.http.auth import Principal
from monitor.http.context import context
from monitor.http.pages.base import (
    SESSION,
    page,
    render,
)
from monitor.http.pages.districtmap import converter
from monitor.http.views import bus_view, fix_view

# ---- buses -----------------------------------------------------------------------------------------


def svg_of(route: Route | None, fixes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The route and the track in metres on a local plane (y up), as SVG polyline points."""
    points = [(lon, lat) for lon, lat in (route.path if route else ())] + [(f["lon"], f["lat"]) for f in fixes]
    if not points:
        return None
    lat0 = sum(p[1] for p in points) / len(points)
    lon0 = sum(p[0] for p in points) / len(points)
    kx = 111_320.0 * math.cos(math.radians(lat0))

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (lon - lon0) * kx, -(lat - lat0) * 110_540.0

    corridor = route.corridor_m if route else 0.0
    all_xy = [xy(*p) for p in points]
    pad = max(corridor * 1.5, 50.0)
    x0, x1 = min(p[0] for p in all_xy) - pad, max(p[0] for p in all_xy) + pad
    y0, y1 = min(p[1] for p in all_xy) - pad, max(p[1] for p in all_xy) + pad
    size = max(x1 - x0, y1 - y0)

    def pts(seq: list[tuple[float, float]]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in seq)

    track = [xy(f["lon"], f["lat"]) for f in fixes]
    return {
        "view": f"{x0:.1f} {y0:.1f} {x1 - x0:.1f} {y1 - y0:.1f}",
        "route": pts([xy(lon, lat) for lon, lat in route.path]) if route else "",
        "corridor": 2 * corridor, "track": pts(track), "last": track[-1] if track else None,
        "start": xy(*route.path[0]) if route else None, "stroke": size / 250, "dot": size / 90,
    }


@page(("bureau", "officer"))
async def bus_page(request: web.Request) -> web.Response:
    c = context(request)
    bus = find_bus(request)
    route = c.registry.route(bus.route)
    fixes = [fix_view(f) for f in await track_of(c, bus.id, c.clock() - 3600)]
    dev = c.judge.liveness.devices.get((bus.school, DeviceKind.GPS, bus.id))
    school = c.registry.school(bus.school)
    watch = c.buses.watches.get(bus.id)
    snap = watch.snapshot() if watch is not None else None
    move = converter(c)

    def latlon(lon: float, lat: float) -> list[float]:
        x, y = move(lon, lat)
        return [y, x]

    leaflet = {"tiles": c.cfg.map_tiles, "attribution": c.cfg.map_attribution, "plate": bus.plate,
               "route": [latlon(lon, lat) for lon, lat in route.path] if route else [],
               "corridor_m": route.corridor_m if route else 0, "track": [latlon(f["lon"], f["lat"]) for f in fixes]}
    return render(request, "bus.html", bus=bus, route=route, svg=svg_of(route, fixes), fixes=fixes[-20:][::-1],
                  leaflet=leaflet,
                  gps=str(dev.state) if dev else "unknown", last_seen=dev.last_seen if dev else None,
                  school=school, passengers=snap.passengers if snap else None,
                  overloaded=bool(snap and snap.overloaded), refreshing=True)


@page(READ_ROLES)
async def buses_page(request: web.Request) -> web.Response:
    """Every bus the viewer may see, the ones needing a look first: off route, speeding, overloaded,
    GPS silent in service; then by school and plate."""
    c = context(request)
    principal: Principal = request[SESSION].principal
    names = {s.id: s.name for s in c.registry.schools}
    now = c.clock()
    items = []
    for bus in c.registry.buses:
        if not principal.sees_school(bus.school):
            continue
        view = bus_view(c, bus)
        route = c.registry.route(bus.route)
        watch = c.buses.watches.get(bus.id)
        snap = watch.snapshot() if watch is not None else None
        view.update(school_name=names.get(bus.school, bus.school), in_service=bool(route and in_service(route, now)),
                    overspeed=bool(snap and snap.overspeed), overloaded=bool(snap and snap.overloaded),
                    passengers=snap.passengers if snap else None,
                    limit=route.speed_limit_kmh if route else None,
                    windows=[str(w) for w in route.windows] if route else [])
        view["score"] = (view["off_route"], view["overspeed"], view["overloaded"],
                         view["in_service"] and view["gps"] in ("down", "unreachable"))
        items.append(view)
    items.sort(key=lambda b: (tuple(not x for x in b["score"]), b["school_name"], b["plate"]))
    return render(request, "buses.html", items=items, refreshing=True)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/buses", buses_page)
    r.add_get("/buses/{id}", bus_page)

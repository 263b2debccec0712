"""`/api/v1/buses`: list, one, recent track, declared detours."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from monitor.http.actions import READ_ROLES, actor_of, find_bus, known_schools, track_of, who
from monitor.http.context import context
from monitor.http.errors import HttpError, json_response
from monitor.http.params import body, paging, parse_time, school_filter, text_field, time_field
from monitor.http.views import bus_view, detour_view, fix_view, iso, route_view
from monitor.storage.bus_tables import DetourRecord
from monitor.storage.detour_store import query_detours, save_detour

log = logging.getLogger(__name__)
TRACK_DEFAULT_S = 3600.0


async def list_buses(request: web.Request) -> web.Response:
    c = context(request)
    principal = who(request, READ_ROLES)
    schools = school_filter(request, principal, known_schools(c))
    items = [bus_view(c, b) for b in c.registry.buses if b.school in schools]
    items.sort(key=lambda v: (v["school"], v["id"]))
    return paging(request).of(items)


async def get_bus(request: web.Request) -> web.Response:
    c = context(request)
    bus = find_bus(request)
    return json_response({**bus_view(c, bus), "route_detail": route_view(c.registry.route(bus.route))})


async def bus_track(request: web.Request) -> web.Response:
    c = context(request)
    bus = find_bus(request)
    since = parse_time(request.query.get("since"), "since")
    if since is None:
        since = c.clock() - TRACK_DEFAULT_S
    page = paging(request)
    return page.of([fix_view(f) for f in await track_of(c, bus.id, since)])


async def declare_detour(request: web.Request) -> web.Response:
    c = context(request)
    bus = find_bus(request)
    principal = who(request, READ_ROLES, bus.school)
    data = await body(request)
    start, end = time_field(data, "start"), time_field(data, "end")
    assert start is not None and end is not None
    if not end > start:
        raise HttpError(400, "end must be after start")
    reason = (text_field(data, "reason", True) or "").strip()
    watch = c.buses.watches.get(bus.id)
    if watch is None:
        raise HttpError(503, f"bus {bus.id} is not watched")
    now = c.clock()
    record = DetourRecord(id="d-" + uuid.uuid4().hex[:12], bus=bus.id, school=bus.school, starts=start, ends=end,
                          reason=reason, created_by=principal.name, created_at=now)
    await c.db.call(save_detour, record, actor_of(request, principal))
    watch.declare_detour(start, end, reason)
    log.info("detour %s for bus %s from %s to %s by %s: %s", record.id, bus.id, iso(start), iso(end),
             principal.name, reason)
    return json_response(detour_view(record, now), 201)


async def list_detours(request: web.Request) -> web.Response:
    c = context(request)
    bus = find_bus(request)
    rows = await c.db.call(query_detours, bus.id, None)
    now = c.clock()
    return paging(request).of([detour_view(r, now) for r in rows])


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/api/v1/buses", list_buses)
    r.add_get("/api/v1/buses/{id}", get_bus)
    r.add_get("/api/v1/buses/{id}/track", bus_track)
    r.add_get("/api/v1/buses/{id}/detours", list_detours)
    r.add_post("/api/v1/buses/{id}/detours", declare_detour)

"""The district overview (schools worst first) and a school's page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from devices.liveness import State
from devices.model import DeviceKind
from monitor.http.auth import Principal, require
from monitor.http.context import HttpContext, context
from monitor.http.errors import HttpError
from monitor.http.pages.base import (
    SESSION,
    page,
    render,
    session_of,
)
from monitor.http.views import school_view
from monitor.storage import alert_store

# ---- overview and school ---------------------------------------------------------------------------


def school_rows(c: HttpContext, principal: Principal, open_alerts: dict[str, dict[str, int]],
                rules: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    judge = c.judge
    dead: dict[str, int] = {}
    cams: dict[str, int] = {}
    for dev in judge.devices():
        if dev.kind is DeviceKind.CAMERA:
            cams[dev.school] = cams.get(dev.school, 0) + 1
            if dev.state is State.DOWN:
                dead[dev.school] = dead.get(dev.school, 0) + 1
    dark: dict[str, int] = {}
    for (school_id, _), zc in judge.coverage.zones.items():
        if zc.dark:
            dark[school_id] = dark.get(school_id, 0) + 1
    rows = []
    for school in c.registry.schools:
        if not principal.sees_school(school.id):
            continue
        sc = judge.coverage.schools.get(school.id)
        by_rule = rules.get(school.id, {})
        sev = open_alerts.get(school.id, {})
        row: dict[str, Any] = {
            "id": school.id, "name": school.name, "offline": bool(sc and sc.offline),
            "dark": dark.get(school.id, 0), "dead": dead.get(school.id, 0), "cameras": cams.get(school.id, 0),
            "blind": sc.blind_spots if sc else 0,
            "pressed": by_rule.get("alarm_pressed", 0) + by_rule.get("alarm_tampered", 0),
            "off_route": by_rule.get("bus_off_route", 0),
            "critical": sev.get("critical", 0), "firing": sum(sev.values()),
        }
        row["score"] = (row["offline"], row["pressed"], row["dark"], row["blind"], row["critical"], row["dead"],
                        row["off_route"], row["firing"])
        rows.append(row)
    rows.sort(key=lambda r: (tuple(-int(x) for x in r["score"]), r["id"]))
    return rows


async def root(request: web.Request) -> web.StreamResponse:
    session = await session_of(request)
    if session is None:
        raise web.HTTPFound("/login")
    if session.principal.role == "maintenance":
        raise web.HTTPFound("/tickets")
    return await overview(request)


@page(("bureau", "officer"))
async def overview(request: web.Request) -> web.Response:
    c = context(request)
    principal: Principal = request[SESSION].principal
    by_severity = await c.db.call(alert_store.count_firing_alerts)
    by_rule = await c.db.call(alert_store.count_open_by_rule)
    rows = school_rows(c, principal, by_severity, by_rule)
    return render(request, "overview.html", rows=rows, refreshing=True)


@page(("bureau", "officer"))
async def school_page(request: web.Request) -> web.Response:
    c = context(request)
    school_id = request.match_info["id"]
    require(request[SESSION].principal, ("bureau", "officer"), school_id)
    if c.registry.school(school_id) is None:
        raise HttpError(404, f"no school {school_id!r}")
    view = school_view(c, school_id)
    order = {"down": 0, "unreachable": 1, "faulty": 2, "unknown": 3, "up": 4}
    view["devices"].sort(key=lambda d: (order.get(d["state"], 9), d["kind"], d["id"]))
    return render(request, "school.html", school=view, refreshing=True)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/", root)
    r.add_get("/schools/{id}", school_page)

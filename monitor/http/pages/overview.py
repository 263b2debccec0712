"""The district overview (schools worst first) and a school's page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from devices.availability import availability
from devices.events import DOWN_RULES
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
from monitor.http.views import device_view, school_view
from monitor.storage import alert_store
from monitor.storage.event_store import device_judgements

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
            "critical": sev.get("critical", 0),
            "firing": sum(n for severity, n in sev.items() if severity != "info"),  # off-hours driving is no trouble
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


SCHOOL_VIEWERS = ("bureau", "officer", "maintenance")  # the crew reads device states, to see a repair hold


def _school_of(request: web.Request) -> str:
    c = context(request)
    school_id = request.match_info["id"]
    require(request[SESSION].principal, SCHOOL_VIEWERS, school_id)
    if c.registry.school(school_id) is None:
        raise HttpError(404, f"no school {school_id!r}")
    return school_id


@page(SCHOOL_VIEWERS)
async def school_page(request: web.Request) -> web.Response:
    c = context(request)
    school_id = _school_of(request)
    view = school_view(c, school_id)
    pressed = {p.subject for p in c.presses.unacknowledged(lambda s: s == school_id)}
    order = {"down": 0, "unreachable": 1, "faulty": 2, "unknown": 3, "up": 4}
    for d in view["devices"]:
        d["pressed"] = d["kind"] == "alarm" and d["id"] in pressed
    view["devices"].sort(key=lambda d: (not d["pressed"], order.get(d["state"], 9), d["kind"], d["id"]))
    zone_names = {z["id"]: z["name"] for z in view["zones"]}
    return render(request, "school.html", school=view, zone_names=zone_names, refreshing=True)


HISTORY_DAYS = (1, 7, 30)


@page(SCHOOL_VIEWERS)
async def device_page(request: web.Request) -> web.Response:
    """One device: its state, location, recent down/up changes and availability over 1, 7 and 30 days."""
    c = context(request)
    school_id = _school_of(request)
    kind, device_id = request.match_info["kind"], request.match_info["device"]
    try:
        dev = c.judge.liveness.devices.get((school_id, DeviceKind(kind), device_id))
    except ValueError:
        dev = None
    if dev is None:
        raise HttpError(404, f"no {kind} {device_id!r} in {school_id}")
    rule = DOWN_RULES[dev.kind]
    rows = await c.db.call(device_judgements, school_id, device_id, str(rule), 200)
    now = c.clock()
    changes = [(t, "down" if active else "up") for t, active, _ in rows]
    figures = []
    for days in HISTORY_DAYS:
        a = availability(changes, now - days * 86400, now, now)
        figures.append({"days": days, "uptime": a.uptime, "down_s": a.down_s, "outages": a.outages})
    history = [{"at": t, "down": active, "reason": d.get("reason")} for t, active, d in rows[:50]]
    school = c.registry.school(school_id)
    assert school is not None
    zone = next((z.name for z in school.zones if z.id == dev.zone), dev.zone)
    view = device_view(dev)
    if dev.kind is DeviceKind.GPS:  # a bus's GPS unit is named by the bus's plate
        view["location"] = next((b.plate for b in c.registry.buses if b.id == dev.id), None)
    return render(request, "device.html", device=view, school=school, zone=zone, figures=figures,
                  history=history, refreshing=True)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/", root)
    r.add_get("/schools/{id}", school_page)
    r.add_get("/schools/{id}/devices/{kind}/{device}", device_page)

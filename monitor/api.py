"""The rest of the contract §5 API: alerts and ack, tickets, buses and tracks, maintenance windows, the
audit log and the OpenAPI document; and `install(app)`, which wires tickets, these routes and the pages.

Every handler names the roles it admits (`who`) and checks the school of what it shows or changes, so
an officer never sees another school's data. Errors use `monitor.http`'s one shape. Actions on
tickets, alerts and maintenance windows are written to the audit log with the token's holder and the
client's address.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from alerts.model import Alert, MaintenanceWindow
from alerts.tickets import Ticket, TicketError
from devices.events import Fix
from devices.model import DeviceKind
from monitor.auth import Principal
from monitor.http import (
    APP_KEY,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    METRICS_KEY,
    HttpError,
    choice,
    iso,
    json_response,
    school_filter,
    who,
)
from monitor.storage.alert_tables import AlertHistoryRecord, AlertRecord, MaintenanceWindowRecord
from monitor.storage.bus_tables import DetourRecord
from monitor.storage.db import Database
from monitor.storage.query import where_given
from monitor.tickets import Actor, TicketDesk, audit, get_ticket, list_audit, list_tickets, write_audit

log = logging.getLogger(__name__)

ALERT_STATES = ("firing", "acknowledged", "resolved")
SEVERITIES = ("info", "warning", "critical")
TICKET_STATUSES = ("open", "in_progress", "verifying", "closed")
TRACK_KEEP = 2000  # fixes per bus kept in memory when no track store is wired
TRACK_DEFAULT_S = 3600.0
MAX_BODY_TEXT = 2000
MAX_CURSOR = 1_000_000_000
READ_ROLES = ("bureau", "officer")
TICKET_READERS = ("maintenance", "bureau", "officer")
DETOUR_KEEP_S = 86_400.0  # detours that ended longer ago than this are not restored (BusWatch forgets them too)


class AlertEngine(Protocol):
    """What the alert edge offers the API (`app.alert_engine`)."""

    async def ack(self, alert_id: str, actor: str, note: str | None) -> Alert:
        """Acknowledge; raises `alerts.lifecycle.UnknownAlert` when it is not open."""
        ...

    async def maintenance_changed(self) -> None:
        """The maintenance windows table changed: reload it."""
        ...


# ---- small helpers ---------------------------------------------------------------------------------


def actor_of(request: web.Request, principal: Principal, via: str = "api") -> Actor:
    return Actor(principal.name, principal.token_id, principal.role, request.remote, via)


def known_schools(app: Any) -> set[str]:
    return {s.id for s in app.registry.schools}


def seen_schools(principal: Principal, app: Any) -> set[str] | None:
    """None when the token sees every school."""
    return None if principal.all_schools else {s for s in principal.schools if s in known_schools(app)}


EARLIEST, LATEST = 0.0, 4102444800.0  # 1970 to 2100


def _rfc3339(value: str, name: str) -> float:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HttpError(400, f"{name} must be Unix seconds or an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise HttpError(400, f"{name} must carry a time zone (e.g. Z)")
    return moment.timestamp()


def parse_time(value: str | None, name: str) -> float | None:
    """Unix seconds or RFC 3339, between 1970 and 2100."""
    if value is None or value == "":
        return None
    try:
        t = float(value)
    except ValueError:
        t = _rfc3339(value, name)
    if not EARLIEST <= t <= LATEST:  # also NaN
        raise HttpError(400, f"{name} must be between 1970 and 2100")
    return t


def window(request: web.Request) -> tuple[int, int]:
    """(offset, limit) from `cursor` and `limit`."""
    def number(name: str, default: int, low: int, high: int | None) -> int:
        raw = request.query.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isascii() or not raw.isdigit():
            raise HttpError(400, f"{name} must be a whole number")
        n = int(raw)
        if n < low or (high is not None and n > high):
            raise HttpError(400, f"{name} must be between {low} and {high}" if high else f"{name} must be >= {low}")
        return n

    return number("cursor", 0, 0, MAX_CURSOR), number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


def paged(items: list[Any], offset: int, limit: int, more: bool) -> web.Response:
    return json_response({"items": items, "next": str(offset + limit) if more else None})


async def body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HttpError(400, "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the body must be a JSON object")
    return data


def text_field(data: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise HttpError(400, f"{name} is required")
        return None
    if not isinstance(value, str):
        raise HttpError(400, f"{name} must be a string")
    if len(value) > MAX_BODY_TEXT:
        raise HttpError(400, f"{name} must be at most {MAX_BODY_TEXT} characters")
    if required and not value.strip():
        raise HttpError(400, f"{name} must not be empty")
    return value


# ---- alerts ----------------------------------------------------------------------------------------


def alert_view(r: AlertRecord) -> dict[str, Any]:
    return {
        "id": r.id, "rule": r.rule, "severity": r.severity, "state": r.state, "school": r.school,
        "subject": r.subject, "zone": r.zone, "summary": r.summary, "summaries": dict(r.summaries or {}),
        "started_at": iso(r.started_at), "updated_at": iso(r.updated_at), "acked_by": r.acked_by,
        "acked_at": iso(r.acked_at), "note": r.note, "escalation": r.escalation, "flapping": r.flapping,
    }


def query_alerts(db: Database, schools: set[str] | None, state: str | None, rule: str | None,
                 severity: str | None, offset: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    with db.session() as s:
        q = where_given(select(AlertRecord), AlertRecord.school, schools,
                        [(AlertRecord.state, state), (AlertRecord.rule, rule), (AlertRecord.severity, severity)])
        rows = s.scalars(q.order_by(AlertRecord.started_at.desc(), AlertRecord.id).offset(offset).limit(limit + 1)).all()
        return [alert_view(r) for r in rows[:limit]], len(rows) > limit


def alert_with_history(db: Database, alert_id: str) -> dict[str, Any] | None:
    with db.session() as s:
        r = s.get(AlertRecord, alert_id)
        if r is None:
            return None
        history = s.scalars(select(AlertHistoryRecord).where(AlertHistoryRecord.alert_id == alert_id)
                            .order_by(AlertHistoryRecord.version, AlertHistoryRecord.id))
        view = alert_view(r)
        view["history"] = [{"kind": h.kind, "state": h.state, "at": iso(h.at), "actor": h.actor, "note": h.note}
                           for h in history]
        return view


def count_firing_alerts(db: Database) -> dict[str, dict[str, int]]:
    """school -> severity -> firing alerts (not yet acknowledged); for the overview page."""
    with db.session() as s:
        rows = s.execute(select(AlertRecord.school, AlertRecord.severity, func.count())
                         .where(AlertRecord.state == "firing").group_by(AlertRecord.school, AlertRecord.severity))
        out: dict[str, dict[str, int]] = {}
        for school, severity, n in rows:
            out.setdefault(school, {})[severity] = n
        return out


def alert_school(db: Database, alert_id: str) -> str | None:
    with db.session() as s:
        return s.scalar(select(AlertRecord.school).where(AlertRecord.id == alert_id))


async def list_alerts(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    principal = who(request, READ_ROLES)
    schools = school_filter(request, principal, known_schools(app))
    state = choice(request, "state", ALERT_STATES)
    severity = choice(request, "severity", SEVERITIES)
    rule = request.query.get("rule") or None
    offset, limit = window(request)
    items, more = await app.db_call(query_alerts, schools, state, rule, severity, offset, limit)  # type: ignore[attr-defined]
    return paged(items, offset, limit, more)


async def get_alert(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    alert_id = request.match_info["id"]
    principal = who(request, READ_ROLES)
    view = await app.db_call(alert_with_history, alert_id)  # type: ignore[attr-defined]
    if view is None:
        raise HttpError(404, f"no alert {alert_id!r}")
    who(request, READ_ROLES, view["school"])
    del principal
    return json_response(view)


async def ack_alert(request: web.Request, via: str = "api", note: str | None = None) -> dict[str, Any]:
    """Shared by the API and the alert page: acknowledge, audit, return the alert's view."""
    app = request.app[APP_KEY]
    alert_id = request.match_info["id"]
    principal = who(request, READ_ROLES)
    school = await app.db_call(alert_school, alert_id)  # type: ignore[attr-defined]
    if school is None:
        raise HttpError(404, f"no alert {alert_id!r}")
    principal = who(request, READ_ROLES, school)
    engine: AlertEngine | None = getattr(app, "alert_engine", None)
    if engine is None:
        raise HttpError(503, "the alert engine is not running")
    from alerts.lifecycle import UnknownAlert

    try:
        alert = await engine.ack(alert_id, principal.name, note)
    except UnknownAlert:
        raise HttpError(409, f"alert {alert_id} is already resolved") from None
    await app.db_call(audit, actor_of(request, principal, via), "alert.acknowledged", alert_id, school,  # type: ignore[attr-defined]
                      app.clock(), {"note": note} if note else {})  # type: ignore[attr-defined]
    view = await app.db_call(alert_with_history, alert_id)  # type: ignore[attr-defined]
    return view or {"id": alert.id, "state": str(alert.state)}


async def post_ack(request: web.Request) -> web.Response:
    who(request, READ_ROLES)
    data = await body(request)
    return json_response(await ack_alert(request, "api", text_field(data, "note")))


# ---- tickets ---------------------------------------------------------------------------------------


def ticket_view(t: Ticket, notes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": t.id, "school": t.school, "kind": t.kind, "device": t.device, "zone": t.zone, "status": str(t.status),
        "opened_at": iso(t.opened_at), "updated_at": iso(t.updated_at), "opened_by": t.opened_by,
        "down_since": iso(t.down_since), "assignee": t.assignee, "resolved_at": iso(t.resolved_at),
        "resolved_by": t.resolved_by, "closed_at": iso(t.closed_at), "reopened": t.reopened, "notes": t.notes,
        "repair_s": t.repair_s(),
    }
    if notes is not None:
        view["note_list"] = [{**n, "at": iso(n["at"])} for n in notes]
    return view


def desk_of(app: Any) -> TicketDesk:
    desk = getattr(app, "tickets", None)
    if desk is None:
        raise HttpError(503, "tickets are not running")
    return desk


async def find_ticket(request: web.Request, roles: tuple[str, ...]) -> tuple[Ticket, list[dict[str, Any]], Principal]:
    app = request.app[APP_KEY]
    ticket_id = request.match_info["id"]
    who(request, roles)
    found = await app.db_call(get_ticket, ticket_id)  # type: ignore[attr-defined]
    if found is None:
        raise HttpError(404, f"no ticket {ticket_id!r}")
    ticket, notes = found
    principal = who(request, roles, ticket.school)
    return ticket, notes, principal


async def api_list_tickets(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    principal = who(request, TICKET_READERS)
    schools = school_filter(request, principal, known_schools(app))
    status = choice(request, "status", TICKET_STATUSES)
    device = request.query.get("device") or None
    assignee = request.query.get("assignee") or None
    offset, limit = window(request)
    items = await app.db_call(list_tickets, schools, status, device, assignee)  # type: ignore[attr-defined]
    chunk = [ticket_view(t) for t in items[offset:offset + limit]]
    return paged(chunk, offset, limit, offset + limit < len(items))


async def api_get_ticket(request: web.Request) -> web.Response:
    ticket, notes, _ = await find_ticket(request, TICKET_READERS)
    return json_response(ticket_view(ticket, notes))


def device_key(app: Any, school: str, device: str, kind: str | None) -> tuple[tuple[str, str, str], str | None]:
    matches = [d for d in app.judge.devices() if d.school == school and d.id == device
               and (kind is None or str(d.kind) == kind)]
    if not matches:
        raise HttpError(404, f"no device {device!r} in school {school!r}")
    if len(matches) > 1:
        raise HttpError(400, f"{device} names more than one device; say which `kind`")
    d = matches[0]
    return (d.school, str(d.kind), d.id), d.zone


async def ticket_action(request: web.Request, what: str, data: dict[str, Any], via: str) -> Ticket:
    """open / assign / note / resolve, shared by the API and the crew's page."""
    app = request.app[APP_KEY]
    desk = desk_of(app)
    try:
        if what == "open":
            school = text_field(data, "school", True) or ""
            device = text_field(data, "device", True) or ""
            kind = text_field(data, "kind")
            if kind is not None and kind not in [k.value for k in DeviceKind]:
                raise HttpError(400, "kind must be camera, alarm or gps")
            who(request, TICKET_READERS)
            if app.registry.school(school) is None:  # type: ignore[attr-defined]
                raise HttpError(404, f"no school {school!r}")
            principal = who(request, TICKET_READERS, school)
            key, zone = device_key(app, school, device, kind)
            return await desk.open_by_hand(key, zone, actor_of(request, principal, via), text_field(data, "note"))
        roles = {"assign": ("maintenance", "bureau"), "note": TICKET_READERS, "resolve": ("maintenance",)}[what]
        ticket, _, principal = await find_ticket(request, roles)
        actor = actor_of(request, principal, via)
        if what == "assign":
            assignee = text_field(data, "assignee") or principal.name
            return await desk.assign(ticket.id, assignee, actor)
        if what == "note":
            return await desk.note(ticket.id, text_field(data, "note", True) or "", actor)
        return await desk.resolve(ticket.id, text_field(data, "note"), actor)
    except TicketError as exc:
        raise HttpError(exc.status, exc.message) from None


def _ticket_route(what: str, status: int = 200) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        who(request, TICKET_READERS if what in ("open", "note") else ("maintenance", "bureau"))
        ticket = await ticket_action(request, what, await body(request), "api")
        found = await request.app[APP_KEY].db_call(get_ticket, ticket.id)  # type: ignore[attr-defined]
        return json_response(ticket_view(*found) if found else ticket_view(ticket), status)

    handler.__name__ = f"ticket_{what}"
    return handler


# ---- buses -----------------------------------------------------------------------------------------


class RecentTracks:
    """The last fixes of each bus, kept in memory from `app.fixes` when no track store is wired."""

    def __init__(self, app: Any, keep: int = TRACK_KEEP) -> None:
        self.app = app
        self.keep = keep
        self.tracks: dict[str, deque[Fix]] = {}
        self._task: asyncio.Task[None] | None = None

    def take(self) -> None:
        for bus, fix in list(self.app.fixes.items()):
            track = self.tracks.get(bus)
            if track is None:
                track = self.tracks[bus] = deque(maxlen=self.keep)
            if not track or track[-1] is not fix:
                track.append(fix)

    def since(self, bus: str, t: float) -> list[Fix]:
        self.take()
        return [f for f in self.tracks.get(bus, ()) if f.received >= t]

    async def run(self) -> None:
        while True:
            try:
                self.take()
            except Exception:  # noqa: BLE001
                log.exception("track sampling failed")
            await asyncio.sleep(0.5)

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="tracks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass


def bus_view(app: Any, bus: Any) -> dict[str, Any]:
    dev = app.judge.liveness.devices.get((bus.school, DeviceKind.GPS, bus.id))
    view = {"id": bus.id, "plate": bus.plate, "school": bus.school, "route": bus.route, "capacity": bus.capacity,
            "gps": str(dev.state) if dev else "unknown", "last_seen": iso(dev.last_seen) if dev else None,
            **app.bus_view(bus.id)}
    watch = app.buses.watches.get(bus.id) if getattr(app, "buses", None) is not None else None
    if watch is not None:
        snap = watch.snapshot()
        view.update(off_route=snap.off_route, distance_m=snap.distance_m, speed_kmh=snap.speed_kmh, detour=snap.detour)
    else:
        view.update(off_route=False, distance_m=None, speed_kmh=None, detour=None)
    return view


def route_view(route: Any) -> dict[str, Any] | None:
    if route is None:
        return None
    return {"id": route.id, "corridor_m": route.corridor_m, "speed_limit_kmh": route.speed_limit_kmh,
            "windows": [str(w) for w in route.windows], "path": [list(p) for p in route.path]}


def find_bus(request: web.Request) -> Any:
    app = request.app[APP_KEY]
    bus_id = request.match_info["id"]
    who(request, READ_ROLES)
    bus = next((b for b in app.registry.buses if b.id == bus_id), None)  # type: ignore[attr-defined]
    if bus is None:
        raise HttpError(404, f"no bus {bus_id!r}")
    who(request, READ_ROLES, bus.school)
    return bus


def fix_view(f: Fix) -> dict[str, Any]:
    return {"ts": f.ts, "time": iso(f.ts), "received": iso(f.received), "lat": f.lat, "lon": f.lon,
            "speed_kmh": f.speed_kmh, "heading": f.heading}


async def track_of(app: Any, bus_id: str, since: float) -> list[Fix]:
    store = getattr(app, "tracks", None)
    if store is not None and hasattr(store, "since"):
        return list(await store.since(bus_id, since))
    return app.recent_tracks.since(bus_id, since)


async def list_buses(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    principal = who(request, READ_ROLES)
    schools = school_filter(request, principal, known_schools(app))
    items = [bus_view(app, b) for b in app.registry.buses if b.school in schools]  # type: ignore[attr-defined]
    items.sort(key=lambda v: (v["school"], v["id"]))
    offset, limit = window(request)
    return paged(items[offset:offset + limit], offset, limit, offset + limit < len(items))


async def get_bus(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    bus = find_bus(request)
    return json_response({**bus_view(app, bus), "route_detail": route_view(app.registry.route(bus.route))})  # type: ignore[attr-defined]


async def bus_track(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    bus = find_bus(request)
    since = parse_time(request.query.get("since"), "since")
    if since is None:
        since = app.clock() - TRACK_DEFAULT_S  # type: ignore[attr-defined]
    offset, limit = window(request)
    fixes = [fix_view(f) for f in await track_of(app, bus.id, since)]
    return paged(fixes[offset:offset + limit], offset, limit, offset + limit < len(fixes))


# ---- declared detours ------------------------------------------------------------------------------


def detour_view(r: DetourRecord, now: float) -> dict[str, Any]:
    return {"id": r.id, "bus": r.bus, "school": r.school, "start": iso(r.starts), "end": iso(r.ends),
            "reason": r.reason, "created_by": r.created_by, "created_at": iso(r.created_at),
            "active": r.starts <= now < r.ends}


def save_detour(db: Database, record: DetourRecord, actor: Actor) -> None:
    """The detour and its audit row in one transaction."""
    with db.session() as s:
        s.add(record)
        write_audit(s, actor, "bus.detour_declared", record.bus, record.school, record.created_at,
                    {"detour": record.id, "start": record.starts, "end": record.ends, "reason": record.reason})


def query_detours(db: Database, bus_id: str | None, ended_after: float | None) -> list[DetourRecord]:
    """Detours, newest start first; of one bus, or those ending after a time."""
    with db.session() as s:
        q = select(DetourRecord)
        if bus_id is not None:
            q = q.where(DetourRecord.bus == bus_id)
        if ended_after is not None:
            q = q.where(DetourRecord.ends > ended_after)
        rows = list(s.scalars(q.order_by(DetourRecord.starts.desc(), DetourRecord.id)))
        s.expunge_all()
        return rows


def time_field(data: dict[str, Any], name: str) -> float:
    value = data.get(name)
    if value is None:
        raise HttpError(400, f"{name} is required")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise HttpError(400, f"{name} must be Unix seconds or an RFC 3339 time")
    t = parse_time(str(value), name)
    if t is None:
        raise HttpError(400, f"{name} is required")
    return t


async def declare_detour(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    bus = find_bus(request)
    principal = who(request, READ_ROLES, bus.school)
    data = await body(request)
    start, end = time_field(data, "start"), time_field(data, "end")
    if not end > start:
        raise HttpError(400, "end must be after start")
    reason = (text_field(data, "reason", True) or "").strip()
    watch = app.buses.watches.get(bus.id)  # type: ignore[attr-defined]
    if watch is None:
        raise HttpError(503, f"bus {bus.id} is not watched")
    now = app.clock()  # type: ignore[attr-defined]
    record = DetourRecord(id="d-" + uuid.uuid4().hex[:12], bus=bus.id, school=bus.school, starts=start, ends=end,
                          reason=reason, created_by=principal.name, created_at=now)
    await app.db_call(save_detour, record, actor_of(request, principal))  # type: ignore[attr-defined]
    watch.declare_detour(start, end, reason)
    log.info("detour %s for bus %s from %s to %s by %s: %s", record.id, bus.id, iso(start), iso(end),
             principal.name, reason)
    return json_response(detour_view(record, now), 201)


async def list_detours(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    bus = find_bus(request)
    offset, limit = window(request)
    rows = await app.db_call(query_detours, bus.id, None)  # type: ignore[attr-defined]
    now = app.clock()  # type: ignore[attr-defined]
    items = [detour_view(r, now) for r in rows[offset:offset + limit]]
    return paged(items, offset, limit, offset + limit < len(rows))


class DetourRestorer:
    """A service (started after the database, before the collector) handing stored detours back to the
    bus watches, so a restart does not turn a declared detour into an alert."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def start(self) -> None:
        rows = await self.app.db_call(query_detours, None, self.app.clock() - DETOUR_KEEP_S)
        restored = 0
        for r in sorted(rows, key=lambda r: r.starts):
            watch = self.app.buses.watches.get(r.bus)
            if watch is not None and r.ends > r.starts:
                watch.declare_detour(r.starts, r.ends, r.reason)
                restored += 1
        if restored:
            log.info("restored %d declared detours", restored)

    async def stop(self) -> None:
        return None


# ---- maintenance windows ---------------------------------------------------------------------------


def window_view(r: MaintenanceWindowRecord) -> dict[str, Any]:
    return {"id": r.id, "school": r.school, "zone": r.zone, "starts": iso(r.starts), "ends": iso(r.ends),
            "reason": r.reason, "created_by": r.created_by}


def query_windows(db: Database, schools: set[str] | None, now: float) -> list[dict[str, Any]]:
    with db.session() as s:
        q = select(MaintenanceWindowRecord).where(MaintenanceWindowRecord.ends > now)
        if schools is not None:
            q = q.where(MaintenanceWindowRecord.school.in_(sorted(schools)))
        return [window_view(r) for r in s.scalars(q.order_by(MaintenanceWindowRecord.starts, MaintenanceWindowRecord.id))]


def save_window(db: Database, w: MaintenanceWindow, now: float) -> None:
    from alerts.outbox import save_maintenance

    with db.session() as s:
        save_maintenance(s, w, now)


def remove_window(db: Database, window_id: str) -> str | None:
    """The deleted window's school, or None when there was none."""
    with db.session() as s:
        r = s.get(MaintenanceWindowRecord, window_id)
        if r is None:
            return None
        school = r.school
        s.delete(r)
        return school


def window_school(db: Database, window_id: str) -> str | None:
    with db.session() as s:
        return s.scalar(select(MaintenanceWindowRecord.school).where(MaintenanceWindowRecord.id == window_id))


async def _maintenance_changed(app: Any) -> None:
    engine = getattr(app, "alert_engine", None)
    if engine is not None:
        await engine.maintenance_changed()


async def list_windows(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    principal = who(request, READ_ROLES)
    schools = school_filter(request, principal, known_schools(app))
    items = await app.db_call(query_windows, schools, app.clock())  # type: ignore[attr-defined]
    offset, limit = window(request)
    return paged(items[offset:offset + limit], offset, limit, offset + limit < len(items))


async def create_window(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    who(request, READ_ROLES)
    data = await body(request)
    school_id = text_field(data, "school", True) or ""
    school = app.registry.school(school_id)  # type: ignore[attr-defined]
    if school is None:
        raise HttpError(404, f"no school {school_id!r}")
    principal = who(request, READ_ROLES, school_id)
    zone = text_field(data, "zone")
    if zone is not None and school.zone(zone) is None:
        raise HttpError(404, f"no zone {zone!r} in school {school_id}")
    starts = parse_time(str(data["starts"]) if data.get("starts") is not None else None, "starts")
    ends = parse_time(str(data["ends"]) if data.get("ends") is not None else None, "ends")
    now = app.clock()  # type: ignore[attr-defined]
    starts = now if starts is None else starts
    if ends is None or ends <= starts:
        raise HttpError(400, "ends is required and must be after starts")
    w = MaintenanceWindow(id="m-" + uuid.uuid4().hex[:12], school=school_id, starts=starts, ends=ends, zone=zone,
                          reason=text_field(data, "reason") or "", created_by=principal.name)
    await app.db_call(save_window, w, now)  # type: ignore[attr-defined]
    await app.db_call(audit, actor_of(request, principal), "maintenance.created", w.id, school_id, now,  # type: ignore[attr-defined]
                      {"zone": zone, "starts": starts, "ends": ends, "reason": w.reason})
    await _maintenance_changed(app)
    return json_response({"id": w.id, "school": w.school, "zone": w.zone, "starts": iso(w.starts), "ends": iso(w.ends),
                          "reason": w.reason, "created_by": w.created_by}, 201)


async def delete_window(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    window_id = request.match_info["id"]
    who(request, READ_ROLES)
    school = await app.db_call(window_school, window_id)  # type: ignore[attr-defined]
    if school is None:
        raise HttpError(404, f"no maintenance window {window_id!r}")
    principal = who(request, READ_ROLES, school)
    await app.db_call(remove_window, window_id)  # type: ignore[attr-defined]
    await app.db_call(audit, actor_of(request, principal), "maintenance.deleted", window_id, school, app.clock())  # type: ignore[attr-defined]
    await _maintenance_changed(app)
    return json_response({"id": window_id, "deleted": True})


# ---- audit log -------------------------------------------------------------------------------------


async def get_audit(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    principal = who(request, ("bureau",))
    wanted = request.query.get("school") or None
    if wanted is not None and wanted not in known_schools(app):
        raise HttpError(404, f"no school {wanted!r}")
    since = parse_time(request.query.get("since"), "since")
    offset, limit = window(request)
    rows = await app.db_call(list_audit, {wanted} if wanted else None, request.query.get("target") or None,  # type: ignore[attr-defined]
                             request.query.get("action") or None, since, offset + limit + 1)
    del principal
    chunk = [{**r, "at": iso(r["at"])} for r in rows[offset:offset + limit]]
    return paged(chunk, offset, limit, len(rows) > offset + limit)


async def get_notifications(request: web.Request) -> web.Response:
    """Dead letters (and other outbox states), so the bureau sees what never arrived."""
    from alerts.outbox import list_outbox

    app = request.app[APP_KEY]
    who(request, ("bureau",))
    state = request.query.get("state") or "dead"
    if state not in ("pending", "sent", "dead"):
        raise HttpError(400, "state must be one of pending, sent, dead")
    offset, limit = window(request)

    def rows(db: Database) -> list[dict[str, Any]]:
        with db.session() as s:
            return list_outbox(s, state, request.query.get("receiver") or None, offset + limit + 1)

    found = await app.db_call(rows)  # type: ignore[attr-defined]
    chunk = [{**r, "created": iso(r["created"])} for r in found[offset:offset + limit]]
    return paged(chunk, offset, limit, len(found) > offset + limit)


# ---- OpenAPI ---------------------------------------------------------------------------------------


async def openapi(request: web.Request) -> web.Response:
    from monitor.openapi import document

    return json_response(document())


# ---- wiring ----------------------------------------------------------------------------------------


class _Families:
    """A prometheus_client collector over a callable yielding metric families."""

    def __init__(self, source: Callable[[], Any]) -> None:
        self.source = source

    def collect(self) -> Any:
        return self.source()


def add_routes(web_app: web.Application) -> None:
    r = web_app.router
    r.add_get("/api/v1/openapi.json", openapi)
    r.add_get("/api/v1/alerts", list_alerts)
    r.add_get("/api/v1/alerts/{id}", get_alert)
    r.add_post("/api/v1/alerts/{id}/ack", post_ack)
    r.add_get("/api/v1/tickets", api_list_tickets)
    r.add_post("/api/v1/tickets", _ticket_route("open", 201))
    r.add_get("/api/v1/tickets/{id}", api_get_ticket)
    r.add_post("/api/v1/tickets/{id}/assign", _ticket_route("assign"))
    r.add_post("/api/v1/tickets/{id}/note", _ticket_route("note"))
    r.add_post("/api/v1/tickets/{id}/resolve", _ticket_route("resolve"))
    r.add_get("/api/v1/buses", list_buses)
    r.add_get("/api/v1/buses/{id}", get_bus)
    r.add_get("/api/v1/buses/{id}/track", bus_track)
    r.add_get("/api/v1/buses/{id}/detours", list_detours)
    r.add_post("/api/v1/buses/{id}/detours", declare_detour)
    r.add_get("/api/v1/maintenance", list_windows)
    r.add_post("/api/v1/maintenance", create_window)
    r.add_delete("/api/v1/maintenance/{id}", delete_window)
    r.add_get("/api/v1/audit", get_audit)
    r.add_get("/api/v1/notifications", get_notifications)


def install(app: Any) -> None:
    """Wire tickets, the recent-track buffer, these routes, the pages and the ticket metrics into `app`.
    Call once from `App.__init__` (or right after making the App, before `start()`)."""
    desk = TicketDesk(app)
    app.tickets = desk
    app.recent_tracks = RecentTracks(app)
    app.listeners.append(desk.on_judgements)
    app.services.append(DetourRestorer(app))

    def extend(web_app: web.Application) -> None:
        from monitor.pages import add_pages

        add_routes(web_app)
        add_pages(web_app)
        registry: CollectorRegistry = web_app[METRICS_KEY]  # type: ignore[assignment]
        registry.register(_Families(desk.metrics))  # type: ignore[arg-type]

        async def on_start(_: web.Application) -> None:
            await desk.start()
            await app.recent_tracks.start()

        async def on_stop(_: web.Application) -> None:
            await app.recent_tracks.stop()
            await desk.stop()

        web_app.on_startup.append(on_start)
        web_app.on_cleanup.append(on_stop)

    app.route_extensions.append(extend)

"""What a request may do, shared by the API and the pages: who the caller is and what they may see,
finding a bus or a ticket within the caller's schools, acknowledging an alert, the crew's ticket
actions. Every action is audited with who, when and from where (api or page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from alerts.lifecycle import UnknownAlert
from alerts.tickets import Ticket, TicketError, TicketStatus, day_numbers
from devices.events import Fix
from devices.model import Bus, DeviceKind
from monitor.http.auth import AuthError, Principal, require
from monitor.http.context import HttpContext, context
from monitor.http.errors import HttpError
from monitor.http.params import text_field
from monitor.http.views import alert_detail_view
from monitor.storage import alert_store
from monitor.storage.audit_store import Actor, audit
from monitor.storage.ticket_store import get_ticket, opened_between

PRINCIPAL = web.RequestKey("principal", Principal)
DISTRICT_TZ = ZoneInfo("Asia/Shanghai")
READ_ROLES = ("bureau", "officer")
TICKET_READERS = ("maintenance", "bureau", "officer")
TICKET_STATUSES = tuple(str(s) for s in TicketStatus)
DEVICE_KINDS = tuple(str(k) for k in DeviceKind)


def who(request: web.Request, roles: tuple[str, ...], school: str | None = None) -> Principal:
    return require(request.get(PRINCIPAL), roles, school)


def in_scope(request: web.Request, roles: tuple[str, ...], school: str | None, what: str) -> Principal:
    """The caller, for a thing that belongs to `school` (None: no such thing). Outside the caller's
    schools the answer is 403 whether the thing exists or not (contract §5); 404 only for callers
    who see every school."""
    principal = who(request, roles)
    if school is None:
        if principal.all_schools:
            raise HttpError(404, f"no {what}")
        raise AuthError(403, "this token is not for that school")
    return who(request, roles, school)


def actor_of(request: web.Request, principal: Principal, via: str = "api") -> Actor:
    return Actor(principal.name, principal.token_id, principal.role, request.remote, via)


def known_schools(c: HttpContext) -> set[str]:
    return {s.id for s in c.registry.schools}


def find_bus(request: web.Request, roles: tuple[str, ...] = READ_ROLES) -> Bus:
    c = context(request)
    bus_id = request.match_info["id"]
    bus = next((b for b in c.registry.buses if b.id == bus_id), None)
    in_scope(request, roles, bus.school if bus else None, f"bus {bus_id!r}")
    assert bus is not None
    return bus


async def track_of(c: HttpContext, bus_id: str, since: float) -> list[Fix]:
    return await c.tracks.since(bus_id, since)


async def ack_alert(request: web.Request, via: str = "api", note: str | None = None,
                    alert_id: str | None = None) -> dict[str, Any]:
    """Acknowledge (the route's alert unless `alert_id` is given), audit, and return the alert's view."""
    view, _ = await ack_alert_answer(request, via, note, alert_id)
    return view


async def ack_alert_answer(request: web.Request, via: str = "api", note: str | None = None,
                           alert_id: str | None = None) -> tuple[dict[str, Any], int]:
    """`ack_alert`, with the status to answer: 200 acknowledged here; 202 when another instance owns
    the alert's school (contract §9): the request is stored and that instance applies it on its next
    tick (`AlertEngine.apply_ack_requests`)."""
    c = context(request)
    alert_id = alert_id or request.match_info["id"]
    school = await c.db.call(alert_store.alert_school, alert_id)
    principal = in_scope(request, READ_ROLES, school, f"alert {alert_id!r}")
    assert school is not None
    status = 200
    if c.alerts.owns(school):
        try:
            alert = await c.alerts.ack(alert_id, principal.name, note)
        except UnknownAlert:
            raise HttpError(409, f"alert {alert_id} is already resolved") from None
        fallback = {"id": alert.id, "state": str(alert.state)}
    else:
        state = await c.db.call(alert_store.request_ack, alert_id, principal.name, note, c.clock())
        if state is None or state == "resolved":
            raise HttpError(409, f"alert {alert_id} is already resolved")
        status = 202 if state == "firing" else 200  # acknowledged already: nothing to ask
        fallback = {"id": alert_id, "state": state}
    await c.db.call(audit, actor_of(request, principal, via), "alert.acknowledged", alert_id, school,
                    c.clock(), {"note": note} if note else {})
    found = await c.db.call(alert_store.alert_with_history, alert_id)
    return (alert_detail_view(*found) if found else fallback), status


async def find_ticket(request: web.Request, roles: tuple[str, ...]) -> tuple[Ticket, list[dict[str, Any]], Principal]:
    c = context(request)
    ticket_id = request.match_info["id"]
    who(request, roles)
    found = await c.db.call(get_ticket, ticket_id)
    principal = in_scope(request, roles, found[0].school if found else None, f"ticket {ticket_id!r}")
    assert found is not None
    ticket, notes = found
    return ticket, notes, principal


def device_key(c: HttpContext, school: str, device: str, kind: str | None) -> tuple[tuple[str, str, str], str | None]:
    matches = [d for d in c.judge.devices() if d.school == school and d.id == device
               and (kind is None or str(d.kind) == kind)]
    if not matches:
        raise HttpError(404, f"no device {device!r} in school {school!r}")
    if len(matches) > 1:
        raise HttpError(400, f"{device} names more than one device; say which `kind`")
    d = matches[0]
    return (d.school, str(d.kind), d.id), d.zone


async def ticket_action(request: web.Request, what: str, data: dict[str, Any], via: str) -> Ticket:
    """open / assign / note / resolve."""
    c = context(request)
    desk = c.tickets
    try:
        if what == "open":
            school = text_field(data, "school", True) or ""
            device = text_field(data, "device", True) or ""
            kind = text_field(data, "kind")
            if kind is not None and kind not in DEVICE_KINDS:
                raise HttpError(400, f"kind must be one of {', '.join(DEVICE_KINDS)}")
            principal = in_scope(request, TICKET_READERS, school if c.registry.school(school) else None,
                                 f"school {school!r}")
            key, zone = device_key(c, school, device, kind)
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


async def ticket_numbers(c: HttpContext, tickets: list[Ticket]) -> dict[str, str]:
    """The short numbers (`1130-3`) of these tickets, counted among every ticket of their days."""
    days = {datetime.fromtimestamp(t.opened_at, UTC).astimezone(DISTRICT_TZ).replace(
        hour=0, minute=0, second=0, microsecond=0) for t in tickets}
    opened: list[tuple[str, float]] = []
    for day in days:
        opened += await c.db.call(opened_between, day.timestamp(), (day + timedelta(days=1)).timestamp())
    return day_numbers(opened, DISTRICT_TZ)

"""The crew's tickets: list, one ticket, open by hand, take, note, resolve."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alerts.tickets import TicketError
from devices.liveness import Device
from devices.model import DeviceKind
from monitor.http.actions import TICKET_STATUSES, find_ticket, ticket_action, ticket_numbers
from monitor.http.auth import Principal
from monitor.http.context import HttpContext, context
from monitor.http.errors import HttpError
from monitor.http.pages.base import (
    FORM,
    SESSION,
    PageHandler,
    back_to,
    page,
    render,
)
from monitor.http.views import device_view, ticket_view
from monitor.storage.audit_store import list_audit
from monitor.storage.ticket_store import list_tickets

# ---- tickets ---------------------------------------------------------------------------------------


@page(("maintenance", "bureau", "officer"))
async def tickets_page(request: web.Request) -> web.Response:
    c = context(request)
    principal: Principal = request[SESSION].principal
    status = request.query.get("status", "active")
    if status not in (*TICKET_STATUSES, "active", "all"):
        status = "active"
    schools = None if principal.all_schools else set(principal.schools)
    wanted = status if status in TICKET_STATUSES else None
    items = await c.db.call(list_tickets, schools, wanted, None, None)
    if status == "active":
        items = [t for t in items if t.is_open]
    names = {s.id: s.name for s in c.registry.schools}
    shown = items[:500]
    numbers = await ticket_numbers(c, shown)
    views = [described(c, ticket_view(t), numbers) for t in shown]
    visible = [s for s in c.registry.schools if principal.sees_school(s.id)]
    devices = [(s, [{**device_view(d), "location": place_of(c, str(d.kind), d.id, d)}
                    for d in c.judge.devices() if d.school == s.id]) for s in visible]
    return render(request, "tickets.html", items=views, status=status, names=names,
                  statuses=TICKET_STATUSES, devices=devices, refreshing=True)


def place_of(c: HttpContext, kind: str, device: str, dev: Device | None) -> str:
    """What names a device for people: its registry `location`, or for a bus's GPS unit the plate."""
    if kind == str(DeviceKind.GPS):
        return next((b.plate for b in c.registry.buses if b.id == device), "")
    return dev.spec.location if dev else ""


def described(c: HttpContext, view: dict[str, Any], numbers: dict[str, str]) -> dict[str, Any]:
    """A ticket's view with what a crew reads: its short number, the device's location and zone name."""
    try:
        dev = c.judge.liveness.devices.get((view["school"], DeviceKind(view["kind"]), view["device"]))
    except ValueError:
        dev = None
    school = c.registry.school(view["school"])
    zone = next((z.name for z in school.zones if z.id == view["zone"]), view["zone"]) if school else view["zone"]
    view.update(number=numbers.get(view["id"], view["id"]), location=place_of(c, view["kind"], view["device"], dev),
                zone_name=zone, device_state=str(dev.state) if dev else "unknown")
    return view


@page(("maintenance", "bureau", "officer"))
async def ticket_page(request: web.Request) -> web.Response:
    c = context(request)
    ticket, notes, _ = await find_ticket(request, ("maintenance", "bureau", "officer"))  # 403 alike outside the caller's schools
    names = {s.id: s.name for s in c.registry.schools}
    view = described(c, ticket_view(ticket, notes), await ticket_numbers(c, [ticket]))
    audit = await c.db.call(list_audit, None, ticket.id, None, None, 200)  # every action, who and when
    history = [history_line(a) for a in reversed(audit) if a["action"].startswith("ticket.")]
    return render(request, "ticket.html", ticket=view, history=history, names=names, refreshing=True)


def history_line(a: dict[str, Any]) -> dict[str, Any]:
    """One audited ticket action for the page: the verb is translated there; the text is the person's
    own note (an assignment shows whom, not the rules' English note)."""
    action = a["action"].removeprefix("ticket.")
    detail = a["detail"] or {}
    text = detail.get("assignee") if action == "assigned" else detail.get("note")
    return {"at": a["at"], "author": a["actor"], "action": action, "text": text}


def _ticket_post(what: str) -> PageHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        form = request[FORM]
        data = {k: str(v) for k, v in form.items() if k in ("note", "assignee", "school", "device", "kind") and str(v).strip()}
        target = str(form.get("target", ""))  # the manual ticket's device, picked from a list: school/kind/id
        if target.count("/") == 2:
            data["school"], data["kind"], data["device"] = target.split("/")
        try:
            ticket = await ticket_action(request, what, data, "page")
        except TicketError as exc:  # pragma: no cover - ticket_action maps these
            raise HttpError(exc.status, exc.message) from None
        raise back_to(request, f"/tickets/{ticket.id}")

    handler.__name__ = f"ticket_page_{what}"
    return handler


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/tickets", tickets_page)
    r.add_get("/tickets/{id}", ticket_page)
    r.add_post("/tickets", page(("maintenance", "bureau", "officer"), post=True)(_ticket_post("open")))
    for what, roles in (("assign", ("maintenance", "bureau")), ("note", ("maintenance", "bureau", "officer")),
                        ("resolve", ("maintenance",))):
        r.add_post(f"/tickets/{{id}}/{what}", page(roles, post=True)(_ticket_post(what)))

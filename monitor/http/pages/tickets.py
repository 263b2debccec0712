"""The crew's tickets: list, one ticket, open by hand, take, note, resolve."""

from __future__ import annotations

from aiohttp import web

from alerts.tickets import TicketError
from monitor.http.actions import TICKET_STATUSES, ticket_action
from monitor.http.auth import Principal, require
from monitor.http.context import context
from monitor.http.errors import HttpError
from monitor.http.pages.base import (
    FORM,
    SESSION,
    PageHandler,
    back_to,
    page,
    render,
)
from monitor.http.views import ticket_view
from monitor.storage.ticket_store import get_ticket, list_tickets

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
    return render(request, "tickets.html", items=[ticket_view(t) for t in items[:500]], status=status, names=names,
                  statuses=TICKET_STATUSES, schools=[s for s in c.registry.schools if principal.sees_school(s.id)],
                  refreshing=True)


@page(("maintenance", "bureau", "officer"))
async def ticket_page(request: web.Request) -> web.Response:
    c = context(request)
    found = await c.db.call(get_ticket, request.match_info["id"])
    if found is None:
        raise HttpError(404, "no such ticket")
    ticket, notes = found
    require(request[SESSION].principal, ("maintenance", "bureau", "officer"), ticket.school)
    names = {s.id: s.name for s in c.registry.schools}
    return render(request, "ticket.html", ticket=ticket_view(ticket, notes), names=names, refreshing=True)


def _ticket_post(what: str) -> PageHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        form = request[FORM]
        data = {k: str(v) for k, v in form.items() if k in ("note", "assignee", "school", "device", "kind") and str(v).strip()}
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

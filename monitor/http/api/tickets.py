"""`/api/v1/tickets`: list, one, open by hand, assign, note, resolve."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from monitor.http.actions import (
    TICKET_READERS,
    TICKET_STATUSES,
    find_ticket,
    known_schools,
    ticket_action,
    who,
)
from monitor.http.context import context
from monitor.http.errors import json_response
from monitor.http.params import body, choice, paging, school_filter
from monitor.http.views import ticket_view
from monitor.storage.ticket_store import get_ticket, list_tickets


async def api_list_tickets(request: web.Request) -> web.Response:
    c = context(request)
    principal = who(request, TICKET_READERS)
    schools = school_filter(request, principal, known_schools(c))
    status = choice(request, "status", TICKET_STATUSES)
    device = request.query.get("device") or None
    assignee = request.query.get("assignee") or None
    items = await c.db.call(list_tickets, schools, status, device, assignee)
    return paging(request).of([ticket_view(t) for t in items])


async def api_get_ticket(request: web.Request) -> web.Response:
    ticket, notes, _ = await find_ticket(request, TICKET_READERS)
    return json_response(ticket_view(ticket, notes))


def ticket_route(what: str, status: int = 200) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        who(request, TICKET_READERS if what in ("open", "note") else ("maintenance", "bureau"))
        ticket = await ticket_action(request, what, await body(request), "api")
        found = await context(request).db.call(get_ticket, ticket.id)
        return json_response(ticket_view(*found) if found else ticket_view(ticket), status)

    handler.__name__ = f"ticket_{what}"
    return handler


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/api/v1/tickets", api_list_tickets)
    r.add_post("/api/v1/tickets", ticket_route("open", 201))
    r.add_get("/api/v1/tickets/{id}", api_get_ticket)
    r.add_post("/api/v1/tickets/{id}/assign", ticket_route("assign"))
    r.add_post("/api/v1/tickets/{id}/note", ticket_route("note"))
    r.add_post("/api/v1/tickets/{id}/resolve", ticket_route("resolve"))

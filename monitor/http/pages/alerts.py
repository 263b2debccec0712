"""The alerts page, with acknowledge."""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from monitor.http.actions import ack_alert
from monitor.http.auth import Principal
from monitor.http.context import context
from monitor.http.pages.base import (
    FORM,
    SESSION,
    back_to,
    page,
    render,
)
from monitor.http.views import alert_view
from monitor.storage import alert_store

# ---- alerts ----------------------------------------------------------------------------------------


@page(("bureau", "officer"))
async def alerts_page(request: web.Request) -> web.Response:
    c = context(request)
    principal: Principal = request[SESSION].principal
    state = request.query.get("state", "open")
    if state not in ("open", "firing", "acknowledged", "resolved", "all"):
        state = "open"
    schools = None if principal.all_schools else set(principal.schools)
    wanted = None if state in ("open", "all") else state
    rows, _ = await c.db.call(alert_store.query_alerts, schools, wanted, None, None, 0, 500)
    items = [alert_view(r) for r in rows]
    if state == "open":
        items = [a for a in items if a["state"] != "resolved"]
    states = {"firing": 0, "acknowledged": 1, "resolved": 2}
    severities = {"critical": 0, "warning": 1, "info": 2}
    items.sort(key=lambda a: (states.get(a["state"], 3), severities.get(a["severity"], 3)))  # stable: newest first within
    names = {s.id: s.name for s in c.registry.schools}
    return render(request, "alerts.html", items=items, state=state, names=names, refreshing=True)


@page(("bureau", "officer"), post=True)
async def ack_page(request: web.Request) -> web.StreamResponse:
    note = str(request[FORM].get("note", "")).strip() or None
    await ack_alert(request, "page", note)
    raise acked_redirect(back_to(request, "/alerts"))


def acked_redirect(found: web.HTTPFound) -> web.HTTPFound:
    """Back where the ack came from, saying it worked (the page shows a confirmation)."""
    target = URL(found.location).update_query(acked="1")
    return web.HTTPFound(str(target))


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/alerts", alerts_page)
    r.add_post("/alerts/{id}/ack", ack_page)

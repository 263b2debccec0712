"""`/api/v1/alerts` (list, one, acknowledge) and `/api/v1/notifications` (dead letters)."""

from __future__ import annotations

from aiohttp import web

from alerts.model import AlertState
from devices.events import Severity
from monitor.http.actions import READ_ROLES, ack_alert_answer, in_scope, known_schools, who
from monitor.http.context import context
from monitor.http.errors import HttpError, json_response
from monitor.http.params import body, choice, paging, school_filter, text_field
from monitor.http.views import alert_detail_view, alert_view, iso
from monitor.storage import alert_store
from monitor.storage.outbox_store import list_outbox

OUTBOX_STATES = ("pending", "sent", "dead")


async def list_alerts(request: web.Request) -> web.Response:
    c = context(request)
    principal = who(request, READ_ROLES)
    schools = school_filter(request, principal, known_schools(c))
    state = choice(request, "state", [str(s) for s in AlertState])
    severity = choice(request, "severity", [str(s) for s in Severity])
    rule = request.query.get("rule") or None
    page = paging(request)
    rows, more = await c.db.call(alert_store.query_alerts, schools, state, rule, severity, page.offset, page.limit)
    return page.answer([alert_view(r) for r in rows], more)


async def get_alert(request: web.Request) -> web.Response:
    c = context(request)
    alert_id = request.match_info["id"]
    found = await c.db.call(alert_store.alert_with_history, alert_id)
    in_scope(request, READ_ROLES, found[0].school if found else None, f"alert {alert_id!r}")
    assert found is not None
    return json_response(alert_detail_view(*found))


async def post_ack(request: web.Request) -> web.Response:
    who(request, READ_ROLES)
    data = await body(request)
    view, status = await ack_alert_answer(request, "api", text_field(data, "note"))
    return json_response(view, status)


async def get_notifications(request: web.Request) -> web.Response:
    """Dead letters (and other outbox states), so the bureau sees what never arrived."""
    c = context(request)
    who(request, ("bureau",))
    state = request.query.get("state") or "dead"
    if state not in OUTBOX_STATES:
        raise HttpError(400, f"state must be one of {', '.join(OUTBOX_STATES)}")
    page = paging(request)
    found = await c.db.call(list_outbox, state, request.query.get("receiver") or None, page.offset + page.limit + 1)
    chunk = [{**r, "created": iso(r["created"])} for r in found[page.offset:page.offset + page.limit]]
    return page.answer(chunk, len(found) > page.offset + page.limit)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/api/v1/alerts", list_alerts)
    r.add_get("/api/v1/alerts/{id}", get_alert)
    r.add_post("/api/v1/alerts/{id}/ack", post_ack)
    r.add_get("/api/v1/notifications", get_notifications)

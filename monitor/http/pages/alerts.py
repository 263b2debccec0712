"""The alerts page: filtered by school, rule, severity and state (info-level alerts such as off-hours
driving only when asked for), acknowledge one or many with a note, each device alert linked to the
repair ticket it led to, and acknowledged alerts kept with who, when and the note."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from yarl import URL

from alerts.model import ALARM_TEST_OVERDUE, AlertState
from alerts.tickets import Ticket
from alerts.wording import rule_name
from devices.events import KIND_OF_DOWN_RULE, Rule
from monitor.http.actions import READ_ROLES, ack_alert, in_scope, known_schools, ticket_numbers
from monitor.http.auth import Principal
from monitor.http.context import context
from monitor.http.errors import HttpError
from monitor.http.pages.base import FORM, SESSION, back_to, lang_of, page, render
from monitor.http.views import alert_view
from monitor.storage import alert_store
from monitor.storage.ticket_store import tickets_of_devices

SHOWN = 300
STATES = {"open": {"firing", "acknowledged"}, "firing": {"firing"}, "acknowledged": {"acknowledged"},
          "resolved": {"resolved"}, "all": None}
SEVERITIES = {"serious": {"critical", "warning"}, "critical": {"critical"}, "warning": {"warning"},
              "info": {"info"}, "all": None}
RULES = [str(r) for r in Rule] + [ALARM_TEST_OVERDUE]


def _pick(request: web.Request, key: str, allowed: dict[str, Any] | list[str], default: str) -> str:
    value = request.query.get(key, default)
    return value if value in allowed else default


_CANCELLED = re.compile(r"cancelled at the panel after (\d+) s")


def rule_note(note: str | None, lang: str) -> str | None:
    """A note the alert rules wrote (English, for the API and the log) in the reader's language."""
    if not note or lang == "en":
        return note
    if note == "stopped flapping":
        return "已不再频繁掉线"
    if note == "tested":
        return "已完成测试按键"
    m = _CANCELLED.fullmatch(note)
    if m:
        return f"报警器上已取消（{m.group(1)} 秒后）"
    return note


def linked_ticket(alert: dict[str, Any], tickets: list[Ticket]) -> Ticket | None:
    """The repair ticket a device alert led to: the device's ticket opened while the alert was open
    (tickets open some minutes after the device went down), else the one open when it started."""
    kind = KIND_OF_DOWN_RULE.get(alert["rule"])
    if kind is None:
        return None
    start, end = alert["started_ts"], alert["resolved_ts"]
    candidates = [t for t in tickets if t.school == alert["school"] and t.device == alert["subject"] and t.kind == str(kind)]
    for t in candidates:
        if start - 1 <= t.opened_at and (end is None or t.opened_at <= end + 1):
            return t
    return next((t for t in candidates if t.opened_at < start and (t.closed_at is None or t.closed_at >= start)), None)


@page(READ_ROLES)
async def alerts_page(request: web.Request) -> web.Response:
    c = context(request)
    principal: Principal = request[SESSION].principal
    lang = lang_of(request)
    state = _pick(request, "state", STATES, "open")
    severity = _pick(request, "severity", SEVERITIES, "serious")
    rule = _pick(request, "rule", RULES, "")
    mine = sorted(s for s in known_schools(c) if principal.sees_school(s))
    school = _pick(request, "school", mine, "")
    subject = request.query.get("subject") or None
    schools = {school} if school else (None if principal.all_schools else set(principal.schools))
    rows, total = await c.db.call(alert_store.page_alerts, schools, STATES[state], {rule} if rule else None,
                                  SEVERITIES[severity], subject, SHOWN)
    items = []
    for r in rows:
        view = alert_view(r)
        shown_note = r.note if r.acked_by else rule_note(r.note, lang)  # a person's note as written
        view.update(rule_name=rule_name(r.rule, lang), started_ts=r.started_at, shown_note=shown_note,
                    resolved_ts=r.updated_at if r.state == str(AlertState.RESOLVED) else None)
        items.append(view)
    tickets = await c.db.call(tickets_of_devices, {(a["school"], a["subject"]) for a in items
                                                   if a["rule"] in KIND_OF_DOWN_RULE})
    numbers = await ticket_numbers(c, tickets) if tickets else {}
    for a in items:
        t = linked_ticket(a, tickets)
        a["ticket"] = {"id": t.id, "number": numbers.get(t.id, t.id), "status": str(t.status)} if t else None
    order = {"firing": 0, "acknowledged": 1, "resolved": 2}
    items.sort(key=lambda a: order.get(a["state"], 3))  # stable: newest first within each state
    names = {s.id: s.name for s in c.registry.schools}
    rule_choices = [(r, rule_name(r, lang)) for r in RULES]
    return render(request, "alerts.html", items=items, total=total, shown=SHOWN, state=state, severity=severity,
                  rule=rule, school=school, subject=subject, names=names, schools=mine, rules=rule_choices,
                  states=list(STATES), severities=list(SEVERITIES), refreshing=True)


@page(READ_ROLES, post=True)
async def ack_page(request: web.Request) -> web.StreamResponse:
    note = str(request[FORM].get("note", "")).strip() or None
    await ack_alert(request, "page", note)
    raise acked_redirect(back_to(request, "/alerts"))


@page(READ_ROLES, post=True)
async def bulk_ack_page(request: web.Request) -> web.StreamResponse:
    """Acknowledge every checked alert with one note; ones already resolved are passed over."""
    c = context(request)
    form = request[FORM]
    note = str(form.get("note", "")).strip() or None
    ids = [str(v) for v in form.getall("id", [])][:SHOWN]
    if not ids:
        raise back_to(request, "/alerts")
    for alert_id in ids:
        school = await c.db.call(alert_store.alert_school, alert_id)
        in_scope(request, READ_ROLES, school, f"alert {alert_id!r}")
    for alert_id in ids:
        try:
            await ack_alert(request, "page", note, alert_id)
        except HttpError as exc:
            if exc.status != 409:  # resolved meanwhile: nothing left to acknowledge
                raise
    raise acked_redirect(back_to(request, "/alerts"))


def acked_redirect(found: web.HTTPFound) -> web.HTTPFound:
    """Back where the ack came from, saying it worked (the page shows a confirmation)."""
    return web.HTTPFound(str(URL(found.location).update_query(acked="1")))


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/alerts", alerts_page)
    r.add_post("/alerts/ack", bulk_ack_page)
    r.add_post("/alerts/{id}/ack", ack_page)

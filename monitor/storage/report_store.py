"""The rows an inspection report needs for a period (runs on the database thread)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select

from alerts.inspection import BUS_RULES, ReportRows
from monitor.storage.alert_tables import AlertRecord
from monitor.storage.db import Database
from monitor.storage.history_store import read_history
from monitor.storage.tables import AlarmEventRecord, JudgementRecord
from monitor.storage.ticket_store import ticket_from_record
from monitor.storage.ticket_tables import TicketRecord
from monitor.storage.watchlog_store import entry_times


def read_report(db: Database, schools: Iterable[str], start: float, end: float) -> ReportRows:
    wanted = sorted(set(schools))
    history = read_history(db, wanted, start, end)
    t, e, a, j = TicketRecord, AlarmEventRecord, AlertRecord, JudgementRecord
    with db.session() as s:
        tickets = []
        for r in s.scalars(select(t).where(t.school.in_(wanted), or_((t.opened_at >= start) & (t.opened_at < end),
                                                                      (t.closed_at >= start) & (t.closed_at < end)))):
            tickets.append((r.school, r.opened_at, r.closed_at, ticket_from_record(r).repair_s()))
        presses = [(r.school, r.received) for r in s.execute(
            select(e.school, e.received).where(e.school.in_(wanted), e.type == "press", e.received >= start,
                                               e.received < end))]
        acks = [(r.school, r.started_at, r.acked_at) for r in s.execute(
            select(a.school, a.started_at, a.acked_at).where(a.school.in_(wanted), a.rule == "alarm_pressed",
                                                             a.started_at >= start, a.started_at < end))]
        bus_events = [(r.school, r.rule, r.time) for r in s.execute(
            select(j.school, j.rule, j.time).where(j.school.in_(wanted), j.rule.in_(list(BUS_RULES)),
                                                   j.active.is_(True), j.time >= start, j.time < end))]
    return ReportRows(history, tickets, presses, acks, bus_events, entry_times(db, wanted, start, end))

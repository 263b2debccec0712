"""The rows a daily digest needs from the last day (runs on the database thread)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select

from alerts.digest import AlarmPress, DownDevice, TicketTimes, Transition
from devices.availability import StateChange
from monitor.storage.db import Database
from monitor.storage.history_store import read_history
from monitor.storage.tables import AlarmEventRecord, DeviceRecord, JudgementRecord
from monitor.storage.ticket_tables import TicketRecord
from monitor.storage.watchlog_store import entry_times

_RULES = ("bus_off_route", "bus_overspeed")


@dataclass(frozen=True, slots=True)
class DayRows:
    down: list[DownDevice]
    transitions: list[Transition]
    alarms: list[AlarmPress]
    tickets: list[TicketTimes]
    history: dict[tuple[str, str, str], list[StateChange]]  # state changes of the day, each led by the one before
    entries: list[tuple[str, float]]  # (school, time) of keeper entries


def read_day(db: Database, day_start: float, day_end: float, schools: Sequence[str]) -> DayRows:
    """The rows a digest of `schools` needs (runs on the database thread)."""
    with db.session() as s:
        down = [DownDevice(r.school, r.kind, r.id, r.state_since)
                for r in s.scalars(select(DeviceRecord).where(DeviceRecord.state == "down"))]
        rows = s.scalars(
            select(JudgementRecord)
            .where(JudgementRecord.rule.in_(_RULES), JudgementRecord.time >= day_start, JudgementRecord.time < day_end)
            .order_by(JudgementRecord.time, JudgementRecord.id)
        )
        transitions = [Transition(r.time, r.rule, r.school, r.subject, r.zone, r.active) for r in rows]
        alarms = [AlarmPress(r.school, r.device, r.type, r.received) for r in s.scalars(
            select(AlarmEventRecord).where(AlarmEventRecord.received >= day_start, AlarmEventRecord.received < day_end))]
        tickets = [TicketTimes(r.school, r.opened_at, r.resolved_at, r.closed_at) for r in s.scalars(
            select(TicketRecord).where(
                or_((TicketRecord.opened_at >= day_start) & (TicketRecord.opened_at < day_end),
                    (TicketRecord.closed_at >= day_start) & (TicketRecord.closed_at < day_end))))]
    return DayRows(down, transitions, alarms, tickets, read_history(db, schools, day_start, day_end),
                   entry_times(db, schools, day_start, day_end))

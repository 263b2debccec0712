"""Alarm events (stored once per event_id, before the broker is acknowledged) and the judgement log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from devices.events import AlarmEvent, Judgement, Rule, Severity
from monitor.storage.base import table_of
from monitor.storage.db import Database
from monitor.storage.tables import AlarmEventRecord, JudgementRecord

ALARM_EVENTS = table_of(AlarmEventRecord)
JUDGEMENTS = table_of(JudgementRecord)


def _insert_once(dialect: str, values: dict[str, Any]) -> Insert:
    """INSERT ... ON CONFLICT (school, device, event_id) DO NOTHING RETURNING id: a row only when new."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(ALARM_EVENTS)
        .values(values)
        .on_conflict_do_nothing(index_elements=["school", "device", "event_id"])
        .returning(ALARM_EVENTS.c.id)
    )


def _event_values(ev: AlarmEvent) -> dict[str, Any]:
    return {"school": ev.school, "device": ev.device, "event_id": ev.event_id, "type": ev.type, "ts": ev.ts,
            "received": ev.received}


def insert_alarm_event(conn: Connection | Session, dialect: str, ev: AlarmEvent) -> bool:
    """Insert an alarm event in the caller's transaction; True if it is new."""
    return conn.execute(_insert_once(dialect, _event_values(ev))).first() is not None


def store_alarm_event(db: Database, ev: AlarmEvent) -> bool:
    """Store an alarm event; True if it is new, False if this (school, device, event_id) was stored.

    Committed when it returns, so the caller may then acknowledge the message to the broker. Safe
    against a concurrent store of the same event: the unique constraint decides, one of them wins.
    """
    with db.begin() as conn:
        return insert_alarm_event(conn, db.dialect, ev)


def store_judgements(db: Database, items: Sequence[Judgement]) -> None:
    """Append judgements to the log, in one transaction."""
    if not items:
        return
    rows = [
        {
            "time": j.time,
            "rule": str(j.rule),
            "severity": str(j.severity),
            "school": j.school,
            "subject": j.subject,
            "zone": j.zone,
            "active": j.active,
            "detail": dict(j.detail),
        }
        for j in items
    ]
    with db.begin() as conn:
        conn.execute(JUDGEMENTS.insert(), rows)


def list_judgements(db: Database, since: float | None = None, limit: int = 100) -> list[Judgement]:
    """Judgements in time order (oldest first).

    With `since`, the first `limit` judgements at or after that time; without, the newest `limit`.
    """
    j = JUDGEMENTS.c
    query = select(j.time, j.rule, j.severity, j.school, j.subject, j.active, j.zone, j.detail)
    if since is None:
        query = query.order_by(j.time.desc(), j.id.desc()).limit(limit)
    else:
        query = query.where(j.time >= since).order_by(j.time, j.id).limit(limit)
    with db.begin() as conn:
        rows = list(conn.execute(query).all())
    if since is None:
        rows.reverse()
    return [
        Judgement(
            time=r.time,
            rule=Rule(r.rule),
            severity=Severity(r.severity),
            school=r.school,
            subject=r.subject,
            active=bool(r.active),
            zone=r.zone,
            detail=r.detail or {},
        )
        for r in rows
    ]


def device_judgements(db: Database, school: str, subject: str, rule: str, limit: int = 50) -> list[tuple[float, bool, dict[str, Any]]]:
    """A device's down/up judgements (time, active, detail), newest first: its availability history."""
    with db.session() as s:
        rows = s.execute(select(JudgementRecord.time, JudgementRecord.active, JudgementRecord.detail)
                         .where(JudgementRecord.school == school, JudgementRecord.subject == subject,
                                JudgementRecord.rule == rule)
                         .order_by(JudgementRecord.time.desc(), JudgementRecord.id.desc()).limit(limit))
        return [(t, bool(a), dict(d or {})) for t, a, d in rows]

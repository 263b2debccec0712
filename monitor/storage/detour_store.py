"""Declared bus detours: stored with their audit row, listed per bus, and read back at start."""

from __future__ import annotations

from sqlalchemy import select

from monitor.storage.audit_store import Actor, write_audit
from monitor.storage.bus_tables import DetourRecord
from monitor.storage.db import Database


def save_detour(db: Database, record: DetourRecord, actor: Actor) -> None:
    """The detour and its audit row in one transaction."""
    with db.session() as s:
        s.add(record)
        write_audit(s, actor, "bus.detour_declared", record.bus, record.school, record.created_at,
                    {"detour": record.id, "start": record.starts, "end": record.ends, "reason": record.reason})


def query_detours(db: Database, bus_id: str | None, ended_after: float | None) -> list[DetourRecord]:
    """Detours, newest start first; of one bus, or those ending after a time."""
    with db.session() as s:
        q = select(DetourRecord)
        if bus_id is not None:
            q = q.where(DetourRecord.bus == bus_id)
        if ended_after is not None:
            q = q.where(DetourRecord.ends > ended_after)
        rows = list(s.scalars(q.order_by(DetourRecord.starts.desc(), DetourRecord.id)))
        s.expunge_all()
        return rows

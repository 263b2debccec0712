"""Repair tickets in the database: every change with its note and an audit row, in one transaction."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select

from alerts.tickets import Ticket, TicketChange, TicketStatus
from monitor.storage.audit_store import Actor, write_audit
from monitor.storage.db import Database
from monitor.storage.query import where_given
from monitor.storage.ticket_tables import TicketNoteRecord, TicketRecord


def ticket_from_record(r: TicketRecord) -> Ticket:
    return Ticket(
        id=r.id, school=r.school, kind=r.kind, device=r.device, zone=r.zone, status=TicketStatus(r.status),
        opened_at=r.opened_at, updated_at=r.updated_at, opened_by=r.opened_by, down_since=r.down_since,
        assignee=r.assignee, resolved_at=r.resolved_at, resolved_by=r.resolved_by, closed_at=r.closed_at,
        reopened=r.reopened, notes=r.notes, version=r.version,
    )


def save_changes(db: Database, items: list[tuple[TicketChange, Actor]]) -> None:
    with db.session() as s:
        for change, actor in items:
            t = change.ticket
            s.merge(TicketRecord(
                id=t.id, school=t.school, kind=t.kind, device=t.device, zone=t.zone, status=str(t.status),
                opened_at=t.opened_at, updated_at=t.updated_at, opened_by=t.opened_by, down_since=t.down_since,
                assignee=t.assignee, resolved_at=t.resolved_at, resolved_by=t.resolved_by, closed_at=t.closed_at,
                reopened=t.reopened, notes=t.notes, version=t.version,
            ))
            s.flush()
            if change.note:
                s.add(TicketNoteRecord(ticket_id=t.id, at=change.at, author=change.actor, action=str(change.action),
                                       text=change.note))
            detail: dict[str, Any] = {"status": str(t.status), "device": t.device, "kind": t.kind}
            if change.note:
                detail["note"] = change.note
            if t.assignee:
                detail["assignee"] = t.assignee
            write_audit(s, actor, f"ticket.{change.action}", t.id, t.school, change.at, detail)


def load_open(db: Database, schools: Collection[str] | None = None) -> list[Ticket]:
    """Tickets not closed, oldest first; of these schools only when given."""
    query = select(TicketRecord).where(TicketRecord.status != "closed")
    if schools is not None:
        query = query.where(TicketRecord.school.in_(list(schools)))
    with db.session() as s:
        return [ticket_from_record(r) for r in s.scalars(query.order_by(TicketRecord.opened_at))]


def load_ticket(db: Database, ticket_id: str) -> Ticket | None:
    with db.session() as s:
        r = s.get(TicketRecord, ticket_id)
        return ticket_from_record(r) if r is not None else None


def load_changed(db: Database, schools: Collection[str], since: float) -> list[Ticket]:
    """Tickets of these schools (closed ones too) changed at or after `since`: what another instance
    did to them (several instances)."""
    if not schools:
        return []
    with db.session() as s:
        rows = s.scalars(select(TicketRecord).where(TicketRecord.school.in_(list(schools)),
                                                    TicketRecord.updated_at >= since).order_by(TicketRecord.updated_at))
        return [ticket_from_record(r) for r in rows]


def load_repair_times(db: Database) -> list[float]:
    with db.session() as s:
        rows = s.execute(select(TicketRecord.down_since, TicketRecord.opened_at, TicketRecord.closed_at)
                         .where(TicketRecord.status == "closed"))
        return [closed - (down if down is not None else opened) for down, opened, closed in rows if closed is not None]


def list_tickets(db: Database, schools: set[str] | None, status: str | None, device: str | None,
                 assignee: str | None) -> list[Ticket]:
    """Newest first. `schools=None` means every school."""
    with db.session() as s:
        q = where_given(select(TicketRecord), TicketRecord.school, schools,
                        [(TicketRecord.status, status), (TicketRecord.device, device), (TicketRecord.assignee, assignee)])
        rows = s.scalars(q.order_by(TicketRecord.opened_at.desc(), TicketRecord.id))
        return [ticket_from_record(r) for r in rows]


def get_ticket(db: Database, ticket_id: str) -> tuple[Ticket, list[dict[str, Any]]] | None:
    with db.session() as s:
        r = s.get(TicketRecord, ticket_id)
        if r is None:
            return None
        notes = s.scalars(select(TicketNoteRecord).where(TicketNoteRecord.ticket_id == ticket_id)
                          .order_by(TicketNoteRecord.at, TicketNoteRecord.id))
        return ticket_from_record(r), [
            {"at": n.at, "author": n.author, "action": n.action, "text": n.text} for n in notes
        ]


def tickets_of_devices(db: Database, devices: set[tuple[str, str]]) -> list[Ticket]:
    """Every ticket of these (school, device) pairs, oldest first: to link alerts to their tickets."""
    if not devices:
        return []
    with db.session() as s:
        rows = s.scalars(select(TicketRecord).where(TicketRecord.device.in_(sorted({d for _, d in devices})))
                         .order_by(TicketRecord.opened_at, TicketRecord.id))
        return [ticket_from_record(r) for r in rows if (r.school, r.device) in devices]


def opened_between(db: Database, start: float, end: float) -> list[tuple[str, float]]:
    """(id, opened_at) of the tickets opened in [start, end): to number a day's tickets."""
    with db.session() as s:
        rows = s.execute(select(TicketRecord.id, TicketRecord.opened_at)
                         .where(TicketRecord.opened_at >= start, TicketRecord.opened_at < end))
        return [(i, t) for i, t in rows]

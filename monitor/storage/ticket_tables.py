"""Ticket tables: repair tickets (latest state), their notes, and the audit log of every action.

Written by `monitor.services.tickets` on the database thread; a ticket change, its note and its audit row are
stored in one transaction. Times are Unix seconds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Double, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.storage.base import Base

BigId = BigInteger().with_variant(Integer(), "sqlite")


class TicketRecord(Base):
    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    school: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)  # camera, alarm, gps
    device: Mapped[str] = mapped_column(Text)
    zone: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(Text)  # open, in_progress, verifying, closed
    opened_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    opened_by: Mapped[str] = mapped_column(Text)
    down_since: Mapped[float | None] = mapped_column(Double, nullable=True)
    assignee: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(Text, nullable=True)
    closed_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_tickets_status_opened_at", "status", "opened_at"),
        Index("ix_tickets_school_status", "school", "status"),
    )


class TicketNoteRecord(Base):
    __tablename__ = "ticket_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(Text, ForeignKey("tickets.id"))
    at: Mapped[float] = mapped_column(Double)
    author: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)  # the ticket action it came with (noted, resolved, ...)
    text: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_ticket_notes_ticket_id_at", "ticket_id", "at"),)


class AuditRecord(Base):
    """Who did what, when, from where: ticket and alert actions, logins, maintenance windows."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Double)
    actor: Mapped[str] = mapped_column(Text)  # the token's holder, or "system" for the rules
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    role: Mapped[str | None] = mapped_column(Text, nullable=True)
    action: Mapped[str] = mapped_column(Text)  # e.g. ticket.resolved, alert.acknowledged, session.login
    target: Mapped[str] = mapped_column(Text)  # ticket id, alert id, window id, ...
    school: Mapped[str | None] = mapped_column(Text, nullable=True)
    remote: Mapped[str | None] = mapped_column(Text, nullable=True)  # client address
    via: Mapped[str] = mapped_column(Text)  # api, page, rule
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_target", "target"),
    )

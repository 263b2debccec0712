"""Alert tables: alerts (latest snapshot), their full history, the delivery outbox, maintenance windows.

Written by `alerts.outbox.record_changes` in the caller's transaction, so an alert change and the
messages it causes are stored together or not at all. Times are Unix seconds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Double, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.storage.base import Base

BigId = BigInteger().with_variant(Integer(), "sqlite")

OUTBOX_STATES = ("pending", "sent", "dead", "withdrawn")


class AlertRecord(Base):
    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    rule: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)  # firing, acknowledged, resolved
    school: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    zone: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[str] = mapped_column(Text)
    summaries: Mapped[dict[str, Any]] = mapped_column(JSON)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    acked_by: Mapped[str | None] = mapped_column(Text, nullable=True)
    acked_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    escalation: Mapped[int] = mapped_column(Integer, default=0)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_alerts_state_started_at", "state", "started_at"),
        Index("ix_alerts_school_state", "school", "state"),
    )


class AlertAckRequest(Base):
    """An acknowledgement asked through an instance that does not own the alert's school (contract
    §9): the owner applies it on its next tick and deletes the row once the acknowledgement is stored."""

    __tablename__ = "alert_acks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(Text)
    school: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[float] = mapped_column(Double)

    __table_args__ = (Index("ix_alert_acks_school", "school"),)


class AlertHistoryRecord(Base):
    """Every change of every alert, with the snapshot after it."""

    __tablename__ = "alert_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(Text, ForeignKey("alerts.id"))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(Text)  # alerts.model.ChangeKind
    state: Mapped[str] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Double)
    actor: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    notified: Mapped[bool] = mapped_column(Boolean)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_alert_history_alert_id_version", "alert_id", "version"),)


class OutboxRecord(Base):
    """One alert change for one receiver, until it is delivered (sent), given up on (dead), or
    taken back before it left (withdrawn). Rows leaving together share `batch` (the first row's id)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    receiver: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(Text, unique=True)
    alert_id: Mapped[str] = mapped_column(Text)
    school: Mapped[str] = mapped_column(Text)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[float] = mapped_column(Double)
    hold_until: Mapped[float] = mapped_column(Double)
    batch: Mapped[int | None] = mapped_column(BigId, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[float] = mapped_column(Double, default=0.0)
    state: Mapped[str] = mapped_column(Text, default="pending")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    kind: Mapped[str] = mapped_column(Text, default="alert", server_default="alert")  # alert or digest

    __table_args__ = (Index("ix_outbox_receiver_state_id", "receiver", "state", "id"),)


class MaintenanceWindowRecord(Base):
    __tablename__ = "maintenance_windows"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    school: Mapped[str] = mapped_column(Text)
    zone: Mapped[str | None] = mapped_column(Text, nullable=True)
    starts: Mapped[float] = mapped_column(Double)
    ends: Mapped[float] = mapped_column(Double)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Double)

    __table_args__ = (Index("ix_maintenance_windows_ends", "ends"),)

"""The core tables: the registry in force, device runtime state, alarm events and judgements.

Times are Unix seconds (`Double`), strings are `Text` (no length limits that one backend would
enforce and the other ignore). Runtime tables of other parts must not hold foreign keys to the registry
tables: devices leave the registry while their history stays.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.storage.base import Base

#: A 64-bit key on PostgreSQL; SQLite only auto-increments an `INTEGER PRIMARY KEY`.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class RegistryImportRecord(Base):
    """One imported registry file; the newest row is the registry in force."""

    __tablename__ = "registry_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[float] = mapped_column(Double)
    source: Mapped[str] = mapped_column(Text)


class SchoolRecord(Base):
    __tablename__ = "schools"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)


class ZoneRecord(Base):
    __tablename__ = "zones"

    school: Mapped[str] = mapped_column(Text, ForeignKey("schools.id"), primary_key=True)
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    min_live: Mapped[int] = mapped_column(Integer)


class RouteRecord(Base):
    __tablename__ = "routes"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    corridor_m: Mapped[float] = mapped_column(Double)
    speed_limit_kmh: Mapped[float] = mapped_column(Double)
    timezone: Mapped[str] = mapped_column(Text)
    windows: Mapped[list[str]] = mapped_column(JSON)  # ["06:30-08:30", ...]; [] = always in service
    path: Mapped[list[list[float]]] = mapped_column(JSON)  # [[lon, lat], ...]
    slow_stretches: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class BusRecord(Base):
    __tablename__ = "buses"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    school: Mapped[str] = mapped_column(Text, ForeignKey("schools.id"))
    route: Mapped[str] = mapped_column(Text, ForeignKey("routes.id"))
    plate: Mapped[str] = mapped_column(Text)
    capacity: Mapped[int] = mapped_column(Integer)


class DeviceRecord(Base):
    """A watched device: its registry settings and its runtime state (kept across imports)."""

    __tablename__ = "devices"
    __table_args__ = (
        ForeignKeyConstraint(["school", "zone"], ["zones.school", "zones.id"]),
        CheckConstraint("kind IN ('camera', 'alarm', 'gps', 'face', 'nvr')", name="kind"),
        # Room on each page for the periodic state updates to be HOT (no index write) on PostgreSQL.
        {"postgresql_with": {"fillfactor": 70}},
    )

    school: Mapped[str] = mapped_column(Text, ForeignKey("schools.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    zone: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)  # a camera's name, an alarm panel's location, a bus's plate
    interval_s: Mapped[float] = mapped_column(Double)
    missed: Mapped[int] = mapped_column(Integer)
    route: Mapped[str | None] = mapped_column(Text, ForeignKey("routes.id"))
    state: Mapped[str] = mapped_column(Text)
    last_seen: Mapped[float | None] = mapped_column(Double)
    state_since: Mapped[float | None] = mapped_column(Double)


class AlarmEventRecord(Base):
    """An alarm panel's event (press, test, tamper, cancel); one row per (school, device, event_id)."""

    __tablename__ = "alarm_events"
    __table_args__ = (
        UniqueConstraint("school", "device", "event_id"),
        Index(None, "received"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    school: Mapped[str] = mapped_column(Text)
    device: Mapped[str] = mapped_column(Text)
    event_id: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    ts: Mapped[float] = mapped_column(Double)  # the panel's own time
    received: Mapped[float] = mapped_column(Double)  # the monitor's clock


class JudgementRecord(Base):
    """The judgement log: a contract §3 condition starting (`active`) or clearing."""

    __tablename__ = "judgements"
    __table_args__ = (Index(None, "time"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    time: Mapped[float] = mapped_column(Double)
    rule: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    school: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    zone: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)

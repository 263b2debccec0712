"""The records an inspection reads: every device state change (the state history), the monitor's own
runs (so time it was stopped or crashed reads as `unknown`), and the schools' monitoring-use record
(监控使用记录), kept and never edited.

Times are Unix seconds. No foreign keys to the registry tables: a device or school removed from the
registry keeps its history.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Double, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.storage.base import Base

BigId = BigInteger().with_variant(Integer(), "sqlite")


class DeviceHistoryRecord(Base):
    """A device entering `state` at `time` (a liveness change, or the monitor starting or stopping)."""

    __tablename__ = "device_history"
    __table_args__ = (
        Index(None, "school", "time"),  # a school's changes in a period
        Index(None, "school", "kind", "device", "time"),  # a device's state at a period's start
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    time: Mapped[float] = mapped_column(Double)
    school: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    device: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text)  # a devices.liveness.State value
    reason: Mapped[str] = mapped_column(Text)  # silent, offline, heartbeat, nvr_down, monitor_start, ...


class MonitorRunRecord(Base):
    """One run of the monitor: started, last known alive (each history flush), stopped (None while
    running, or after a crash until the next start closes it)."""

    __tablename__ = "monitor_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[float] = mapped_column(Double)
    alive_at: Mapped[float] = mapped_column(Double)
    stopped_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    ended: Mapped[str | None] = mapped_column(Text, nullable=True)  # stopped, crashed


class WatchLogRecord(Base):
    """A keeper's entry of a school's monitoring-use record: who watched, when, which zones, what they saw."""

    __tablename__ = "watch_log"
    __table_args__ = (Index(None, "school", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    school: Mapped[str] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Double)
    author: Mapped[str] = mapped_column(Text)
    token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    zones: Mapped[list[str]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text)
    via: Mapped[str] = mapped_column(Text)  # api, page

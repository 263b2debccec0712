"""Bus tables: the detours officers declare through the API (contract §5), kept so a restart restores
them into each bus's `BusWatch`. Times are Unix seconds.
"""

from __future__ import annotations

from sqlalchemy import Double, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.storage.base import Base


class DetourRecord(Base):
    """One declared detour: from `starts` to `ends` the bus's off-route is recorded, not alerted."""

    __tablename__ = "bus_detours"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    bus: Mapped[str] = mapped_column(Text)
    school: Mapped[str] = mapped_column(Text)
    starts: Mapped[float] = mapped_column(Double)
    ends: Mapped[float] = mapped_column(Double)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Double)

    __table_args__ = (Index(None, "bus", "starts"), Index(None, "ends"))

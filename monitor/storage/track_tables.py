"""The stored bus track: the fixes the downsampling rule keeps (`devices.track`), deleted after
`[buses] track_keep_s`. Times are Unix seconds.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Double, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.storage.base import Base


class BusFixRecord(Base):
    """One kept fix of a bus, with whether the bus was off its route then."""

    __tablename__ = "bus_fixes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bus: Mapped[str] = mapped_column(Text)
    school: Mapped[str] = mapped_column(Text)
    ts: Mapped[float] = mapped_column(Double)
    received: Mapped[float] = mapped_column(Double)
    lat: Mapped[float] = mapped_column(Double)
    lon: Mapped[float] = mapped_column(Double)
    speed_kmh: Mapped[float | None] = mapped_column(Double, nullable=True)
    heading: Mapped[float | None] = mapped_column(Double, nullable=True)
    off_route: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (Index(None, "bus", "ts"), Index(None, "ts"))

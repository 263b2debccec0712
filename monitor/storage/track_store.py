"""The stored bus track: kept fixes written in batches, read back by bus and time, and expired."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from devices.events import Fix
from monitor.storage.db import Database
from monitor.storage.track_tables import BusFixRecord


@dataclass(frozen=True, slots=True)
class KeptFix:
    fix: Fix
    off_route: bool


def write_fixes(db: Database, batch: list[KeptFix]) -> None:
    rows = [{"bus": k.fix.bus, "school": k.fix.school, "ts": k.fix.ts, "received": k.fix.received,
             "lat": k.fix.lat, "lon": k.fix.lon, "speed_kmh": k.fix.speed_kmh, "heading": k.fix.heading,
             "off_route": k.off_route} for k in batch]
    with db.session() as s:
        s.execute(insert(BusFixRecord), rows)


def read_fixes(db: Database, bus: str, since: float) -> list[Fix]:
    with db.session() as s:
        rows = s.scalars(select(BusFixRecord).where(BusFixRecord.bus == bus, BusFixRecord.ts >= since)
                         .order_by(BusFixRecord.ts, BusFixRecord.id))
        return [Fix(r.school, r.bus, r.ts, r.received, r.lat, r.lon, r.speed_kmh, r.heading) for r in rows]


def delete_fixes_before(db: Database, before: float) -> int:
    with db.session() as s:
        result = s.execute(delete(BusFixRecord).where(BusFixRecord.ts < before))
        return int(getattr(result, "rowcount", 0) or 0)

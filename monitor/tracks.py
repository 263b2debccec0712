"""The stored bus track (issue 4): accepted fixes pass the downsampling rule of `devices.track`, are
buffered and written in batches on the database thread, read back by `GET /api/v1/buses/{id}/track`,
and deleted after `[buses] track_keep_s` by a sweep every ten minutes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select

from devices.bus import BusSnapshot
from devices.events import Fix
from devices.liveness import Device
from devices.track import Downsampler, TrackFlags
from monitor.storage.db import Database
from monitor.storage.track_tables import BusFixRecord

log = logging.getLogger(__name__)

FLUSH_S = 2.0
SWEEP_S = 600.0
MAX_BUFFERED = 200_000  # fixes held while the database is failing; the oldest are dropped past this


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
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class TrackStore:
    """Keeps, buffers, writes, reads and expires the track of every bus. Runs on the event loop."""

    def __init__(self, app: Any) -> None:
        cfg = app.cfg.buses
        self.app = app
        self.keep_s: float = cfg.track_keep_s
        self.sampler = Downsampler(cfg.track_min_interval_s, cfg.track_min_distance_m)
        self._pending: list[KeptFix] = []
        self._writing: list[KeptFix] = []
        self.written = 0
        self.dropped = 0
        self._tasks: list[asyncio.Task[None]] = []

    # ---- in ---------------------------------------------------------------------------------------

    def on_fix(self, dev: Device, fix: Fix, snapshot: BusSnapshot) -> bool:
        """An accepted fix of bus `dev` and the bus's state after it; True when it is kept."""
        del dev
        if not self.sampler.keep(fix, TrackFlags(snapshot.off_route, snapshot.overspeed)):
            return False
        self._pending.append(KeptFix(fix, snapshot.off_route))
        if len(self._pending) > MAX_BUFFERED:
            over = len(self._pending) - MAX_BUFFERED
            del self._pending[:over]
            self.dropped += over
        return True

    async def flush(self) -> int:
        """Write the buffered fixes in one transaction; on failure they stay buffered."""
        if not self._pending or self._writing:
            return 0
        self._writing, self._pending = self._pending, []
        try:
            await self.app.db_call(write_fixes, self._writing)
        except Exception:  # noqa: BLE001
            log.exception("writing %d track fixes failed; kept for the next try", len(self._writing))
            self._pending[:0] = self._writing
            return 0
        finally:
            batch, self._writing = self._writing, []
        self.written += len(batch)
        return len(batch)

    # ---- out --------------------------------------------------------------------------------------

    def _unwritten(self, bus: str, since: float) -> list[Fix]:
        return [k.fix for k in (*self._writing, *self._pending) if k.fix.bus == bus and k.fix.ts >= since]

    async def since(self, bus: str, t: float) -> list[Fix]:
        """The bus's kept fixes with a unit time at or after `t`, stored and not yet written, oldest first."""
        before = self._unwritten(bus, t)
        stored = await self.app.db_call(read_fixes, bus, t)
        by_ts = {f.ts: f for f in (*stored, *before, *self._unwritten(bus, t))}
        return [by_ts[ts] for ts in sorted(by_ts)]

    async def sweep(self, now: float | None = None) -> int:
        """Delete stored fixes older than `track_keep_s`; returns how many."""
        now = self.app.clock() if now is None else now
        gone = await self.app.db_call(delete_fixes_before, now - self.keep_s)
        if gone:
            log.info("track retention: deleted %d fixes older than %.0f s", gone, self.keep_s)
        return gone

    # ---- service ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._every(FLUSH_S, self.flush), name="track-flush"),
                       asyncio.create_task(self._every(SWEEP_S, self.sweep), name="track-sweep")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._tasks = []
        await self.flush()

    async def _every(self, period: float, job: Any) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await job()
            except Exception:  # noqa: BLE001
                log.exception("track job %s failed", getattr(job, "__name__", job))


def install(app: Any) -> TrackStore:
    store = TrackStore(app)
    app.tracks = store
    app.services.append(store)
    return store

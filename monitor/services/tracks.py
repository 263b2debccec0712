"""The stored bus track (issue 4): accepted fixes pass the downsampling rule of `devices.track`, are
buffered and written in batches on the database thread, read back by `GET /api/v1/buses/{id}/track`,
and deleted after `[buses] track_keep_s` by a sweep every ten minutes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from devices.bus import BusSnapshot
from devices.events import Fix
from devices.track import Downsampler, TrackFlags
from monitor.config import BusesConfig
from monitor.storage.runner import DbThread
from monitor.storage.track_store import KeptFix, delete_fixes_before, read_fixes, write_fixes
from monitor.tasks import cancel_and_wait, every

log = logging.getLogger(__name__)

FLUSH_S = 2.0
SWEEP_S = 600.0
MAX_BUFFERED = 200_000  # fixes held while the database is failing; the oldest are dropped past this


class TrackStore:
    """Keeps, buffers, writes, reads and expires the track of every bus. Runs on the event loop."""

    def __init__(self, cfg: BusesConfig, db: DbThread, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock
        self.keep_s: float = cfg.track_keep_s
        self.sampler = Downsampler(cfg.track_min_interval_s, cfg.track_min_distance_m)
        self._pending: list[KeptFix] = []
        self._writing: list[KeptFix] = []
        self.written = 0
        self.dropped = 0
        self._tasks: list[asyncio.Task[None]] = []

    # ---- in ---------------------------------------------------------------------------------------

    def on_fix(self, fix: Fix, snapshot: BusSnapshot) -> bool:
        """An accepted fix and the bus's state after it; True when it is kept."""
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
            await self.db.call(write_fixes, self._writing)
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
        stored = await self.db.call(read_fixes, bus, t)
        by_ts = {f.ts: f for f in (*stored, *before, *self._unwritten(bus, t))}
        return [by_ts[ts] for ts in sorted(by_ts)]

    async def sweep(self, now: float | None = None) -> int:
        """Delete stored fixes older than `track_keep_s`; returns how many."""
        now = self.clock() if now is None else now
        gone = await self.db.call(delete_fixes_before, now - self.keep_s)
        if gone:
            log.info("track retention: deleted %d fixes older than %.0f s", gone, self.keep_s)
        return gone

    # ---- service ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [every(FLUSH_S, self.flush, "track-flush"), every(SWEEP_S, self.sweep, "track-sweep")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.flush()

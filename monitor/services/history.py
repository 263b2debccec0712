"""The stored state history: every device state change, exact to the second, for the inspection
report, the daily digest and the monitoring-use record.

The judge keeps each change (`Judge(keep_changes=True)`); this part takes them every
`flush_every_s` and appends them on the database thread with the run's sign of life, like device
states are persisted. Nothing is lost at stop: the last changes go with the closing rows.

- At start (after the stored states are restored, before the broker is heard) every device's state
  is written: `unknown` for most, `down` for one that was down when the monitor stopped (it stays
  down, see devices.liveness), `up` for one whose stored deadline has not yet passed.
- At a clean stop every device not already `unknown` gets an `unknown` row: time the monitor was
  stopped reads as `unknown`, not `down`.
- After a crash the open states are closed at the next start, at the crashed run's last sign of
  life (its last flush, at most `flush_every_s` before the crash); the changes of that last unflushed
  moment are lost, and the time from then to the restart reads as `unknown`. While a run is going on
  (the report is asked of the running monitor), open states count up to the request.
- While the database refuses, the changes wait in memory and go with the next flush that succeeds; the
  refusal is told to `DbHealth` (one log line per outage for the whole service).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from devices.judge import Judge
from devices.liveness import Change, State
from monitor.services.dbhealth import DbHealth
from monitor.storage.history_store import HistoryRow, close_run, mark_alive, open_run
from monitor.storage.runner import DbThread
from monitor.tasks import cancel_and_wait, every

log = logging.getLogger(__name__)
MAX_HELD = 500_000  # state changes held while the database is away; the oldest go past this
FLUSH_CHUNK = 500  # state changes per write


def rows_of(changes: Iterable[Change]) -> list[HistoryRow]:
    return [HistoryRow(c.time, c.device.school, str(c.device.kind), c.device.id, str(c.new), c.reason) for c in changes]


class StateHistory:
    def __init__(self, judge: Judge, db: DbThread, clock: Callable[[], float], health: DbHealth, *,
                 flush_every_s: float, owns: Callable[[str], bool] | None = None,
                 stale_after_s: float | None = None) -> None:
        """Several instances: `owns(school)` limits the start and stop rows to this instance's schools,
        and a run left open is closed as crashed only when not alive for `stale_after_s` (another
        instance's run is alive)."""
        self.owns = owns
        self.stale_after_s = stale_after_s
        self.judge = judge
        self.db = db
        self.health = health
        self.clock = clock
        self.flush_every_s = flush_every_s
        self.run_id: int | None = None
        self._pending: list[HistoryRow] = []
        self._task: asyncio.Task[None] | None = None

    def _snapshot(self, now: float, reason: str, skip_unknown: bool) -> list[HistoryRow]:
        return [HistoryRow(now, d.school, str(d.kind), d.id, str(d.state) if reason == "monitor_start" else "unknown",
                           reason)
                for d in self.judge.devices() if not (skip_unknown and d.state is State.UNKNOWN)
                and (self.owns is None or self.owns(d.school))]

    async def start(self) -> None:
        now = self.clock()
        self._pending = rows_of(self.judge.take_changes())
        opened = await self.db.call(open_run, now, self._pending + self._snapshot(now, "monitor_start", False),
                                    None if self.stale_after_s is None else now - self.stale_after_s)
        self._pending = []
        self.run_id = opened.run_id
        if opened.crashed_at is not None:
            log.warning("the monitor's last run ended without a stop (crash?); its %d open device states are "
                        "closed as unknown at its last sign of life %.3f", opened.closed, opened.crashed_at)
        self._task = every(self.flush_every_s, self.flush, "state-history")

    async def flush(self) -> None:
        """Append the changes since the last flush; kept for the next try when the database refuses."""
        if self.run_id is None:
            return
        rows = self._pending + rows_of(self.judge.take_changes())
        self._pending = []
        done = 0
        try:
            # short writes (200,000 devices heard after a start are 200,000 rows): a press's write, which
            # goes first on the database thread, never waits for more than one of them
            for done in range(0, max(1, len(rows)), FLUSH_CHUNK):
                await self.db.call(mark_alive, self.run_id, self.clock(), rows[done:done + FLUSH_CHUNK])
        except Exception as exc:  # noqa: BLE001 - one line per outage (DbHealth), kept for the next try
            left = rows[done:]
            self.health.failed("state history", exc, held=len(left))
            self._pending = left[-MAX_HELD:]
            return
        self.health.succeeded()

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None
        if self.run_id is None:
            return
        now = self.clock()
        rows = self._pending + rows_of(self.judge.take_changes()) + self._snapshot(now, "monitor_stop", True)
        try:
            await self.db.call(close_run, self.run_id, now, rows)
        except Exception:  # noqa: BLE001
            log.exception("could not close the state history at stop; the next start closes it as after a crash")
        self._pending = []
        self.run_id = None

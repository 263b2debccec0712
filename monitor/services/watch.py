"""The device watch: the judge run on the event loop, fed by the MQTT collector.

It is the collector's sink: heartbeats are judged there, and what comes here are the judge's
judgements (handed to their listeners: alerts and tickets), alarm events (handed to the alert
service, which stores each with its alert in one transaction; acknowledged to the broker only then),
GPS fixes (to the bus watches) and the broker link going up or down. While the database is away,
device states and the judgement log wait in memory (the log at most `MAX_PENDING_JUDGEMENTS`). Its timers sweep liveness deadlines (every 0.2 s), tick the bus
rules (every 1 s), and persist device states and judgements in batches (every `persist_every_s`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence

from devices.events import AlarmEvent, Fix, Judgement
from devices.judge import Judge
from devices.liveness import Device, Restored, State
from devices.payload import Outcome
from monitor.mqtt.collector import Done
from monitor.services.buses import BusDesk
from monitor.services.dbhealth import DbHealth
from monitor.storage.device_store import DeviceStateRow, load_device_states, save_device_states
from monitor.storage.event_store import store_judgements
from monitor.storage.lease_store import Fence, Fenced
from monitor.storage.runner import DbThread
from monitor.tasks import cancel_and_wait, every

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 0.2
BUS_TICK_S = 1.0
_SEEN_EVENTS = 10_000
MAX_PENDING_JUDGEMENTS = 100_000
PERSIST_CHUNK = 500  # device states per write (a press's write goes first on the database thread: `DbThread.call_urgent`)

JudgementListener = Callable[[list[Judgement]], None]
#: Store an event with its alert, then call back with True (new), False (stored before) or None (not stored).
EventSink = Callable[[AlarmEvent, Callable[[bool | None], None]], None]


class DeviceWatch:
    def __init__(self, judge: Judge, buses: BusDesk, db: DbThread, clock: Callable[[], float], *,
                 persist_every_s: float, listeners: Sequence[JudgementListener] = (),
                 events: EventSink | None = None, health: DbHealth | None = None,
                 fence: Fence | None = None) -> None:
        """`fence` (several instances): device states are written only for schools still owned, and
        standing judgements come with each partition taken (`monitor.cluster.owner`), not at start."""
        self.judge = judge
        self.buses = buses
        self.db = db
        self.clock = clock
        self.persist_every_s = persist_every_s
        self.listeners: list[JudgementListener] = list(listeners)
        self.events = events
        self.health = health or DbHealth(clock)
        self.fence = fence
        self.judgements_dropped = 0
        self.alarm_counts: Counter[tuple[str, str, str]] = Counter()
        self.db_ok = False
        self._pending: list[Judgement] = []
        self._seen_events: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []

    # ---- start and stop ------------------------------------------------------------------------

    async def restore(self) -> None:
        """Device states as stored: a device is judged on the time it had left (see devices.liveness)."""
        saved = await self.db.call(load_device_states, True)
        self.judge.restore(
            {key: Restored(State(row.state), row.last_seen, row.state_since) for key, row in saved.items()
             if row.state in State.__members__.values()},
            self.clock(),
        )
        self.db_ok = True

    async def start(self) -> None:
        standing = self.judge.standing(self.clock()) if self.fence is None else []
        if standing:
            self.judgements(standing)
        self._tasks = [every(SWEEP_EVERY_S, self._sweep, "liveness-sweep", first_after_s=0),
                       every(BUS_TICK_S, self._bus_tick, "bus-tick"),
                       every(self.persist_every_s, self.persist, "persist-states")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.persist()

    @property
    def held_judgements(self) -> list[Judgement]:
        """Judgements waiting for the database (the log is written every `persist_every_s`: only
        counted as held back once a write failed)."""
        return self._pending if not self.db_ok else []

    # ---- timers --------------------------------------------------------------------------------

    def _sweep(self) -> None:
        found = self.judge.sweep(self.clock())
        if found:
            self.judgements(found)

    def _bus_tick(self) -> None:
        found = self.buses.tick(self.clock())
        if found:
            self.judgements(found)

    async def persist(self) -> None:
        """Save changed device states and the judgements since the last save; kept for the next try
        when the database refuses."""
        dirty = self.judge.liveness.take_dirty()
        pending, self._pending = self._pending, []
        done = 0
        pending_count = len(pending)
        try:
            # short writes, each a slice's rows only: a press's write never waits long behind, and
            # 200,000 rows at once never sit in memory
            for i in range(0, len(dirty), PERSIST_CHUNK):
                rows = [DeviceStateRow(d.school, str(d.kind), d.id, str(d.state), d.last_seen, d.since)
                        for d in dirty[i:i + PERSIST_CHUNK]]
                try:
                    await self.db.call(save_device_states, rows, self.fence)
                except Fenced as exc:  # several instances: a partition no longer ours; its new owner writes
                    ours = [r for r in rows if r.school not in exc.schools]
                    written = 0
                    if ours and len(ours) < len(rows):  # the schools still ours, without the others
                        try:
                            written = await self.db.call(save_device_states, ours, self.fence)
                        except Fenced as again:
                            exc = again
                    log.warning("device states of %d devices not written (%d of the batch written): %s",
                                len(rows) - written, written, exc)
                done = i + PERSIST_CHUNK
            if pending:
                await self.db.call(store_judgements, pending)
                pending = []
            if dirty or pending_count:  # only a write that was made says the database is back
                self.db_ok = True
                self.health.succeeded()
        except Exception as exc:  # noqa: BLE001 - kept for the next try
            self.db_ok = False
            live = self.judge.liveness.devices
            self.judge.liveness.dirty.update(d for d in dirty[done:] if live.get(d.spec.key) is d)
            self._pending[:0] = pending
            over = len(self._pending) - MAX_PENDING_JUDGEMENTS
            if over > 0:
                del self._pending[:over]
                self.judgements_dropped += over
            self.health.failed("device states and judgement log", exc,
                               len(self._pending) + len(self.judge.liveness.dirty))

    # ---- the collector's sink ------------------------------------------------------------------

    def judgements(self, items: list[Judgement]) -> None:
        for j in items:  # info-level ones (a bus moving off hours, every evening) only at debug: no flood
            log.log(logging.DEBUG if j.severity == "info" else logging.INFO, "%s %s %s/%s%s at %.3f %s", j.rule,
                    "starts" if j.active else "clears", j.school, j.subject, f" zone {j.zone}" if j.zone else "",
                    j.time, j.detail)
        self._pending.extend(items)
        for listener in self.listeners:
            try:
                listener(items)
            except Exception:  # noqa: BLE001
                log.exception("judgement listener failed")

    def alarm_event(self, dev: Device, ev: AlarmEvent, done: Done) -> None:
        key = (ev.school, ev.device, ev.event_id)
        if key in self._seen_events:
            done(Outcome.DUPLICATE)
            return
        found = self.judge.beat(dev, ev.received)  # an event proves the panel is alive
        if found:
            self.judgements(found)
        if self.events is None:
            return
        self.events(ev, lambda new: self._stored_event(ev, new, done))

    def _stored_event(self, ev: AlarmEvent, new: bool | None, done: Done) -> None:
        if new is None:  # not stored: never acknowledged, the broker delivers it again
            done(None, False)
            return
        key = (ev.school, ev.device, ev.event_id)
        self._seen_events[key] = None
        if len(self._seen_events) > _SEEN_EVENTS:
            self._seen_events.popitem(last=False)
        if not new:
            done(Outcome.DUPLICATE)
            return
        done(Outcome.ACCEPTED)
        self.alarm_counts[(ev.school, ev.device, ev.type)] += 1
        log.info("alarm %s %s/%s event %s", ev.type, ev.school, ev.device, ev.event_id)

    def fix(self, dev: Device, fix: Fix) -> list[Judgement]:
        return self.buses.on_fix(dev, fix)

    def link(self, up: bool, now: float) -> None:
        if up:
            self.judge.link_up(now)
        else:
            self.judge.link_down(now)

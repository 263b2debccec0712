"""The device watch: the judge run on the event loop, fed by the MQTT collector.

It is the collector's sink: heartbeats are judged there, and what comes here are the judge's
judgements (handed to their listeners: alerts and tickets), alarm events (stored before they are
acknowledged to the broker, then handed to the alert listeners), GPS fixes (to the bus watches) and
the broker link going up or down. Its timers sweep liveness deadlines (every 0.2 s), tick the bus
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
from devices.model import DeviceKind
from devices.payload import Outcome
from monitor.services.buses import BusDesk
from monitor.storage.device_store import DeviceStateRow, load_device_states, save_device_states
from monitor.storage.event_store import store_alarm_event, store_judgements
from monitor.storage.runner import DbThread
from monitor.tasks import cancel_and_wait, every

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 0.2
BUS_TICK_S = 1.0
_SEEN_EVENTS = 10_000

JudgementListener = Callable[[list[Judgement]], None]
EventListener = Callable[[AlarmEvent], None]


class DeviceWatch:
    def __init__(self, judge: Judge, buses: BusDesk, db: DbThread, clock: Callable[[], float], *,
                 persist_every_s: float, listeners: Sequence[JudgementListener] = (),
                 event_listeners: Sequence[EventListener] = ()) -> None:
        self.judge = judge
        self.buses = buses
        self.db = db
        self.clock = clock
        self.persist_every_s = persist_every_s
        self.listeners: list[JudgementListener] = list(listeners)
        self.event_listeners: list[EventListener] = list(event_listeners)
        self.alarm_counts: Counter[tuple[str, str, str]] = Counter()
        self.db_ok = False
        self._pending: list[Judgement] = []
        self._seen_events: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []

    # ---- start and stop ------------------------------------------------------------------------

    async def restore(self) -> None:
        """Device states as stored: a device is judged on the time it had left (see devices.liveness)."""
        saved = await self.db.call(load_device_states)
        self.judge.restore(
            {key: Restored(State(row.state), row.last_seen, row.state_since) for key, row in saved.items()
             if row.state in State.__members__.values()},
            self.clock(),
        )
        self.db_ok = True

    async def start(self) -> None:
        standing = self.judge.standing(self.clock())
        if standing:
            self.judgements(standing)
        self._tasks = [every(SWEEP_EVERY_S, self._sweep, "liveness-sweep", first_after_s=0),
                       every(BUS_TICK_S, self._bus_tick, "bus-tick"),
                       every(self.persist_every_s, self.persist, "persist-states")]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.persist()

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
        rows = [
            DeviceStateRow(d.school, str(d.kind), d.id, str(d.state), d.last_seen, d.since)
            for d in self.judge.liveness.take_dirty()
        ]
        pending, self._pending = self._pending, []
        try:
            if rows:
                await self.db.call(save_device_states, rows)
            if pending:
                await self.db.call(store_judgements, pending)
            self.db_ok = True
        except Exception:  # noqa: BLE001
            self.db_ok = False
            log.exception("could not save device states to the database; will retry")
            for dev in (self.judge.liveness.devices.get((r.school, DeviceKind(r.kind), r.id)) for r in rows):
                if dev is not None:
                    self.judge.liveness.dirty.add(dev)
            self._pending[:0] = pending

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

    def alarm_event(self, dev: Device, ev: AlarmEvent, done: Callable[[Outcome | None], None]) -> None:
        key = (ev.school, ev.device, ev.event_id)
        if key in self._seen_events:
            done(Outcome.DUPLICATE)
            return
        found = self.judge.beat(dev, ev.received)  # an event proves the panel is alive
        if found:
            self.judgements(found)
        asyncio.get_running_loop().create_task(self._store_event(ev, done))

    async def _store_event(self, ev: AlarmEvent, done: Callable[[Outcome | None], None]) -> None:
        key = (ev.school, ev.device, ev.event_id)
        try:
            new = await self.db.call(store_alarm_event, ev)
        except Exception:  # noqa: BLE001 - not acknowledged: the broker delivers it again
            log.exception("could not store alarm event %s of %s; not acknowledged", ev.event_id, ev.device)
            return
        self._seen_events[key] = None
        if len(self._seen_events) > _SEEN_EVENTS:
            self._seen_events.popitem(last=False)
        if not new:
            done(Outcome.DUPLICATE)
            return
        done(Outcome.ACCEPTED)
        self.alarm_counts[(ev.school, ev.device, ev.type)] += 1
        log.info("alarm %s %s/%s event %s", ev.type, ev.school, ev.device, ev.event_id)
        for listener in self.event_listeners:
            try:
                listener(ev)
            except Exception:  # noqa: BLE001
                log.exception("alarm event listener failed")

    def fix(self, dev: Device, fix: Fix) -> list[Judgement]:
        return self.buses.on_fix(dev, fix)

    def link(self, up: bool, now: float) -> None:
        if up:
            self.judge.link_up(now)
        else:
            self.judge.link_down(now)

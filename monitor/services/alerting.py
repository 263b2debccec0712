"""The alert service: judgements and alarm events into the AlertBook, its changes and their outbox rows
stored in one transaction, and the outbox sender delivering them.

Every write goes through one ordered queue, drained by one writer task: an alarm event, its alert
and its outbox rows are one transaction, committed before the event's `stored` callback (which
acknowledges it to the broker). While the database refuses, the book keeps judging in memory and
the queue holds the writes (at most `max_held_changes` alert writes and `max_held_events` events;
past that the oldest alert writes are dropped and counted, and new events are refused unstored, so
the broker keeps them); the writer retries every `RETRY_S` and writes them in order when it is back.
Once every held event is written after some were refused, the `on_room` listeners are told (the
events connection is renewed so the broker delivers the refused ones again). This follows the queue,
not the database: a burst of redelivered events over the bound, with the database up, is taken
again too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import Connection

from alerts.lifecycle import AlertBook, LifecycleConfig, UnknownAlert
from alerts.model import Alert, AlertChange, ChangeKind
from alerts.outbox import OutboxSender, OutboxStats
from alerts.receivers import alertmanager
from alerts.routing import Receiver, Router, alert_body
from alerts.wording import RegistryNames
from devices.events import AlarmEvent, Judgement
from devices.model import DeviceKind
from monitor.config import AlertsConfig
from monitor.services.dbhealth import DbHealth
from monitor.storage import alert_store
from monitor.storage.alert_store import AlertWrite
from monitor.storage.lease_store import Fenced
from monitor.storage.outbox_store import SqlOutbox
from monitor.storage.runner import DbThread
from monitor.tasks import cancel_and_wait, every

log = logging.getLogger(__name__)
TICK_S = 0.5
ALERTMANAGER_REFRESH_S = 60.0
RETRY_S = 1.0
ACK_WAIT_S = 2.0
WRITE_BATCH = 500
MAX_HELD_CHANGES = 100_000
MAX_HELD_EVENTS = 10_000
ACK_REQUESTS_EVERY_S = 1.0  # several instances: acknowledgements asked through another instance, applied
UNALERTED_LOOKBACK_S = 2 * 86400.0  # stored events this recent without an alert are alerted at start

#: `stored(new)` after the event's transaction: True new, False stored before, None not stored.
Stored = Callable[[bool | None], None]


class Clustered(Protocol):
    """What the alert service asks of the partition owner (`monitor.cluster.owner.PartitionOwner`)."""

    def fence(self, conn: Connection, schools: Collection[str]) -> None: ...
    def owns(self, school: str) -> bool: ...
    def sent_schools(self) -> set[str] | None: ...
    def schools_of(self, partitions: Iterable[int]) -> set[str]: ...


def _schools(write: AlertWrite) -> set[str]:
    out = {c.alert.school for c in write.changes}
    if write.event is not None:
        out.add(write.event.school)
    return out


@dataclass(frozen=True, slots=True)
class _Queued:
    write: AlertWrite
    stored: Stored | None = None


class AlertEngine:
    def __init__(self, cfg: AlertsConfig, names: RegistryNames, panels: Sequence[tuple[str, str]],
                 receivers: Sequence[Receiver], db: DbThread, clock: Callable[[], float],
                 health: DbHealth | None = None, cluster: Clustered | None = None, *,
                 max_held_events: int = MAX_HELD_EVENTS, max_held_changes: int = MAX_HELD_CHANGES) -> None:
        """`cluster` (several instances, contract §9): the book holds only the schools this instance
        owns (`take`/`let_go`), writes are fenced, and the sender sends only their rows.
        `max_held_events`, `max_held_changes`: the bounds of what waits in memory while the database
        is away (the defaults are the documented ones; tests pass small ones)."""
        self.max_held_events = max_held_events
        self.max_held_changes = max_held_changes
        self.book = AlertBook(
            LifecycleConfig(language=cfg.language, cancel_within_s=cfg.cancel_within_s,
                            test_overdue_s=cfg.untested_alarm_days * 86400, flap_downs=cfg.flap_count,
                            flap_window_s=cfg.flap_window_s, remind_after_s=cfg.remind_after_s,
                            withhold_lookback_s=cfg.group_window_s),
            names,
        )
        self.panels = list(panels)
        self._panel_set = set(self.panels)
        self.receivers = list(receivers)
        self.router = Router(receivers, cfg.group_window_s)
        self.db = db
        self.clock = clock
        self.stats = OutboxStats()
        self.cluster = cluster
        self._tests: dict[tuple[str, str], float] = {}
        table = SqlOutbox(db.db) if cluster is None else SqlOutbox(db.db, cluster.sent_schools)
        self.sender = OutboxSender(table, receivers, group_window_s=cfg.group_window_s,
                                   dead_after_s=cfg.dead_letter_after_s, stats=self.stats, clock=clock,
                                   in_db=db.run, in_db_urgent=db.run_urgent)
        self.health = health or DbHealth(clock)
        self.held_dropped = 0  # alert writes dropped because too many were held back
        self.events_refused = 0  # events not taken (left to the broker) because too many were held back
        self._queue: deque[_Queued] = deque()
        self._held_events = 0
        self._refused_since_room = False
        self._room_listeners: list[Callable[[], None]] = []
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribers: list[Callable[[list[AlertChange]], None]] = []
        self._acks_pending: set[int] = set()
        self._drops: set[asyncio.Task[None]] = set()  # requests (alert_acks ids) whose acknowledgement is queued

    def subscribe(self, listener: Callable[[list[AlertChange]], None]) -> None:
        """`listener(changes)` is called on the loop with every batch of alert changes, as they are made
        (before they are stored): the pages' press banner hears of a press at once."""
        self._subscribers.append(listener)

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        now = self.clock()
        alerts, tests, windows = await self.db.call(alert_store.restore_state, now)
        self._tests = tests
        if self.cluster is None:
            self.book.restore(alerts)
            for (school, panel), at in tests.items():
                self.book.note_test(school, panel, at)
            self.book.set_panels(self.panels, now)
        else:  # nothing owned yet: `take` restores each partition's schools
            self.book.set_panels([], now)
        self._apply(self.book.set_maintenance(windows, now))
        await self._alert_unalerted(now, None)
        self._tasks = [asyncio.create_task(self._writer(), name="alert-writer"),
                       asyncio.create_task(self.sender.run(), name="outbox"),
                       every(TICK_S, self._tick, "alert-ticker")]
        if self.cluster is not None:
            self._tasks.append(every(ACK_REQUESTS_EVERY_S, self.apply_ack_requests, "ack-requests"))
        if any(r.kind == "alertmanager" for r in self.receivers):
            self._tasks.append(every(ALERTMANAGER_REFRESH_S, self._alertmanager_refresh, "alertmanager-refresh"))

    async def take(self, schools: set[str]) -> None:
        """Several instances: a partition taken: its schools' open alerts and panels join the book."""
        assert self.cluster is not None
        now = self.clock()
        self.book.restore(await self.db.call(alert_store.open_alerts, schools))
        for (school, panel), at in self._tests.items():
            if school in schools:
                self.book.note_test(school, panel, at)
        self.book.set_panels([p for p in self.panels if self.cluster.owns(p[0])], now)
        await self._alert_unalerted(now, schools)
        self.sender.take(schools)

    async def let_go(self, schools: set[str]) -> None:
        """Several instances: a partition lost or handed over: its schools leave the book unsaid, and
        this returns once the sender has no message of theirs in flight (see `OutboxSender.let_go`)."""
        assert self.cluster is not None
        self.book.let_go(schools)
        self.book.set_panels([p for p in self.panels if self.cluster.owns(p[0]) and p[0] not in schools],
                             self.clock())
        await self.sender.let_go(schools)

    async def _alert_unalerted(self, now: float, schools: set[str] | None) -> None:
        if self.cluster is not None and schools is None:
            return
        for ev in await self.db.call(alert_store.events_without_alert, now - UNALERTED_LOOKBACK_S):
            if schools is not None and ev.school not in schools:
                continue
            if (ev.school, ev.device) not in self._panel_set:
                ev = AlarmEvent(ev.school, ev.device, ev.event_id, ev.type, ev.ts, ev.received, DeviceKind.GPS)
            log.warning("alarm %s %s/%s event %s was stored without its alert: alerting it now", ev.type, ev.school,
                        ev.device, ev.event_id)
            self._apply(self.book.alarm(ev, now))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks[1:])
        if self._queue and not self.health.down:  # what is queued leaves before the writer stops
            self._kick.set()
            try:
                await asyncio.wait_for(self._drained(), timeout=5.0)
            except TimeoutError:
                log.warning("stopping with %d alert writes not stored", len(self._queue))
        await cancel_and_wait(tasks[:1])

    async def _drained(self) -> None:
        while self._queue and not self.health.down:
            await asyncio.sleep(0.01)

    @property
    def held(self) -> int:
        """Writes waiting for the database (alert changes and events)."""
        return len(self._queue)

    def _tick(self) -> None:
        self._apply(self.book.tick(self.clock()))

    async def _alertmanager_refresh(self) -> None:
        """Alertmanager ends a firing alert by itself after resolve_timeout: send the open ones again."""
        now = self.clock()
        async with aiohttp.ClientSession() as http:
            for receiver in self.receivers:
                if receiver.kind != "alertmanager":
                    continue
                changes = [AlertChange(ChangeKind.FIRED, a, now, True) for a in self.book.open_alerts()]
                bodies = [alert_body(c, receiver.language) for c in changes if receiver.wants(c)]
                try:
                    await alertmanager.refresh(http, receiver, bodies)
                except Exception as exc:  # noqa: BLE001 - next minute tries again
                    log.warning("alertmanager refresh to %s failed: %s", receiver.name, exc)

    # ---- inputs ----------------------------------------------------------------------------------

    def on_judgements(self, items: list[Judgement]) -> None:
        items = [j for j in items if not j.detail.get("suppressed")]  # declared bus detours: recorded, not alerted
        if items:
            self._apply(self.book.judge(items, self.clock()))

    def on_room(self, listener: Callable[[], None]) -> None:
        """`listener()` once the held events are all written after some were refused."""
        self._room_listeners.append(listener)

    def on_alarm_event(self, ev: AlarmEvent, stored: Stored) -> None:
        """Alert the event and store both in one transaction; then `stored(new)`. Refused (None, at
        once) while too many events wait for the database: the broker keeps it."""
        if self._held_events >= self.max_held_events:
            self.events_refused += 1
            self._refused_since_room = True
            stored(None)
            return
        changes = self.book.alarm(ev, self.clock())
        self._tell(changes)
        self._held_events += 1
        self._queue.append(_Queued(AlertWrite(changes, self.router.route(changes), ev), stored))
        self._kick.set()

    async def ack(self, alert_id: str, actor: str, note: str | None) -> Alert:
        """Acknowledge; raises `alerts.lifecycle.UnknownAlert` when it is not open. The change is
        queued like any other (held back, not lost, while the database is away)."""
        changes = self.book.ack(alert_id, actor, self.clock(), note)
        self._tell(changes)
        if changes:
            done: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
            def stored(new: bool | None) -> None:
                if not done.done():
                    done.set_result(new)

            self._queue.append(_Queued(AlertWrite(changes, self.router.route(changes)), stored))
            self._kick.set()
            try:  # answer once it is stored, as before; while the database is away, at once (held back)
                await asyncio.wait_for(asyncio.shield(done), ACK_WAIT_S)
            except TimeoutError:
                log.warning("acknowledgement of %s held back: the database is not taking writes", alert_id)
        found = changes[-1].alert if changes else self.book.get(alert_id)
        assert found is not None
        return found

    def owns(self, school: str) -> bool:
        """Whether this instance's book judges the school's alerts (always, with one instance)."""
        return self.cluster is None or self.cluster.owns(school)

    async def apply_ack_requests(self) -> None:
        """Several instances (contract §9): acknowledgements asked through an instance that does not own
        the alert's school (`alert_store.request_ack`) are applied here, by the owner, through the
        write queue like any other; each request's row is deleted once its acknowledgement is stored
        (a fenced write leaves it for the next owner). A request for an alert that is no longer
        firing in the database is deleted unapplied."""
        assert self.cluster is not None
        owned = {s for s in self.cluster.sent_schools() or () if self.cluster.owns(s)}
        requests = [r for r in await self.db.call(alert_store.ack_requests, owned) if r[0] not in self._acks_pending]
        done: list[int] = []
        unknown: list[tuple[int, str]] = []
        for rid, alert_id, actor, note, at in requests:
            held = self.book.get(alert_id)
            try:
                changes = self.book.ack(alert_id, actor, max(at, held.updated_at) if held else at, note)
            except UnknownAlert:
                unknown.append((rid, alert_id))
                continue
            if not changes:  # acknowledged already
                done.append(rid)
                continue
            self._tell(changes)
            self._acks_pending.add(rid)
            self._queue.append(_Queued(AlertWrite(changes, self.router.route(changes)), self._ack_stored(rid)))
            self._kick.set()
            log.info("alert %s acknowledged by %s through another instance", alert_id, actor)
        if unknown:  # resolved (drop) or not in the book yet (a take under way: kept)
            states = await self.db.call(alert_store.alert_states, [a for _, a in unknown])
            done += [rid for rid, a in unknown if states.get(a) != "firing"]
        await self.db.call(alert_store.drop_ack_requests, done)

    def _ack_stored(self, rid: int) -> Stored:
        def stored(new: bool | None) -> None:
            self._acks_pending.discard(rid)
            if new is not None:
                task = asyncio.get_running_loop().create_task(self.db.call(alert_store.drop_ack_requests, [rid]))
                self._drops.add(task)
                task.add_done_callback(self._drops.discard)
        return stored

    async def maintenance_changed(self) -> None:
        """The maintenance windows table changed: reload it."""
        now = self.clock()
        windows = await self.db.call(alert_store.maintenance_windows, now)
        self._apply(self.book.set_maintenance(windows, now))

    def _apply(self, changes: list[AlertChange]) -> None:
        if not changes:
            return
        self._tell(changes)
        self._queue.append(_Queued(AlertWrite(changes, self.router.route(changes))))
        if len(self._queue) - self._held_events > self.max_held_changes:
            self._drop_oldest_changes()
        self._kick.set()

    def _drop_oldest_changes(self) -> None:
        for i, item in enumerate(self._queue):
            if item.write.event is None:
                del self._queue[i]
                self.held_dropped += 1
                if self.held_dropped == 1 or self.held_dropped % 10_000 == 0:
                    log.error("%d held-back alert writes dropped: more than %d waited for the database",
                              self.held_dropped, self.max_held_changes)
                return

    async def _writer(self) -> None:
        """Store the queue in order, a batch per transaction; retry while the database refuses."""
        while True:
            if not self._queue:
                self._kick.clear()
                await self._kick.wait()
            while self._queue:
                batch = [self._queue[i] for i in range(min(WRITE_BATCH, len(self._queue)))]
                try:
                    # urgent: ahead of device states, history and the normal outbox lane waiting on
                    # the database thread (a press is stored, and acknowledged, first)
                    news = await self.db.call_urgent(alert_store.store_writes, [q.write for q in batch],
                                                     None if self.cluster is None else self.cluster.fence)
                except Fenced as exc:  # several instances: no longer ours; the new owner judges them
                    self._drop_fenced(exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - held back; retried below
                    self.health.failed("alert writes", exc, len(self._queue))
                    await asyncio.sleep(RETRY_S)
                    continue
                for _ in batch:
                    self._queue.popleft()
                self.health.succeeded()
                for q, new in zip(batch, news, strict=True):
                    if q.write.event is not None:
                        self._held_events -= 1
                        if not new:
                            self.book.forget_event(q.write.event)  # alerted when it was first stored
                    if q.stored is not None:
                        try:
                            q.stored(new)
                        except Exception:  # noqa: BLE001
                            log.exception("alarm event callback failed")
                self.sender.wake()
                if self._refused_since_room and self._held_events == 0:
                    self._refused_since_room = False
                    for listener in self._room_listeners:
                        try:
                            listener()
                        except Exception:  # noqa: BLE001
                            log.exception("room listener failed")

    def _tell(self, changes: list[AlertChange]) -> None:
        for listener in self._subscribers:
            try:
                listener(changes)
            except Exception:  # noqa: BLE001 - a listener never stops the alerts
                log.exception("alert listener %r failed", listener)


    def _drop_fenced(self, exc: Fenced) -> None:
        """Writes of schools this instance no longer owns are dropped; their events are left
        unacknowledged, so the broker hands them to the partition's new owner."""
        assert self.cluster is not None
        stale = self.cluster.schools_of(exc.partitions) or {
            s for q in self._queue for s in _schools(q.write) if not self.cluster.owns(s)}
        kept: deque[_Queued] = deque()
        dropped = 0
        for q in self._queue:
            if not (_schools(q.write) & stale):
                kept.append(q)
                continue
            dropped += 1
            if q.write.event is not None:
                self._held_events -= 1
                self.book.forget_event(q.write.event)
            if q.stored is not None:
                q.stored(None)
        if not dropped:  # fenced for a school no write names: drop nothing, the keeper catches up
            log.warning("alert writes fenced (%s); retrying", exc)
        self._queue = kept
        log.warning("%d alert writes of partitions this instance no longer owns dropped (%s)", dropped, exc)

    # ---- metrics ---------------------------------------------------------------------------------

    def metrics(self) -> Iterable[Metric]:
        firing = GaugeMetricFamily("campus_alerts_firing", "Alerts firing or acknowledged, not yet resolved",
                                   labels=["rule", "severity"])
        counts: dict[tuple[str, str], int] = {}
        for a in self.book.open_alerts():
            k = (str(a.rule), str(a.severity))
            counts[k] = counts.get(k, 0) + 1
        for (rule, sev), n in counts.items():
            firing.add_metric([rule, sev], n)
        yield firing
        sent = CounterMetricFamily("campus_notifications", "Alert messages by receiver and outcome",
                                   labels=["receiver", "outcome"])
        for (receiver, outcome), n in self.stats.notifications.items():
            sent.add_metric([receiver, outcome], n)
        yield sent
        depth = GaugeMetricFamily("campus_notification_queue_depth", "Messages waiting in the outbox", labels=["receiver"])
        for receiver, n in self.stats.queue_depth.items():
            depth.add_metric([receiver], n)
        yield depth
        held = GaugeMetricFamily("campus_held_back", "Writes waiting in memory for the database", labels=["what"])
        held.add_metric(["alert_changes"], len(self._queue) - self._held_events)
        held.add_metric(["alarm_events"], self._held_events)
        yield held
        lost = CounterMetricFamily("campus_held_back_overflow", "Held-back writes over the bound: alert writes "
                                   "dropped, alarm events left unacknowledged to the broker", labels=["what"])
        lost.add_metric(["alert_changes"], self.held_dropped)
        lost.add_metric(["alarm_events"], self.events_refused)
        yield lost
        up = GaugeMetricFamily("campus_database_up", "1 while the database takes the service's writes")
        up.add_metric([], 0 if self.health.down else 1)
        yield up

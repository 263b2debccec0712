"""The alert edge: judgements and alarm events into the AlertBook, its changes into the outbox (one
transaction), and the outbox sender delivering them. Wired into the App by `install`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alerts.lifecycle import AlertBook, LifecycleConfig
from alerts.model import Alert, AlertChange, ChangeKind
from alerts.outbox import (
    OutboxSender,
    OutboxStats,
    load_last_tests,
    load_maintenance,
    load_open_alerts,
    record_changes,
)
from alerts.routing import Receiver, Router, alert_body, parse_receivers
from alerts.wording import RegistryNames
from devices.events import AlarmEvent, Judgement

log = logging.getLogger(__name__)
TICK_S = 0.5
ALERTMANAGER_REFRESH_S = 60.0


class AlertEngine:
    def __init__(self, app: Any, receivers: list[Receiver]) -> None:
        cfg = app.cfg.alerts
        self.app = app
        self.book = AlertBook(
            LifecycleConfig(language=cfg.language, cancel_within_s=cfg.cancel_within_s,
                            test_overdue_s=cfg.untested_alarm_days * 86400, flap_downs=cfg.flap_count,
                            flap_window_s=cfg.flap_window_s, remind_after_s=cfg.remind_after_s,
                            withhold_lookback_s=cfg.group_window_s),
            RegistryNames.from_registry(app.registry),
        )
        self.receivers = receivers
        self.router = Router(receivers, cfg.group_window_s)
        self.stats = OutboxStats()
        self.sender = OutboxSender(app.db, receivers, group_window_s=cfg.group_window_s,
                                   dead_after_s=cfg.dead_letter_after_s, stats=self.stats, clock=app.clock,
                                   in_db=app.in_db_thread)
        self._tasks: list[asyncio.Task[None]] = []

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        now = self.app.clock()

        def restore(db: Any) -> tuple[list[Alert], dict[tuple[str, str], float], list[Any]]:
            with db.session() as s:
                return load_open_alerts(s), load_last_tests(s), load_maintenance(s, now)

        alerts, tests, windows = await self.app.db_call(restore)
        self.book.restore(alerts)
        for (school, panel), at in tests.items():
            self.book.note_test(school, panel, at)
        self.book.set_panels([(s.id, a.id) for s in self.app.registry.schools for a in s.alarms], now)
        self._apply(self.book.set_maintenance(windows, now))
        self._tasks = [asyncio.create_task(self.sender.run(), name="outbox"),
                       asyncio.create_task(self._ticker(), name="alert-ticker")]
        if any(r.kind == "alertmanager" for r in self.receivers):
            self._tasks.append(asyncio.create_task(self._alertmanager_refresh(), name="alertmanager-refresh"))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self._apply(self.book.tick(self.app.clock()))
            except Exception:  # noqa: BLE001
                log.exception("alert tick failed")

    async def _alertmanager_refresh(self) -> None:
        """Alertmanager ends a firing alert by itself after resolve_timeout: send the open ones again."""
        import aiohttp

        from alerts.receivers import alertmanager

        async with aiohttp.ClientSession() as http:
            while True:
                await asyncio.sleep(ALERTMANAGER_REFRESH_S)
                now = self.app.clock()
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
            self._apply(self.book.judge(items, self.app.clock()))

    def on_alarm_event(self, ev: AlarmEvent) -> None:
        self._apply(self.book.alarm(ev, self.app.clock()))

    async def ack(self, alert_id: str, actor: str, note: str | None) -> Alert:
        changes = self.book.ack(alert_id, actor, self.app.clock(), note)
        await self.app.db_call(self._store, changes, self.router.route(changes))
        self.sender.wake()
        found = changes[-1].alert if changes else self.book.get(alert_id)
        assert found is not None
        return found

    async def maintenance_changed(self) -> None:
        now = self.app.clock()
        windows = await self.app.db_call(lambda db: _load_windows(db, now))
        self._apply(self.book.set_maintenance(windows, now))

    def _apply(self, changes: list[AlertChange]) -> None:
        if not changes:
            return
        notices = self.router.route(changes)
        task = asyncio.get_running_loop().create_task(self.app.db_call(self._store, changes, notices))
        task.add_done_callback(self._stored)

    def _stored(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is not None:
            log.error("could not store alert changes: %s", None if task.cancelled() else task.exception())
            return
        self.sender.wake()

    @staticmethod
    def _store(db: Any, changes: list[AlertChange], notices: list[Any]) -> None:
        with db.session() as s:
            record_changes(s, changes, notices)

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


def _load_windows(db: Any, now: float) -> list[Any]:
    with db.session() as s:
        return load_maintenance(s, now)


class _Families:
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def collect(self) -> Iterator[Metric]:
        yield from self.fn()


def install(app: Any) -> AlertEngine:
    """Validate the receivers (config errors stop the start) and wire the engine into `app`."""
    receivers = parse_receivers(list(app.cfg.receivers))
    engine = AlertEngine(app, receivers)
    app.alert_engine = engine
    app.listeners.append(engine.on_judgements)
    app.event_listeners.append(engine.on_alarm_event)
    app.metric_sources.append(engine.metrics)
    app.services.append(engine)
    return engine

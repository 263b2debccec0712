"""The alert service: judgements and alarm events into the AlertBook, its changes and their outbox rows
stored in one transaction, and the outbox sender delivering them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence

import aiohttp
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alerts.lifecycle import AlertBook, LifecycleConfig
from alerts.model import Alert, AlertChange, ChangeKind
from alerts.outbox import OutboxSender, OutboxStats
from alerts.receivers import alertmanager
from alerts.routing import Receiver, Router, alert_body
from alerts.wording import RegistryNames
from devices.events import AlarmEvent, Judgement
from monitor.config import AlertsConfig
from monitor.storage import alert_store
from monitor.storage.outbox_store import SqlOutbox
from monitor.storage.runner import DbThread
from monitor.tasks import cancel_and_wait, every

log = logging.getLogger(__name__)
TICK_S = 0.5
ALERTMANAGER_REFRESH_S = 60.0


class AlertEngine:
    def __init__(self, cfg: AlertsConfig, names: RegistryNames, panels: Sequence[tuple[str, str]],
                 receivers: Sequence[Receiver], db: DbThread, clock: Callable[[], float]) -> None:
        self.book = AlertBook(
            LifecycleConfig(language=cfg.language, cancel_within_s=cfg.cancel_within_s,
                            test_overdue_s=cfg.untested_alarm_days * 86400, flap_downs=cfg.flap_count,
                            flap_window_s=cfg.flap_window_s, remind_after_s=cfg.remind_after_s,
                            withhold_lookback_s=cfg.group_window_s),
            names,
        )
        self.panels = list(panels)
        self.receivers = list(receivers)
        self.router = Router(receivers, cfg.group_window_s)
        self.db = db
        self.clock = clock
        self.stats = OutboxStats()
        self.sender = OutboxSender(SqlOutbox(db.db), receivers, group_window_s=cfg.group_window_s,
                                   dead_after_s=cfg.dead_letter_after_s, stats=self.stats, clock=clock,
                                   in_db=db.run)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribers: list[Callable[[list[AlertChange]], None]] = []

    def subscribe(self, listener: Callable[[list[AlertChange]], None]) -> None:
        """`listener(changes)` is called on the loop with every batch of alert changes, as they are made
        (before they are stored): the pages' press banner hears of a press at once."""
        self._subscribers.append(listener)

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        now = self.clock()
        alerts, tests, windows = await self.db.call(alert_store.restore_state, now)
        self.book.restore(alerts)
        for (school, panel), at in tests.items():
            self.book.note_test(school, panel, at)
        self.book.set_panels(self.panels, now)
        self._apply(self.book.set_maintenance(windows, now))
        self._tasks = [asyncio.create_task(self.sender.run(), name="outbox"),
                       every(TICK_S, self._tick, "alert-ticker")]
        if any(r.kind == "alertmanager" for r in self.receivers):
            self._tasks.append(every(ALERTMANAGER_REFRESH_S, self._alertmanager_refresh, "alertmanager-refresh"))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []

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

    def on_alarm_event(self, ev: AlarmEvent) -> None:
        self._apply(self.book.alarm(ev, self.clock()))

    async def ack(self, alert_id: str, actor: str, note: str | None) -> Alert:
        """Acknowledge; raises `alerts.lifecycle.UnknownAlert` when it is not open."""
        changes = self.book.ack(alert_id, actor, self.clock(), note)
        await self.db.call(alert_store.store_changes, changes, self.router.route(changes))
        self.sender.wake()
        self._tell(changes)
        found = changes[-1].alert if changes else self.book.get(alert_id)
        assert found is not None
        return found

    async def maintenance_changed(self) -> None:
        """The maintenance windows table changed: reload it."""
        now = self.clock()
        windows = await self.db.call(alert_store.maintenance_windows, now)
        self._apply(self.book.set_maintenance(windows, now))

    def _apply(self, changes: list[AlertChange]) -> None:
        if not changes:
            return
        self._tell(changes)
        notices = self.router.route(changes)
        task = asyncio.get_running_loop().create_task(self.db.call(alert_store.store_changes, changes, notices))
        task.add_done_callback(self._stored)

    def _tell(self, changes: list[AlertChange]) -> None:
        for listener in self._subscribers:
            try:
                listener(changes)
            except Exception:  # noqa: BLE001 - a listener never stops the alerts
                log.exception("alert listener %r failed", listener)

    def _stored(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is not None:
            log.error("could not store alert changes: %s", None if task.cancelled() else task.exception())
            return
        self.sender.wake()

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

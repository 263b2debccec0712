"""The alert lifecycle: judgements, alarm events, acknowledgements and the time in; alert changes out.

`AlertBook` is pure and synchronous: it never reads the clock (every call is given `now`) and does no
I/O. The edge stores every `AlertChange` it returns (in the same transaction as the outbox rows made
from it, see `alerts.outbox.record_changes`) and hands the ones with `notify` to the grouper.

Rules it keeps:
- one alert per (rule, school, subject) while the condition lasts; firing -> acknowledged -> resolved;
- `alarm_pressed` / `alarm_tampered`: one alert per event, urgent; a repeated event_id does nothing;
  a `cancel` from the same panel within `cancel_within_s` resolves it with a note, and so does an ack;
  a bus's emergency button is the same, its subject the bus id (`detail["kind"] = "gps"`);
- `test` presses are recorded (a `RECORDED` change, rule `alarm_test`), never alerted; a known panel
  with no test for `test_overdue_s` gets an `alarm_test_overdue` warning, resolved by the next test;
- while a school is offline (and `offline_release_grace_s` after it is back) its device alerts are held
  back: opened and stored, not sent; the ones still open afterwards are sent then;
- a subject going down more than `flap_downs` times within `flap_window_s` is one flapping alert,
  which resolves once it has been calm for `flap_window_s`;
- a critical alert not acknowledged gets a reminder every `remind_after_s`, each one raising its
  `escalation` by one (the router sends it on to receivers further down the escalation order);
- maintenance windows (school or zone) hold back alerts of what they cover, except alarm presses.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from alerts.model import (
    ALARM_TEST,
    ALARM_TEST_OVERDUE,
    EVENT_RULES,
    Alert,
    AlertChange,
    AlertState,
    ChangeKind,
    MaintenanceWindow,
)
from alerts.wording import Names, summaries
from devices.events import DOWN_RULES, AlarmEvent, Judgement
from devices.model import DeviceKind

log = logging.getLogger(__name__)

SCHOOL_OFFLINE = "school_offline"
#: Device alerts held back while their school is offline (buses have their own network: not held).
HELD_WHILE_OFFLINE = frozenset(
    {str(rule) for kind, rule in DOWN_RULES.items() if kind is not DeviceKind.GPS} | {"zone_dark"}
)
#: Never held back by a maintenance window.
NEVER_IN_MAINTENANCE = frozenset({"alarm_pressed", SCHOOL_OFFLINE})

Key = tuple[str, str, str]  # rule, school, subject


class UnknownAlert(KeyError):
    """No open alert has this id (it never existed, or it is resolved)."""


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    language: str = "zh"  # of the stored summary; receivers may ask for another
    cancel_within_s: float = 120.0
    test_overdue_s: float = 30 * 86400.0  # 0 = never warn
    flap_downs: int = 3  # more downs than this within flap_window_s is flapping
    flap_window_s: float = 600.0
    remind_after_s: float = 300.0  # 0 = no reminders
    withhold_lookback_s: float = 10.0  # device alerts this young are withdrawn when the school goes offline
    offline_release_grace_s: float = 120.0
    event_memory_s: float = 2 * 86400.0  # how long a seen event_id is remembered here


def _new_id() -> str:
    return "a-" + uuid.uuid4().hex[:16]


class AlertBook:
    def __init__(self, config: LifecycleConfig, names: Names, new_id: Callable[[], str] = _new_id) -> None:
        self.config = config
        self.names = names
        self._new_id = new_id
        self._open: dict[str, Alert] = {}
        self._by_key: dict[Key, str] = {}
        self._condition: dict[Key, bool] = {}
        self._downs: dict[Key, deque[float]] = {}
        self._last_flip: dict[Key, float] = {}
        self._remind_from: dict[str, float] = {}
        self._seen_events: dict[tuple[str, str, str], float] = {}
        self._last_test: dict[tuple[str, str], float] = {}
        self._maintenance: tuple[MaintenanceWindow, ...] = ()
        self._offline_cleared: dict[str, float] = {}

    # ---- reading --------------------------------------------------------------------------------

    def open_alerts(self) -> list[Alert]:
        return sorted(self._open.values(), key=lambda a: (a.started_at, a.id))

    def get(self, alert_id: str) -> Alert | None:
        return self._open.get(alert_id)

    # ---- inputs ---------------------------------------------------------------------------------

    def judge(self, judgements: Iterable[Judgement], now: float) -> list[AlertChange]:
        """Judgements of one sweep; a school going offline is taken first, its coming back last."""
        batch = list(judgements)
        first = [j for j in batch if j.rule == SCHOOL_OFFLINE and j.active]
        last = [j for j in batch if j.rule == SCHOOL_OFFLINE and not j.active]
        middle = [j for j in batch if j.rule != SCHOOL_OFFLINE]
        changes: list[AlertChange] = []
        for j in first + middle + last:
            changes += self._judge_one(j, now)
        return changes

    def alarm(self, event: AlarmEvent, now: float) -> list[AlertChange]:
        seen = (event.school, event.device, event.event_id)
        if seen in self._seen_events:
            return []
        self._seen_events[seen] = now
        detail = {"kind": str(event.kind)}
        if event.type == "press":
            return [self._open_alert("alarm_pressed", "critical", event.school, event.device, None, detail, now, event.event_id)]
        if event.type == "tamper":
            return [self._open_alert("alarm_tampered", "critical", event.school, event.device, None, detail, now, event.event_id)]
        if event.type == "test":
            return self._test_press(event, now)
        if event.type == "cancel":
            return self._cancel(event, now)
        log.warning("alarm %s/%s: unknown event type %r ignored", event.school, event.device, event.type)
        return []

    def ack(self, alert_id: str, who: str, now: float, note: str | None = None) -> list[AlertChange]:
        """Acknowledge an open alert; an alarm press or tamper is resolved by it. Acked twice: no change."""
        alert = self._open.get(alert_id)
        if alert is None:
            raise UnknownAlert(alert_id)
        if alert.state is AlertState.ACKNOWLEDGED:
            return []
        self._remind_from.pop(alert_id, None)
        if alert.rule in EVENT_RULES:
            # who and when are in acked_by / acked_at; the note is the person's own words or none
            return [self._resolve(alert, now, note, acked_by=who, acked_at=now)]
        acked = self._update(alert, now, state=AlertState.ACKNOWLEDGED, acked_by=who, acked_at=now, note=note or alert.note)
        return [AlertChange(ChangeKind.ACKNOWLEDGED, acked, now, notify=acked.notified)]

    def tick(self, now: float) -> list[AlertChange]:
        """Timers: reminders, flapping calming down, held-back alerts released, untested panels."""
        changes: list[AlertChange] = []
        changes += self._calm_flapping(now)
        changes += self._release(now)
        changes += self._remind(now)
        changes += self._untested_panels(now)
        horizon = now - self.config.event_memory_s
        for seen in [s for s, t in self._seen_events.items() if t < horizon]:
            del self._seen_events[seen]
        for school in [s for s, t in self._offline_cleared.items() if now - t > self.config.offline_release_grace_s]:
            del self._offline_cleared[school]
        return changes

    def set_maintenance(self, windows: Iterable[MaintenanceWindow], now: float) -> list[AlertChange]:
        """Replace the maintenance windows; alerts no longer held back are sent."""
        self._maintenance = tuple(windows)
        return self._release(now)

    def set_panels(self, panels: Iterable[tuple[str, str]], now: float) -> None:
        """The alarm panels (school, id) whose tests are watched; a new one's clock starts now."""
        known = set(panels)
        for panel in known:
            self._last_test.setdefault(panel, now)
        for panel in [p for p in self._last_test if p not in known]:
            del self._last_test[panel]

    def note_test(self, school: str, panel: str, at: float) -> None:
        """The last test press of a panel, as stored (used at start)."""
        if at > self._last_test.get((school, panel), float("-inf")):
            self._last_test[(school, panel)] = at

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Open alerts as stored, at start. Reminders count from their last update."""
        for alert in alerts:
            if not alert.is_open:
                continue
            self._open[alert.id] = alert
            if alert.rule in EVENT_RULES:
                if alert.event_id:
                    self._seen_events[(alert.school, alert.subject, alert.event_id)] = alert.started_at
            else:
                key = (alert.rule, alert.school, alert.subject)
                self._by_key[key] = alert.id
                self._condition[key] = True
                self._last_flip[key] = alert.updated_at
            if alert.rule == SCHOOL_OFFLINE:
                self._offline_cleared.pop(alert.school, None)
            if alert.state is AlertState.FIRING:
                self._remind_from[alert.id] = alert.updated_at

    def let_go(self, schools: Iterable[str]) -> None:
        """Several instances: `schools` are judged by another instance now; their open alerts, conditions
        and event keys leave this book unsaid (the new owner restores them from the database)."""
        wanted = set(schools)
        for alert in [a for a in self._open.values() if a.school in wanted]:
            self._forget(alert)
        for table in (self._by_key, self._condition, self._downs, self._last_flip):
            for key in [k for k in table if k[1] in wanted]:
                del table[key]
        for ev_key in [k for k in self._seen_events if k[0] in wanted]:
            del self._seen_events[ev_key]
        for school in wanted:
            self._offline_cleared.pop(school, None)

    def forget_event(self, event: AlarmEvent) -> None:
        """Undo `alarm(event)`: the edge could not store the event (it will come again), or found it
        stored before (it was alerted then). Its open alert, if any, is dropped unsaid."""
        self._seen_events.pop((event.school, event.device, event.event_id), None)
        for alert in [a for a in self._open.values() if a.event_id == event.event_id
                      and a.school == event.school and a.subject == event.device]:
            self._forget(alert)

    # ---- conditions -----------------------------------------------------------------------------

    def _judge_one(self, j: Judgement, now: float) -> list[AlertChange]:
        key = (str(j.rule), j.school, j.subject)
        if self._condition.get(key, False) == j.active and (j.active or key not in self._by_key):
            return []  # the same judgement again
        self._condition[key] = j.active
        self._last_flip[key] = now
        existing = self._open.get(self._by_key.get(key, ""))
        if not j.active:
            if existing is None or existing.flapping:
                return []
            resolved = [self._resolve(existing, now, None)]
            if j.rule == SCHOOL_OFFLINE:
                self._offline_cleared[j.school] = now
                resolved += self._release(now)
            return resolved
        downs = self._downs.setdefault(key, deque())
        downs.append(now)
        while downs and downs[0] < now - self.config.flap_window_s:
            downs.popleft()
        if existing is not None:
            return []
        changes: list[AlertChange] = []
        if j.rule == SCHOOL_OFFLINE:
            self._offline_cleared.pop(j.school, None)
            changes += self._withhold_young(j.school, now)
        flapping = len(downs) > self.config.flap_downs
        detail: dict[str, Any] = dict(j.detail)
        if flapping:
            detail |= {"downs": len(downs), "window_min": self.config.flap_window_s / 60}
        changes.append(self._open_alert(str(j.rule), str(j.severity), j.school, j.subject, j.zone, detail, now, flapping=flapping))
        return changes

    def _open_alert(
        self,
        rule: str,
        severity: str,
        school: str,
        subject: str,
        zone: str | None,
        detail: dict[str, Any],
        now: float,
        event_id: str | None = None,
        flapping: bool = False,
    ) -> AlertChange:
        texts = summaries(rule, school, subject, zone, detail, self.names, flapping)
        alert = Alert(
            id=self._new_id(),
            rule=rule,
            severity=severity,
            state=AlertState.FIRING,
            school=school,
            subject=subject,
            zone=zone,
            summary=texts.get(self.config.language, texts["zh"]),
            started_at=now,
            updated_at=now,
            event_id=event_id,
            flapping=flapping,
            summaries=texts,
            detail=detail,
        )
        held = self._held(alert, now)
        alert = replace(alert, notified=not held)
        self._open[alert.id] = alert
        if rule not in EVENT_RULES:
            self._by_key[(rule, school, subject)] = alert.id
        if not held:
            self._remind_from[alert.id] = now
        if held:
            kind = ChangeKind.HELD
        else:
            kind = ChangeKind.FLAPPING if flapping else ChangeKind.FIRED
        log.log(logging.DEBUG if severity == "info" else logging.INFO, "alert %s %s %s/%s %s", alert.id, kind,
                school, subject, rule)
        return AlertChange(kind, alert, now, notify=not held, urgent=rule in EVENT_RULES and not held)

    def _resolve(self, alert: Alert, now: float, note: str | None, **fields: Any) -> AlertChange:
        resolved = self._update(alert, now, state=AlertState.RESOLVED, note=note or alert.note, **fields)
        self._forget(resolved)
        return AlertChange(ChangeKind.RESOLVED, resolved, now, notify=resolved.notified)

    def _update(self, alert: Alert, now: float, **fields: Any) -> Alert:
        updated = replace(alert, version=alert.version + 1, updated_at=now, **fields)
        if updated.is_open:
            self._open[updated.id] = updated
        return updated

    def _forget(self, alert: Alert) -> None:
        self._open.pop(alert.id, None)
        self._remind_from.pop(alert.id, None)
        key = (alert.rule, alert.school, alert.subject)
        if self._by_key.get(key) == alert.id:
            del self._by_key[key]

    # ---- holding back ---------------------------------------------------------------------------

    def _school_held(self, school: str, now: float) -> bool:
        if self._by_key.get((SCHOOL_OFFLINE, school, school)) in self._open:
            return True
        cleared = self._offline_cleared.get(school)
        return cleared is not None and now - cleared < self.config.offline_release_grace_s

    def _in_maintenance(self, alert: Alert, now: float) -> bool:
        if alert.rule in NEVER_IN_MAINTENANCE:
            return False
        zone = alert.zone or (alert.subject if alert.rule == "zone_dark" else None)
        return any(w.covers(alert.school, zone, now) for w in self._maintenance)

    def _held(self, alert: Alert, now: float) -> bool:
        if alert.rule in HELD_WHILE_OFFLINE and self._school_held(alert.school, now):
            return True
        return self._in_maintenance(alert, now)

    def _withhold_young(self, school: str, now: float) -> list[AlertChange]:
        """The school just went offline: device alerts opened moments ago are taken back."""
        changes = []
        for alert in list(self._open.values()):
            if (
                alert.school == school
                and alert.rule in HELD_WHILE_OFFLINE
                and alert.notified
                and alert.state is AlertState.FIRING
                and alert.started_at >= now - self.config.withhold_lookback_s
            ):
                held = self._update(alert, now, notified=False)
                self._remind_from.pop(alert.id, None)
                changes.append(AlertChange(ChangeKind.WITHHELD, held, now, notify=False))
        return changes

    def _release(self, now: float) -> list[AlertChange]:
        changes = []
        for alert in self.open_alerts():
            if alert.notified or self._held(alert, now):
                continue
            released = self._update(alert, now, notified=True)
            if released.state is AlertState.FIRING:
                self._remind_from[alert.id] = now
            kind = ChangeKind.FLAPPING if released.flapping else ChangeKind.FIRED
            changes.append(AlertChange(kind, released, now, notify=True, urgent=released.rule in EVENT_RULES))
        return changes

    # ---- timers ---------------------------------------------------------------------------------

    def _calm_flapping(self, now: float) -> list[AlertChange]:
        changes = []
        for alert in self.open_alerts():
            if not alert.flapping:
                continue
            key = (alert.rule, alert.school, alert.subject)
            if now - self._last_flip.get(key, alert.updated_at) < self.config.flap_window_s:
                continue
            if self._condition.get(key, False):
                texts = summaries(alert.rule, alert.school, alert.subject, alert.zone, alert.detail, self.names)
                steady = self._update(
                    alert, now, flapping=False, summaries=texts, summary=texts.get(self.config.language, texts["zh"])
                )
                changes.append(AlertChange(ChangeKind.FIRED, steady, now, notify=False))
            else:
                changes.append(self._resolve(alert, now, "stopped flapping"))
        return changes

    def _remind(self, now: float) -> list[AlertChange]:
        every = self.config.remind_after_s
        if every <= 0:
            return []
        changes = []
        for alert in self.open_alerts():
            since = self._remind_from.get(alert.id)
            if (
                since is None
                or alert.severity != "critical"
                or alert.state is not AlertState.FIRING
                or not alert.notified
                or now - since < every
            ):
                continue
            reminded = self._update(alert, now, escalation=alert.escalation + 1)
            self._remind_from[alert.id] = now
            changes.append(AlertChange(ChangeKind.REMINDER, reminded, now, notify=True))
        return changes

    def _untested_panels(self, now: float) -> list[AlertChange]:
        limit = self.config.test_overdue_s
        if limit <= 0:
            return []
        changes = []
        for (school, panel), last in sorted(self._last_test.items()):
            if now - last > limit and (ALARM_TEST_OVERDUE, school, panel) not in self._by_key:
                detail = {"days": round(limit / 86400, 1), "last_test": last}
                changes.append(self._open_alert(ALARM_TEST_OVERDUE, "warning", school, panel, None, detail, now))
        return changes

    # ---- alarm events ---------------------------------------------------------------------------

    def _test_press(self, event: AlarmEvent, now: float) -> list[AlertChange]:
        if event.kind is DeviceKind.ALARM:  # a bus's button is not a watched panel
            self._last_test[(event.school, event.device)] = now
        detail = {"kind": str(event.kind)}
        texts = summaries(ALARM_TEST, event.school, event.device, None, detail, self.names)
        record = Alert(
            id=self._new_id(),
            rule=ALARM_TEST,
            severity="info",
            state=AlertState.RESOLVED,
            school=event.school,
            subject=event.device,
            zone=None,
            summary=texts.get(self.config.language, texts["zh"]),
            started_at=now,
            updated_at=now,
            event_id=event.event_id,
            summaries=texts,
            detail=detail,
        )
        changes = [AlertChange(ChangeKind.RECORDED, record, now, notify=False)]
        overdue = self._open.get(self._by_key.get((ALARM_TEST_OVERDUE, event.school, event.device), ""))
        if overdue is not None:
            changes.append(self._resolve(overdue, now, "tested"))
        return changes

    def _cancel(self, event: AlarmEvent, now: float) -> list[AlertChange]:
        changes = []
        for alert in self.open_alerts():
            if alert.rule in EVENT_RULES and alert.school == event.school and alert.subject == event.device:
                after = now - alert.started_at
                if after <= self.config.cancel_within_s:
                    changes.append(self._resolve(alert, now, f"cancelled at the panel after {after:.0f} s"))
                else:
                    log.info("alarm %s/%s: cancel %.0f s after %s is too late to resolve it", event.school, event.device, after, alert.id)
        return changes

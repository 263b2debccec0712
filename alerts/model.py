"""The alert as the rest of the service sees it: an immutable snapshot, and the change that made it.

`alerts.lifecycle.AlertBook` produces `AlertChange`s; storage keeps every one (history), the grouper
and router turn the ones with `notify` into messages. Times are Unix seconds (floats).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class AlertState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ChangeKind(StrEnum):
    FIRED = "fired"  # receivers hear of the alert for the first time
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REMINDER = "reminder"  # critical, still not acknowledged; escalation went up by one
    FLAPPING = "flapping"  # the subject went down and up too often: one alert stands for it
    HELD = "held"  # opened while held back (school offline, maintenance): stored, not sent
    WITHHELD = "withheld"  # just sent to the grouper, now held back: drop it if still waiting
    RECORDED = "recorded"  # kept for the record (alarm test press), never an alert


#: Extra rules of the alert engine, beside contract §3's `devices.events.Rule`.
ALARM_TEST = "alarm_test"
ALARM_TEST_OVERDUE = "alarm_test_overdue"

#: Rules that stand for one alarm event each (contract §3): urgent, one alert per event_id.
EVENT_RULES = frozenset({"alarm_pressed", "alarm_tampered"})


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert at one moment. `version` grows by one with every change."""

    id: str
    rule: str
    severity: str
    state: AlertState
    school: str
    subject: str
    zone: str | None
    summary: str
    started_at: float
    updated_at: float
    acked_by: str | None = None
    acked_at: float | None = None
    note: str | None = None
    event_id: str | None = None
    escalation: int = 0
    flapping: bool = False
    notified: bool = False  # receivers have been told it fired
    version: int = 1
    summaries: dict[str, str] = field(default_factory=dict)  # language -> summary
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.state is not AlertState.RESOLVED

    def summary_in(self, language: str) -> str:
        return self.summaries.get(language, self.summary)


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What happened to an alert; `notify` says whether receivers hear of it."""

    kind: ChangeKind
    alert: Alert
    at: float
    notify: bool
    urgent: bool = False  # alarm press or tamper: never waits for a group

    @property
    def school(self) -> str:
        return self.alert.school


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """Alerts of a school (or one of its zones) are held back from `starts` to `ends`."""

    id: str
    school: str
    starts: float
    ends: float
    zone: str | None = None
    reason: str = ""
    created_by: str | None = None

    def covers(self, school: str, zone: str | None, t: float) -> bool:
        if school != self.school or not (self.starts <= t < self.ends):
            return False
        return self.zone is None or self.zone == zone


def iso(t: float) -> str:
    """Unix seconds as RFC 3339 UTC with a `Z`, whole seconds unless there is a fraction."""
    moment = datetime.fromtimestamp(t, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

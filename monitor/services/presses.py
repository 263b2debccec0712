"""The press board: the alarm presses (and bus emergency buttons) nobody has acknowledged yet, for the
banner every officer's and the bureau's page shows (contract §5).

It listens to the alert engine (`AlertEngine.subscribe`): an `alarm_pressed` alert that fires is on
the board, and leaves it when it is acknowledged (which resolves it) or cancelled at the panel. Pages
read `unacknowledged(principal-filter)`; each open event stream (`/events`) waits on `changed()` and
sends its viewer's presses again. The board lives on the asyncio loop; nothing here does I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alerts.model import Alert, AlertChange, AlertState, ChangeKind
from alerts.wording import Names

PRESS_RULE = "alarm_pressed"
DISTRICT_TZ = ZoneInfo("Asia/Shanghai")  # contract §1: the district's time zone


@dataclass(frozen=True, slots=True)
class Press:
    """One unacknowledged press as the banner names it."""

    id: str
    school: str
    school_name: str
    subject: str
    bus: bool  # a bus's emergency button (its place is the plate)
    place: str  # the panel's `location`, the bus's plate, else the id
    started_at: float

    @property
    def hhmm(self) -> str:
        return datetime.fromtimestamp(self.started_at, UTC).astimezone(DISTRICT_TZ).strftime("%H:%M")

    def view(self, lang: str) -> dict[str, object]:
        titles = {"zh": "校车紧急报警", "en": "School bus emergency"} if self.bus else {"zh": "一键报警", "en": "Alarm pressed"}
        return {"id": self.id, "school": self.school, "school_name": self.school_name, "subject": self.subject,
                "bus": self.bus, "place": self.place, "time": self.hhmm, "title": titles.get(lang, titles["zh"]),
                "titles": titles, "started_at": self.started_at}


def press_of(alert: Alert, names: Names) -> Press:
    bus = alert.detail.get("kind") == "gps"
    if bus:
        place = names.bus_plate(alert.subject) or alert.subject
    else:
        place = names.location(alert.school, "alarm", alert.subject) or alert.subject
    return Press(alert.id, alert.school, names.school(alert.school), alert.subject, bus, place, alert.started_at)


class PressBoard:
    def __init__(self, names: Names) -> None:
        self.names = names
        self._presses: dict[str, Press] = {}
        self._changed = asyncio.Event()
        self._version = 0
        self._closed = False

    def restore(self, alerts: Iterable[Alert]) -> None:
        """The open alerts at start (after the alert engine restored its book)."""
        self.on_changes([AlertChange(ChangeKind.FIRED, a, a.updated_at, False) for a in alerts])

    def on_changes(self, changes: Iterable[AlertChange]) -> None:
        moved = False
        for change in changes:
            alert = change.alert
            if alert.rule != PRESS_RULE:
                continue
            if alert.state is AlertState.FIRING:
                moved |= alert.id not in self._presses
                self._presses[alert.id] = press_of(alert, self.names)
            elif self._presses.pop(alert.id, None) is not None:
                moved = True
        if moved:
            self._version += 1
            self._changed.set()
            self._changed = asyncio.Event()

    def unacknowledged(self, sees: Callable[[str], bool]) -> list[Press]:
        """The presses of the schools `sees` admits, oldest first."""
        return sorted((p for p in self._presses.values() if sees(p.school)), key=lambda p: (p.started_at, p.id))

    @property
    def version(self) -> int:
        return self._version

    @property
    def closed(self) -> bool:
        return self._closed

    async def changed(self, since: int, timeout: float) -> bool:
        """Wait until the board's `version` is past `since` (True) or `timeout` passes (False); once
        closed, True at once."""
        if self._closed or self._version != since:
            return True
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """End every open event stream (before the HTTP server stops, so it need not wait for them)."""
        self._closed = True
        self._changed.set()

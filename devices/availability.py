"""Availability over a period, from a device's stored state changes: the inspection report's figures
(contract §5: `down_s`, `outages`, `camera_uptime`, `blind_spot_hours`).

Pure: given the changes as stored (`(time, state)`, any order, the ones before the period included so
the state at its start is known), the period `[start, end)` and the request time `now`:

- The state at a time is that of the last change at or before it; before the first one, `unknown`.
- The period is cut at `now`: time after the request has not happened yet, so an outage still open
  counts up to the request.
- `down_s`: time judged `down` or `unreachable` inside the period, in float seconds, not rounded.
  `unknown` (not yet judged, monitor just started) counts neither as down nor as up.
- `judged_s`: time in any state but `unknown`; `uptime` = 1 - down_s / judged_s, None if nothing was
  judged in the period.
- An outage is one unbroken run of `down`/`unreachable` (a camera `unreachable` that then says
  `offline` is one outage; an `unknown` in between, a restart, makes two). It is counted in a period
  it overlaps: started inside it, or already going on at its start. One starting exactly at the
  period's end belongs to the next period.
- A dormitory zone's blind-spot seconds are the sum over its cameras of their `down_s`: two cameras
  out for an hour at once are two blind-spot hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devices.liveness import SILENT_STATES, State

StateChange = tuple[float, str]  # (Unix seconds, a `State` value) as stored


@dataclass(frozen=True, slots=True)
class Availability:
    down_s: float = 0.0  # judged down or unreachable
    judged_s: float = 0.0  # judged at all (not unknown)
    outages: int = 0

    @property
    def up_s(self) -> float:
        return self.judged_s - self.down_s

    @property
    def uptime(self) -> float | None:
        """Fraction of the judged time the device was up (or faulty); None if never judged."""
        return self.up_s / self.judged_s if self.judged_s > 0 else None

    def __add__(self, other: Availability) -> Availability:
        """Two devices' figures together (a school's cameras: their `uptime` is the pooled one)."""
        return Availability(self.down_s + other.down_s, self.judged_s + other.judged_s, self.outages + other.outages)


def _state(value: str) -> State:
    try:
        return State(value)
    except ValueError:
        return State.UNKNOWN  # a value this version does not know says nothing about the device


def availability(changes: Iterable[StateChange], start: float, end: float, now: float) -> Availability:
    """One device's availability over `[start, min(end, now))`; see the module's rules."""
    stop = min(end, now)
    if stop <= start:
        return Availability()
    ordered = sorted(changes, key=lambda c: c[0])
    state = State.UNKNOWN
    i = 0
    while i < len(ordered) and ordered[i][0] <= start:
        state = _state(ordered[i][1])
        i += 1
    down = judged = 0.0
    outages = 1 if state in SILENT_STATES else 0
    cursor = start
    for t, value in ordered[i:]:
        if t >= stop:
            break
        new = _state(value)
        if state is not State.UNKNOWN:
            judged += t - cursor
            if state in SILENT_STATES:
                down += t - cursor
        if new in SILENT_STATES and state not in SILENT_STATES:
            outages += 1
        state, cursor = new, t
    if state is not State.UNKNOWN:
        judged += stop - cursor
        if state in SILENT_STATES:
            down += stop - cursor
    return Availability(down, judged, outages)


def blind_spot_seconds(cameras: Iterable[Iterable[StateChange]], start: float, end: float, now: float) -> float:
    """A dormitory zone's blind-spot seconds: the sum of its cameras' `down_s` over the period."""
    return sum(availability(changes, start, end, now).down_s for changes in cameras)

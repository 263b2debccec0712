"""Liveness: which devices are `unknown`, `up`, `faulty` or `down`, judged on a clock passed in.

The rules (contract §2, §3):

- A device is down once it has been silent for its timeout (`interval_s * missed`), or at once when it
  says `offline`. The next heartbeat brings it back: `up`, or `faulty` when the heartbeat says `fault`.
- Monitor blindness: while the broker link is lost, nobody is judged down; after it comes back, every
  device gets one full timeout before it can be judged again. Start is the same: `grace` begins when the
  monitor first connects, so a device not heard since start is `unknown` until one timeout has passed.
- Restart-safe: a device restored as `down` stays down; one restored as `up`/`faulty` whose stored
  deadline has not passed keeps its state and is judged on `max(stored deadline, grace + timeout)`; one
  whose deadline passed while the monitor was stopped is never revived: it comes back `unknown`.
- A GPS unit is judged only inside its route's service windows, and not before one timeout after
  its window opened.

Cost: a heartbeat from a live device is one attribute store and a set insert. Deadlines live in one heap
holding at most one entry per device; an entry is re-armed lazily when it pops, so a sweep touches
only the devices whose deadline passed, and a heartbeat costs the same with 100 devices or 200,000.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from devices.model import DeviceKind, DeviceSpec, Window
from devices.schedule import next_window_start, window_start


class State(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    FAULTY = "faulty"
    DOWN = "down"


LIVE_STATES = frozenset({State.UP, State.FAULTY})


class Device:
    """Runtime state of one watched device. Owned by the engine; read by metrics and the API."""

    __slots__ = (
        "spec", "school", "kind", "id", "zone", "timeout", "windows", "timezone",
        "state", "last_seen", "since", "reason", "armed",
    )

    def __init__(self, spec: DeviceSpec, windows: tuple[Window, ...] = (), timezone: str = "UTC") -> None:
        self.spec = spec
        self.school = spec.school
        self.kind = spec.kind
        self.id = spec.id
        self.zone = spec.zone
        self.timeout = spec.heartbeat.timeout_s
        self.windows = windows
        self.timezone = timezone
        self.state = State.UNKNOWN
        self.last_seen: float | None = None
        self.since: float | None = None
        self.reason = ""
        self.armed = False

    def __repr__(self) -> str:
        return f"Device({self.school}/{self.kind}/{self.id} {self.state})"


@dataclass(frozen=True, slots=True)
class Change:
    """A device moving from one state to another at `time`, and why (`silent`, `offline`, ...)."""

    device: Device
    old: State
    new: State
    time: float
    reason: str


@dataclass(frozen=True, slots=True)
class Restored:
    state: State
    last_seen: float | None
    since: float | None


class Liveness:
    def __init__(self, devices: Iterable[Device]) -> None:
        self.devices: dict[tuple[str, DeviceKind, str], Device] = {d.spec.key: d for d in devices}
        self._heap: list[tuple[float, int, Device]] = []
        self._seq = itertools.count()
        self.connected = False
        self.grace: float | None = None  # when the broker link last came up; None = never yet
        self.dirty: set[Device] = set()  # last_seen or state changed since the last persist

    # ---- start and restart -------------------------------------------------------------------

    def restore(self, saved: dict[tuple[str, DeviceKind, str], Restored], now: float) -> None:
        """Take back the states stored before a restart (see the module's rules)."""
        for key, rec in saved.items():
            dev = self.devices.get(key)
            if dev is None:
                continue
            dev.last_seen = rec.last_seen
            dev.since = rec.since
            if rec.state == State.DOWN:
                dev.state = State.DOWN
            elif rec.state in LIVE_STATES and rec.last_seen is not None and rec.last_seen + dev.timeout > now:
                dev.state = rec.state
                self._arm(dev, rec.last_seen + dev.timeout)
            else:
                dev.state = State.UNKNOWN
                dev.since = now
        for dev in self.devices.values():
            if dev.state != State.DOWN and not dev.armed:
                self._arm(dev, now + dev.timeout)

    def add(self, dev: Device, now: float) -> None:
        """A device newly in the registry."""
        self.devices[dev.spec.key] = dev
        self._arm(dev, now + dev.timeout)

    def remove(self, key: tuple[str, DeviceKind, str]) -> Device | None:
        """A device gone from the registry; its heap entry is dropped lazily."""
        dev = self.devices.pop(key, None)
        if dev is not None:
            dev.armed = False
            self.dirty.discard(dev)
        return dev

    # ---- broker link -------------------------------------------------------------------------

    def link_up(self, now: float) -> None:
        self.connected = True
        self.grace = now

    def link_down(self, now: float) -> None:
        self.connected = False

    # ---- inputs ------------------------------------------------------------------------------

    def beat(self, dev: Device, now: float, faulty: bool = False) -> Change | None:
        """A heartbeat (or a GPS fix) heard at `now`."""
        dev.last_seen = now
        self.dirty.add(dev)
        new = State.FAULTY if faulty else State.UP
        if dev.state is new:
            return None
        if not dev.armed:
            self._arm(dev, now + dev.timeout)
        return self._move(dev, new, now, "fault" if faulty else "heartbeat")

    def offline(self, dev: Device, now: float) -> Change | None:
        """The device (or its Last Will) said `offline`: down at once.

        A GPS unit switched off outside every service window is parked, not lost: it becomes `unknown`
        and is judged again one timeout after its next window opens.
        """
        self.dirty.add(dev)
        if dev.windows and window_start(dev.windows, dev.timezone, now) is None:
            if dev.state is State.UNKNOWN or dev.state is State.DOWN:
                return None
            if not dev.armed:
                self._arm(dev, now + dev.timeout)
            return self._move(dev, State.UNKNOWN, now, "parked")
        if dev.state is State.DOWN:
            return None
        return self._move(dev, State.DOWN, now, "offline")

    # ---- time --------------------------------------------------------------------------------

    def sweep(self, now: float) -> list[Change]:
        """Judge every device whose deadline has passed by `now`."""
        changes: list[Change] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, dev = heapq.heappop(heap)
            if not dev.armed:
                continue
            dev.armed = False
            if dev.state is State.DOWN or self.devices.get(dev.spec.key) is not dev:
                continue
            due = self.due(dev, now)
            if due is None or due > now:
                self._arm(dev, now + dev.timeout if due is None else due)
                continue
            changes.append(self._move(dev, State.DOWN, now, "silent"))
        return changes

    def due(self, dev: Device, now: float) -> float | None:
        """When `dev` may be judged down, or None while it cannot be judged at all (blind)."""
        if not self.connected or self.grace is None:
            return None
        start = self.grace
        if dev.last_seen is not None and dev.last_seen > start:
            start = dev.last_seen
        if dev.windows:
            opened = window_start(dev.windows, dev.timezone, now)
            if opened is None:
                nxt = next_window_start(dev.windows, dev.timezone, now)
                return (nxt if nxt is not None else now) + dev.timeout
            if opened > start:
                start = opened
        return start + dev.timeout

    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    # ---- internals ---------------------------------------------------------------------------

    def _arm(self, dev: Device, deadline: float) -> None:
        dev.armed = True
        heapq.heappush(self._heap, (deadline, next(self._seq), dev))

    def _move(self, dev: Device, new: State, now: float, reason: str) -> Change:
        old = dev.state
        dev.state = new
        dev.since = now
        dev.reason = reason
        self.dirty.add(dev)
        return Change(dev, old, new, now, reason)

    def take_dirty(self) -> list[Device]:
        out = list(self.dirty)
        self.dirty.clear()
        return out

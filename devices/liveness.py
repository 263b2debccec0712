"""Liveness: which devices are `unknown`, `up`, `faulty`, `down` or `unreachable`, judged on a clock passed in.

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
- A camera behind an NVR (`nvr:`) is heard through it, so its silence alone does not tell whose it
  is. Past its timeout it is `down` only if its NVR was heard after the camera fell silent (the path
  works); otherwise its judgement waits for the NVR's. While the NVR is down, every camera behind it
  that is not already `down` is `unreachable`: we cannot see it, which is not `down` (no camera_down,
  no ticket). A camera `down` before its NVR went down was judged with the path working and stays
  `down`. A camera heard while its NVR is down (over its own connection) is `up`; falling silent
  again it is `unreachable`. An explicit `offline` (or an NVR channel `off`) is `down` at once, always.
  When the NVR comes back its `unreachable` cameras are `unknown`, and judged as after a reconnect:
  one full timeout from the NVR's return (the NVR's heartbeat usually names them `on` at once).

Cost: a heartbeat from a live device is one attribute store and a set insert. Deadlines live in one heap
holding at most one entry per device; an entry is re-armed lazily when it pops, so a sweep touches
only the devices whose deadline passed, and a heartbeat costs the same with 100 devices or 200,000.
`down` and `unreachable` devices hold no entry. An NVR going down or coming back touches each camera
behind it once; a silent camera behind an NVR may pop once more, at its NVR's deadline.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from devices.model import DeviceKind, DeviceSpec, Window
from devices.schedule import next_window_start, window_start


class State(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    FAULTY = "faulty"
    DOWN = "down"
    UNREACHABLE = "unreachable"  # behind a down NVR: not seen, not known dead


LIVE_STATES = frozenset({State.UP, State.FAULTY})
#: Not seeing the device: `down`, or `unreachable` behind a down NVR (a blind spot in a dormitory).
SILENT_STATES = frozenset({State.DOWN, State.UNREACHABLE})


class Device:
    """Runtime state of one watched device. Owned by the engine; read by metrics and the API."""

    __slots__ = (
        "spec", "school", "kind", "id", "zone", "timeout", "windows", "timezone",
        "state", "last_seen", "since", "reason", "armed", "nvr", "behind",
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
        self.nvr: Device | None = None  # a camera's NVR, linked by `Liveness`
        self.behind: tuple[Device, ...] = ()  # an NVR's cameras, linked by `Liveness`

    def __repr__(self) -> str:
        return f"Device({self.school}/{self.kind}/{self.id} {self.state})"


@dataclass(frozen=True, slots=True)
class Change:
    """A device moving from one state to another at `time`, and why (`silent`, `offline`, ...).

    An NVR's change carries the changes it caused to the cameras behind it (`caused`): to
    `unreachable` (`nvr_down`) when it went down, back to `unknown` (`nvr_back`) when it came back.
    """

    device: Device
    old: State
    new: State
    time: float
    reason: str
    caused: tuple[Change, ...] = ()

    def all(self) -> list[Change]:
        """This change and the ones it caused, in order."""
        return [self, *self.caused]


@dataclass(frozen=True, slots=True)
class Restored:
    state: State
    last_seen: float | None
    since: float | None



def _taken_back(rec: Restored, timeout: float, now: float) -> State:
    """A stored state when judging resumes (restart or take-over): `down` stays down, a live state
    whose timeout has not run out stays, anything else is `unknown` from now."""
    if rec.state == State.DOWN:
        return State.DOWN
    if rec.state in LIVE_STATES and rec.last_seen is not None and rec.last_seen + timeout > now:
        return rec.state
    return State.UNKNOWN

class Liveness:
    def __init__(self, devices: Iterable[Device]) -> None:
        self.devices: dict[tuple[str, DeviceKind, str], Device] = {d.spec.key: d for d in devices}
        self._link(self.devices.values())
        self._heap: list[tuple[float, int, Device]] = []
        self._seq = itertools.count()
        self.connected = False
        self.grace: float | None = None  # when the broker link last came up; None = never yet
        #: Several instances (contract §9): school -> when this instance began to see it (its
        #: partition's connection subscribed), None while it cannot. None here: one instance, every
        #: school judged on the one broker link above. A school not in the map is not judged here.
        self.school_grace: dict[str, float | None] | None = None
        self.dirty: set[Device] = set()  # last_seen or state changed since the last persist

    # ---- start and restart -------------------------------------------------------------------

    def restore(self, saved: dict[tuple[str, DeviceKind, str], Restored], now: float) -> None:
        """Take back the states stored before a restart (see the module's rules)."""
        for key, rec in saved.items():
            dev = self.devices.get(key)
            if dev is None:
                continue
            dev.last_seen, dev.since = rec.last_seen, rec.since
            # unreachable is settled below, once every NVR is restored
            dev.state = State.UNREACHABLE if rec.state == State.UNREACHABLE else _taken_back(rec, dev.timeout, now)
            if dev.state is State.UNKNOWN:
                dev.since = now
            elif dev.state in LIVE_STATES and rec.last_seen is not None:
                self._arm(dev, rec.last_seen + dev.timeout)
        for dev in self.devices.values():
            nvr_down = dev.nvr is not None and dev.nvr.state is State.DOWN
            if dev.state is State.UNREACHABLE and not nvr_down:
                dev.state, dev.since = State.UNKNOWN, now
            elif dev.state is State.UNKNOWN and nvr_down:
                dev.state, dev.since, dev.reason = State.UNREACHABLE, now, "nvr_down"
        for dev in self.devices.values():
            if dev.state not in SILENT_STATES and not dev.armed:
                self._arm(dev, now + dev.timeout)

    def take(self, devices: Iterable[Device], saved: dict[tuple[str, DeviceKind, str], Restored],
             now: float) -> None:
        """Several instances: `devices` (a partition's) start being judged here, from their stored
        states, as after a restart (`restore`). Their schools are blind until `see_school`."""
        for dev in devices:
            dev.state, dev.last_seen, dev.since, dev.reason, dev.armed = State.UNKNOWN, None, now, "", False
            rec = saved.get(dev.spec.key)
            if rec is None:
                continue
            dev.last_seen, dev.since = rec.last_seen, rec.since
            dev.state = _taken_back(rec, dev.timeout, now)
            if dev.state is State.UNKNOWN:
                dev.since = now
        for dev in devices:
            nvr_down = dev.nvr is not None and dev.nvr.state is State.DOWN
            if dev.state is State.UNKNOWN and nvr_down:
                dev.state, dev.reason = State.UNREACHABLE, "nvr_down"
            if dev.state not in SILENT_STATES:
                self._arm(dev, now + dev.timeout)

    def let_go(self, devices: Iterable[Device], now: float) -> None:
        """Several instances: `devices` are judged elsewhere now: `unknown` here, no deadline, not dirty."""
        for dev in devices:
            dev.state, dev.since, dev.reason, dev.armed = State.UNKNOWN, now, "", False
            self.dirty.discard(dev)

    def add(self, dev: Device, now: float) -> None:
        """A device newly in the registry (it starts `unknown`, even behind a down NVR)."""
        self.devices[dev.spec.key] = dev
        self._link(self.devices.values())
        self._arm(dev, now + dev.timeout)

    def remove(self, key: tuple[str, DeviceKind, str]) -> Device | None:
        """A device gone from the registry; its heap entry is dropped lazily."""
        dev = self.devices.pop(key, None)
        if dev is not None:
            dev.armed = False
            self.dirty.discard(dev)
            self._link(self.devices.values())
        return dev

    def _link(self, devices: Iterable[Device]) -> None:
        """Point each camera at its NVR (`nvr:` in the registry) and each NVR at its cameras."""
        behind: dict[Device, list[Device]] = {}
        for dev in devices:
            nvr = None
            if dev.spec.nvr is not None:
                nvr = self.devices.get((dev.school, DeviceKind.NVR, dev.spec.nvr))
            dev.nvr = nvr
            if nvr is not None:
                behind.setdefault(nvr, []).append(dev)
            if dev.kind is DeviceKind.NVR:
                behind.setdefault(dev, [])
        for nvr, cameras in behind.items():
            nvr.behind = tuple(cameras)

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
        change = self._move(dev, new, now, "fault" if faulty else "heartbeat")
        if change.old is State.DOWN and dev.behind:
            change = self._cascade(change, State.UNREACHABLE, State.UNKNOWN, "nvr_back")
        return change

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
        return self._down(dev, now, "offline")

    # ---- time --------------------------------------------------------------------------------

    def sweep(self, now: float) -> list[Change]:
        """Judge every device whose deadline has passed by `now`."""
        changes: list[Change] = []
        heap = self._heap
        deferred: set[Device] = set()
        while heap and heap[0][0] <= now:
            _, _, dev = heapq.heappop(heap)
            if not dev.armed:
                continue
            dev.armed = False
            if dev.state in SILENT_STATES or self.devices.get(dev.spec.key) is not dev:
                continue
            due = self.due(dev, now)
            if due is None or due > now:
                self._arm(dev, now + dev.timeout if due is None else due)
                continue
            nvr = dev.nvr
            if (nvr is not None and nvr.state is not State.DOWN and dev not in deferred
                    and not _heard_since(nvr, self._silent_since(dev, now))):
                # its NVR is overdue too and not judged yet: its entry (due no later) pops before this one
                deferred.add(dev)
                self._arm(dev, now)
                continue
            if nvr is not None and nvr.state is State.DOWN:
                changes.append(self._move(dev, State.UNREACHABLE, now, "nvr_down"))
            else:
                changes.append(self._down(dev, now, "silent"))
        return changes

    def due(self, dev: Device, now: float) -> float | None:
        """When `dev` may be judged, or None while it cannot be judged at all (blind)."""
        start = self._silent_since(dev, now)
        if start is None:
            return None
        own = start + dev.timeout
        nvr = dev.nvr
        if nvr is None or own > now or nvr.state is State.DOWN or _heard_since(nvr, start):
            return own
        behind = self.due(nvr, now)  # judged when its NVR is: unreachable with it, or down alone
        return None if behind is None else max(own, behind)

    def _silent_since(self, dev: Device, now: float) -> float | None:
        """Since when `dev` has been silent as far as judging goes, or None while blind."""
        if self.school_grace is not None:
            own = self.school_grace.get(dev.school)
            if own is None:
                return None
            start = own
        elif not self.connected or self.grace is None:
            return None
        else:
            start = self.grace
        if dev.last_seen is not None and dev.last_seen > start:
            start = dev.last_seen
        if dev.state is State.UNKNOWN and dev.since is not None and dev.since > start:
            start = dev.since  # back from behind a down NVR (or parked): judged from then
        if dev.windows:
            opened = window_start(dev.windows, dev.timezone, now)
            if opened is None:
                nxt = next_window_start(dev.windows, dev.timezone, now)
                return nxt if nxt is not None else now
            if opened > start:
                start = opened
        return start


    def next_deadline(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    # ---- internals ---------------------------------------------------------------------------

    def _down(self, dev: Device, now: float, reason: str) -> Change:
        change = self._move(dev, State.DOWN, now, reason)
        if dev.behind:
            change = self._cascade(change, None, State.UNREACHABLE, "nvr_down")
        return change

    def _cascade(self, change: Change, only: State | None, new: State, reason: str) -> Change:
        """The NVR's change, with the cameras behind it moved to `new` (those in state `only`, or every
        one not `down` or already `new` when `only` is None)."""
        caused = []
        for cam in change.device.behind:
            if cam.state is new or (only is not None and cam.state is not only) or cam.state is State.DOWN:
                continue
            caused.append(self._move(cam, new, change.time, reason))
            if new not in SILENT_STATES and not cam.armed:
                self._arm(cam, change.time + cam.timeout)
        return replace(change, caused=tuple(caused)) if caused else change

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


def _heard_since(nvr: Device, silent_since: float | None) -> bool:
    """Was the NVR heard after its camera fell silent? Then the path works and the silence is the camera's."""
    return nvr.last_seen is not None and silent_since is not None and nvr.last_seen > silent_since

"""The district's judge: liveness and coverage turned into contract §3 judgements.

Pure and synchronous; the edges feed it inputs with the monitor's time and take the judgements away
to the alert engine and the judgement log.

A device judged `down` raises its kind's rule (`devices.events.DOWN_RULES`). An NVR's `nvr_down`
names the cameras behind it (`detail["cameras"]`); those become `unreachable`, which raises no
`camera_down`, but counts against their zone (`zone_dark`) and as a blind spot. An NVR heartbeat's
channels are heartbeats (`on`) or `offline`s (`off`) of the cameras of the NVR's school they name;
ids that are no camera of that school are ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from devices.coverage import DORMITORY, Coverage, SchoolCount, ZoneCount
from devices.events import DOWN_RULES, Judgement, Rule, Severity
from devices.liveness import Change, Device, Liveness, Restored, State
from devices.model import DeviceKind, Registry

#: Severity of a device's down rule; a camera's depends on its zone (critical in a dormitory).
_DOWN_SEVERITY = {
    DeviceKind.CAMERA: Severity.WARNING,
    DeviceKind.ALARM: Severity.CRITICAL,
    DeviceKind.GPS: Severity.WARNING,
    DeviceKind.FACE: Severity.WARNING,
    DeviceKind.NVR: Severity.CRITICAL,
}


def build_devices(registry: Registry) -> list[Device]:
    routes = {r.id: r for r in registry.routes}
    out = []
    for spec in registry.devices():
        route = routes.get(spec.route) if spec.route else None
        if route is not None:
            out.append(Device(spec, route.windows, route.timezone))
        else:
            out.append(Device(spec))
    return out


class Judge:
    def __init__(self, registry: Registry, *, keep_changes: bool = False) -> None:
        """`keep_changes`: keep every state change (`take_changes`) for the stored state history;
        off, nothing is kept (tools and benchmarks that never take them)."""
        self.registry = registry
        self.liveness = Liveness(build_devices(registry))
        self.keep_changes = keep_changes
        self._changes: list[Change] = []
        self.coverage = Coverage.of(registry)
        self._zone_kind = {
            (s.id, z.id): z.kind for s in registry.schools for z in s.zones
        }
        #: Devices in each state but `up` (the many), kept with every change: the API's lists by state
        #: read these instead of scanning every device.
        self.by_state: dict[State, set[Device]] = {s: set() for s in State if s is not State.UP}
        self._peak: dict[State, int] = {}
        self._ordered: list[Device] | None = None
        self._reindex()

    # ---- lifecycle -----------------------------------------------------------------------------

    def restore(self, saved: dict[tuple[str, DeviceKind, str], Restored], now: float) -> None:
        """Restore stored states; coverage is recounted, no judgement is re-emitted."""
        self.liveness.restore(saved, now)
        for dev in self.liveness.devices.values():
            if dev.state is not State.UNKNOWN:
                self.coverage.apply(Change(dev, State.UNKNOWN, dev.state, now, "restored"))
        self._reindex()

    # ---- several instances (contract §9) --------------------------------------------------------

    def of_schools(self, schools: Iterable[str]) -> list[Device]:
        wanted = set(schools)
        return [d for d in self.liveness.devices.values() if d.school in wanted]

    def take(self, schools: Iterable[str], saved: dict[tuple[str, DeviceKind, str], Restored], now: float) -> None:
        """Start judging `schools` (a partition taken) from their stored states, as after a restart:
        blind until `see(school, since)`; coverage recounted, no judgement re-emitted."""
        devices = self.of_schools(schools)
        before = [(d, d.state) for d in devices]
        self.liveness.take(devices, saved, now)
        self._recount(before, now, "taken")

    def let_go(self, schools: Iterable[str], now: float) -> None:
        """Stop judging `schools` (a partition lost or handed over): every device `unknown` here."""
        grace = self.liveness.school_grace
        wanted = set(schools)
        if grace is not None:
            for school in wanted:
                grace.pop(school, None)
        devices = self.of_schools(wanted)
        before = [(d, d.state) for d in devices]
        self.liveness.let_go(devices, now)
        self._recount(before, now, "let go")

    def mirror(self, saved: dict[tuple[str, DeviceKind, str], Restored], owned: Callable[[str], bool],
               now: float) -> int:
        """Several instances: the states another instance stored for the schools it judges, shown as
        they are (for the API and pages); never judged here, never written back. Returns how many moved."""
        before = []
        for key, rec in saved.items():
            dev = self.liveness.devices.get(key)
            if dev is None or owned(dev.school):
                continue
            if dev.state is not rec.state or dev.last_seen != rec.last_seen:
                before.append((dev, dev.state))
                dev.state, dev.last_seen, dev.since = rec.state, rec.last_seen, rec.since
        self._recount(before, now, "mirrored")
        return len(before)

    def see(self, school: str, since: float | None) -> None:
        """The school's topics are heard from `since` on (None: not heard, nobody judged down)."""
        if self.liveness.school_grace is None:
            self.liveness.school_grace = {}
        self.liveness.school_grace[school] = since

    def _recount(self, before: list[tuple[Device, State]], now: float, reason: str) -> None:
        for dev, old in before:
            if dev.state is not old:
                change = Change(dev, old, dev.state, now, reason)
                if self.keep_changes and reason == "taken":  # the state history learns the take-over's states
                    self._changes.append(change)
                self.coverage.apply(change)
                if old is not State.UP:
                    self.by_state[old].discard(dev)
                if dev.state is not State.UP:
                    self.by_state[dev.state].add(dev)

    def _reindex(self) -> None:
        for members in self.by_state.values():
            members.clear()
        for dev in self.liveness.devices.values():
            if dev.state is not State.UP:
                self.by_state[dev.state].add(dev)
        self._peak = {s: len(m) for s, m in self.by_state.items()}

    def standing(self, now: float, schools: Iterable[str] | None = None) -> list[Judgement]:
        """Zones dark from the start (fewer cameras than `min_live`, or restored dark): no change will
        ever flip them, so they are judged once at start (or at a take-over, for the schools taken).
        Repeating a standing judgement is harmless."""
        wanted = None if schools is None else set(schools)
        return [self._zone_judgement(zc, now) for zc in self.coverage.zones.values()
                if zc.dark and (wanted is None or zc.school in wanted)]

    def link_up(self, now: float) -> None:
        self.liveness.link_up(now)

    def link_down(self, now: float) -> None:
        self.liveness.link_down(now)

    # ---- inputs --------------------------------------------------------------------------------

    def beat(self, dev: Device, now: float, faulty: bool = False) -> list[Judgement]:
        """A heartbeat (camera, alarm, face, NVR; a bus's heartbeat or GPS fix) heard at `now`."""
        change = self.liveness.beat(dev, now, faulty)
        return self.judge(change) if change is not None else []

    def nvr_beat(self, nvr: Device, now: float, faulty: bool, channels: Mapping[str, bool]) -> list[Judgement]:
        """An NVR heartbeat with its channels (camera id -> on): the NVR first, then each camera."""
        out = self.beat(nvr, now, faulty)
        devices = self.liveness.devices
        for cam_id, on in channels.items():
            cam = devices.get((nvr.school, DeviceKind.CAMERA, cam_id))
            if cam is None:
                continue
            out.extend(self.beat(cam, now, cam.state is State.FAULTY) if on else self.offline(cam, now))
        return out

    def offline(self, dev: Device, now: float) -> list[Judgement]:
        change = self.liveness.offline(dev, now)
        return self.judge(change) if change is not None else []

    def sweep(self, now: float) -> list[Judgement]:
        out: list[Judgement] = []
        for change in self.liveness.sweep(now):
            out.extend(self.judge(change))
        return out

    # ---- judging -------------------------------------------------------------------------------

    def judge(self, change: Change) -> list[Judgement]:
        """The judgements of a change and of the changes it caused (an NVR's cameras)."""
        out: list[Judgement] = []
        for one in change.all():
            dev = one.device
            if self.keep_changes:
                self._changes.append(one)
            if one.old is not State.UP:
                members = self.by_state[one.old]
                members.discard(dev)
                peak = self._peak.get(one.old, 0)
                if peak > 64 and len(members) * 8 < peak:  # a set keeps its largest table: copy it smaller
                    self.by_state[one.old] = set(members)  # (200,000 unknown at start, a few never heard)
                    self._peak[one.old] = len(members)
            if one.new is not State.UP:
                members = self.by_state[one.new]
                members.add(dev)
                if len(members) > self._peak.get(one.new, 0):
                    self._peak[one.new] = len(members)
            went_down = one.new is State.DOWN
            came_back = one.old is State.DOWN
            if went_down or came_back:
                detail: dict[str, Any] = {"reason": one.reason, "kind": str(dev.kind)}
                if dev.behind:
                    detail["cameras"] = [cam.id for cam in dev.behind]
                out.append(Judgement(
                    one.time, DOWN_RULES[dev.kind], self._device_severity(dev), dev.school, dev.id,
                    went_down, dev.zone, detail,
                ))
            zone, school = self.coverage.apply(one)
            if zone is not None:
                out.append(self._zone_judgement(zone, one.time))
            if school is not None:
                out.append(self._school_judgement(school, one.time))
        return out

    def _device_severity(self, dev: Device) -> Severity:
        if dev.kind is DeviceKind.CAMERA and self._zone_kind.get((dev.school, dev.zone or "")) == DORMITORY:
            return Severity.CRITICAL
        return _DOWN_SEVERITY[dev.kind]

    def _zone_judgement(self, zc: ZoneCount, now: float) -> Judgement:
        return Judgement(
            now, Rule.ZONE_DARK, Severity.CRITICAL, zc.school, zc.zone.id, zc.dark, zc.zone.id,
            {"live": zc.live, "cameras": zc.cameras, "down": zc.down, "unreachable": zc.unreachable,
             "min_live": zc.zone.min_live},
        )

    def _school_judgement(self, sc: SchoolCount, now: float) -> Judgement:
        return Judgement(
            now, Rule.SCHOOL_OFFLINE, Severity.CRITICAL, sc.school, sc.school, sc.offline, None,
            {"devices": sc.devices},
        )

    # ---- reading -------------------------------------------------------------------------------

    def take_changes(self) -> list[Change]:
        """Every state change (an NVR's and the ones it caused) since the last call, in order."""
        out, self._changes = self._changes, []
        return out

    def devices(self) -> Iterable[Device]:
        return self.liveness.devices.values()

    def ordered(self) -> list[Device]:
        """Every device sorted by (school, kind, id), the API's list order; built once."""
        if self._ordered is None or len(self._ordered) != len(self.liveness.devices):
            self._ordered = sorted(self.liveness.devices.values(), key=lambda d: (d.school, str(d.kind), d.id))
        return self._ordered

    def in_state(self, state: State) -> Iterable[Device]:
        """The devices in `state`: from the index, or (for `up`, the many) a scan."""
        if state is State.UP:
            return (d for d in self.liveness.devices.values() if d.state is State.UP)
        return self.by_state[state]

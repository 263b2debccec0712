"""The district's judge: liveness and coverage turned into contract §3 judgements.

Pure and synchronous; the edges feed it inputs with the monitor's time and take the judgements away
to the alert engine and the judgement log.
"""

from __future__ import annotations

from collections.abc import Iterable

from devices.coverage import Coverage, SchoolCount, ZoneCount
from devices.events import Judgement, Rule, Severity
from devices.liveness import Change, Device, Liveness, Restored, State
from devices.model import DeviceKind, Registry

_DOWN_RULE = {
    DeviceKind.CAMERA: Rule.CAMERA_DOWN,
    DeviceKind.ALARM: Rule.ALARM_PANEL_DOWN,
    DeviceKind.GPS: Rule.BUS_GPS_LOST,
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
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.liveness = Liveness(build_devices(registry))
        self.coverage = Coverage.of(registry)
        self._zone_kind = {
            (s.id, z.id): z.kind for s in registry.schools for z in s.zones
        }

    # ---- lifecycle -----------------------------------------------------------------------------

    def restore(self, saved: dict[tuple[str, DeviceKind, str], Restored], now: float) -> None:
        """Restore stored states; coverage is recounted, no judgement is re-emitted."""
        self.liveness.restore(saved, now)
        for dev in self.liveness.devices.values():
            if dev.state is not State.UNKNOWN:
                self.coverage.apply(Change(dev, State.UNKNOWN, dev.state, now, "restored"))

    def standing(self, now: float) -> list[Judgement]:
        """Zones dark from the start (fewer cameras than `min_live`, or restored dark): no change will
        ever flip them, so they are judged once at start. Repeating a standing judgement is harmless."""
        return [self._zone_judgement(zc, now) for zc in self.coverage.zones.values() if zc.dark]

    def link_up(self, now: float) -> None:
        self.liveness.link_up(now)

    def link_down(self, now: float) -> None:
        self.liveness.link_down(now)

    # ---- inputs --------------------------------------------------------------------------------

    def beat(self, dev: Device, now: float, faulty: bool = False) -> list[Judgement]:
        change = self.liveness.beat(dev, now, faulty)
        return self.judge(change) if change is not None else []

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
        out: list[Judgement] = []
        dev = change.device
        went_down = change.new is State.DOWN
        came_back = change.old is State.DOWN
        if went_down or came_back:
            out.append(
                Judgement(
                    change.time, _DOWN_RULE[dev.kind], self._device_severity(dev), dev.school, dev.id,
                    went_down, dev.zone, {"reason": change.reason, "kind": str(dev.kind)},
                )
            )
        zone, school = self.coverage.apply(change)
        if zone is not None:
            out.append(self._zone_judgement(zone, change.time))
        if school is not None:
            out.append(self._school_judgement(school, change.time))
        return out

    def _device_severity(self, dev: Device) -> Severity:
        if dev.kind is DeviceKind.CAMERA:
            kind = self._zone_kind.get((dev.school, dev.zone or ""))
            return Severity.CRITICAL if kind == "dormitory" else Severity.WARNING
        if dev.kind is DeviceKind.ALARM:
            return Severity.CRITICAL
        return Severity.WARNING

    def _zone_judgement(self, zc: ZoneCount, now: float) -> Judgement:
        return Judgement(
            now, Rule.ZONE_DARK, Severity.CRITICAL, zc.school, zc.zone.id, zc.dark, zc.zone.id,
            {"live": zc.live, "cameras": zc.cameras, "down": zc.down, "min_live": zc.zone.min_live},
        )

    def _school_judgement(self, sc: SchoolCount, now: float) -> Judgement:
        return Judgement(
            now, Rule.SCHOOL_OFFLINE, Severity.CRITICAL, sc.school, sc.school, sc.offline, None,
            {"devices": sc.devices},
        )

    # ---- reading -------------------------------------------------------------------------------

    def devices(self) -> Iterable[Device]:
        return self.liveness.devices.values()

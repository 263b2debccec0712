"""Zones and schools: live cameras per zone, dark zones, and schools gone silent as a whole.

- A zone is *dark* when fewer of its cameras could be live than its `min_live`: cameras judged `down`
  count against it, `unknown` ones do not (a monitor that has just started has not judged them yet).
  A zone with no cameras is never judged.
- A school is *offline* when every camera and alarm panel it has is `down` at once (buses travel and
  are judged on their own). Its device alerts are then held back by the alert engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.liveness import LIVE_STATES, Change, State
from devices.model import DeviceKind, Registry, Zone


@dataclass(slots=True)
class ZoneCount:
    school: str
    zone: Zone
    cameras: int = 0
    live: int = 0
    down: int = 0

    @property
    def dark(self) -> bool:
        return self.cameras > 0 and self.cameras - self.down < self.zone.min_live


@dataclass(slots=True)
class SchoolCount:
    school: str
    devices: int = 0  # cameras and alarm panels
    down: int = 0

    @property
    def offline(self) -> bool:
        return self.devices > 0 and self.down == self.devices


@dataclass(slots=True)
class Coverage:
    zones: dict[tuple[str, str], ZoneCount] = field(default_factory=dict)
    schools: dict[str, SchoolCount] = field(default_factory=dict)

    @classmethod
    def of(cls, registry: Registry) -> Coverage:
        cov = cls()
        for school in registry.schools:
            cov.schools[school.id] = SchoolCount(school.id, len(school.cameras) + len(school.alarms))
            for zone in school.zones:
                cov.zones[(school.id, zone.id)] = ZoneCount(school.id, zone)
            for cam in school.cameras:
                zc = cov.zones.get((school.id, cam.zone or ""))
                if zc is not None:
                    zc.cameras += 1
        return cov

    def apply(self, change: Change) -> tuple[ZoneCount | None, SchoolCount | None]:
        """Count a device's change; returns the zone and school whose dark/offline flag flipped."""
        dev = change.device
        if dev.kind is DeviceKind.GPS:
            return None, None
        flipped_zone: ZoneCount | None = None
        if dev.kind is DeviceKind.CAMERA and dev.zone is not None:
            zc = self.zones.get((dev.school, dev.zone))
            if zc is not None:
                was = zc.dark
                zc.live += _live(change.new) - _live(change.old)
                zc.down += _down(change.new) - _down(change.old)
                if zc.dark != was:
                    flipped_zone = zc
        flipped_school: SchoolCount | None = None
        sc = self.schools.get(dev.school)
        if sc is not None:
            was = sc.offline
            sc.down += _down(change.new) - _down(change.old)
            if sc.offline != was:
                flipped_school = sc
        return flipped_zone, flipped_school


def _live(state: State) -> int:
    return 1 if state in LIVE_STATES else 0


def _down(state: State) -> int:
    return 1 if state is State.DOWN else 0

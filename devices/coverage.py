"""Zones and schools: live cameras per zone, dark zones, blind spots, and schools gone silent as a whole.

- A zone is *dark* when fewer of its cameras could be live than its `min_live`: cameras judged `down`
  or `unreachable` (behind a down NVR) count against it, `unknown` ones do not (a monitor that has
  just started has not judged them yet). A zone with no cameras is never judged.
- A *blind spot* (盲区) is a camera of a dormitory zone that is `down` or `unreachable`; they are
  counted per zone and per school (metric `campus_blind_spots{school,zone}`, pages, digest, reports).
- A school is *offline* when every device it has is silent (`down` or `unreachable`) at once:
  cameras, alarm panels, face terminals and NVRs, all on the school's own network, so all silent
  together when its uplink or power fails. Buses travel and are judged on their own. Its device
  alerts are then held back by the alert engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from devices.liveness import LIVE_STATES, SILENT_STATES, Change, State
from devices.model import DeviceKind, Registry, Zone

DORMITORY = "dormitory"


@dataclass(slots=True)
class ZoneCount:
    school: str
    zone: Zone
    cameras: int = 0
    live: int = 0
    down: int = 0
    unreachable: int = 0

    @property
    def dark(self) -> bool:
        return self.cameras > 0 and self.cameras - self.down - self.unreachable < self.zone.min_live

    @property
    def blind_spots(self) -> int:
        """Cameras down or unreachable, in a dormitory zone; 0 in any other zone."""
        return self.down + self.unreachable if self.zone.kind == DORMITORY else 0


@dataclass(slots=True)
class SchoolCount:
    school: str
    devices: int = 0  # cameras, alarm panels, face terminals and NVRs
    down: int = 0  # of those, silent: down or unreachable
    blind_spots: int = 0  # the sum over its dormitory zones

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
            devices = len(school.cameras) + len(school.alarms) + len(school.faces) + len(school.nvrs)
            cov.schools[school.id] = SchoolCount(school.id, devices)
            for zone in school.zones:
                cov.zones[(school.id, zone.id)] = ZoneCount(school.id, zone)
            for cam in school.cameras:
                zc = cov.zones.get((school.id, cam.zone or ""))
                if zc is not None:
                    zc.cameras += 1
        return cov

    def blind_spot_zones(self) -> Iterator[ZoneCount]:
        """Every dormitory zone (with its `blind_spots`, 0 or more): the series of `campus_blind_spots`."""
        return (zc for zc in self.zones.values() if zc.zone.kind == DORMITORY)

    def apply(self, change: Change) -> tuple[ZoneCount | None, SchoolCount | None]:
        """Count a device's change; returns the zone and school whose dark/offline flag flipped."""
        dev = change.device
        if dev.kind is DeviceKind.GPS:
            return None, None
        old, new = change.old, change.new
        flipped_zone: ZoneCount | None = None
        blind = 0
        if dev.kind is DeviceKind.CAMERA and dev.zone is not None:
            zc = self.zones.get((dev.school, dev.zone))
            if zc is not None:
                was, blind_was = zc.dark, zc.blind_spots
                zc.live += _is(new, LIVE_STATES) - _is(old, LIVE_STATES)
                zc.down += (new is State.DOWN) - (old is State.DOWN)
                zc.unreachable += (new is State.UNREACHABLE) - (old is State.UNREACHABLE)
                blind = zc.blind_spots - blind_was
                if zc.dark != was:
                    flipped_zone = zc
        flipped_school: SchoolCount | None = None
        sc = self.schools.get(dev.school)
        if sc is not None:
            was = sc.offline
            sc.down += _is(new, SILENT_STATES) - _is(old, SILENT_STATES)
            sc.blind_spots += blind
            if sc.offline != was:
                flipped_school = sc
        return flipped_zone, flipped_school


def _is(state: State, states: frozenset[State]) -> int:
    return 1 if state in states else 0

"""The registry's domain model: schools, zones, devices, routes and buses.

Plain frozen dataclasses, built once by `devices.registry` from the YAML file and never mutated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class DeviceKind(StrEnum):
    """Kinds as they appear in metrics (`kind` label) and the API."""

    CAMERA = "camera"
    ALARM = "alarm"
    GPS = "gps"
    FACE = "face"  # face-recognition terminal
    NVR = "nvr"  # recorder or video platform that speaks for the cameras behind it


#: The topic segment of each kind (`campus/{school}/{segment}/{id}/...`).
TOPIC_SEGMENT: dict[DeviceKind, str] = {
    DeviceKind.CAMERA: "camera",
    DeviceKind.ALARM: "alarm",
    DeviceKind.GPS: "bus",
    DeviceKind.FACE: "face",
    DeviceKind.NVR: "nvr",
}
KIND_OF_SEGMENT: dict[str, DeviceKind] = {seg: kind for kind, seg in TOPIC_SEGMENT.items()}

ZONE_KINDS = ("dormitory", "canteen", "gate", "classroom", "playground", "other")


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """How often a device reports and how many reports may be missed before it is down."""

    interval_s: float
    missed: int

    @property
    def timeout_s(self) -> float:
        return self.interval_s * self.missed


DEFAULT_HEARTBEATS: dict[DeviceKind, Heartbeat] = {
    DeviceKind.CAMERA: Heartbeat(30.0, 3),
    DeviceKind.ALARM: Heartbeat(60.0, 3),
    DeviceKind.GPS: Heartbeat(10.0, 6),
    DeviceKind.FACE: Heartbeat(30.0, 3),
    DeviceKind.NVR: Heartbeat(60.0, 3),
}


@dataclass(frozen=True, slots=True)
class Zone:
    id: str
    name: str
    kind: str
    min_live: int = 1


@dataclass(frozen=True, slots=True)
class Camera:
    id: str
    zone: str | None
    heartbeat: Heartbeat
    name: str = ""
    location: str = ""  # free text shown wherever the camera is named
    nvr: str | None = None  # the id of the school's NVR that speaks for this camera
    gb_id: str | None = None  # GB/T 28181 channel id, 20 digits
    rtsp: str | None = None  # rtsp:// URL the RTSP probe bridge asks with OPTIONS


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    location: str
    heartbeat: Heartbeat


@dataclass(frozen=True, slots=True)
class Face:
    """A face-recognition terminal (kind `face`), judged like a camera but never counted as coverage."""

    id: str
    zone: str | None
    heartbeat: Heartbeat
    location: str = ""


@dataclass(frozen=True, slots=True)
class Nvr:
    """A recorder or video platform: while it is down, the cameras naming it are `unreachable`."""

    id: str
    heartbeat: Heartbeat
    gb_id: str | None = None  # GB/T 28181 device id, 20 digits
    location: str = ""


@dataclass(frozen=True, slots=True)
class School:
    id: str
    name: str
    zones: tuple[Zone, ...] = ()
    cameras: tuple[Camera, ...] = ()
    alarms: tuple[Alarm, ...] = ()
    keeper: str = ""  # the person who keeps the school's monitoring-use record
    faces: tuple[Face, ...] = ()
    nvrs: tuple[Nvr, ...] = ()

    def zone(self, zone_id: str | None) -> Zone | None:
        for zone in self.zones:
            if zone.id == zone_id:
                return zone
        return None


@dataclass(frozen=True, slots=True)
class Window:
    """A daily service window in local time, as minutes after midnight; end may be 1440 (24:00)."""

    start_min: int
    end_min: int

    def __str__(self) -> str:
        return f"{self.start_min // 60:02d}:{self.start_min % 60:02d}-{self.end_min // 60:02d}:{self.end_min % 60:02d}"


@dataclass(frozen=True, slots=True)
class SlowStretch:
    """A part of a route, between two distances along it (metres), with its own speed limit."""

    from_m: float
    to_m: float
    speed_limit_kmh: float
    name: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    id: str
    corridor_m: float
    speed_limit_kmh: float
    path: tuple[tuple[float, float], ...]  # (lon, lat) WGS84
    windows: tuple[Window, ...] = ()  # empty = always in service
    timezone: str = "Asia/Shanghai"
    slow_stretches: tuple[SlowStretch, ...] = ()
    name: str = ""


@dataclass(frozen=True, slots=True)
class Bus:
    id: str
    plate: str
    school: str
    route: str
    capacity: int
    heartbeat: Heartbeat
    terminal: str | None = None  # JT/T 808 terminal phone number, digits as written


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One watched device, flattened: what liveness, metrics and the collector need."""

    school: str
    kind: DeviceKind
    id: str
    zone: str | None
    heartbeat: Heartbeat
    route: str | None = None  # for GPS units: the bus's route
    location: str = ""  # free text (cameras, alarms, faces, nvrs); a bus has none, its plate names it
    nvr: str | None = None  # for cameras: the NVR that speaks for it

    @property
    def key(self) -> tuple[str, DeviceKind, str]:
        return (self.school, self.kind, self.id)


@dataclass(frozen=True, slots=True)
class Registry:
    schools: tuple[School, ...] = ()
    routes: tuple[Route, ...] = ()
    buses: tuple[Bus, ...] = ()
    defaults: dict[DeviceKind, Heartbeat] = field(default_factory=lambda: dict(DEFAULT_HEARTBEATS))

    def school(self, school_id: str) -> School | None:
        for school in self.schools:
            if school.id == school_id:
                return school
        return None

    def route(self, route_id: str) -> Route | None:
        for route in self.routes:
            if route.id == route_id:
                return route
        return None

    def devices(self) -> Iterator[DeviceSpec]:
        """Every watched device: cameras, alarm panels, face terminals, NVRs, and one GPS unit per bus."""
        for school in self.schools:
            for cam in school.cameras:
                yield DeviceSpec(school.id, DeviceKind.CAMERA, cam.id, cam.zone, cam.heartbeat, None,
                                 cam.location, cam.nvr)
            for alarm in school.alarms:
                yield DeviceSpec(school.id, DeviceKind.ALARM, alarm.id, None, alarm.heartbeat, None, alarm.location)
            for face in school.faces:
                yield DeviceSpec(school.id, DeviceKind.FACE, face.id, face.zone, face.heartbeat, None, face.location)
            for nvr in school.nvrs:
                yield DeviceSpec(school.id, DeviceKind.NVR, nvr.id, None, nvr.heartbeat, None, nvr.location)
        for bus in self.buses:
            yield DeviceSpec(bus.school, DeviceKind.GPS, bus.id, None, bus.heartbeat, bus.route)

"""What the bridges may speak for: the registry's buses, cameras and NVRs, indexed by protocol address.

A JT/T 808 terminal is matched on its phone number with leading zeros stripped (on both sides); a
GB/T 28181 device on its 20-digit `gb_id` (an NVR or a camera); an RTSP camera by its `rtsp:` URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.model import TOPIC_SEGMENT, DeviceKind, Registry


@dataclass(frozen=True, slots=True)
class Target:
    """One registry device a bridge publishes for."""

    school: str
    kind: DeviceKind
    id: str
    location: str = ""

    @property
    def segment(self) -> str:
        return TOPIC_SEGMENT[self.kind]


@dataclass(frozen=True, slots=True)
class Targets:
    terminals: dict[str, Target] = field(default_factory=dict)  # stripped phone number -> bus
    gb: dict[str, Target] = field(default_factory=dict)  # gb_id -> NVR or camera
    nvr_of_camera: dict[str, str] = field(default_factory=dict)  # camera id -> its NVR id (same school)
    rtsp: tuple[tuple[Target, str], ...] = ()  # (camera, URL)
    all: tuple[Target, ...] = ()

    def prefixes(self, root: str) -> set[str]:
        """The topic prefixes (`root/school/segment/id`) of every device here: all a bridge may publish."""
        return {f"{root}/{t.school}/{t.segment}/{t.id}" for t in self.all}


def index(registry: Registry) -> Targets:
    terminals: dict[str, Target] = {}
    gb: dict[str, Target] = {}
    nvr_of: dict[str, str] = {}
    rtsp: list[tuple[Target, str]] = []
    every: list[Target] = []
    for school in registry.schools:
        for nvr in school.nvrs:
            t = Target(school.id, DeviceKind.NVR, nvr.id, nvr.location)
            every.append(t)
            if nvr.gb_id:
                gb[nvr.gb_id] = t
        for cam in school.cameras:
            t = Target(school.id, DeviceKind.CAMERA, cam.id, cam.location)
            every.append(t)
            if cam.gb_id:
                gb[cam.gb_id] = t
            if cam.nvr:
                nvr_of[f"{school.id}/{cam.id}"] = cam.nvr
            if cam.rtsp and cam.rtsp.lower().startswith("rtsp://"):
                rtsp.append((t, cam.rtsp))
    for bus in registry.buses:
        t = Target(bus.school, DeviceKind.GPS, bus.id)
        every.append(t)
        if bus.terminal:
            terminals[bus.terminal.lstrip("0")] = t
    return Targets(terminals, gb, nvr_of, tuple(rtsp), tuple(every))

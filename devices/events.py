"""What the domain tells the rest of the service: typed inputs decoded from MQTT, and judgements.

Inputs (`Beat`, `StatusChange`, `AlarmEvent`, `Fix`) are produced by `devices.payload` and fed to the
engines. Judgements are the transitions of a condition named by a contract §3 rule (`camera_down`,
`zone_dark`, ...): `active=True` when the condition starts, `active=False` when it clears. The
alert engine turns them into alerts; storage keeps them as the judgement log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from devices.model import DeviceKind


class Rule(StrEnum):
    CAMERA_DOWN = "camera_down"
    ZONE_DARK = "zone_dark"
    ALARM_PANEL_DOWN = "alarm_panel_down"
    ALARM_PRESSED = "alarm_pressed"
    ALARM_TAMPERED = "alarm_tampered"
    BUS_OFF_ROUTE = "bus_off_route"
    BUS_OVERSPEED = "bus_overspeed"
    BUS_GPS_LOST = "bus_gps_lost"
    SCHOOL_OFFLINE = "school_offline"
    NVR_DOWN = "nvr_down"
    FACE_DOWN = "face_down"
    BUS_OVERLOADED = "bus_overloaded"
    BUS_MOVING_OFF_HOURS = "bus_moving_off_hours"  # info: a bus moving outside every service window


#: The one rule-to-device-kind map: the rule judging each kind of device down (silent or `offline`).
#: Everything else (tickets, alerts held back while a school is offline, wording) derives from it.
DOWN_RULES: dict[DeviceKind, Rule] = {
    DeviceKind.CAMERA: Rule.CAMERA_DOWN,
    DeviceKind.ALARM: Rule.ALARM_PANEL_DOWN,
    DeviceKind.GPS: Rule.BUS_GPS_LOST,
    DeviceKind.FACE: Rule.FACE_DOWN,
    DeviceKind.NVR: Rule.NVR_DOWN,
}
#: The kind of device a down rule's subject is (`"camera_down"` -> camera); the inverse of DOWN_RULES.
KIND_OF_DOWN_RULE: dict[str, DeviceKind] = {str(rule): kind for kind, rule in DOWN_RULES.items()}


def subject_kind(rule: str, detail: Mapping[str, Any] | None = None) -> DeviceKind | None:
    """The kind of device an alert's subject is: from its down rule, else from the judgement's or
    event's `detail["kind"]` (an `alarm_pressed` of a bus is `gps`); None for zones and schools."""
    kind = KIND_OF_DOWN_RULE.get(rule)
    if kind is not None:
        return kind
    if rule in (Rule.ALARM_PRESSED, Rule.ALARM_TAMPERED, "alarm_test", "alarm_test_overdue"):
        raw = (detail or {}).get("kind")
        return DeviceKind.GPS if raw == DeviceKind.GPS else DeviceKind.ALARM
    if rule.startswith("bus_"):
        return DeviceKind.GPS
    return None


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Judgement:
    """A condition of contract §3 starting (`active`) or clearing, at `time` (Unix seconds)."""

    time: float
    rule: Rule
    severity: Severity
    school: str
    subject: str  # device id, bus id, zone id or school id, as contract §4 says
    active: bool
    zone: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


# ---- decoded inputs -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    school: str
    device: str
    event_id: str
    type: str  # press, test, tamper, cancel
    ts: float  # the panel's own time
    received: float  # the monitor's clock at receipt
    kind: DeviceKind = DeviceKind.ALARM  # GPS: a bus's emergency button (`device` is the bus id)


@dataclass(frozen=True, slots=True)
class Fix:
    """One GPS position of a bus."""

    school: str
    bus: str
    ts: float  # the unit's own time
    received: float
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None
    hdop: float | None = None
    passengers: int | None = None  # from the bus's card reader or counter

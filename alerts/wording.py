"""What an alert says, in Chinese (default) or English, with the registry's names.

`describe(...)` is pure: it is given a `Names` (school and zone names, alarm locations, bus plates)
and the judgement's `detail`. Detail keys used when present: `live`, `min_live` (zone_dark),
`distance_m` (bus_off_route), `speed_kmh`, `limit_kmh` (bus_overspeed), `days` (alarm_test_overdue),
`downs`, `window_min` (flapping).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from devices.model import Registry

LANGUAGES = ("zh", "en")


class Names(Protocol):
    def school(self, school: str) -> str: ...
    def zone(self, school: str, zone: str | None) -> str | None: ...
    def alarm_location(self, school: str, alarm: str) -> str | None: ...
    def bus_plate(self, bus: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RegistryNames:
    """`Names` read from the registry; ids stand in for anything the registry does not name."""

    schools: Mapping[str, str] = field(default_factory=dict)
    zones: Mapping[tuple[str, str], str] = field(default_factory=dict)
    locations: Mapping[tuple[str, str], str] = field(default_factory=dict)
    plates: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_registry(cls, registry: Registry) -> RegistryNames:
        return cls(
            schools={s.id: s.name for s in registry.schools},
            zones={(s.id, z.id): z.name for s in registry.schools for z in s.zones},
            locations={(s.id, a.id): a.location for s in registry.schools for a in s.alarms},
            plates={b.id: b.plate for b in registry.buses},
        )

    def school(self, school: str) -> str:
        return self.schools.get(school) or school

    def zone(self, school: str, zone: str | None) -> str | None:
        if zone is None:
            return None
        return self.zones.get((school, zone)) or zone

    def alarm_location(self, school: str, alarm: str) -> str | None:
        return self.locations.get((school, alarm)) or None

    def bus_plate(self, bus: str) -> str | None:
        return self.plates.get(bus) or None


def _num(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.1f}"
    if isinstance(value, int | float):
        return str(int(value))
    return str(value)


def _thing(rule: str, school: str, subject: str, zone: str | None, names: Names, lang: str) -> str:
    """The subject, named: "盘河中学 女生宿舍 摄像头 cam-dg-01", "panhe school bus bus-023 (云C·12345)"."""
    school_name = names.school(school)
    zone_name = names.zone(school, zone)
    place = f"{school_name} {zone_name}" if zone_name else school_name
    zh = lang == "zh"
    if rule == "camera_down":
        return f"{place} {'摄像头' if zh else 'camera'} {subject}"
    if rule == "zone_dark":
        return f"{school_name} {names.zone(school, subject) or subject}"
    if rule.startswith("alarm_"):
        location = names.alarm_location(school, subject)
        if zh:
            return f"{school_name} {location + ' ' if location else ''}一键报警器 {subject}"
        return f"{school_name} alarm panel {subject}" + (f" ({location})" if location else "")
    if rule.startswith("bus_"):
        plate = names.bus_plate(subject)
        if zh:
            return f"{school_name} 校车 {subject}" + (f"（{plate}）" if plate else "")
        return f"{school_name} school bus {subject}" + (f" ({plate})" if plate else "")
    if rule == "school_offline":
        return school_name
    return f"{place} {subject}"


def _predicate(rule: str, detail: Mapping[str, Any], lang: str) -> str:
    zh = lang == "zh"
    d = detail
    if rule in ("camera_down", "alarm_panel_down"):
        return "离线" if zh else "is down"
    if rule == "zone_dark":
        if "live" in d and "min_live" in d:
            if zh:
                return f"在线摄像头不足（{_num(d['live'])}/{_num(d['min_live'])} 台），出现监控盲区"
            return f"is dark: {_num(d['live'])} of at least {_num(d['min_live'])} cameras live"
        return "出现监控盲区" if zh else "is dark"
    if rule == "alarm_pressed":
        return "被按下，请立即处置" if zh else "was pressed: respond now"
    if rule == "alarm_tampered":
        return "遭到拆动（防拆报警）" if zh else "was tampered with"
    if rule == "alarm_test":
        return "例行测试" if zh else "test press"
    if rule == "alarm_test_overdue":
        days = _num(d.get("days", "?"))
        return f"已超过 {days} 天未测试" if zh else f"has not been tested for over {days} days"
    if rule == "bus_off_route":
        if "distance_m" in d:
            d = {**d, "distance_m": round(float(d["distance_m"]))}
            return f"偏离路线（距路线 {_num(d['distance_m'])} 米）" if zh else f"is off route ({_num(d['distance_m'])} m away)"
        return "偏离路线" if zh else "is off route"
    if rule == "bus_overspeed":
        if "speed_kmh" in d and "limit_kmh" in d:
            if zh:
                return f"超速（{_num(d['speed_kmh'])} km/h，限速 {_num(d['limit_kmh'])} km/h）"
            return f"is speeding ({_num(d['speed_kmh'])} km/h, limit {_num(d['limit_kmh'])} km/h)"
        return "超速" if zh else "is speeding"
    if rule == "bus_gps_lost":
        return "GPS 信号中断" if zh else "GPS is silent"
    if rule == "school_offline":
        return "全部设备离线" if zh else "every device is offline"
    return rule


def describe(
    rule: str,
    school: str,
    subject: str,
    zone: str | None,
    detail: Mapping[str, Any],
    names: Names,
    lang: str = "zh",
    flapping: bool = False,
) -> str:
    thing = _thing(rule, school, subject, zone, names, lang)
    if flapping:
        downs, minutes = _num(detail.get("downs", "?")), _num(detail.get("window_min", "?"))
        if lang == "zh":
            return f"{thing}{'' if thing.endswith('）') else ' '}频繁掉线（{minutes} 分钟内 {downs} 次）"
        return f"{thing} is flapping ({downs} times down in {minutes} min)"
    joiner = "" if thing.endswith("）") else " "
    return f"{thing}{joiner}{_predicate(rule, detail, lang)}"


def summaries(
    rule: str,
    school: str,
    subject: str,
    zone: str | None,
    detail: Mapping[str, Any],
    names: Names,
    flapping: bool = False,
) -> dict[str, str]:
    return {lang: describe(rule, school, subject, zone, detail, names, lang, flapping) for lang in LANGUAGES}


STATE_WORDS = {
    "zh": {"firing": "告警", "acknowledged": "已确认", "resolved": "已恢复"},
    "en": {"firing": "FIRING", "acknowledged": "ACKNOWLEDGED", "resolved": "RESOLVED"},
}
SEVERITY_WORDS = {
    "zh": {"critical": "紧急", "warning": "警告", "info": "提示"},
    "en": {"critical": "critical", "warning": "warning", "info": "info"},
}
REMINDER_WORD = {"zh": "未确认提醒", "en": "REMINDER: not acknowledged"}


def state_word(state: str, lang: str) -> str:
    return STATE_WORDS.get(lang, STATE_WORDS["en"]).get(state, state)


def severity_word(severity: str, lang: str) -> str:
    return SEVERITY_WORDS.get(lang, SEVERITY_WORDS["en"]).get(severity, severity)

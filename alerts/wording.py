"""What an alert says, in Chinese (default) or English, with the registry's names.

`describe(...)` is pure: it is given a `Names` (school and zone names, device locations, bus plates)
and the judgement's `detail`. Detail keys used when present: `kind` (the subject's device kind; `gps`
for a bus's emergency button), `live`, `min_live` (zone_dark), `cameras` (nvr_down), `distance_m`
(bus_off_route), `speed_kmh`, `limit_kmh` (bus_overspeed), `passengers`, `capacity` (bus_overloaded),
`days` (alarm_test_overdue), `downs`, `window_min` (flapping).

No text shows a raw rule name: every rule has a human name (`rule_name`), and a device's registry
`location` follows its id wherever it is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from devices.events import Rule, subject_kind
from devices.model import DeviceKind, Registry

LANGUAGES = ("zh", "en")


class Names(Protocol):
    def school(self, school: str) -> str: ...
    def zone(self, school: str, zone: str | None) -> str | None: ...
    def location(self, school: str, kind: str, device: str) -> str | None: ...
    def bus_plate(self, bus: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RegistryNames:
    """`Names` read from the registry; ids stand in for anything the registry does not name."""

    schools: Mapping[str, str] = field(default_factory=dict)
    zones: Mapping[tuple[str, str], str] = field(default_factory=dict)
    locations: Mapping[tuple[str, str, str], str] = field(default_factory=dict)  # (school, kind, id)
    plates: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_registry(cls, registry: Registry) -> RegistryNames:
        return cls(
            schools={s.id: s.name for s in registry.schools},
            zones={(s.id, z.id): z.name for s in registry.schools for z in s.zones},
            locations={(d.school, str(d.kind), d.id): d.location for d in registry.devices() if d.location},
            plates={b.id: b.plate for b in registry.buses},
        )

    def school(self, school: str) -> str:
        return self.schools.get(school) or school

    def zone(self, school: str, zone: str | None) -> str | None:
        if zone is None:
            return None
        return self.zones.get((school, zone)) or zone

    def location(self, school: str, kind: str, device: str) -> str | None:
        return self.locations.get((school, kind, device)) or None

    def bus_plate(self, bus: str) -> str | None:
        return self.plates.get(bus) or None


def _num(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.1f}"
    if isinstance(value, int | float):
        return str(int(value))
    return str(value)


#: Every rule's human name (alert titles, filters, pages): contract §3 rules and the engine's own.
RULE_NAMES: dict[str, dict[str, str]] = {
    Rule.CAMERA_DOWN: {"zh": "摄像头离线", "en": "Camera down"},
    Rule.ZONE_DARK: {"zh": "区域监控不足", "en": "Zone dark"},
    Rule.ALARM_PANEL_DOWN: {"zh": "一键报警器离线", "en": "Alarm panel down"},
    Rule.ALARM_PRESSED: {"zh": "一键报警", "en": "Alarm pressed"},
    Rule.ALARM_TAMPERED: {"zh": "防拆报警", "en": "Alarm tampered"},
    Rule.BUS_OFF_ROUTE: {"zh": "校车偏离路线", "en": "Bus off route"},
    Rule.BUS_OVERSPEED: {"zh": "校车超速", "en": "Bus speeding"},
    Rule.BUS_GPS_LOST: {"zh": "校车定位中断", "en": "Bus GPS lost"},
    Rule.SCHOOL_OFFLINE: {"zh": "学校设备全部离线", "en": "School offline"},
    Rule.NVR_DOWN: {"zh": "硬盘录像机离线", "en": "NVR down"},
    Rule.FACE_DOWN: {"zh": "人脸识别终端离线", "en": "Face terminal down"},
    Rule.BUS_OVERLOADED: {"zh": "校车超员", "en": "Bus overloaded"},
    Rule.BUS_MOVING_OFF_HOURS: {"zh": "校车非运营时段行驶", "en": "Bus moving out of service hours"},
    "alarm_test": {"zh": "一键报警器测试", "en": "Alarm panel test"},
    "alarm_test_overdue": {"zh": "一键报警器逾期未测试", "en": "Alarm panel test overdue"},
}
_UNNAMED = {"zh": "告警", "en": "Alert"}

#: What each kind of device is called.
KIND_WORDS: dict[str, dict[str, str]] = {
    DeviceKind.CAMERA: {"zh": "摄像头", "en": "camera"},
    DeviceKind.ALARM: {"zh": "一键报警器", "en": "alarm panel"},
    DeviceKind.GPS: {"zh": "校车", "en": "school bus"},
    DeviceKind.FACE: {"zh": "人脸识别终端", "en": "face terminal"},
    DeviceKind.NVR: {"zh": "硬盘录像机", "en": "NVR"},
}


def rule_name(rule: str, lang: str = "zh") -> str:
    """The rule's human name in `lang` ("摄像头离线", "Camera down"); never the raw rule."""
    words = RULE_NAMES.get(rule, _UNNAMED)
    return words.get(lang, words["en"])


def _thing(rule: str, school: str, subject: str, zone: str | None, detail: Mapping[str, Any], names: Names,
           lang: str) -> str:
    """The subject, named: "盘河中学 女生宿舍 摄像头 cam-dg-01（3楼东走廊）", "panhe school bus bus-023 (云C·12345)"."""
    school_name = names.school(school)
    zone_name = names.zone(school, zone)
    place = f"{school_name} {zone_name}" if zone_name else school_name
    zh = lang == "zh"
    if rule == Rule.ZONE_DARK:
        return f"{school_name} {names.zone(school, subject) or subject}"
    if rule == Rule.SCHOOL_OFFLINE:
        return school_name
    kind = subject_kind(rule, detail)
    if kind is DeviceKind.GPS:
        plate = names.bus_plate(subject)
        if zh:
            return f"{school_name} 校车 {subject}" + (f"（{plate}）" if plate else "")
        return f"{school_name} school bus {subject}" + (f" ({plate})" if plate else "")
    if kind is None:
        return f"{place} {subject}"
    location = names.location(school, str(kind), subject)
    word = KIND_WORDS[kind]["zh" if zh else "en"]
    if kind is DeviceKind.ALARM:
        if zh:
            return f"{school_name} {location + ' ' if location else ''}{word} {subject}"
        return f"{school_name} {word} {subject}" + (f" ({location})" if location else "")
    where = place if kind is not DeviceKind.NVR else school_name
    if zh:
        return f"{where} {word} {subject}" + (f"（{location}）" if location else "")
    return f"{where} {word} {subject}" + (f" ({location})" if location else "")


def _cameras(detail: Mapping[str, Any], zh: bool) -> str:
    cameras = detail.get("cameras")
    if not isinstance(cameras, list) or not cameras:
        return ""
    shown = "、".join(cameras[:5]) if zh else ", ".join(cameras[:5])
    if zh:
        more = f" 等 {len(cameras)} 台" if len(cameras) > 5 else ""
        return f"，其后摄像头无法查看：{shown}{more}"
    more = f" and {len(cameras) - 5} more" if len(cameras) > 5 else ""
    return f"; the cameras behind it cannot be seen: {shown}{more}"


def _predicate(rule: str, detail: Mapping[str, Any], lang: str) -> str:
    zh = lang == "zh"
    d = detail
    if rule in (Rule.CAMERA_DOWN, Rule.ALARM_PANEL_DOWN, Rule.FACE_DOWN):
        return "离线" if zh else "is down"
    if rule == Rule.NVR_DOWN:
        return ("离线" if zh else "is down") + _cameras(d, zh)
    if rule == "zone_dark":
        if "live" in d and "min_live" in d:
            if zh:
                return f"在线摄像头不足（{_num(d['live'])}/{_num(d['min_live'])} 台），出现监控盲区"
            return f"is dark: {_num(d['live'])} of at least {_num(d['min_live'])} cameras live"
        return "出现监控盲区" if zh else "is dark"
    if rule == "alarm_pressed":
        if d.get("kind") == DeviceKind.GPS:
            return "紧急按钮被按下，请立即处置" if zh else "emergency button was pressed: respond now"
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
    if rule == "bus_overloaded":
        if "passengers" in d and "capacity" in d:
            if zh:
                return f"超员（载 {_num(d['passengers'])} 人，核载 {_num(d['capacity'])} 人）"
            return f"is overloaded ({_num(d['passengers'])} aboard, capacity {_num(d['capacity'])})"
        return "超员" if zh else "is overloaded"
    if rule == "bus_moving_off_hours":
        return "在非运营时段行驶" if zh else "is moving outside its service hours"
    if rule == "bus_gps_lost":
        return "GPS 信号中断" if zh else "GPS is silent"
    if rule == "school_offline":
        return "全部设备离线" if zh else "every device is offline"
    return rule_name(rule, lang)


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
    thing = _thing(rule, school, subject, zone, detail, names, lang)
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

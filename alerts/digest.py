"""The daily digest: one summary of a day per school, the figures an inspection asks for.

Pure: fed rows already read from the database and the day's bounds; no clock, no I/O.
Per school: devices down now, blind-spot hours per dormitory zone (contract §3: a dormitory camera
`down` or `unreachable` is a blind spot; the hours are its cameras' down time in the day from the
stored state history, `devices.availability.blind_spot_seconds`, the same figure as the inspection
report's), alarm presses, bus off-route and overspeed events, tickets opened and closed in the day and
the median repair time (opened to resolved, of the tickets closed in the day), and the keeper's
entries in the monitoring-use record; the digest names the schools with no keeper entry that day.
Rendered as markdown or plain text, in Chinese (`zh`, default) or English (`en`).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from devices.availability import StateChange, blind_spot_seconds

LOCAL = ZoneInfo("Asia/Shanghai")
DORMITORY = "dormitory"


# ---- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownDevice:
    school: str
    kind: str  # camera, alarm, gps
    id: str
    since: float | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """A judgement row: `rule` on `subject` starting (`active`) or clearing at `time`."""

    time: float
    rule: str
    school: str
    subject: str
    zone: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class AlarmPress:
    school: str
    device: str
    type: str  # press, test, tamper, cancel
    at: float


@dataclass(frozen=True, slots=True)
class TicketTimes:
    school: str
    opened_at: float
    resolved_at: float | None = None
    closed_at: float | None = None


@dataclass(frozen=True, slots=True)
class DigestNames:
    """School names in order, and each school's zones: name and kind."""

    schools: Mapping[str, str]
    zones: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (school, zone) -> (name, kind)
    #: (school, zone) -> its cameras' ids: one tuple per zone (a map per camera cost ~100 bytes a camera
    #: at 200,000 devices, and finding a zone's cameras scanned them all)
    cameras: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_registry(cls, registry: Any) -> DigestNames:
        cameras: dict[tuple[str, str], list[str]] = {}
        for s in registry.schools:
            for c in s.cameras:
                if c.zone:
                    cameras.setdefault((s.id, c.zone), []).append(c.id)
        return cls(
            {s.id: s.name for s in registry.schools},
            {(s.id, z.id): (z.name, z.kind) for s in registry.schools for z in s.zones},
            {key: tuple(ids) for key, ids in cameras.items()},
        )

    def cameras_of(self, school: str, zone: str) -> tuple[str, ...]:
        return self.cameras.get((school, zone), ())

    def dormitories(self, school: str) -> list[str]:
        return [z for (s, z), (_, kind) in self.zones.items() if s == school and kind == DORMITORY]

    def zone_name(self, school: str, zone: str) -> str:
        return self.zones.get((school, zone), (zone, ""))[0]


# ---- the digest ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchoolDigest:
    school: str
    name: str
    devices_down: tuple[DownDevice, ...]
    blind_hours: tuple[tuple[str, str, float], ...]  # (zone id, zone name, hours) per dormitory zone
    alarm_presses: int
    off_route: int
    overspeed: int
    tickets_opened: int
    tickets_closed: int
    median_repair_s: float | None
    watch_log_entries: int = 0  # keeper entries in the monitoring-use record that day


@dataclass(frozen=True, slots=True)
class Digest:
    day_start: float
    day_end: float
    language: str
    schools: tuple[SchoolDigest, ...]

    @property
    def without_keeper_entry(self) -> tuple[SchoolDigest, ...]:
        """Schools whose monitoring-use record has no keeper entry that day."""
        return tuple(s for s in self.schools if s.watch_log_entries == 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "day_start": _iso(self.day_start),
            "day_end": _iso(self.day_end),
            "schools": [
                {
                    "school": s.school,
                    "name": s.name,
                    "devices_down": [{"kind": d.kind, "id": d.id, "since": _iso(d.since) if d.since else None}
                                     for d in s.devices_down],
                    "blind_spot_hours": {zone: round(hours, 2) for zone, _, hours in s.blind_hours},
                    "alarm_presses": s.alarm_presses,
                    "bus_off_route": s.off_route,
                    "bus_overspeed": s.overspeed,
                    "tickets_opened": s.tickets_opened,
                    "tickets_closed": s.tickets_closed,
                    "median_repair_s": s.median_repair_s,
                    "watch_log_entries": s.watch_log_entries,
                }
                for s in self.schools
            ],
            "no_keeper_entry": [s.school for s in self.without_keeper_entry],
        }


def _in_day(at: float | None, day_start: float, day_end: float) -> bool:
    return at is not None and day_start <= at < day_end


def build_digest(
    down: Sequence[DownDevice],
    transitions: Sequence[Transition],
    alarms: Sequence[AlarmPress],
    tickets: Sequence[TicketTimes],
    day_start: float,
    day_end: float,
    names: DigestNames,
    language: str = "zh",
    history: Mapping[tuple[str, str, str], Sequence[StateChange]] | None = None,
    entries: Sequence[tuple[str, float]] = (),
) -> Digest:
    """The digest of [day_start, day_end) for every school in `names`.

    `history`: the stored state changes of the day per (school, kind, device), each led by its last
    change before the day; blind-spot hours come from its dormitory cameras (an outage still open at
    `day_end` counts up to it). `entries`: (school, time) of keeper entries. Only bus events starting
    inside the day are counted from `transitions`.
    """
    history = history or {}
    schools = []
    for school, name in names.schools.items():
        blind = []
        for zone in names.dormitories(school):
            cams = [history.get((school, "camera", cam), ()) for cam in names.cameras_of(school, zone)]
            blind.append((zone, names.zone_name(school, zone), blind_spot_seconds(cams, day_start, day_end, day_end) / 3600))
        day_events = [t for t in transitions if t.school == school and t.active and _in_day(t.time, day_start, day_end)]
        mine = [t for t in tickets if t.school == school]
        closed = [t for t in mine if _in_day(t.closed_at, day_start, day_end)]
        repairs = [(t.resolved_at or t.closed_at or t.opened_at) - t.opened_at for t in closed]
        schools.append(
            SchoolDigest(
                school=school,
                name=name,
                devices_down=tuple(sorted((d for d in down if d.school == school), key=lambda d: (d.kind, d.id))),
                blind_hours=tuple(blind),
                alarm_presses=sum(1 for a in alarms if a.school == school and a.type == "press"
                                  and _in_day(a.at, day_start, day_end)),
                off_route=sum(1 for t in day_events if t.rule == "bus_off_route"),
                overspeed=sum(1 for t in day_events if t.rule == "bus_overspeed"),
                tickets_opened=sum(1 for t in mine if _in_day(t.opened_at, day_start, day_end)),
                tickets_closed=len(closed),
                median_repair_s=statistics.median(repairs) if repairs else None,
                watch_log_entries=sum(1 for s, at in entries if s == school and _in_day(at, day_start, day_end)),
            )
        )
    return Digest(day_start, day_end, language, tuple(schools))


# ---- rendering -------------------------------------------------------------------------------

_WORDS = {
    "zh": {
        "title": "每日安全简报", "down": "当前离线设备", "none": "无", "blind": "宿舍盲区时长",
        "hours": "小时", "presses": "报警按钮按下", "off_route": "校车偏离路线", "overspeed": "校车超速",
        "opened": "新开工单", "closed": "关闭工单", "median": "维修时长中位数", "times": "次",
        "camera": "摄像头", "alarm": "报警器", "gps": "校车定位", "no_dorm": "无宿舍区", "sep": "：",
        "minutes": "分钟", "entries": "监控使用记录", "entries_n": "条",
        "no_entry": "当日无监控使用记录的学校", "all_entered": "各校当日均有监控使用记录",
    },
    "en": {
        "title": "Daily safety digest", "down": "Devices down now", "none": "none",
        "blind": "Dormitory blind-spot hours", "hours": "h", "presses": "Alarm presses",
        "off_route": "Bus off-route events", "overspeed": "Bus overspeed events", "opened": "Tickets opened",
        "closed": "Tickets closed", "median": "Median repair time", "times": "", "camera": "camera",
        "alarm": "alarm panel", "gps": "bus GPS", "no_dorm": "no dormitory zones", "sep": ": ",
        "minutes": "min", "entries": "Monitoring-use record entries", "entries_n": "",
        "no_entry": "Schools with no keeper entry today", "all_entered": "Every school has a keeper entry today",
    },
}


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, LOCAL).isoformat()


def _local(at: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(at, LOCAL).strftime(fmt)


def title(digest: Digest) -> str:
    w = _WORDS.get(digest.language, _WORDS["en"])
    span = f"{_local(digest.day_start)} – {_local(digest.day_end)}"
    return f"{w['title']}（{span}）" if digest.language == "zh" else f"{w['title']} ({span})"


def _count(n: int, w: Mapping[str, str]) -> str:
    return f"{n} {w['times']}".strip()


def _duration(seconds: float | None, w: Mapping[str, str]) -> str:
    if seconds is None:
        return "—"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} {w['hours']}"
    return f"{seconds / 60:.0f} {w['minutes']}"


def school_lines(s: SchoolDigest, lang: str) -> list[tuple[str, str]]:
    w = _WORDS.get(lang, _WORDS["en"])
    down = ", ".join(f"{w.get(d.kind, d.kind)} {d.id}" for d in s.devices_down) or w["none"]
    blind = ", ".join(f"{name} {hours:.1f} {w['hours']}" for _, name, hours in s.blind_hours) or w["no_dorm"]
    return [
        (w["down"], f"{len(s.devices_down)}（{down}）" if lang == "zh" else f"{len(s.devices_down)} ({down})"),
        (w["blind"], blind),
        (w["presses"], _count(s.alarm_presses, w)),
        (w["off_route"], _count(s.off_route, w)),
        (w["overspeed"], _count(s.overspeed, w)),
        (w["opened"], str(s.tickets_opened)),
        (w["closed"], str(s.tickets_closed)),
        (w["median"], _duration(s.median_repair_s, w)),
        (w["entries"], f"{s.watch_log_entries} {w['entries_n']}".strip()),
    ]


def keeper_line(digest: Digest) -> str:
    """The schools with no keeper entry that day, named (or that every school has one)."""
    w = _WORDS.get(digest.language, _WORDS["en"])
    missing = digest.without_keeper_entry
    if not missing:
        return w["all_entered"]
    zh = digest.language == "zh"
    names = ("、" if zh else ", ").join(s.name for s in missing)
    return f"{w['no_entry']}{w['sep']}{names}" + (f"（{len(missing)} 所）" if zh else f" ({len(missing)})")


def markdown(digest: Digest) -> str:
    sep = _WORDS.get(digest.language, _WORDS["en"])["sep"]
    parts = [f"### {title(digest)}", f"**{keeper_line(digest)}**", ""]
    for s in digest.schools:
        parts.append(f"**{s.name}**")
        parts.extend(f"> {k}{sep}{v}" for k, v in school_lines(s, digest.language))
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def plain(digest: Digest) -> str:
    sep = _WORDS.get(digest.language, _WORDS["en"])["sep"]
    parts = [title(digest), keeper_line(digest), ""]
    for s in digest.schools:
        parts.append(s.name)
        parts.extend(f"  {k}{sep}{v}" for k, v in school_lines(s, digest.language))
        parts.append("")
    return "\n".join(parts)

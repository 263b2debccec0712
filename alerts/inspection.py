"""The inspection report (contract §5): what an inspector asks of a school for the days `from`..`to`.

Pure: fed the registry's devices and the rows read for the period, the period's bounds and the request
time; no clock, no I/O. Figures per school:

- `camera_uptime`: the cameras' pooled uptime over the time they were judged (`unknown` time, such as
  the monitor stopped or its start grace, counts neither way); null when no camera was judged at all.
- `blind_spot_hours`: per dormitory zone, the hours its cameras were `down` or `unreachable`, summed
  over the cameras (devices.availability.blind_spot_seconds); every dormitory zone is named, 0 included.
- `devices`: every device of the school (cameras, alarm panels, face terminals, NVRs, and the GPS unit
  of each of its buses) with `down_s` (seconds `down` or `unreachable`, an outage still open counted
  up to the request) and `outages` (unbroken runs of those overlapping the period).
- `tickets`: opened in the period, closed in the period, and the median repair time of those closed
  (`alerts.tickets.Ticket.repair_s`: from the device going down, or the ticket opening, to closed).
- `presses`: alarm-panel and bus emergency `press` events received in the period, and the median time
  from the alert's start to its acknowledgement over the presses of the period that were acknowledged.
- `buses`: `bus_off_route`, `bus_overspeed` and `bus_overloaded` conditions that started in the period.
- `watch_log_days`: days (district time) with at least one keeper entry.

Seconds are kept to the millisecond, hours to 1e-6 (3.6 ms): nothing is rounded coarser than 1 s.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from devices.availability import Availability, StateChange, availability

LOCAL = ZoneInfo("Asia/Shanghai")
BUS_RULES = {"bus_off_route": "off_route", "bus_overspeed": "overspeed", "bus_overloaded": "overloaded"}
CSV_HEADER = ["school", "school_name", "from", "to", "device", "kind", "zone", "location", "down_s", "outages"]


@dataclass(frozen=True, slots=True)
class ReportDevice:
    kind: str
    id: str
    zone: str | None
    location: str


@dataclass(frozen=True, slots=True)
class ReportSchool:
    id: str
    name: str
    keeper: str
    dormitories: tuple[str, ...]  # dormitory zone ids, in registry order
    devices: tuple[ReportDevice, ...]


@dataclass(frozen=True, slots=True)
class ReportRows:
    """What the edge reads for the period (all keyed or tagged by school id)."""

    history: Mapping[tuple[str, str, str], Sequence[StateChange]] = field(default_factory=dict)
    tickets: Sequence[tuple[str, float, float | None, float | None]] = ()  # (school, opened_at, closed_at, repair_s)
    presses: Sequence[tuple[str, float]] = ()  # (school, received)
    acks: Sequence[tuple[str, float, float | None]] = ()  # press alerts: (school, started_at, acked_at)
    bus_events: Sequence[tuple[str, str, float]] = ()  # (school, rule, time) of conditions starting
    entries: Sequence[tuple[str, float]] = ()  # (school, time) of keeper entries


def period(first: date, last: date, tz: ZoneInfo = LOCAL) -> tuple[float, float]:
    """Days `first`..`last` inclusive in `tz`, as `[start, end)` Unix seconds."""
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
    return start.timestamp(), end.timestamp()


def _in(at: float | None, start: float, end: float) -> bool:
    return at is not None and start <= at < end


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def school_report(s: ReportSchool, rows: ReportRows, start: float, end: float, now: float) -> dict[str, Any]:
    devices = []
    cameras = Availability()
    blind: dict[str, float] = {z: 0.0 for z in s.dormitories}
    for d in s.devices:
        a = availability(rows.history.get((s.id, d.kind, d.id), ()), start, end, now)
        if d.kind == "camera":
            cameras = cameras + a
            if d.zone in blind:
                blind[d.zone] += a.down_s
        devices.append({"id": d.id, "kind": d.kind, "zone": d.zone, "location": d.location,
                        "down_s": round(a.down_s, 3), "outages": a.outages})
    tickets = [t for t in rows.tickets if t[0] == s.id]
    closed = [t for t in tickets if _in(t[2], start, end)]
    acks = [acked - started for school, started, acked in rows.acks
            if school == s.id and acked is not None and _in(started, start, end)]
    buses = dict.fromkeys(BUS_RULES.values(), 0)
    for school, rule, at in rows.bus_events:
        if school == s.id and rule in BUS_RULES and _in(at, start, end):
            buses[BUS_RULES[rule]] += 1
    days = {datetime.fromtimestamp(at, LOCAL).date() for school, at in rows.entries
            if school == s.id and _in(at, start, end)}
    uptime = cameras.uptime
    return {
        "school": s.id, "name": s.name, "keeper": s.keeper or None,
        "cameras": sum(1 for d in s.devices if d.kind == "camera"),
        "camera_uptime": None if uptime is None else round(uptime, 6),
        "blind_spot_hours": {z: round(seconds / 3600, 6) for z, seconds in blind.items()},
        "devices": devices,
        "tickets": {"opened": sum(1 for t in tickets if _in(t[1], start, end)), "closed": len(closed),
                    "median_repair_s": _median([t[3] for t in closed if t[3] is not None])},
        "presses": {"count": sum(1 for school, at in rows.presses if school == s.id and _in(at, start, end)),
                    "median_ack_s": _median(acks)},
        "buses": buses,
        "watch_log_days": len(days),
    }


def inspection(schools: Sequence[ReportSchool], rows: ReportRows, first: date, last: date,
               now: float) -> dict[str, Any]:
    """The report of `schools` for the days `first`..`last` (district time), asked at `now`."""
    start, end = period(first, last)
    by_school: dict[str, list[Any]] = defaultdict(list)  # rows pre-split per school: one pass each
    for name in ("tickets", "presses", "acks", "bus_events", "entries"):
        for row in getattr(rows, name):
            by_school[f"{row[0]}|{name}"].append(row)
    out = []
    for s in schools:
        mine = ReportRows(rows.history, *(by_school.get(f"{s.id}|{n}", []) for n in
                                          ("tickets", "presses", "acks", "bus_events", "entries")))
        out.append(school_report(s, mine, start, end, now))
    return {"from": first.isoformat(), "to": last.isoformat(), "time_zone": str(LOCAL),
            "generated_at": datetime.fromtimestamp(now, LOCAL).isoformat(timespec="seconds"), "schools": out}


def as_csv(report: Mapping[str, Any]) -> str:
    """One row per device, with a header row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    for s in report["schools"]:
        for d in s["devices"]:
            w.writerow([s["school"], s["name"], report["from"], report["to"], d["id"], d["kind"], d["zone"] or "",
                        d["location"], f"{d['down_s']:.3f}", d["outages"]])
    return buf.getvalue()

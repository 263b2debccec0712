"""The records an inspection reads, shared by the API and the pages: the monitoring-use record
(监控使用记录) of a school and the inspection report. Both the API (`api/records.py`) and the pages
(`pages/records.py`) use these; neither imports the other."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from aiohttp import web

from alerts.inspection import ReportDevice, ReportSchool, inspection, period
from devices.coverage import DORMITORY
from devices.model import DeviceKind, School
from monitor.http.actions import actor_of, in_scope
from monitor.http.auth import Principal
from monitor.http.context import HttpContext, context
from monitor.http.errors import HttpError
from monitor.http.params import school_filter, text_field
from monitor.http.views import iso
from monitor.storage.report_store import read_report
from monitor.storage.watchlog_store import add_entry

WRITERS = ("officer",)  # an officer of the school keeps its record
READERS = ("bureau", "officer")
MAX_REPORT_DAYS = 366
MAX_ZONES = 100


# ---- the monitoring-use record ---------------------------------------------------------------------


def school_in_scope(request: web.Request, roles: tuple[str, ...]) -> tuple[School, Principal]:
    """The `{id}` school of the path, for a caller with one of `roles` who sees it (403 otherwise, whether
    it exists or not)."""
    c = context(request)
    school_id = request.match_info["id"]
    school = c.registry.school(school_id)
    principal = in_scope(request, roles, school.id if school else None, f"school {school_id!r}")
    assert school is not None
    return school, principal


def entry_zones(school: School, raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(z, str) for z in raw) or len(raw) > MAX_ZONES:
        raise HttpError(400, f"zones must be a list of at most {MAX_ZONES} zone ids of the school")
    unknown = [z for z in raw if school.zone(z) is None]
    if unknown:
        raise HttpError(400, f"zones: {', '.join(sorted(set(unknown)))} is no zone of school {school.id}")
    return list(dict.fromkeys(raw))


async def write_entry(request: web.Request, data: dict[str, Any], via: str) -> dict[str, Any]:
    """Add a keeper's entry (officer of the school): `note` (required), `zones` (ids of the school's zones)."""
    school, principal = school_in_scope(request, WRITERS)
    note = text_field(data, "note", True) or ""
    zones = entry_zones(school, data.get("zones"))
    c = context(request)
    actor = actor_of(request, principal, via)
    entry = await c.db.call(add_entry, school.id, c.clock(), actor.name, actor.token_id, zones, note.strip(), via)
    return timeline_item(entry)


def timeline_item(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "at": iso(item["at"]), "ts": item["at"]}


# ---- the inspection report -------------------------------------------------------------------------


def day_param(request: web.Request, name: str) -> date:
    raw = request.query.get(name)
    if not raw:
        raise HttpError(400, f"{name} is required (YYYY-MM-DD)")
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise HttpError(400, f"{name} must be a day YYYY-MM-DD") from None


def report_period(request: web.Request) -> tuple[date, date]:
    first, last = day_param(request, "from"), day_param(request, "to")
    if last < first:
        raise HttpError(400, "to must not be before from")
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise HttpError(400, f"from..to must span at most {MAX_REPORT_DAYS} days")
    return first, last


def report_schools(request: web.Request, principal: Principal) -> list[School]:
    """`school` (403 outside the caller's schools whether it exists or not, 404 unknown), or every
    school the caller sees, in registry order."""
    c = context(request)
    allowed = school_filter(request, principal, {s.id for s in c.registry.schools})
    return [s for s in c.registry.schools if s.id in allowed]


def report_subjects(c: HttpContext, schools: Iterable[School]) -> list[ReportSchool]:
    """The schools as the report names them: dormitory zones and every device (a bus's GPS by its plate)."""
    plates = {b.id: b.plate for b in c.registry.buses}
    devices: dict[str, list[ReportDevice]] = {}
    for spec in c.registry.devices():
        location = plates.get(spec.id, "") if spec.kind is DeviceKind.GPS else spec.location
        devices.setdefault(spec.school, []).append(ReportDevice(str(spec.kind), spec.id, spec.zone, location))
    return [ReportSchool(s.id, s.name, s.keeper, tuple(z.id for z in s.zones if z.kind == DORMITORY),
                         tuple(devices.get(s.id, ()))) for s in schools]


async def build_report(c: HttpContext, schools: Iterable[School], first: date, last: date) -> dict[str, Any]:
    chosen = list(schools)
    start, end = period(first, last)
    rows = await c.db.call(read_report, [s.id for s in chosen], start, end)
    return inspection(report_subjects(c, chosen), rows, first, last, c.clock())

"""What the API and the pages show of each thing: plain dicts built from the running parts and stored
records. Both the API and the pages use these; neither imports the other."""

from __future__ import annotations

from typing import Any

from alerts import model as alert_model
from alerts.tickets import Ticket
from devices.events import Fix
from devices.liveness import Device
from devices.model import Bus, DeviceKind, Route
from monitor.http.context import HttpContext
from monitor.storage.alert_tables import AlertHistoryRecord, AlertRecord, MaintenanceWindowRecord
from monitor.storage.bus_tables import DetourRecord


def iso(t: float | None) -> str | None:
    """Unix seconds as RFC 3339 UTC (`...Z`), the one time format of the API; None stays None."""
    return None if t is None else alert_model.iso(t)


def device_view(dev: Device) -> dict[str, Any]:
    return {
        "id": dev.id, "school": dev.school, "kind": str(dev.kind), "zone": dev.zone,
        "location": dev.spec.location or None, "state": str(dev.state), "last_seen": iso(dev.last_seen), "last_seen_ts": dev.last_seen,
        "since": iso(dev.since), "reason": dev.reason or None,
    }


def position_view(c: HttpContext, bus_id: str) -> dict[str, Any] | None:
    """The bus watch's last accepted fix: the one position the API, pages and gauges show."""
    watch = c.buses.watches.get(bus_id)
    snap = watch.snapshot() if watch is not None else None
    if snap is None or snap.lat is None or snap.lon is None:
        return None
    return {"lat": snap.lat, "lon": snap.lon, "speed_kmh": snap.speed_kmh, "ts": snap.last_fix_ts}


def bus_view(c: HttpContext, bus: Bus) -> dict[str, Any]:
    dev = c.judge.liveness.devices.get((bus.school, DeviceKind.GPS, bus.id))
    view: dict[str, Any] = {
        "id": bus.id, "plate": bus.plate, "school": bus.school, "route": bus.route, "capacity": bus.capacity,
        "gps": str(dev.state) if dev else "unknown", "last_seen": iso(dev.last_seen) if dev else None,
        "position": position_view(c, bus.id),
    }
    watch = c.buses.watches.get(bus.id)
    if watch is not None:
        snap = watch.snapshot()
        view.update(off_route=snap.off_route, distance_m=snap.distance_m, speed_kmh=snap.speed_kmh, detour=snap.detour,
                    passengers=snap.passengers, overloaded=snap.overloaded)
    else:
        view.update(off_route=False, distance_m=None, speed_kmh=None, detour=None, passengers=None, overloaded=False)
    return view


def school_view(c: HttpContext, school_id: str) -> dict[str, Any]:
    school = c.registry.school(school_id)
    assert school is not None
    judge = c.judge
    zones = []
    for zone in school.zones:
        zc = judge.coverage.zones.get((school_id, zone.id))
        zones.append({
            "id": zone.id, "name": zone.name, "kind": zone.kind, "min_live": zone.min_live,
            "cameras": zc.cameras if zc else 0, "live": zc.live if zc else 0, "dark": bool(zc and zc.dark),
            "blind_spots": zc.blind_spots if zc else 0,
        })
    sc = judge.coverage.schools.get(school_id)
    return {
        "id": school.id, "name": school.name, "offline": bool(sc and sc.offline), "keeper": school.keeper or None,
        "blind_spots": sc.blind_spots if sc else 0, "zones": zones,
        "devices": [device_view(d) for d in judge.devices() if d.school == school_id and d.kind is not DeviceKind.GPS],
        "buses": [bus_view(c, b) for b in c.registry.buses if b.school == school_id],
    }


def route_view(route: Route | None) -> dict[str, Any] | None:
    if route is None:
        return None
    return {"id": route.id, "corridor_m": route.corridor_m, "speed_limit_kmh": route.speed_limit_kmh,
            "windows": [str(w) for w in route.windows], "path": [list(p) for p in route.path]}


def fix_view(f: Fix) -> dict[str, Any]:
    return {"ts": f.ts, "time": iso(f.ts), "received": iso(f.received), "lat": f.lat, "lon": f.lon,
            "speed_kmh": f.speed_kmh, "heading": f.heading}


def alert_view(r: AlertRecord) -> dict[str, Any]:
    return {
        "id": r.id, "rule": r.rule, "severity": r.severity, "state": r.state, "school": r.school,
        "subject": r.subject, "zone": r.zone, "summary": r.summary, "summaries": dict(r.summaries or {}),
        "started_at": iso(r.started_at), "updated_at": iso(r.updated_at), "acked_by": r.acked_by,
        "acked_at": iso(r.acked_at), "note": r.note, "escalation": r.escalation, "flapping": r.flapping,
    }


def alert_detail_view(r: AlertRecord, history: list[AlertHistoryRecord]) -> dict[str, Any]:
    view = alert_view(r)
    view["history"] = [{"kind": h.kind, "state": h.state, "at": iso(h.at), "actor": h.actor, "note": h.note}
                       for h in history]
    return view


def ticket_view(t: Ticket, notes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": t.id, "school": t.school, "kind": t.kind, "device": t.device, "zone": t.zone, "status": str(t.status),
        "opened_at": iso(t.opened_at), "updated_at": iso(t.updated_at), "opened_by": t.opened_by,
        "down_since": iso(t.down_since), "assignee": t.assignee, "resolved_at": iso(t.resolved_at),
        "resolved_by": t.resolved_by, "closed_at": iso(t.closed_at), "reopened": t.reopened, "notes": t.notes,
        "repair_s": t.repair_s(),
    }
    if notes is not None:
        view["note_list"] = [{**n, "at": iso(n["at"])} for n in notes]
    return view


def detour_view(r: DetourRecord, now: float) -> dict[str, Any]:
    return {"id": r.id, "bus": r.bus, "school": r.school, "start": iso(r.starts), "end": iso(r.ends),
            "reason": r.reason, "created_by": r.created_by, "created_at": iso(r.created_at),
            "active": r.starts <= now < r.ends}


def window_view(r: MaintenanceWindowRecord) -> dict[str, Any]:
    return {"id": r.id, "school": r.school, "zone": r.zone, "starts": iso(r.starts), "ends": iso(r.ends),
            "reason": r.reason, "created_by": r.created_by}

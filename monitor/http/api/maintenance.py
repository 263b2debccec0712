"""`/api/v1/maintenance`: windows during which a school's (or zone's) alerts are held back."""

from __future__ import annotations

import uuid

from aiohttp import web

from alerts.model import MaintenanceWindow
from monitor.http.actions import READ_ROLES, actor_of, in_scope, known_schools, who
from monitor.http.context import context
from monitor.http.errors import HttpError, json_response
from monitor.http.params import body, paging, school_filter, text_field, time_field
from monitor.http.views import iso, window_view
from monitor.storage import alert_store
from monitor.storage.audit_store import audit


async def list_windows(request: web.Request) -> web.Response:
    c = context(request)
    principal = who(request, READ_ROLES)
    schools = school_filter(request, principal, known_schools(c))
    rows = await c.db.call(alert_store.query_windows, schools, c.clock())
    return paging(request).of([window_view(r) for r in rows])


async def create_window(request: web.Request) -> web.Response:
    c = context(request)
    who(request, READ_ROLES)
    data = await body(request)
    school_id = text_field(data, "school", True) or ""
    school = c.registry.school(school_id)
    principal = in_scope(request, READ_ROLES, school_id if school else None, f"school {school_id!r}")
    assert school is not None
    zone = text_field(data, "zone")
    if zone is not None and school.zone(zone) is None:
        raise HttpError(404, f"no zone {zone!r} in school {school_id}")
    starts = time_field(data, "starts", required=False)
    ends = time_field(data, "ends", required=False)
    now = c.clock()
    starts = now if starts is None else starts
    if ends is None or ends <= starts:
        raise HttpError(400, "ends is required and must be after starts")
    w = MaintenanceWindow(id="m-" + uuid.uuid4().hex[:12], school=school_id, starts=starts, ends=ends, zone=zone,
                          reason=text_field(data, "reason") or "", created_by=principal.name)
    await c.db.call(alert_store.save_window, w, now)
    await c.db.call(audit, actor_of(request, principal), "maintenance.created", w.id, school_id, now,
                    {"zone": zone, "starts": starts, "ends": ends, "reason": w.reason})
    await c.alerts.maintenance_changed()
    return json_response({"id": w.id, "school": w.school, "zone": w.zone, "starts": iso(w.starts), "ends": iso(w.ends),
                          "reason": w.reason, "created_by": w.created_by}, 201)


async def delete_window(request: web.Request) -> web.Response:
    c = context(request)
    window_id = request.match_info["id"]
    who(request, READ_ROLES)
    school = await c.db.call(alert_store.window_school, window_id)
    principal = in_scope(request, READ_ROLES, school, f"maintenance window {window_id!r}")
    await c.db.call(alert_store.remove_window, window_id)
    await c.db.call(audit, actor_of(request, principal), "maintenance.deleted", window_id, school, c.clock())
    await c.alerts.maintenance_changed()
    return json_response({"id": window_id, "deleted": True})


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/api/v1/maintenance", list_windows)
    r.add_post("/api/v1/maintenance", create_window)
    r.add_delete("/api/v1/maintenance/{id}", delete_window)

"""`/api/v1/schools`, `/api/v1/schools/{id}`, `/api/v1/devices`."""

from __future__ import annotations

from aiohttp import web

from devices.liveness import State
from devices.model import DeviceKind
from monitor.http.actions import READ_ROLES, in_scope, known_schools, who
from monitor.http.context import context
from monitor.http.errors import json_response
from monitor.http.params import choice, paging, school_filter
from monitor.http.views import device_view, school_view


async def list_schools(request: web.Request) -> web.Response:
    c = context(request)
    principal = who(request, READ_ROLES)
    allowed = school_filter(request, principal, known_schools(c))
    return paging(request).of([school_view(c, s.id) for s in c.registry.schools if s.id in allowed])


async def get_school(request: web.Request) -> web.Response:
    c = context(request)
    school_id = request.match_info["id"]
    in_scope(request, READ_ROLES, school_id if c.registry.school(school_id) else None, f"school {school_id!r}")
    return json_response(school_view(c, school_id))


async def list_devices(request: web.Request) -> web.Response:
    c = context(request)
    principal = who(request, READ_ROLES)
    allowed = school_filter(request, principal, known_schools(c))
    state = choice(request, "state", [str(s) for s in State])
    kind = choice(request, "kind", [str(k) for k in DeviceKind])
    items = [
        device_view(d) for d in c.judge.devices()
        if d.school in allowed and (state is None or d.state == state) and (kind is None or d.kind == kind)
    ]
    items.sort(key=lambda v: (v["school"], v["kind"], v["id"]))
    return paging(request).of(items)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/api/v1/schools", list_schools)
    r.add_get("/api/v1/schools/{id}", get_school)
    r.add_get("/api/v1/devices", list_devices)

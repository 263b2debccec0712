"""`/api/v1/schools`, `/api/v1/schools/{id}`, `/api/v1/devices`."""

from __future__ import annotations

import itertools

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
    page = paging(request)
    judge = c.judge
    every_school = len(allowed) == len(c.registry.schools)
    if state is not None and state != State.UP:  # the index: a few devices, sorted here
        found = sorted((d for d in judge.in_state(State(state)) if d.school in allowed and (kind is None or d.kind == kind)),
                       key=lambda d: (d.school, str(d.kind), d.id))
        return page.of([device_view(d) for d in found[page.offset:page.offset + page.limit + 1]][:page.limit + 1],
                       offset=0)
    ordered = judge.ordered()
    if every_school and kind is None and state is None:
        chunk = ordered[page.offset:page.offset + page.limit + 1]
    else:
        matching = (d for d in ordered if d.school in allowed and (kind is None or d.kind == kind)
                    and (state is None or d.state == state))
        chunk = list(itertools.islice(matching, page.offset, page.offset + page.limit + 1))
    return page.of([device_view(d) for d in chunk], offset=0)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/api/v1/schools", list_schools)
    r.add_get("/api/v1/schools/{id}", get_school)
    r.add_get("/api/v1/devices", list_devices)

"""`/api/v1/schools/{id}/watch-log` (the monitoring-use record) and `/api/v1/reports/inspection`."""

from __future__ import annotations

from aiohttp import web

from alerts.inspection import as_csv
from monitor.http.actions import who
from monitor.http.context import context
from monitor.http.errors import HttpError, json_response
from monitor.http.params import body, paging, parse_time
from monitor.http.records import (
    READERS,
    build_report,
    report_period,
    report_schools,
    school_in_scope,
    timeline_item,
    write_entry,
)
from monitor.storage.watchlog_store import timeline


async def post_watch_log(request: web.Request) -> web.Response:
    school_in_scope(request, ("officer",))  # role and school before the body is read
    return json_response(await write_entry(request, await body(request), "api"), 201)


async def get_watch_log(request: web.Request) -> web.Response:
    school, _ = school_in_scope(request, READERS)
    c = context(request)
    since = parse_time(request.query.get("since"), "since")
    until = parse_time(request.query.get("until"), "until")
    page = paging(request)
    items, more = await c.db.call(timeline, school.id, since, until, page.offset, page.limit)
    return json_response({"items": [timeline_item(i) for i in items],
                          "next": str(page.offset + page.limit) if more else None,
                          "school": school.id, "name": school.name, "keeper": school.keeper or None})


async def get_inspection(request: web.Request) -> web.Response:
    principal = who(request, READERS)
    fmt = request.query.get("format") or "json"
    if fmt not in ("json", "csv"):
        raise HttpError(400, "format must be json or csv")
    schools = report_schools(request, principal)
    first, last = report_period(request)
    report = await build_report(context(request), schools, first, last)
    if fmt == "csv":
        name = f"inspection-{request.query.get('school') or 'district'}-{first}-{last}.csv"
        return web.Response(text=as_csv(report), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return json_response(report)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/api/v1/schools/{id}/watch-log", get_watch_log)
    r.add_post("/api/v1/schools/{id}/watch-log", post_watch_log)
    r.add_get("/api/v1/reports/inspection", get_inspection)

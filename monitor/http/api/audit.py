"""`/api/v1/audit`: the audit log, for the bureau."""

from __future__ import annotations

from aiohttp import web

from monitor.http.actions import known_schools, who
from monitor.http.context import context
from monitor.http.errors import HttpError
from monitor.http.params import paging, parse_time
from monitor.http.views import iso
from monitor.storage.audit_store import list_audit


async def get_audit(request: web.Request) -> web.Response:
    c = context(request)
    who(request, ("bureau",))
    wanted = request.query.get("school") or None
    if wanted is not None and wanted not in known_schools(c):
        raise HttpError(404, f"no school {wanted!r}")
    since = parse_time(request.query.get("since"), "since")
    page = paging(request)
    rows = await c.db.call(list_audit, {wanted} if wanted else None, request.query.get("target") or None,
                           request.query.get("action") or None, since, page.offset + page.limit + 1)
    chunk = [{**r, "at": iso(r["at"])} for r in rows[page.offset:page.offset + page.limit]]
    return page.answer(chunk, len(rows) > page.offset + page.limit)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/api/v1/audit", get_audit)

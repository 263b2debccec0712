"""Server-rendered pages for the people who act on the monitor (aiohttp + Jinja2, no JavaScript needed).

- `/login`: a token (from `campus-monitor token create`) opens a session; the cookie is HttpOnly,
  SameSite=Strict, and names a server-side session (the token never goes back to the browser).
  Sessions live in memory: a restart of the monitor asks everyone to log in again. Failed logins
  count toward the API's failed-authentication limit.
- `/` the district overview (schools worst first), `/schools/{id}`, `/alerts` (with acknowledge),
  `/buses/{id}` (route corridor and recent track drawn as SVG), `/tickets` and `/tickets/{id}` (the
  crew's list: take, note, resolve; anyone who may see a ticket may open one by hand).
- Every form carries the session's CSRF token; a POST without it is refused. Pages refresh
  themselves every few seconds unless someone is typing. Chinese by default, `?lang=en` switches.
- The same role and school checks as the API: an officer sees its own schools only.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from alerts.tickets import TicketError
from devices.liveness import State
from devices.model import DeviceKind, Route
from monitor.http.actions import PRINCIPAL, TICKET_STATUSES, ack_alert, find_bus, ticket_action, track_of
from monitor.http.auth import AuthError, Principal, require
from monitor.http.context import HttpContext, context
from monitor.http.errors import HttpError
from monitor.http.views import alert_view, fix_view, school_view, ticket_view
from monitor.storage import alert_store
from monitor.storage.audit_store import Actor, audit
from monitor.storage.ticket_store import get_ticket, list_tickets

HERE = Path(__file__).resolve().parent
COOKIE = "csm_session"
LANG_COOKIE = "csm_lang"
SESSION_IDLE_S = 12 * 3600.0
RECHECK_S = 0.5  # a revoked token ends its sessions within this
REFRESH_S = 5
DISPLAY_TZ = ZoneInfo("Asia/Shanghai")
SESSIONS_KEY = web.AppKey("page_sessions", "Sessions")
JINJA_KEY = web.AppKey("jinja", jinja2.Environment)
SESSION = web.RequestKey("session", "Session")
FORM = web.RequestKey("form", MultiDictProxy)

TEXT: dict[str, tuple[str, str]] = {
    "title": ("校园安全监控", "Campus Safety Monitor"),
    "overview": ("全区总览", "District overview"), "alerts": ("告警", "Alerts"), "tickets": ("维修工单", "Repair tickets"),
    "login": ("登录", "Log in"), "logout": ("退出", "Log out"), "token": ("访问令牌", "Access token"),
    "login_help": ("请输入管理员发放的访问令牌。", "Enter the access token you were given."),
    "login_failed": ("令牌无效。", "The token is not valid."),
    "too_many": ("失败次数过多，请一分钟后再试。", "Too many failed attempts; wait a minute."),
    "school": ("学校", "School"), "dark_zones": ("盲区", "Dark zones"), "dead_cameras": ("离线摄像头", "Cameras down"),
    "pressed": ("一键报警", "Alarm presses"), "off_route": ("偏离路线校车", "Buses off route"),
    "firing_alerts": ("未处理告警", "Firing alerts"), "firing": ("告警中", "firing"),
    "not_resolved": ("未解除", "not resolved"), "active": ("未关闭", "not closed"), "offline": ("全校离线", "School offline"),
    "zones": ("区域", "Zones"), "zone": ("区域", "Zone"), "live": ("在线/总数", "Live/total"),
    "devices": ("设备", "Devices"), "device": ("设备", "Device"), "kind": ("类型", "Kind"),
    "state": ("状态", "State"), "last_seen": ("最后心跳", "Last seen"), "buses": ("校车", "Buses"),
    "plate": ("车牌", "Plate"), "route": ("路线", "Route"), "gps": ("GPS", "GPS"), "position": ("位置", "Position"),
    "rule": ("规则", "Rule"), "severity": ("级别", "Severity"), "summary": ("内容", "Summary"),
    "started": ("开始", "Started"), "ack": ("确认", "Acknowledge"), "acked_by": ("确认人", "Acknowledged by"),
    "all": ("全部", "All"), "status": ("状态", "Status"), "assignee": ("负责人", "Assignee"),
    "opened": ("开单时间", "Opened"), "take": ("接单", "Take"), "note": ("备注", "Note"),
    "add_note": ("添加备注", "Add note"), "resolve": ("已修复", "Resolve"), "open_ticket": ("手动开单", "Open a ticket"),
    "notes": ("记录", "Notes"), "none": ("无", "none"), "track": ("最近轨迹", "Recent track"),
    "corridor": ("走廊宽度", "Corridor"), "speed_limit": ("限速", "Speed limit"), "windows": ("运营时段", "Service windows"),
    "no_position": ("暂无定位", "No position yet"), "forbidden": ("无权访问", "Not allowed"),
    "not_found": ("未找到", "Not found"), "back": ("返回", "Back"), "english": ("English", "English"),
    "chinese": ("中文", "中文"), "refresh_note": ("页面每 5 秒自动刷新", "This page refreshes every 5 s"),
    "open": ("待处理", "open"), "in_progress": ("处理中", "in progress"), "verifying": ("验证中", "verifying"),
    "closed": ("已关闭", "closed"), "up": ("在线", "up"), "down": ("离线", "down"), "faulty": ("故障", "faulty"),
    "unknown": ("未知", "unknown"), "acknowledged": ("已确认", "acknowledged"), "resolved": ("已解除", "resolved"),
    "camera": ("摄像头", "camera"), "alarm": ("报警器", "alarm panel"), "face": ("人脸识别终端", "face terminal"),
    "nvr": ("录像机", "recorder (NVR)"), "unreachable": ("不可达", "unreachable"), "critical": ("严重", "critical"),
    "warning": ("警告", "warning"), "info": ("提示", "info"), "ok": ("正常", "OK"), "worst_first": ("最严重的排在前面", "worst first"),
    "speed": ("速度", "Speed"), "time": ("时间", "Time"), "by": ("操作人", "By"), "ticket": ("工单", "Ticket"),
    "down_since": ("离线起始", "Down since"), "reopened": ("重开次数", "Reopened"),
}


# ---- sessions --------------------------------------------------------------------------------------


@dataclass
class Session:
    id: str
    token: str
    principal: Principal
    csrf: str
    checked: float
    seen: float


@dataclass
class Sessions:
    items: dict[str, Session] = field(default_factory=dict)

    def new(self, token: str, principal: Principal) -> Session:
        now = time.monotonic()
        s = Session(secrets.token_urlsafe(32), token, principal, secrets.token_urlsafe(24), now, now)
        self.items[s.id] = s
        if len(self.items) > 10_000:
            for sid in [k for k, v in self.items.items() if now - v.seen > SESSION_IDLE_S]:
                del self.items[sid]
        return s


async def session_of(request: web.Request) -> Session | None:
    sessions = request.app[SESSIONS_KEY]
    sid = request.cookies.get(COOKIE)
    s = sessions.items.get(sid or "")
    if s is None:
        return None
    now = time.monotonic()
    if now - s.seen > SESSION_IDLE_S:
        del sessions.items[s.id]
        return None
    if now - s.checked > RECHECK_S:  # a revoked token ends its sessions
        found = await context(request).auth.principal_of_token(s.token)
        if found is None:
            del sessions.items[s.id]
            return None
        s.principal, s.checked = found, now
    s.seen = now
    request[PRINCIPAL] = s.principal
    return s


# ---- rendering -------------------------------------------------------------------------------------


def lang_of(request: web.Request) -> str:
    wanted = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or "zh"
    return "en" if wanted == "en" else "zh"


def render(request: web.Request, name: str, code: int = 200, **ctx: Any) -> web.Response:
    env = request.app[JINJA_KEY]
    lang = lang_of(request)
    index = 1 if lang == "en" else 0

    def t(key: str) -> str:
        pair = TEXT.get(key)
        return pair[index] if pair else key

    session: Session | None = request.get(SESSION)
    html = env.get_template(name).render(
        t=t, lang=lang, session=session, principal=session.principal if session else None,
        path=request.path_qs, quote=quote, refresh=REFRESH_S, local_time=local_time,
        static=lambda name: f"/static/{name}", request_path_lang=lambda code: with_lang(request, code), **ctx,
    )
    resp = web.Response(text=html, status=code, content_type="text/html", charset="utf-8")
    if request.query.get("lang") in ("zh", "en"):
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="Strict", path="/")
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
    resp.headers["Cache-Control"] = "no-store"
    return resp


def with_lang(request: web.Request, code: str) -> str:
    query = {k: v for k, v in request.query.items() if k != "lang"}
    query["lang"] = code
    return str(request.rel_url.with_query(query))


def local_time(t: float | str | None) -> str:
    """Unix seconds or RFC 3339 as month-day time in the district's zone (contract §1's default)."""
    if t is None or t == "":
        return "—"
    moment = datetime.fromisoformat(t.replace("Z", "+00:00")) if isinstance(t, str) else datetime.fromtimestamp(t, UTC)
    return moment.astimezone(DISPLAY_TZ).strftime("%m-%d %H:%M:%S")


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "error.html", status, status=status, message=message)


# ---- guards ----------------------------------------------------------------------------------------


PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(roles: tuple[str, ...], post: bool = False) -> Callable[[PageHandler], PageHandler]:
    """Decorator: a session with one of `roles` (else the login page or 403), and CSRF on POST."""

    def wrap(fn: PageHandler) -> PageHandler:
        async def handler(request: web.Request) -> web.StreamResponse:
            session = await session_of(request)
            if session is None:
                if post:
                    return error_page(request, 401, "log in first")
                raise web.HTTPFound(f"/login?next={quote(request.path_qs)}")
            request[SESSION] = session
            try:
                require(session.principal, roles)
                if post:
                    form = await request.post()
                    if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
                        return error_page(request, 403, "the form is stale or forged (CSRF); reload the page")
                    request[FORM] = form
                return await fn(request)
            except AuthError as exc:
                return error_page(request, exc.status, exc.message)
            except HttpError as exc:
                return error_page(request, exc.status, exc.message)

        handler.__name__ = fn.__name__
        return handler

    return wrap


def back_to(request: web.Request, fallback: str) -> web.HTTPFound:
    nxt = str(request[FORM].get("next", "")) if FORM in request else ""
    return web.HTTPFound(nxt if nxt.startswith("/") and not nxt.startswith("//") else fallback)


# ---- login -----------------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    return render(request, "login.html", next=request.query.get("next", "/"), failed=None)


async def login(request: web.Request) -> web.StreamResponse:
    c = context(request)
    form = await request.post()
    nxt = str(form.get("next") or "/")
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/"
    token = str(form.get("token") or "").strip()
    found = await c.auth.principal_of_token(token) if token else None
    if found is None:
        try:
            await c.auth.failed(request.remote or "?")
        except AuthError:
            return render(request, "login.html", 429, next=nxt, failed="too_many")
        return render(request, "login.html", 401, next=nxt, failed="login_failed")
    session = request.app[SESSIONS_KEY].new(token, found)
    await c.db.call(audit, Actor(found.name, found.token_id, found.role, request.remote, "page"),
                    "session.login", f"token-{found.token_id}", None, c.clock())
    if nxt == "/" and found.role == "maintenance":
        nxt = "/tickets"
    resp = web.HTTPFound(nxt)
    resp.set_cookie(COOKIE, session.id, httponly=True, samesite="Strict", path="/",
                    secure=request.secure, max_age=int(SESSION_IDLE_S))
    raise resp


@page(("bureau", "officer", "maintenance"), post=True)
async def logout(request: web.Request) -> web.StreamResponse:
    request.app[SESSIONS_KEY].items.pop(request[SESSION].id, None)
    resp = web.HTTPFound("/login")
    resp.del_cookie(COOKIE, path="/")
    raise resp


# ---- overview and school ---------------------------------------------------------------------------


def school_rows(c: HttpContext, principal: Principal, open_alerts: dict[str, dict[str, int]],
                rules: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    judge = c.judge
    dead: dict[str, int] = {}
    cams: dict[str, int] = {}
    for dev in judge.devices():
        if dev.kind is DeviceKind.CAMERA:
            cams[dev.school] = cams.get(dev.school, 0) + 1
            if dev.state is State.DOWN:
                dead[dev.school] = dead.get(dev.school, 0) + 1
    dark: dict[str, int] = {}
    for (school, _), zc in judge.coverage.zones.items():
        if zc.dark:
            dark[school] = dark.get(school, 0) + 1
    rows = []
    for school in c.registry.schools:
        if not principal.sees_school(school.id):
            continue
        sc = judge.coverage.schools.get(school.id)
        by_rule = rules.get(school.id, {})
        sev = open_alerts.get(school.id, {})
        row = {
            "id": school.id, "name": school.name, "offline": bool(sc and sc.offline),
            "dark": dark.get(school.id, 0), "dead": dead.get(school.id, 0), "cameras": cams.get(school.id, 0),
            "pressed": by_rule.get("alarm_pressed", 0) + by_rule.get("alarm_tampered", 0),
            "off_route": by_rule.get("bus_off_route", 0),
            "critical": sev.get("critical", 0), "firing": sum(sev.values()),
        }
        row["score"] = (row["offline"], row["pressed"], row["dark"], row["critical"], row["dead"], row["off_route"],
                        row["firing"])
        rows.append(row)
    rows.sort(key=lambda r: (tuple(-int(x) for x in r["score"]), r["id"]))
    return rows


async def root(request: web.Request) -> web.StreamResponse:
    session = await session_of(request)
    if session is None:
        raise web.HTTPFound("/login")
    if session.principal.role == "maintenance":
        raise web.HTTPFound("/tickets")
    return await overview(request)


@page(("bureau", "officer"))
async def overview(request: web.Request) -> web.Response:
    c = context(request)
    principal: Principal = request[SESSION].principal
    by_severity = await c.db.call(alert_store.count_firing_alerts)
    by_rule = await c.db.call(alert_store.count_open_by_rule)
    rows = school_rows(c, principal, by_severity, by_rule)
    return render(request, "overview.html", rows=rows, refreshing=True)


@page(("bureau", "officer"))
async def school_page(request: web.Request) -> web.Response:
    c = context(request)
    school_id = request.match_info["id"]
    require(request[SESSION].principal, ("bureau", "officer"), school_id)
    if c.registry.school(school_id) is None:
        raise HttpError(404, f"no school {school_id!r}")
    view = school_view(c, school_id)
    order = {"down": 0, "unreachable": 1, "faulty": 2, "unknown": 3, "up": 4}
    view["devices"].sort(key=lambda d: (order.get(d["state"], 9), d["kind"], d["id"]))
    return render(request, "school.html", school=view, refreshing=True)


# ---- alerts ----------------------------------------------------------------------------------------


@page(("bureau", "officer"))
async def alerts_page(request: web.Request) -> web.Response:
    c = context(request)
    principal: Principal = request[SESSION].principal
    state = request.query.get("state", "open")
    if state not in ("open", "firing", "acknowledged", "resolved", "all"):
        state = "open"
    schools = None if principal.all_schools else set(principal.schools)
    wanted = None if state in ("open", "all") else state
    rows, _ = await c.db.call(alert_store.query_alerts, schools, wanted, None, None, 0, 500)
    items = [alert_view(r) for r in rows]
    if state == "open":
        items = [a for a in items if a["state"] != "resolved"]
    states = {"firing": 0, "acknowledged": 1, "resolved": 2}
    severities = {"critical": 0, "warning": 1, "info": 2}
    items.sort(key=lambda a: (states.get(a["state"], 3), severities.get(a["severity"], 3)))  # stable: newest first within
    names = {s.id: s.name for s in c.registry.schools}
    return render(request, "alerts.html", items=items, state=state, names=names, refreshing=True)


@page(("bureau", "officer"), post=True)
async def ack_page(request: web.Request) -> web.StreamResponse:
    note = str(request[FORM].get("note", "")).strip() or None
    await ack_alert(request, "page", note)
    raise back_to(request, "/alerts")


# ---- buses -----------------------------------------------------------------------------------------


def svg_of(route: Route | None, fixes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The route and the track in metres on a local plane (y up), as SVG polyline points."""
    points = [(lon, lat) for lon, lat in (route.path if route else ())] + [(f["lon"], f["lat"]) for f in fixes]
    if not points:
        return None
    lat0 = sum(p[1] for p in points) / len(points)
    lon0 = sum(p[0] for p in points) / len(points)
    kx = 111_320.0 * math.cos(math.radians(lat0))

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (lon - lon0) * kx, -(lat - lat0) * 110_540.0

    corridor = route.corridor_m if route else 0.0
    all_xy = [xy(*p) for p in points]
    pad = max(corridor * 1.5, 50.0)
    x0, x1 = min(p[0] for p in all_xy) - pad, max(p[0] for p in all_xy) + pad
    y0, y1 = min(p[1] for p in all_xy) - pad, max(p[1] for p in all_xy) + pad
    size = max(x1 - x0, y1 - y0)

    def pts(seq: list[tuple[float, float]]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in seq)

    track = [xy(f["lon"], f["lat"]) for f in fixes]
    return {
        "view": f"{x0:.1f} {y0:.1f} {x1 - x0:.1f} {y1 - y0:.1f}",
        "route": pts([xy(lon, lat) for lon, lat in route.path]) if route else "",
        "corridor": 2 * corridor, "track": pts(track), "last": track[-1] if track else None,
        "start": xy(*route.path[0]) if route else None, "stroke": size / 250, "dot": size / 90,
    }


@page(("bureau", "officer"))
async def bus_page(request: web.Request) -> web.Response:
    c = context(request)
    bus = find_bus(request)
    route = c.registry.route(bus.route)
    fixes = [fix_view(f) for f in await track_of(c, bus.id, c.clock() - 3600)]
    dev = c.judge.liveness.devices.get((bus.school, DeviceKind.GPS, bus.id))
    school = c.registry.school(bus.school)
    return render(request, "bus.html", bus=bus, route=route, svg=svg_of(route, fixes), fixes=fixes[-20:][::-1],
                  gps=str(dev.state) if dev else "unknown", last_seen=dev.last_seen if dev else None,
                  school=school, refreshing=True)


# ---- tickets ---------------------------------------------------------------------------------------


@page(("maintenance", "bureau", "officer"))
async def tickets_page(request: web.Request) -> web.Response:
    c = context(request)
    principal: Principal = request[SESSION].principal
    status = request.query.get("status", "active")
    if status not in (*TICKET_STATUSES, "active", "all"):
        status = "active"
    schools = None if principal.all_schools else set(principal.schools)
    wanted = status if status in TICKET_STATUSES else None
    items = await c.db.call(list_tickets, schools, wanted, None, None)
    if status == "active":
        items = [t for t in items if t.is_open]
    names = {s.id: s.name for s in c.registry.schools}
    return render(request, "tickets.html", items=[ticket_view(t) for t in items[:500]], status=status, names=names,
                  statuses=TICKET_STATUSES, schools=[s for s in c.registry.schools if principal.sees_school(s.id)],
                  refreshing=True)


@page(("maintenance", "bureau", "officer"))
async def ticket_page(request: web.Request) -> web.Response:
    c = context(request)
    found = await c.db.call(get_ticket, request.match_info["id"])
    if found is None:
        raise HttpError(404, "no such ticket")
    ticket, notes = found
    require(request[SESSION].principal, ("maintenance", "bureau", "officer"), ticket.school)
    names = {s.id: s.name for s in c.registry.schools}
    return render(request, "ticket.html", ticket=ticket_view(ticket, notes), names=names, refreshing=True)


def _ticket_post(what: str) -> PageHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        form = request[FORM]
        data = {k: str(v) for k, v in form.items() if k in ("note", "assignee", "school", "device", "kind") and str(v).strip()}
        try:
            ticket = await ticket_action(request, what, data, "page")
        except TicketError as exc:  # pragma: no cover - ticket_action maps these
            raise HttpError(exc.status, exc.message) from None
        raise back_to(request, f"/tickets/{ticket.id}")

    handler.__name__ = f"ticket_page_{what}"
    return handler


# ---- wiring ----------------------------------------------------------------------------------------


def add_pages(web_app: web.Application) -> None:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
    )
    web_app[JINJA_KEY] = env
    web_app[SESSIONS_KEY] = Sessions()
    r = web_app.router
    r.add_get("/", root)
    r.add_get("/login", login_form)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/schools/{id}", school_page)
    r.add_get("/alerts", alerts_page)
    r.add_post("/alerts/{id}/ack", ack_page)
    r.add_get("/buses/{id}", bus_page)
    r.add_get("/tickets", tickets_page)
    r.add_get("/tickets/{id}", ticket_page)
    r.add_post("/tickets", page(("maintenance", "bureau", "officer"), post=True)(_ticket_post("open")))
    for what, roles in (("assign", ("maintenance", "bureau")), ("note", ("maintenance", "bureau", "officer")),
                        ("resolve", ("maintenance",))):
        r.add_post(f"/tickets/{{id}}/{what}", page(roles, post=True)(_ticket_post(what)))
    r.add_static("/static/", HERE / "static", append_version=True)


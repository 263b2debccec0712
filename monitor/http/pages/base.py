"""Server-rendered pages for the people who act on the monitor (aiohttp + Jinja2; every page works
without JavaScript, which adds the live press banner, its sound and the maps).

- `/login`: a token (from `campus-monitor token create`) opens a session; the cookie is HttpOnly,
  SameSite=Strict, and names a server-side session (the token never goes back to the browser).
  Sessions live in memory: a restart of the monitor asks everyone to log in again. Failed logins
  count toward the API's failed-authentication limit.
- `/` the overview (schools worst first; 本校总览 for an officer), `/schools/{id}` (also read by the
  crew) and `/schools/{id}/devices/{kind}/{id}` (availability), `/alerts` (filters, acknowledge one or
  many), `/map`, `/buses` and `/buses/{id}`, `/tickets` and `/tickets/{id}` (the crew's list: take,
  then fixed; anyone who may see a ticket may open one by hand).
- The press banner (contract §5) is on every page of the bureau and officers: rendered with the page,
  kept live by `presses.py`'s event stream. The title counts the presses; a form acknowledges them.
- Every form carries the session's CSRF token; a POST without it is refused. Pages refresh
  themselves every few seconds unless someone is typing or a press is up. Chinese by default,
  `?lang=en` switches; every text the pages show is in `TEXT`, errors included.
- The same role and school checks as the API: an officer sees its own schools only.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from multidict import MultiDictProxy

from monitor.http.actions import PRINCIPAL
from monitor.http.auth import AuthError, Principal, require
from monitor.http.context import context
from monitor.http.errors import HttpError

HERE = Path(__file__).resolve().parent  # templates/ and static/
COOKIE = "csm_session"
LANG_COOKIE = "csm_lang"
SESSION_IDLE_S = 12 * 3600.0
RECHECK_S = 0.5  # a revoked token ends its sessions within this
REFRESH_S = 5
DISPLAY_TZ = ZoneInfo("Asia/Shanghai")
JINJA_KEY = web.AppKey("jinja", jinja2.Environment)
FORM = web.RequestKey("form", MultiDictProxy)
PRESS_WATCHERS = ("bureau", "officer")  # whose pages carry the press banner (admin too)

TEXT: dict[str, tuple[str, str]] = {
    "title": ("校园安全监控", "Campus Safety Monitor"),
    "overview": ("全区总览", "District overview"), "alerts": ("告警", "Alerts"), "tickets": ("维修工单", "Repair tickets"),
    "login": ("登录", "Log in"), "logout": ("退出", "Log out"), "token": ("访问令牌", "Access token"),
    "login_help": ("请输入管理员发放的访问令牌。", "Enter the access token you were given."),
    "login_failed": ("令牌无效。", "The token is not valid."),
    "too_many": ("失败次数过多，请一分钟后再试。", "Too many failed attempts; wait a minute."),
    "stale_form": ("登录表单已过期，请重新登录。", "The login form was stale; please log in again."),
    "school": ("学校", "School"), "dark_zones": ("暗区", "Dark zones"),
    "blind_spots": ("盲区", "Blind spots"), "watch_log": ("监控使用记录", "Monitoring-use record"),
    "report": ("巡查报告", "Inspection report"), "keeper": ("记录责任人", "Keeper"),
    "passengers": ("载客", "Passengers"), "capacity": ("核载", "Capacity"), "overloaded": ("超载", "Overloaded"),
    "dead_cameras": ("离线摄像头", "Cameras down"),
    "pressed": ("一键报警", "Alarm presses"), "off_route": ("偏离路线校车", "Buses off route"),
    "firing_alerts": ("未处理告警", "Firing alerts"), "firing": ("告警中", "firing"),
    "not_resolved": ("未解除", "not resolved"), "active": ("未关闭", "not closed"), "offline": ("全校离线", "School offline"),
    "zones": ("区域", "Zones"), "zone": ("区域", "Zone"), "live": ("在线/总数", "Live/total"),
    "devices": ("设备", "Devices"), "device": ("设备", "Device"), "kind": ("类型", "Kind"),
    "state": ("状态", "State"), "last_seen": ("最后心跳", "Last seen"), "buses": ("校车", "Buses"),
    "plate": ("车牌", "Plate"), "route": ("路线", "Route"), "position": ("位置", "Position"),
    "rule": ("规则", "Rule"), "severity": ("级别", "Severity"), "summary": ("内容", "Summary"),
    "started": ("开始", "Started"), "ack": ("确认", "Acknowledge"), "acked_by": ("确认人", "Acknowledged by"),
    "all": ("全部", "All"), "status": ("状态", "Status"), "assignee": ("负责人", "Assignee"),
    "opened": ("开单时间", "Opened"), "take": ("接单", "Take"), "note": ("备注", "Note"),
    "add_note": ("添加备注", "Add note"), "resolve": ("已修复", "Resolve"), "open_ticket": ("手动开单", "Open a ticket"),
    "notes": ("记录", "Notes"), "none": ("无", "none"), "track": ("最近轨迹", "Recent track"),
    "corridor": ("偏离报警距离", "Off-route distance"), "speed_limit": ("限速", "Speed limit"), "windows": ("运营时段", "Service windows"),
    "no_position": ("暂无定位", "No position yet"), "forbidden": ("无权访问", "Not allowed"),
    "not_found": ("未找到", "Not found"), "back": ("返回", "Back"), "english": ("English", "English"),
    "chinese": ("中文", "中文"), "refresh_note": ("页面每 5 秒自动刷新", "This page refreshes every 5 s"),
    "open": ("待处理", "open"), "in_progress": ("处理中", "in progress"), "verifying": ("验证中", "verifying"),
    "closed": ("已关闭", "closed"), "up": ("在线", "up"), "down": ("离线", "down"), "faulty": ("故障", "faulty"),
    "unknown": ("未知", "unknown"), "acknowledged": ("已确认", "acknowledged"), "resolved": ("已解除", "resolved"),
    "camera": ("摄像头", "camera"), "alarm": ("一键报警器", "alarm panel"), "face": ("人脸识别终端", "face terminal"),
    "nvr": ("硬盘录像机", "recorder (NVR)"), "gps": ("车载定位", "GPS unit"), "unreachable": ("不可达", "unreachable"), "critical": ("严重", "critical"),
    "warning": ("警告", "warning"), "info": ("提示", "info"), "ok": ("正常", "OK"), "worst_first": ("最严重的排在前面", "worst first"),
    "speed": ("速度", "Speed"), "time": ("时间", "Time"), "by": ("操作人", "By"), "ticket": ("工单", "Ticket"),
    "down_since": ("离线起始", "Down since"), "reopened": ("重开次数", "Reopened"),
    "press_head": ("紧急报警：请立即处置", "Emergency: respond now"),
    "press_note": ("处置情况（可选）", "What was done (optional)"), "press_ack": ("确认已处置", "Acknowledge"),
    "sound_on": ("♪ 报警声音：开", "♪ Alarm sound on"), "sound_off": ("报警声音：关", "Alarm sound off"),
    "sound_blocked": ("点此开启报警声音", "Tap to turn the alarm sound on"),
    "sev_serious": ("严重和警告", "critical and warning"), "sev_critical": ("严重", "critical"),
    "sev_warning": ("警告", "warning"), "sev_info": ("提示", "info"), "sev_all": ("全部（含提示）", "all (with info)"),
    "filter": ("筛选", "Filter"), "count_shown": ("共 {n} 条，显示 {shown} 条", "{n} alerts, {shown} shown"),
    "ack_selected": ("确认所选", "Acknowledge selected"), "select": ("选择", "Select"),
    "role_admin": ("管理员", "administrator"), "role_bureau": ("教育局", "education bureau"),
    "role_officer": ("学校安全员", "school safety officer"), "role_maintenance": ("维修人员", "maintenance crew"),
    "err_401": ("请先登录。", "Please log in first."),
    "err_403": ("您的账号无权查看或操作此内容。", "Your account may not see or do this."),
    "err_404": ("没有找到要找的内容。", "What you asked for is not here."),
    "err_409": ("状态已变化，请刷新后再试。", "It changed meanwhile; reload and try again."),
    "err_400": ("填写的内容有误：", "Something in the form is not right: "),
    "err_csrf": ("表单已过期，请刷新页面后重试。", "The form is stale; reload the page and try again."),
    "err_500": ("服务出错，请查看监控日志。", "Internal error; see the monitor's log."),
    "act_opened": ("开单（系统）", "opened (by the rules)"), "act_opened_by_hand": ("手动开单", "opened by hand"),
    "act_assigned": ("接单", "taken"), "act_noted": ("备注", "note"), "act_resolved": ("报修复", "reported fixed"),
    "act_closed": ("验证通过，关闭", "verified and closed"), "act_reopened": ("仍未恢复，重开", "still down, reopened"),
    "system": ("系统", "system"), "my_school": ("本校总览", "My school"), "my_schools": ("本校总览", "My schools"),
    "kind_dormitory": ("宿舍", "dormitory"), "kind_canteen": ("食堂", "canteen"), "kind_gate": ("校门", "gate"),
    "kind_classroom": ("教学楼", "classroom"), "kind_playground": ("操场", "playground"), "kind_other": ("其他", "other"),
    "min_live": ("至少 {n} 路在线", "at least {n} live"), "location": ("位置", "Location"),
    "last_fix": ("最后定位", "Last fix"), "buses_page": ("校车", "Buses"), "map": ("地图", "Map"),
    "availability": ("在线记录", "Availability"), "recent_changes": ("最近的状态变化", "Recent changes"),
    "from_state": ("从", "from"), "to_state": ("变为", "to"), "gps_unit": ("车载定位", "GPS unit"),
    "school_devices": ("学校设备状态", "The school's devices"), "related_alerts": ("相关告警", "Related alerts"),
    "pick_device": ("选择设备", "Pick a device"), "ticket_no": ("工单号", "Ticket no."),
    "take_first": ("请先接单，再报修复。", "Take the ticket first, then report it fixed."),
    "in_window": ("运营中", "in service"), "off_window": ("非运营时段", "out of service"),
    "off_route_now": ("偏离路线", "off route"), "on_route": ("在路线上", "on route"), "speeding": ("超速", "speeding"),
    "no_coords": ("以下学校没有坐标（没有校车路线可推算）：", "Schools without a place (no bus route to place them by):"),
    "worst_state": ("按最严重状态着色", "coloured by worst state"), "school_ok": ("正常", "fine"),
    "school_warn": ("有告警", "alerts"), "school_bad": ("严重（报警/盲区/离线）", "critical (press, dark zone, offline)"),
    "no_tiles": ("未配置底图（[http] map_tiles），只显示路线和学校。", "No base map configured ([http] map_tiles): routes and schools only."),
    "pressed_now": ("报警中", "PRESSED"), "since": ("自", "since"), "period": ("时段", "Period"),
    "uptime": ("在线率", "Uptime"), "down_time": ("离线时长", "Down time"), "outages": ("离线次数", "Outages"),
    "last_days": ("最近 {n} 天", "last {n} days"), "went_down": ("离线", "went down"), "came_back": ("恢复", "came back"),
    "no_outages": ("没有离线记录", "no outages recorded"),
    "open_page": ("打开", "Open"), "in_service": ("运营时段", "Service"),
    "people": ("人", "people"),
    "route_start": ("起点", "start"),
    "acked_flash": ("已确认，记录已保存在告警历史中。", "Acknowledged; it stays in the alert history."),
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


SESSIONS_KEY = web.AppKey("page_sessions", Sessions)
SESSION = web.RequestKey("session", Session)


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
    principal = session.principal if session else None
    press_watch = principal is not None and principal.role in ("admin", *PRESS_WATCHERS)
    presses = ([p.view(lang) for p in context(request).presses.unacknowledged(principal.sees_school)]
               if principal is not None and press_watch else [])
    html = env.get_template(name).render(
        t=t, lang=lang, session=session, principal=principal, press_watch=press_watch, presses=presses,
        acked=bool(request.query.get("acked")), duration=lambda s: duration(s, lang),
        path=request.path_qs, quote=quote, refresh=REFRESH_S, local_time=local_time,
        static=lambda name: f"/static/{name}", request_path_lang=lambda code: with_lang(request, code), **ctx,
    )
    resp = web.Response(text=html, status=code, content_type="text/html", charset="utf-8")
    if request.query.get("lang") in ("zh", "en"):
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="Strict", path="/")
    resp.headers["X-Frame-Options"] = "DENY"
    tiles = tile_source(context(request).cfg.map_tiles)
    resp.headers["Content-Security-Policy"] = (
        f"default-src 'self'; style-src 'self'; img-src 'self' data:{' ' + tiles if tiles else ''}; frame-ancestors 'none'")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def tile_source(url: str) -> str:
    """The CSP source that admits the map tiles: scheme and host, a `{s}` label as `*`."""
    if not url:
        return ""
    parts = urlsplit(url)
    labels = parts.netloc.split(".")
    if "{" in labels[0]:
        labels[0] = "*"
    return f"{parts.scheme}://{'.'.join(labels)}"


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


def duration(seconds: float | None, lang: str) -> str:
    """A span as people say it: 3 小时 20 分 / 3 h 20 min."""
    if seconds is None:
        return "—"
    minutes = int(round(seconds / 60))
    h, m = divmod(minutes, 60)
    if lang == "en":
        return f"{h} h {m} min" if h else f"{m} min"
    return f"{h} 小时 {m} 分" if h else f"{m} 分钟"


def error_page(request: web.Request, status: int, message: str, key: str | None = None) -> web.Response:
    """An error in the reader's language: the status's own words (or `key`'s); the technical
    `message` (English) only on English pages."""
    key = key or (f"err_{status}" if f"err_{status}" in TEXT else "err_500")
    return render(request, "error.html", status, status=status, message=message, key=key)


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
                        return error_page(request, 403, "the form is stale or forged (CSRF); reload the page", "err_csrf")
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
    return web.HTTPFound(local_path(nxt, fallback))


def local_path(target: str, fallback: str = "/") -> str:
    """`target` when it is a path on this site, else `fallback`. Checked as a browser reads it:
    browsers drop tabs, CR and LF anywhere in a URL and take `\\` for `/`, so `/\t/evil.example` and
    `/\\evil.example` are `//evil.example`, another site. The normalised path is what is returned."""
    path = "".join(ch for ch in target.strip() if ch not in "\t\r\n").replace("\\", "/")
    if not path.startswith("/") or path.startswith("//") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        return fallback
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return fallback
    return path

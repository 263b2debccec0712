"""The records an inspection reads, as pages: a school's monitoring-use record (监控使用记录; an
officer of the school writes entries, the bureau and officers read) and the printable inspection
report (A4, Chinese by default)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from alerts.inspection import LOCAL, period
from monitor.http.context import context
from monitor.http.errors import HttpError
from monitor.http.pages.base import FORM, SESSION, lang_of, page, render
from monitor.http.records import (
    READERS,
    WRITERS,
    build_report,
    report_period,
    report_schools,
    school_in_scope,
    timeline_item,
    write_entry,
)
from monitor.storage.watchlog_store import timeline

PAGE_ITEMS = 1000

#: This area's words: (Chinese, English).
WORDS: dict[str, tuple[str, str]] = {
    "watch_log": ("监控使用记录", "Monitoring-use record"), "keeper": ("记录责任人", "Keeper"),
    "no_keeper": ("未指定（请在登记册中填写 keeper）", "none named (set `keeper` in the registry)"),
    "new_entry": ("新增记录", "New entry"), "what_seen": ("查看了什么、看到了什么", "What was watched and seen"),
    "zones_watched": ("查看区域", "Zones watched"), "save": ("保存记录", "Save entry"),
    "never_edited": ("记录一经保存不可修改；如需更正，请新增一条更正记录。",
                     "Entries are never edited; to correct one, add a new entry."),
    "from": ("起", "From"), "to": ("止", "To"), "show": ("查看", "Show"), "by": ("记录人", "By"),
    "what": ("事项", "What"), "time": ("时间", "Time"), "entry": ("值守记录", "keeper entry"),
    "device_down": ("设备离线", "device down"), "device_up": ("设备恢复", "device back"),
    "alarm_press": ("一键报警", "alarm press"), "alarm_tamper": ("报警器被破坏", "alarm tampered"),
    "alarm_test": ("报警测试", "alarm test"), "alarm_cancel": ("报警取消", "alarm cancelled"),
    "alert_ack": ("告警确认", "alert acknowledged"), "system": ("系统", "system"),
    "report": ("巡查报告", "Inspection report"), "print": ("打印", "Print"),
    "report_title": ("校园安全监控巡查报告", "Campus safety monitoring inspection report"),
    "period": ("报告期间", "Period"), "generated": ("生成时间", "Generated"),
    "cameras": ("摄像头数量", "Cameras"), "uptime": ("摄像头在线率", "Camera uptime"),
    "blind_hours": ("宿舍盲区时长", "Dormitory blind-spot hours"), "hours": ("小时", "h"),
    "tickets": ("维修工单", "Repair tickets"), "opened": ("新开", "opened"), "closed": ("关闭", "closed"),
    "median_repair": ("维修时长中位数", "median repair"), "presses": ("一键报警", "Alarm presses"),
    "times": ("次", "times"), "median_ack": ("确认时长中位数", "median time to acknowledge"),
    "bus_events": ("校车事件", "Bus events"), "off_route": ("偏离路线", "off route"),
    "overspeed": ("超速", "overspeed"), "overloaded": ("超载", "overloaded"),
    "watch_days": ("有值守记录的天数", "Days with a keeper entry"), "days": ("天", "days"),
    "devices": ("设备明细", "Devices"), "device": ("设备", "Device"), "kind": ("类型", "Kind"),
    "zone": ("区域", "Zone"), "location": ("位置", "Location"), "down_time": ("离线时长", "Down time"),
    "outages": ("离线次数", "Outages"), "no_dorm": ("无宿舍区域", "no dormitory zones"),
    "notes_title": ("说明", "Notes"),
    "notes": ("离线时长只计“离线”与“不可达”（录像机离线时其后的摄像头），监控平台停机期间记为“未知”，不计入；"
              "尚未恢复的离线计至报告生成时。盲区时长为宿舍区摄像头离线时长之和。日期按北京时间（Asia/Shanghai）。",
              "Down time counts only `down` and `unreachable` (behind a down NVR); time the monitor was stopped is "
              "`unknown` and not counted; an outage still open counts up to the report's time. Blind-spot hours are "
              "the dormitory cameras' down time summed. Days are in Asia/Shanghai time."),
    "signature": ("检查人（签字）：", "Inspector (signature):"), "date": ("日期：", "Date:"),
    "all_schools": ("全部学校", "every school"), "csv": ("导出 CSV", "Download CSV"), "none": ("无", "none"),
}


def words(request: web.Request) -> Any:
    index = 1 if lang_of(request) == "en" else 0

    def w(key: str) -> str:
        pair = WORDS.get(key)
        return pair[index] if pair else key

    return w


def duration(seconds: float | None) -> str:
    """Seconds as H:MM:SS (to the second)."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def day_of(raw: str | None, default: date) -> date:
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        raise HttpError(400, "from and to must be days YYYY-MM-DD") from None


# ---- the monitoring-use record ---------------------------------------------------------------------


@page(READERS)
async def watch_log_page(request: web.Request) -> web.Response:
    c = context(request)
    school, principal = school_in_scope(request, READERS)
    today = datetime.fromtimestamp(c.clock(), LOCAL).date()
    last = day_of(request.query.get("to"), today)
    first = day_of(request.query.get("from"), last - timedelta(days=6))
    start, end = period(first, max(first, last))
    items, more = await c.db.call(timeline, school.id, start, end, 0, PAGE_ITEMS)
    return render(request, "watch_log.html", school=school, items=[timeline_item(i) for i in items], more=more,
                  first=first.isoformat(), last=last.isoformat(), w=words(request),
                  can_write=principal.role in WRITERS, zone_names={z.id: z.name for z in school.zones})


@page(WRITERS, post=True)
async def watch_log_post(request: web.Request) -> web.StreamResponse:
    form = request[FORM]
    await write_entry(request, {"note": str(form.get("note", "")), "zones": [str(z) for z in form.getall("zones", [])]},
                      "page")
    raise web.HTTPFound(f"/schools/{request.match_info['id']}/watch-log")


# ---- the inspection report -------------------------------------------------------------------------


@page(READERS)
async def report_page(request: web.Request) -> web.Response:
    c = context(request)
    principal = request[SESSION].principal
    today = datetime.fromtimestamp(c.clock(), LOCAL).date()
    if not request.query.get("from") and not request.query.get("to"):
        first, last = today.replace(day=1), today
    else:
        first, last = report_period(request)
    schools = report_schools(request, principal)
    report = await build_report(c, schools, first, last)
    choices = [s for s in c.registry.schools if principal.sees_school(s.id)]
    zone_names = {(s.id, z.id): z.name for s in schools for z in s.zones}
    return render(request, "report.html", report=report, w=words(request), span=duration, choices=choices,
                  school=request.query.get("school", ""), first=first.isoformat(), last=last.isoformat(),
                  zone_names=zone_names)


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/schools/{id}/watch-log", watch_log_page)
    r.add_post("/schools/{id}/watch-log", watch_log_post)
    r.add_get("/reports/inspection", report_page)

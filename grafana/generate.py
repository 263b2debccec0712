"""Writes the Grafana dashboards in `grafana/dashboards/` (run `python grafana/generate.py` after an edit).

The dashboards are plain Grafana JSON and may be imported by hand; they are generated so that every
panel uses the provisioned datasource and the same conventions, and so that the PromQL lives in one
readable place. `tests/test_grafana_dashboards.py` fails when a JSON file differs from this script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DATASOURCE_UID = "campus-prometheus"  # grafana/provisioning/datasources/prometheus.yaml
DS = {"type": "prometheus", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39
OUT = Path(__file__).resolve().parent / "dashboards"

GREEN, YELLOW, RED, GREY, BLUE = "green", "yellow", "red", "#8e8e8e", "blue"
OK_BAD = [{"color": GREEN, "value": None}, {"color": RED, "value": 1}]
UP_DOWN_MAPPING = [{"type": "value", "options": {
    "0": {"text": "离线或未知", "color": RED, "index": 0},
    "1": {"text": "在线", "color": GREEN, "index": 1},
}}]
BUS_STATE_MAPPING = [
    {"type": "value", "options": {
        "0": {"text": "在路线上", "color": GREEN, "index": 0},
        "1": {"text": "偏离路线", "color": RED, "index": 1},
    }},
    {"type": "range", "options": {"from": 2, "to": 3, "result": {"text": "定位丢失", "color": GREY, "index": 2}}},
]
SILENT = 'state=~"down|unreachable"'  # judged silent; `unknown` (not heard since start) is kept apart


def uptime(by: str, labels: str, window: str) -> str:
    """Availability over `window`: time judged up (or faulty) over time judged at all, from the device
    counts by state (`unknown` counts neither way); no subquery, so cheap over 30 days."""
    return (f'{by} (avg_over_time(campus_devices{{{labels},state=~"up|faulty"}}[{window}]))'
            f' / {by} (avg_over_time(campus_devices{{{labels},state!="unknown"}}[{window}]))')


def named(expr: str) -> str:
    """`expr` (by school) with the school's name joined from `campus_school_info` (label `name`)."""
    return f"({expr}) * on(school) group_left(name) campus_school_info"

# A bus's state for the map: 0 on route, 1 off route, 2 or 3 GPS lost (the GPS unit's device_up is 0).
BUS_STATE = ('campus_bus_off_route{school=~"$school"} + on(school, bus) group_left() '
             '(2 * (1 - label_replace(campus_device_up{kind="gps"}, "bus", "$1", "device", "(.*)")))')


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new row."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def place(self, w: int, h: int) -> dict[str, int]:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def row(self, title: str) -> dict[str, Any]:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel = {"type": "row", "title": title, "id": self.take_id(), "collapsed": False, "panels": [],
                 "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}}
        self.y += 1
        return panel

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def target(expr: str, ref: str = "A", legend: str = "", *, instant: bool = False, table: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {"datasource": DS, "refId": ref, "expr": expr, "editorMode": "code", "range": not instant,
                         "instant": instant, "legendFormat": legend or "__auto"}
    if table:
        t["format"] = "table"
    return t


def panel(layout: Layout, kind: str, title: str, targets: list[dict[str, Any]], w: int, h: int, *,
          description: str = "", unit: str = "", thresholds: list[dict[str, Any]] | None = None,
          mappings: list[dict[str, Any]] | None = None, options: dict[str, Any] | None = None,
          overrides: list[dict[str, Any]] | None = None, transformations: list[dict[str, Any]] | None = None,
          custom: dict[str, Any] | None = None, color: dict[str, Any] | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "thresholds": {"mode": "absolute", "steps": thresholds or [{"color": GREEN, "value": None}]},
        "mappings": mappings or [],
        "color": color or {"mode": "thresholds"},
    }
    if unit:
        defaults["unit"] = unit
    if custom:
        defaults["custom"] = custom
    p: dict[str, Any] = {
        "type": kind, "title": title, "id": layout.take_id(), "gridPos": layout.place(w, h), "datasource": DS,
        "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if description:
        p["description"] = description
    if transformations:
        p["transformations"] = transformations
    return p


def stat(layout: Layout, title: str, expr: str, *, description: str = "", unit: str = "",
         thresholds: list[dict[str, Any]] | None = None, w: int = 4, h: int = 4) -> dict[str, Any]:
    return panel(layout, "stat", title, [target(expr, instant=True)], w, h, description=description, unit=unit,
                 thresholds=thresholds or OK_BAD,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": "background", "graphMode": "none", "textMode": "value",
                          "justifyMode": "center", "orientation": "auto"})


def timeseries(layout: Layout, title: str, targets: list[dict[str, Any]], *, w: int = 12, h: int = 8,
               description: str = "", unit: str = "", thresholds: list[dict[str, Any]] | None = None,
               stack: bool = False, threshold_line: bool = False) -> dict[str, Any]:
    custom: dict[str, Any] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10 if stack else 0,
                              "showPoints": "never", "spanNulls": False,
                              "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                              "thresholdsStyle": {"mode": "line" if threshold_line else "off"}}
    return panel(layout, "timeseries", title, targets, w, h, description=description, unit=unit,
                 thresholds=thresholds, custom=custom, color={"mode": "palette-classic"},
                 options={"legend": {"displayMode": "table", "placement": "right", "showLegend": True,
                                     "calcs": ["lastNotNull", "max"]},
                          "tooltip": {"mode": "multi", "sort": "desc"}})


def table(layout: Layout, title: str, targets: list[dict[str, Any]], *, w: int = 12, h: int = 10,
          description: str = "", hide: tuple[str, ...] = (), rename: dict[str, str] | None = None,
          sort_by: str = "", overrides: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An instant table; several targets are joined on their common labels."""
    transformations: list[dict[str, Any]] = [{"id": "merge", "options": {}}] if len(targets) > 1 else []
    excluded = {name: True for name in ("Time", "__name__", "job", "instance", *hide)}
    transformations.append({"id": "organize", "options": {"excludeByName": excluded, "renameByName": rename or {}}})
    options: dict[str, Any] = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"]}}
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by, "desc": True}]
    return panel(layout, "table", title, targets, w, h, description=description, transformations=transformations,
                 options=options, overrides=overrides, custom={"align": "auto", "filterable": True})


def field_override(name: str, **props: Any) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": key.replace("__", "."), "value": value} for key, value in props.items()]}


def cell(mode: str) -> dict[str, Any]:
    return {"type": mode}


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]], *,
              variables: list[dict[str, Any]] | None = None, refresh: str = "30s", time_from: str = "now-6h",
              links: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["campus-safety"],
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True, "graphTooltip": 1,
        "timezone": "browser", "refresh": refresh, "time": {"from": time_from, "to": "now"},
        "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": variables or []},
        "links": links or [{"title": "校园安全看板", "type": "dashboards", "tags": ["campus-safety"],
                            "asDropdown": True, "includeVars": True, "keepTime": True}],
        "panels": panels,
    }


def school_variable(multi: bool = False) -> dict[str, Any]:
    """Schools by name (the value is the school id), from `campus_school_info`."""
    query = "query_result(campus_school_info)"
    return {"name": "school", "label": "学校", "type": "query", "datasource": DS,
            "query": {"query": query, "refId": "school"}, "definition": query, "refresh": 2, "sort": 1,
            "multi": multi, "includeAll": multi, "allValue": ".*" if multi else None,
            "current": {}, "options": [], "hide": 0,
            "regex": '/name="(?<text>[^"]+)".*school="(?<value>[^"]+)"/',  # Prometheus sorts labels: name first
            "skipUrlSync": False}


# ---- District --------------------------------------------------------------------------------------


def district() -> dict[str, Any]:
    lay = Layout()
    cams_silent = f'sum by (school) (campus_devices{{kind="camera",{SILENT}}})'
    worst_first = [
        target(named('sum by (school) (campus_zone_dark)'), "A", instant=True, table=True),
        target(named(cams_silent), "B", instant=True, table=True),
        target(named('sum by (school) (campus_devices{kind="camera",state="unknown"})'), "F", instant=True, table=True),
        target(named('sum by (school) (campus_zone_live_cameras) / sum by (school) (campus_zone_cameras)'), "C",
               instant=True, table=True),
        target(named(f'sum by (school) (campus_devices{{kind="alarm",{SILENT}}})'), "D", instant=True, table=True),
        target(named('sum by (school) (campus_tickets_open)'), "E", instant=True, table=True),
    ]
    school_link = [{"title": "${__data.fields.name}",
                    "url": "/d/campus-school/school?var-school=${__data.fields.school}&${__url_time_range}"}]
    camera_uptime_30d = uptime("sum by (school)", 'kind="camera"', "30d")
    panels = [
        lay.row("当前"),
        stat(lay, "盲区（区域）", "sum(campus_zone_dark) or vector(0)",
             description="在线摄像头少于 min_live 的区域。"),
        stat(lay, "离线摄像头", f'sum(campus_devices{{kind="camera",{SILENT}}}) or vector(0)',
             description="判定为离线或不可达（录像机离线）的摄像头；尚未判定的（监控刚启动）另计。"),
        stat(lay, "未判定摄像头", 'sum(campus_devices{kind="camera",state="unknown"}) or vector(0)',
             description="监控启动后还没收到过心跳、也未到超时的摄像头：不是离线。",
             thresholds=[{"color": GREY, "value": None}]),
        stat(lay, "离线一键报警器", f'sum(campus_devices{{kind="alarm",{SILENT}}}) or vector(0)'),
        stat(lay, "一键报警（1 小时）",
             'sum(increase(campus_alarm_events_total{type="press"}[1h])) or vector(0)',
             description="最近一小时的一键报警（不含防拆和测试）。",
             thresholds=[{"color": GREEN, "value": None}, {"color": RED, "value": 0.5}]),
        stat(lay, "防拆报警（1 小时）",
             'sum(increase(campus_alarm_events_total{type="tamper"}[1h])) or vector(0)',
             description="最近一小时报警器被拆动的次数。",
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 0.5}]),
        stat(lay, "偏离路线校车", "sum(campus_bus_off_route) or vector(0)", w=6),
        stat(lay, "未关闭工单", "sum(campus_tickets_open) or vector(0)", w=6,
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 1}, {"color": RED, "value": 10}]),
        lay.row("各校（最严重的在前）"),
        table(lay, "有盲区或离线摄像头的学校", worst_first, w=16, h=12,
              description="每所有问题的学校，按盲区数排序；点学校名打开该校看板。",
              rename={"Value #A": "盲区", "Value #B": "离线摄像头", "Value #F": "未判定", "Value #C": "摄像头在线率",
                      "Value #D": "离线报警器", "Value #E": "未关闭工单", "name": "学校"},
              sort_by="盲区",
              overrides=[field_override("学校", links=school_link), field_override("school", custom__hidden=True),
                         field_override("摄像头在线率", unit="percentunit", decimals=0,
                                        custom__cellOptions={"type": "color-background"},
                                        thresholds={"mode": "absolute", "steps": [
                                            {"color": RED, "value": None}, {"color": YELLOW, "value": 0.8},
                                            {"color": GREEN, "value": 0.95}]}),
                         field_override("盲区", custom__cellOptions={"type": "color-background"},
                                        thresholds={"mode": "absolute", "steps": OK_BAD})]),
        panel(lay, "bargauge", "离线摄像头最多的学校（前 10）",
              [target(f"topk(10, {named(cams_silent)})", legend="{{name}}", instant=True)],
              8, 12, thresholds=[{"color": YELLOW, "value": None}, {"color": RED, "value": 3}],
              options={"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
        lay.row("近 30 天"),
        panel(lay, "bargauge", "近 30 天摄像头在线率（最低的在前）",
              [target(f"bottomk(20, {named(camera_uptime_30d)})", legend="{{name}}", instant=True)],
              12, 12, unit="percentunit",
              description="已判定时间中在线（含故障）的比例；未判定（监控刚启动）的时间不计入。",
              thresholds=[{"color": RED, "value": None}, {"color": YELLOW, "value": 0.9}, {"color": GREEN, "value": 0.98}],
              options={"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
        timeseries(lay, "全区摄像头在线率（按天）", [
            target(uptime("sum", 'kind="camera"', "1d"), legend="在线率")],
            w=12, h=12, unit="percentunit", description="每点为此前 24 小时的平均；看板时间范围可改为 30 天。"),
        lay.row("报警、校车和工单"),
        timeseries(lay, "一键报警与防拆", [
            target('sum(increase(campus_alarm_events_total{type="press"}[$__rate_interval])) or vector(0)',
                   legend="一键报警"),
            target('sum(increase(campus_alarm_events_total{type="tamper"}[$__rate_interval])) or vector(0)', "B",
                   legend="防拆")],
            w=8, stack=False, description="测试按键不计。"),
        timeseries(lay, "偏离路线校车（按学校）", [
            target(named('sum by (school) (campus_bus_off_route)') + " > 0", legend="{{name}}")], w=8, stack=True),
        timeseries(lay, "未关闭工单（按学校）", [
            target(named("sum by (school) (campus_tickets_open)") + " > 0", legend="{{name}}")], w=8, stack=True),
        table(lay, "离线设备（离线最久的在前）", [
            target('sort_desc((time() - campus_device_last_seen_timestamp_seconds)'
                   ' and on(school, kind, device) (campus_device_up == 0))'
                   ' * on(school) group_left(name) campus_school_info', instant=True, table=True)],
            w=12, h=10, rename={"Value": "已静默", "name": "学校", "device": "设备", "kind": "类型", "zone": "区域"},
            hide=("school",), sort_by="已静默",
            description="离线满 10 分钟的设备会自动开维修工单。",
            overrides=[field_override("已静默", unit="s")]),
        lay.row("告警发送"),
        timeseries(lay, "未处理告警（按规则）", [
            target("sum by (rule, severity) (campus_alerts_firing) > 0", legend="{{rule}} ({{severity}})")],
            w=12, stack=True),
        timeseries(lay, "通知（按接收方和结果）", [
            target("sum by (receiver, outcome) (increase(campus_notifications_total[$__rate_interval]))",
                   legend="{{receiver}} {{outcome}}")], w=12, stack=True,
            description="sent 已送达，retry 将重试，dead 已放弃（见发件箱）。"),
        timeseries(lay, "待发送通知", [
            target("sum by (receiver) (campus_notification_queue_depth)", legend="{{receiver}}")], w=12,
            description="等待发送的告警变化；接收方故障时会增长。"),
    ]
    return dashboard("campus-district", "校园安全：全区",
                     "全区所有学校：盲区、离线摄像头、一键报警、校车、工单和告警发送。",
                     panels)


# ---- School --------------------------------------------------------------------------------------------


def school() -> dict[str, Any]:
    lay = Layout()
    sel = 'school="$school"'
    panels = [
        lay.row("本校"),
        stat(lay, "盲区（区域）", f"sum(campus_zone_dark{{{sel}}}) or vector(0)"),
        stat(lay, "在线摄像头", f"sum(campus_zone_live_cameras{{{sel}}}) or vector(0)",
             thresholds=[{"color": BLUE, "value": None}]),
        stat(lay, "摄像头总数", f"sum(campus_zone_cameras{{{sel}}}) or vector(0)",
             thresholds=[{"color": BLUE, "value": None}]),
        stat(lay, "未判定设备", f'sum(campus_devices{{{sel},state="unknown"}}) or vector(0)',
             description="监控启动后尚未收到心跳、也未到超时：不是离线。",
             thresholds=[{"color": GREY, "value": None}]),
        stat(lay, "离线一键报警器", f'sum(campus_devices{{{sel},kind="alarm",{SILENT}}}) or vector(0)'),
        stat(lay, "未关闭工单", f"sum(campus_tickets_open{{{sel}}}) or vector(0)",
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 1}]),
        lay.row("区域"),
        table(lay, "区域：在线与总摄像头", [
            target(f"campus_zone_live_cameras{{{sel}}}", "A", instant=True, table=True),
            target(f"campus_zone_cameras{{{sel}}}", "B", instant=True, table=True),
            target(f"campus_zone_dark{{{sel}}}", "C", instant=True, table=True),
        ], w=10, h=10, hide=("school",), rename={"Value #A": "在线", "Value #B": "总数", "Value #C": "盲区",
                                                   "zone_kind": "类型", "zone": "区域"},
            sort_by="盲区",
            overrides=[field_override("盲区", mappings=[{"type": "value", "options": {
                "0": {"text": "有覆盖", "color": GREEN, "index": 0},
                "1": {"text": "盲区", "color": RED, "index": 1}}}],
                custom__cellOptions={"type": "color-background"})]),
        timeseries(lay, "各区域在线摄像头", [
            target(f"campus_zone_live_cameras{{{sel}}}", legend="{{zone}}")], w=14, h=10),
        lay.row("设备"),
        table(lay, "设备：状态与最后心跳", [
            target(f"campus_device_up{{{sel}}}", "A", instant=True, table=True),
            target(f"campus_device_last_seen_timestamp_seconds{{{sel}}} * 1000", "B", instant=True, table=True),
        ], w=14, h=14, hide=("school",),
            rename={"Value #A": "状态", "Value #B": "最后心跳", "device": "设备", "kind": "类型", "zone": "区域"},
            description="离线或未知：判定离线，或监控启动后尚未收到。",
            overrides=[field_override("状态", mappings=UP_DOWN_MAPPING,
                                      custom__cellOptions={"type": "color-background"}),
                       field_override("最后心跳", unit="dateTimeFromNow")]),
        panel(lay, "state-timeline", "一键报警器", [
            target(f'campus_device_up{{{sel},kind="alarm"}}', legend="{{device}}")], 10, 7,
            mappings=UP_DOWN_MAPPING, thresholds=OK_BAD,
            options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                     "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"}}),
        timeseries(lay, "一键报警与防拆", [
            target('label_replace(label_replace(sum by (device, type) (increase(campus_alarm_events_total'
                   f'{{{sel},type=~"press|tamper"}}[$__rate_interval])), "type", "一键报警", "type", "press"),'
                   ' "type", "防拆", "type", "tamper")', legend="{{device}} {{type}}")], w=10, h=7, stack=True),
        lay.row("近 30 天"),
        timeseries(lay, "近 30 天摄像头在线率", [
            target(uptime("sum", f'{sel},kind="camera"', "1d"), legend="在线率")],
            w=24, h=8, unit="percentunit", description="每点为此前 24 小时的平均，未判定时间不计；时间范围选 30 天。"),
        lay.row("校车"),
        table(lay, "本校校车", [
            target(f"campus_bus_off_route{{{sel}}}", "A", instant=True, table=True),
            target(f"campus_bus_route_distance_meters{{{sel}}}", "B", instant=True, table=True),
            target(f"campus_bus_speed_kmh{{{sel}}}", "C", instant=True, table=True),
            target(f"campus_bus_speed_limit_kmh{{{sel}}}", "D", instant=True, table=True),
        ], w=12, h=8, hide=("school",),
            rename={"Value #A": "路线", "Value #B": "离路线", "Value #C": "车速", "Value #D": "限速", "bus": "校车",
                    "route": "线路"},
            overrides=[field_override("路线", mappings=BUS_STATE_MAPPING,
                                      custom__cellOptions={"type": "color-background"}),
                       field_override("离路线", unit="lengthm"), field_override("车速", unit="velocitykmh"),
                       field_override("限速", unit="velocitykmh")]),
        timeseries(lay, "车速占本线路限速的比例", [
            target(f"campus_bus_speed_kmh{{{sel}}} / campus_bus_speed_limit_kmh{{{sel}}}", legend="{{bus}}")],
            w=12, h=8, unit="percentunit", threshold_line=True,
            thresholds=[{"color": GREEN, "value": None}, {"color": RED, "value": 1}],
            description="100% 即该线路自己的限速（speed_limit_kmh）。"),
    ]
    return dashboard("campus-school", "校园安全：学校",
                     "一所学校：各区域在线与总摄像头、每台设备、一键报警器和校车。",
                     panels, variables=[school_variable()])


# ---- Buses ----------------------------------------------------------------------------------------------


def buses() -> dict[str, Any]:
    lay = Layout()
    sel = 'school=~"$school"'
    geomap_targets = [
        target(f"campus_bus_latitude{{{sel}}}", "A", instant=True, table=True),
        target(f"campus_bus_longitude{{{sel}}}", "B", instant=True, table=True),
        target(BUS_STATE, "C", instant=True, table=True),
        target(f"campus_bus_speed_kmh{{{sel}}}", "D", instant=True, table=True),
    ]
    marker_layer = {
        "type": "markers", "name": "校车", "tooltip": True,
        "location": {"mode": "coords", "latitude": "latitude", "longitude": "longitude"},
        "config": {"showLegend": True,
                   "style": {"size": {"fixed": 6}, "color": {"field": "state", "fixed": GREEN},
                             "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
                             "opacity": 0.9,
                             "text": {"mode": "field", "field": "bus", "fixed": ""},
                             "textConfig": {"fontSize": 10, "offsetY": -10, "textAlign": "center",
                                            "textBaseline": "bottom"}}},
    }
    over_corridor = (f"campus_bus_route_distance_meters{{{sel}}} / on(school, bus, route)"
                     f" campus_bus_corridor_meters{{{sel}}}")
    over_limit = f"campus_bus_speed_kmh{{{sel}}} / on(school, bus, route) campus_bus_speed_limit_kmh{{{sel}}}"
    panels = [
        panel(lay, "geomap", "校车位置", geomap_targets, 24, 14,
              description="绿色在路线上，红色偏离路线，灰色定位丢失（最后位置）。",
              transformations=[{"id": "merge", "options": {}},
                               {"id": "organize", "options": {
                                   "excludeByName": {"Time": True},
                                   "renameByName": {"Value #A": "latitude", "Value #B": "longitude",
                                                    "Value #C": "state", "Value #D": "speed"}}}],
              mappings=BUS_STATE_MAPPING,
              thresholds=[{"color": GREEN, "value": None}, {"color": RED, "value": 1}, {"color": GREY, "value": 2}],
              overrides=[field_override("speed", unit="velocitykmh")],
              options={"view": {"id": "coords", "lat": 27.34, "lon": 103.72, "zoom": 11, "allLayers": True},
                       "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True,
                                    "showScale": True},
                       "basemap": {"type": "default", "name": "Basemap"},
                       "layers": [marker_layer], "tooltip": {"mode": "details"}}),
        stat(lay, "偏离路线校车", f"sum(campus_bus_off_route{{{sel}}}) or vector(0)", w=6),
        stat(lay, "定位丢失校车", f'count(campus_device_up{{kind="gps",{sel}}} == 0) or vector(0)', w=6,
             description="在定位超时内没有收到（运营时段外停放的校车可能不发定位）。"),
        stat(lay, "超速告警", 'sum(campus_alerts_firing{rule="bus_overspeed"}) or vector(0)', w=6),
        stat(lay, "最接近限速的校车", f"max({over_limit}) or vector(0)", w=6, unit="percentunit",
             description="车速占本线路限速的比例，取最高者。",
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 0.85}, {"color": RED, "value": 1}]),
        timeseries(lay, "离路线距离占本线路偏离报警距离的比例", [
            target(over_corridor, legend="{{bus}}（{{route}}）")],
            unit="percentunit", threshold_line=True,
            thresholds=[{"color": GREEN, "value": None}, {"color": RED, "value": 1}],
            description="100% 即该线路自己的 corridor_m：超过即偏离路线。"),
        timeseries(lay, "车速占本线路限速的比例", [
            target(over_limit, legend="{{bus}}（{{route}}）")],
            unit="percentunit", threshold_line=True,
            thresholds=[{"color": GREEN, "value": None}, {"color": RED, "value": 1}],
            description="100% 即该线路自己的 speed_limit_kmh。"),
        table(lay, "校车（离路线最远的在前）", [
            target(f"campus_bus_route_distance_meters{{{sel}}}", "A", instant=True, table=True),
            target(f"campus_bus_speed_kmh{{{sel}}}", "B", instant=True, table=True),
            target(BUS_STATE, "C", instant=True, table=True),
            target(f"campus_bus_speed_limit_kmh{{{sel}}}", "D", instant=True, table=True),
            target(f"campus_bus_corridor_meters{{{sel}}}", "E", instant=True, table=True),
        ], w=24, h=10, rename={"Value #A": "离路线", "Value #B": "车速", "Value #C": "状态", "Value #D": "限速",
                               "Value #E": "偏离报警距离", "bus": "校车", "route": "线路", "school": "学校"},
            sort_by="离路线",
            overrides=[field_override("离路线", unit="lengthm"), field_override("车速", unit="velocitykmh"),
                       field_override("限速", unit="velocitykmh"), field_override("偏离报警距离", unit="lengthm"),
                       field_override("状态", mappings=BUS_STATE_MAPPING,
                                      custom__cellOptions={"type": "color-background"})]),
    ]
    return dashboard("campus-buses", "校园安全：校车",
                     "校车：位置、离路线多远、车速与本线路限速。",
                     panels, variables=[school_variable(multi=True)], refresh="10s", time_from="now-1h")


# ---- Monitor health ---------------------------------------------------------------------------------------


def health() -> dict[str, Any]:
    lay = Layout()
    job = 'job="campus-monitor"'
    panels = [
        stat(lay, "监控被采集", f"up{{{job}}}", w=4,
             thresholds=[{"color": RED, "value": None}, {"color": GREEN, "value": 1}],
             description="Prometheus 能访问监控的 /metrics 时为 1。"),
        stat(lay, "已连接消息服务器", "campus_mqtt_connected", w=4,
             thresholds=[{"color": RED, "value": None}, {"color": GREEN, "value": 1}]),
        stat(lay, "最新消息距今", "time() - max(campus_device_last_seen_timestamp_seconds)", w=4, unit="s",
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 30}, {"color": RED, "value": 120}],
             description="接收延迟：距监控最后一次收到任何设备消息的秒数。"),
        stat(lay, "每秒接收消息", 'sum(rate(campus_messages_total{outcome="accepted"}[5m])) or vector(0)',
             w=4, unit="reqps", thresholds=[{"color": RED, "value": None}, {"color": GREEN, "value": 0.01}]),
        stat(lay, "待发送通知", "sum(campus_notification_queue_depth) or vector(0)", w=4,
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 10}, {"color": RED, "value": 100}]),
        stat(lay, "发送失败（24 小时）",
             'sum(increase(campus_notifications_total{outcome="dead"}[24h])) or vector(0)', w=4,
             thresholds=[{"color": GREEN, "value": None}, {"color": RED, "value": 0.5}]),
        timeseries(lay, "消息（按结果）", [
            target("sum by (outcome) (rate(campus_messages_total[$__rate_interval]))", legend="{{outcome}}")],
            unit="reqps", stack=True,
            description="accepted 接收，invalid 格式错误，unknown_device 未登记设备，duplicate 重复。"),
        timeseries(lay, "消息（按设备类型）", [
            target("sum by (kind) (rate(campus_messages_total[$__rate_interval]))", legend="{{kind}}")],
            unit="reqps", stack=True),
        timeseries(lay, "消息服务器连接", [target("campus_mqtt_connected", legend="已连接")], w=8,
                   thresholds=[{"color": RED, "value": None}, {"color": GREEN, "value": 1}]),
        timeseries(lay, "接收延迟（最新消息距今）", [
            target("time() - max(campus_device_last_seen_timestamp_seconds)", legend="距今")], w=8, unit="s"),
        timeseries(lay, "待发送通知（按接收方）", [
            target("sum by (receiver) (campus_notification_queue_depth)", legend="{{receiver}}")], w=8),
        timeseries(lay, "通知（按结果）", [
            target("sum by (outcome) (increase(campus_notifications_total[$__rate_interval]))",
                   legend="{{outcome}}")], w=8, stack=True),
        timeseries(lay, "采集规模", [
            target(f"scrape_samples_scraped{{{job}}}", legend="序列数")], w=8,
            description="一次采集 /metrics 的序列数，随登记设备增长。"),
        timeseries(lay, "采集耗时", [
            target(f"scrape_duration_seconds{{{job}}}", legend="耗时")], w=8, unit="s"),
        timeseries(lay, "设备（按状态）", [
            target(f'sum by (kind) (campus_devices{{{SILENT}}})', legend="{{kind}} 离线"),
            target('sum by (kind) (campus_devices{state="unknown"})', "B", legend="{{kind}} 未判定"),
            target('sum by (kind) (campus_devices{state=~"up|faulty"})', "C", legend="{{kind}} 在线")], w=24, stack=False),
    ]
    return dashboard("campus-monitor-health", "校园安全：监控自身",
                     "监控本身是否看得见全区：消息、消息服务器连接、接收延迟、告警发件箱。",
                     panels, time_from="now-3h")


DASHBOARDS = {"district.json": district, "school.json": school, "buses.json": buses, "monitor-health.json": health}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

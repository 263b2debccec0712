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
    "0": {"text": "down / unknown", "color": RED, "index": 0},
    "1": {"text": "up", "color": GREEN, "index": 1},
}}]
BUS_STATE_MAPPING = [
    {"type": "value", "options": {
        "0": {"text": "on route", "color": GREEN, "index": 0},
        "1": {"text": "off route", "color": RED, "index": 1},
    }},
    {"type": "range", "options": {"from": 2, "to": 3, "result": {"text": "GPS lost", "color": GREY, "index": 2}}},
]

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
        "links": links or [{"title": "Campus dashboards", "type": "dashboards", "tags": ["campus-safety"],
                            "asDropdown": True, "includeVars": True, "keepTime": True}],
        "panels": panels,
    }


def school_variable(multi: bool = False) -> dict[str, Any]:
    query = "label_values(campus_device_up, school)"
    return {"name": "school", "label": "School", "type": "query", "datasource": DS,
            "query": {"query": query, "refId": "school"}, "definition": query, "refresh": 2, "sort": 1,
            "multi": multi, "includeAll": multi, "allValue": ".*" if multi else None,
            "current": {}, "options": [], "hide": 0, "regex": "", "skipUrlSync": False}


# ---- District --------------------------------------------------------------------------------------


def district() -> dict[str, Any]:
    lay = Layout()
    worst_first = [
        target('sum by (school) (campus_zone_dark)', "A", instant=True, table=True),
        target('count by (school) (campus_device_up{kind="camera"} == 0)', "B", instant=True, table=True),
        target('sum by (school) (campus_zone_live_cameras) / sum by (school) (campus_zone_cameras)', "C",
               instant=True, table=True),
        target('count by (school) (campus_device_up{kind="alarm"} == 0)', "D", instant=True, table=True),
        target('campus_tickets_open', "E", instant=True, table=True),
    ]
    school_link = [{"title": "School ${__data.fields.school}",
                    "url": "/d/campus-school/school?var-school=${__data.fields.school}&${__url_time_range}"}]
    panels = [
        lay.row("Now"),
        stat(lay, "Dark zones", "sum(campus_zone_dark) or vector(0)",
             description="Zones with fewer live cameras than their min_live."),
        stat(lay, "Cameras down", 'count(campus_device_up{kind="camera"} == 0) or vector(0)',
             description="Cameras down or not heard since the monitor started."),
        stat(lay, "Alarm panels down", 'count(campus_device_up{kind="alarm"} == 0) or vector(0)'),
        stat(lay, "Alarms pressed (1 h)",
             'sum(increase(campus_alarm_events_total{type=~"press|tamper"}[1h])) or vector(0)',
             description="Press and tamper events stored in the last hour.",
             thresholds=[{"color": GREEN, "value": None}, {"color": RED, "value": 0.5}]),
        stat(lay, "Buses off route", "sum(campus_bus_off_route) or vector(0)"),
        stat(lay, "Open tickets", "sum(campus_tickets_open) or vector(0)",
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 1}, {"color": RED, "value": 10}]),
        lay.row("Schools, worst first"),
        table(lay, "Schools with dark zones and dead cameras", worst_first, w=16, h=12,
              description="Every school with a problem; sorted by dark zones. Click a school for its dashboard.",
              rename={"Value #A": "dark zones", "Value #B": "cameras down", "Value #C": "cameras live",
                      "Value #D": "alarm panels down", "Value #E": "open tickets"},
              sort_by="dark zones",
              overrides=[field_override("school", links=school_link),
                         field_override("cameras live", unit="percentunit", decimals=0,
                                        custom__cellOptions={"type": "color-background"},
                                        thresholds={"mode": "absolute", "steps": [
                                            {"color": RED, "value": None}, {"color": YELLOW, "value": 0.8},
                                            {"color": GREEN, "value": 0.95}]}),
                         field_override("dark zones", custom__cellOptions={"type": "color-background"},
                                        thresholds={"mode": "absolute", "steps": OK_BAD})]),
        panel(lay, "bargauge", "Dead cameras by school (top 10)",
              [target('topk(10, count by (school) (campus_device_up{kind="camera"} == 0))', legend="{{school}}",
                      instant=True)],
              8, 12, thresholds=[{"color": YELLOW, "value": None}, {"color": RED, "value": 3}],
              options={"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
        lay.row("Alarms, buses and tickets"),
        timeseries(lay, "Alarm panel events", [
            target('sum by (type) (increase(campus_alarm_events_total[$__rate_interval]))', legend="{{type}}")],
            w=8, stack=True, description="Press, tamper, test and cancel events across the district."),
        timeseries(lay, "Buses off route", [
            target('sum by (school) (campus_bus_off_route) > 0', legend="{{school}}")], w=8, stack=True),
        timeseries(lay, "Open tickets by school", [
            target("campus_tickets_open > 0", legend="{{school}}")], w=8, stack=True),
        table(lay, "Down devices, longest silent first", [
            target('sort_desc((time() - campus_device_last_seen_timestamp_seconds)'
                   ' and on(school, kind, device) (campus_device_up == 0))', instant=True, table=True)],
            w=12, h=10, rename={"Value": "silent for"}, sort_by="silent for",
            description="A device down for 10 minutes has a repair ticket; its silence is the ticket's age plus "
                        "the 10 minutes.",
            overrides=[field_override("silent for", unit="s")]),
        lay.row("Alert delivery"),
        timeseries(lay, "Firing alerts by rule", [
            target("sum by (rule, severity) (campus_alerts_firing) > 0", legend="{{rule}} ({{severity}})")],
            w=12, stack=True),
        timeseries(lay, "Notifications by receiver and outcome", [
            target("sum by (receiver, outcome) (increase(campus_notifications_total[$__rate_interval]))",
                   legend="{{receiver}} {{outcome}}")], w=12, stack=True,
            description="sent, retry (will be tried again) and dead (given up; see the outbox)."),
        timeseries(lay, "Notification queue depth", [
            target("sum by (receiver) (campus_notification_queue_depth)", legend="{{receiver}}")], w=12,
            description="Alert changes waiting for a receiver; a receiver that is down makes it grow."),
    ]
    return dashboard("campus-district", "Campus safety: district",
                     "Every school at once: dark zones, dead cameras, alarm presses, buses, tickets and alert delivery.",
                     panels)


# ---- School --------------------------------------------------------------------------------------------


def school() -> dict[str, Any]:
    lay = Layout()
    sel = 'school="$school"'
    panels = [
        lay.row("$school"),
        stat(lay, "Dark zones", f"sum(campus_zone_dark{{{sel}}}) or vector(0)"),
        stat(lay, "Live cameras", f"sum(campus_zone_live_cameras{{{sel}}}) or vector(0)",
             thresholds=[{"color": BLUE, "value": None}]),
        stat(lay, "Cameras", f"sum(campus_zone_cameras{{{sel}}}) or vector(0)",
             thresholds=[{"color": BLUE, "value": None}]),
        stat(lay, "Alarm panels down", f'count(campus_device_up{{{sel},kind="alarm"}} == 0) or vector(0)'),
        stat(lay, "Buses off route", f"sum(campus_bus_off_route{{{sel}}}) or vector(0)"),
        stat(lay, "Open tickets", f"sum(campus_tickets_open{{{sel}}}) or vector(0)",
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 1}]),
        lay.row("Zones"),
        table(lay, "Zones: live and total cameras", [
            target(f"campus_zone_live_cameras{{{sel}}}", "A", instant=True, table=True),
            target(f"campus_zone_cameras{{{sel}}}", "B", instant=True, table=True),
            target(f"campus_zone_dark{{{sel}}}", "C", instant=True, table=True),
        ], w=10, h=10, hide=("school",), rename={"Value #A": "live", "Value #B": "cameras", "Value #C": "dark",
                                                   "zone_kind": "kind"},
            sort_by="dark",
            overrides=[field_override("dark", mappings=[{"type": "value", "options": {
                "0": {"text": "covered", "color": GREEN, "index": 0},
                "1": {"text": "DARK", "color": RED, "index": 1}}}],
                custom__cellOptions={"type": "color-background"})]),
        timeseries(lay, "Live cameras by zone", [
            target(f"campus_zone_live_cameras{{{sel}}}", legend="{{zone}}")], w=14, h=10),
        lay.row("Devices"),
        table(lay, "Devices: state and last seen", [
            target(f"campus_device_up{{{sel}}}", "A", instant=True, table=True),
            target(f"campus_device_last_seen_timestamp_seconds{{{sel}}} * 1000", "B", instant=True, table=True),
        ], w=14, h=14, hide=("school",), rename={"Value #A": "state", "Value #B": "last seen"},
            description="down / unknown: down, or not heard since the monitor started.",
            overrides=[field_override("state", mappings=UP_DOWN_MAPPING,
                                      custom__cellOptions={"type": "color-background"}),
                       field_override("last seen", unit="dateTimeFromNow")]),
        panel(lay, "state-timeline", "Alarm panels", [
            target(f'campus_device_up{{{sel},kind="alarm"}}', legend="{{device}}")], 10, 7,
            mappings=UP_DOWN_MAPPING, thresholds=OK_BAD,
            options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                     "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"}}),
        timeseries(lay, "Alarm events", [
            target(f"sum by (device, type) (increase(campus_alarm_events_total{{{sel}}}[$__rate_interval]))",
                   legend="{{device}} {{type}}")], w=10, h=7, stack=True),
        lay.row("Buses"),
        table(lay, "The school's buses", [
            target(f"campus_bus_off_route{{{sel}}}", "A", instant=True, table=True),
            target(f"campus_bus_route_distance_meters{{{sel}}}", "B", instant=True, table=True),
            target(f"campus_bus_speed_kmh{{{sel}}}", "C", instant=True, table=True),
        ], w=12, h=8, hide=("school",),
            rename={"Value #A": "off route", "Value #B": "from route", "Value #C": "speed"},
            overrides=[field_override("off route", mappings=BUS_STATE_MAPPING,
                                      custom__cellOptions={"type": "color-background"}),
                       field_override("from route", unit="lengthm"), field_override("speed", unit="velocitykmh")]),
        timeseries(lay, "Bus speed", [
            target(f"campus_bus_speed_kmh{{{sel}}}", legend="{{bus}}")], w=12, h=8, unit="velocitykmh"),
    ]
    return dashboard("campus-school", "Campus safety: school",
                     "One school: its zones with live and total cameras, every device, alarm panels and buses.",
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
        "type": "markers", "name": "Buses", "tooltip": True,
        "location": {"mode": "coords", "latitude": "latitude", "longitude": "longitude"},
        "config": {"showLegend": True,
                   "style": {"size": {"fixed": 6}, "color": {"field": "state", "fixed": GREEN},
                             "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
                             "opacity": 0.9,
                             "text": {"mode": "field", "field": "bus", "fixed": ""},
                             "textConfig": {"fontSize": 10, "offsetY": -10, "textAlign": "center",
                                            "textBaseline": "bottom"}}},
    }
    panels = [
        panel(lay, "geomap", "Bus positions", geomap_targets, 24, 14,
              description="Green on route, red off route, grey GPS lost (last known position).",
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
        stat(lay, "Buses off route", f"sum(campus_bus_off_route{{{sel}}}) or vector(0)", w=6),
        stat(lay, "Buses with GPS lost", f'count(campus_device_up{{kind="gps",{sel}}} == 0) or vector(0)', w=6,
             description="Not heard within the GPS timeout (outside service windows a parked bus may be silent)."),
        stat(lay, "Overspeed alerts", 'sum(campus_alerts_firing{rule="bus_overspeed"}) or vector(0)', w=6),
        stat(lay, "Fastest bus", f"max(campus_bus_speed_kmh{{{sel}}}) or vector(0)", w=6, unit="velocitykmh",
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 50}, {"color": RED, "value": 60}]),
        timeseries(lay, "Distance from route", [
            target(f"campus_bus_route_distance_meters{{{sel}}}", legend="{{bus}} ({{route}})")],
            unit="lengthm", threshold_line=True,
            thresholds=[{"color": GREEN, "value": None}, {"color": RED, "value": 150}],
            description="The red line is the default 150 m corridor; a route may set its own corridor_m."),
        timeseries(lay, "Speed against the limit", [
            target(f"campus_bus_speed_kmh{{{sel}}}", legend="{{bus}} ({{route}})")],
            unit="velocitykmh", threshold_line=True,
            thresholds=[{"color": GREEN, "value": None}, {"color": RED, "value": 60}],
            description="The red line is the default 60 km/h limit; a route may set its own speed_limit_kmh."),
        table(lay, "Buses, farthest from route first", [
            target(f"campus_bus_route_distance_meters{{{sel}}}", "A", instant=True, table=True),
            target(f"campus_bus_speed_kmh{{{sel}}}", "B", instant=True, table=True),
            target(BUS_STATE, "C", instant=True, table=True),
        ], w=24, h=10, rename={"Value #A": "from route", "Value #B": "speed", "Value #C": "state"},
            sort_by="from route",
            overrides=[field_override("from route", unit="lengthm"), field_override("speed", unit="velocitykmh"),
                       field_override("state", mappings=BUS_STATE_MAPPING,
                                      custom__cellOptions={"type": "color-background"})]),
    ]
    return dashboard("campus-buses", "Campus safety: buses",
                     "School buses: where they are, how far from their route, how fast.",
                     panels, variables=[school_variable(multi=True)], refresh="10s", time_from="now-1h")


# ---- Monitor health ---------------------------------------------------------------------------------------


def health() -> dict[str, Any]:
    lay = Layout()
    job = 'job="campus-monitor"'
    panels = [
        stat(lay, "Monitor scraped", f"up{{{job}}}", w=4,
             thresholds=[{"color": RED, "value": None}, {"color": GREEN, "value": 1}],
             description="1 when Prometheus reaches the monitor's /metrics."),
        stat(lay, "Broker connected", "campus_mqtt_connected", w=4,
             thresholds=[{"color": RED, "value": None}, {"color": GREEN, "value": 1}]),
        stat(lay, "Newest message age", "time() - max(campus_device_last_seen_timestamp_seconds)", w=4, unit="s",
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 30}, {"color": RED, "value": 120}],
             description="Ingest lag: seconds since the monitor last heard any device."),
        stat(lay, "Messages accepted / s", 'sum(rate(campus_messages_total{outcome="accepted"}[5m])) or vector(0)',
             w=4, unit="reqps", thresholds=[{"color": RED, "value": None}, {"color": GREEN, "value": 0.01}]),
        stat(lay, "Outbox depth", "sum(campus_notification_queue_depth) or vector(0)", w=4,
             thresholds=[{"color": GREEN, "value": None}, {"color": YELLOW, "value": 10}, {"color": RED, "value": 100}]),
        stat(lay, "Dead letters (24 h)",
             'sum(increase(campus_notifications_total{outcome="dead"}[24h])) or vector(0)', w=4,
             thresholds=[{"color": GREEN, "value": None}, {"color": RED, "value": 0.5}]),
        timeseries(lay, "Messages by outcome", [
            target("sum by (outcome) (rate(campus_messages_total[$__rate_interval]))", legend="{{outcome}}")],
            unit="reqps", stack=True,
            description="accepted, invalid (bad JSON, types, size, ts), unknown_device, duplicate."),
        timeseries(lay, "Messages by device kind", [
            target("sum by (kind) (rate(campus_messages_total[$__rate_interval]))", legend="{{kind}}")],
            unit="reqps", stack=True),
        timeseries(lay, "Broker connection", [target("campus_mqtt_connected", legend="connected")], w=8,
                   thresholds=[{"color": RED, "value": None}, {"color": GREEN, "value": 1}]),
        timeseries(lay, "Ingest lag (newest message age)", [
            target("time() - max(campus_device_last_seen_timestamp_seconds)", legend="age")], w=8, unit="s"),
        timeseries(lay, "Outbox depth by receiver", [
            target("sum by (receiver) (campus_notification_queue_depth)", legend="{{receiver}}")], w=8),
        timeseries(lay, "Notifications by outcome", [
            target("sum by (outcome) (increase(campus_notifications_total[$__rate_interval]))",
                   legend="{{outcome}}")], w=8, stack=True),
        timeseries(lay, "Scrape size", [
            target(f"scrape_samples_scraped{{{job}}}", legend="samples")], w=8,
            description="Series in one scrape of /metrics; grows with the registry."),
        timeseries(lay, "Scrape duration", [
            target(f"scrape_duration_seconds{{{job}}}", legend="duration")], w=8, unit="s"),
        timeseries(lay, "Devices by state", [
            target('count by (kind) (campus_device_up == 0)', legend="{{kind}} down/unknown"),
            target('count by (kind) (campus_device_up == 1)', "B", legend="{{kind}} up")], w=24, stack=False),
    ]
    return dashboard("campus-monitor-health", "Campus safety: monitor health",
                     "Is the monitor itself seeing the district? Messages, broker link, ingest lag, alert outbox.",
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

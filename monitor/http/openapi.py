"""The OpenAPI 3 document of the HTTP API, served at `/api/v1/openapi.json`.

Written by hand next to the routes (`monitor.http.server`, `monitor.http.api.legacy`); `tests/integration/test_api.py`
checks that every route is in it and runs schemathesis against the live server with it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from alerts.model import AlertState
from alerts.tickets import TicketStatus
from devices.events import Severity
from devices.liveness import State
from devices.model import DeviceKind

#: Every enumeration the API shows, derived from its enum (never typed out again here).
KINDS = [str(k) for k in DeviceKind]
STATES = [str(s) for s in State]
ALERT_STATES = [str(s) for s in AlertState]
TICKET_STATUSES = [str(s) for s in TicketStatus]
SEVERITIES = [str(s) for s in Severity]

NULL_STR = {"type": ["string", "null"]}
TIME = {"type": ["string", "null"], "description": "RFC 3339, UTC"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _list_of(name: str) -> dict[str, Any]:
    return {
        "type": "object", "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": _ref(name)}, "next": NULL_STR},
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERR = _json(_ref("Error"), "error")


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): ERR for c in codes}


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _path_id(description: str = "registry or record id") -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


PAGING = [
    _q("limit", "page size (1-5000, default 500)", {"type": "integer", "minimum": 1, "maximum": 5000}),
    _q("cursor", "the `next` of the previous page", {"type": "string", "pattern": "^[0-9]{1,9}$"}),
]
SCHOOL = _q("school", "one school's id (officers: one of the token's schools)")


def _op(summary: str, roles: str, responses: dict[str, Any], params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None, secured: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "description": f"Who: {roles}.", "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    op["security"] = [{"bearer": []}] if secured else []
    return op


def _read(schema: dict[str, Any], *codes: int) -> dict[str, Any]:
    return {"200": _json(schema), **_errors(400, 401, 403, 404, 429, *codes)}


def _write(schema: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {str(status): _json(schema), **_errors(400, 401, 403, 404, 409, 429, 503)}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["status", "message"],
                                 "properties": {"status": {"type": "integer"}, "message": {"type": "string"}}}},
    },
    "Device": {
        "type": "object", "required": ["id", "school", "kind", "state", "last_seen"],
        "properties": {
            "id": {"type": "string"}, "school": {"type": "string"},
            "kind": {"type": "string", "enum": KINDS}, "zone": NULL_STR,
            "state": {"type": "string", "enum": STATES},
            "last_seen": TIME, "last_seen_ts": {"type": ["number", "null"]}, "since": TIME, "reason": NULL_STR,
        },
    },
    "Zone": {
        "type": "object", "required": ["id", "cameras", "live", "dark"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string"},
                       "min_live": {"type": "integer"}, "cameras": {"type": "integer"}, "live": {"type": "integer"},
                       "dark": {"type": "boolean"},
                       "blind_spots": {"type": "integer", "description": "cameras down or unreachable, in a dormitory"}},
    },
    "Bus": {
        "type": "object", "required": ["id", "plate", "route", "gps"],
        "properties": {"id": {"type": "string"}, "plate": {"type": "string"}, "school": {"type": "string"},
                       "route": {"type": "string"}, "capacity": {"type": ["integer", "null"]},
                       "gps": {"type": "string"}, "last_seen": TIME,
                       "position": {"type": ["object", "null"]},
                       "off_route": {"type": "boolean", "description": "off its route inside a service window"},
                       "distance_m": {"type": ["number", "null"], "description": "distance from the route line"},
                       "speed_kmh": {"type": ["number", "null"], "description": "reported, else derived"},
                       "detour": {**NULL_STR, "description": "reason of the declared detour it is on"},
                       "passengers": {"type": ["integer", "null"], "description": "last count reported"},
                       "overloaded": {"type": "boolean", "description": "bus_overloaded is on"}},
    },
    "Detour": {
        "type": "object", "required": ["id", "bus", "school", "start", "end", "reason", "active"],
        "properties": {"id": {"type": "string"}, "bus": {"type": "string"}, "school": {"type": "string"},
                       "start": TIME, "end": TIME, "reason": {"type": "string"}, "created_by": {"type": "string"},
                       "created_at": TIME, "active": {"type": "boolean"}},
    },
    "BusDetail": {"allOf": [_ref("Bus"), {"type": "object", "properties": {"route_detail": {"type": ["object", "null"]}}}]},
    "School": {
        "type": "object", "required": ["id", "name", "zones", "devices", "buses"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "offline": {"type": "boolean"},
                       "keeper": {**NULL_STR, "description": "who keeps the monitoring-use record"},
                       "blind_spots": {"type": "integer", "description": "dormitory cameras down or unreachable"},
                       "zones": {"type": "array", "items": _ref("Zone")},
                       "devices": {"type": "array", "items": _ref("Device")},
                       "buses": {"type": "array", "items": _ref("Bus")}},
    },
    "Alert": {
        "type": "object", "required": ["id", "rule", "severity", "state", "school", "subject", "started_at"],
        "properties": {
            "id": {"type": "string"}, "rule": {"type": "string"},
            "severity": {"type": "string"}, "state": {"type": "string", "enum": ALERT_STATES},
            "school": {"type": "string"}, "subject": {"type": "string"}, "zone": NULL_STR, "summary": {"type": "string"},
            "summaries": {"type": "object"}, "started_at": TIME, "updated_at": TIME, "acked_by": NULL_STR,
            "acked_at": TIME, "note": NULL_STR, "escalation": {"type": "integer"}, "flapping": {"type": "boolean"},
            "history": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Ticket": {
        "type": "object", "required": ["id", "school", "kind", "device", "status", "opened_at"],
        "properties": {
            "id": {"type": "string"}, "school": {"type": "string"}, "kind": {"type": "string"},
            "device": {"type": "string"}, "zone": NULL_STR,
            "status": {"type": "string", "enum": TICKET_STATUSES},
            "opened_at": TIME, "updated_at": TIME, "opened_by": {"type": "string"}, "down_since": TIME,
            "assignee": NULL_STR, "resolved_at": TIME, "resolved_by": NULL_STR, "closed_at": TIME,
            "reopened": {"type": "integer"}, "notes": {"type": "integer"}, "repair_s": {"type": ["number", "null"]},
            "note_list": {"type": "array", "items": {"type": "object", "properties": {
                "at": TIME, "author": {"type": "string"}, "action": {"type": "string"}, "text": {"type": "string"}}}},
        },
    },
    "Fix": {
        "type": "object", "required": ["ts", "lat", "lon"],
        "properties": {"ts": {"type": "number"}, "time": TIME, "received": TIME, "lat": {"type": "number"},
                       "lon": {"type": "number"}, "speed_kmh": {"type": ["number", "null"]},
                       "heading": {"type": ["number", "null"]}},
    },
    "MaintenanceWindow": {
        "type": "object", "required": ["id", "school", "starts", "ends"],
        "properties": {"id": {"type": "string"}, "school": {"type": "string"}, "zone": NULL_STR, "starts": TIME,
                       "ends": TIME, "reason": {"type": "string"}, "created_by": NULL_STR},
    },
    "AuditEntry": {
        "type": "object", "required": ["at", "actor", "action", "target"],
        "properties": {"id": {"type": "integer"}, "at": TIME, "actor": {"type": "string"},
                       "token_id": {"type": ["integer", "null"]}, "role": NULL_STR, "action": {"type": "string"},
                       "target": {"type": "string"}, "school": NULL_STR, "remote": NULL_STR, "via": {"type": "string"},
                       "detail": {"type": "object"}},
    },
    "Note": {"type": "object", "properties": {"note": {"type": "string", "maxLength": 2000}}},
    "WatchLogItem": {
        "type": "object", "required": ["id", "kind", "at", "by", "school"],
        "description": "an entry of the monitoring-use record (kind `entry`) or the system's own event: "
                       "device_down, device_up, alarm_press, alarm_tamper, alarm_test, alarm_cancel, alert_ack, "
                       "ticket_<action>",
        "properties": {"id": {"type": "string"}, "kind": {"type": "string"}, "at": TIME, "ts": {"type": "number"},
                       "by": {"type": "string"}, "school": {"type": "string"}, "subject": NULL_STR,
                       "zones": {"type": "array", "items": {"type": "string"}}, "note": NULL_STR,
                       "detail": {"type": "object"}},
    },
    "WatchLog": {
        "type": "object", "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": _ref("WatchLogItem")}, "next": NULL_STR,
                       "school": {"type": "string"}, "name": {"type": "string"},
                       "keeper": {**NULL_STR, "description": "the registry's `keeper` of the school"}},
    },
    "InspectionReport": {
        "type": "object", "required": ["from", "to", "schools"],
        "properties": {
            "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
            "time_zone": {"type": "string"}, "generated_at": {"type": "string"},
            "schools": {"type": "array", "items": {
                "type": "object",
                "required": ["school", "name", "cameras", "camera_uptime", "blind_spot_hours", "devices", "tickets",
                             "presses", "buses", "watch_log_days"],
                "properties": {
                    "school": {"type": "string"}, "name": {"type": "string"}, "keeper": NULL_STR,
                    "cameras": {"type": "integer"},
                    "camera_uptime": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                    "blind_spot_hours": {"type": "object", "additionalProperties": {"type": "number"}},
                    "devices": {"type": "array", "items": {
                        "type": "object", "required": ["id", "kind", "zone", "location", "down_s", "outages"],
                        "properties": {"id": {"type": "string"}, "kind": {"type": "string", "enum": KINDS},
                                       "zone": NULL_STR, "location": {"type": "string"},
                                       "down_s": {"type": "number"}, "outages": {"type": "integer"}}}},
                    "tickets": {"type": "object", "required": ["opened", "closed", "median_repair_s"],
                                "properties": {"opened": {"type": "integer"}, "closed": {"type": "integer"},
                                               "median_repair_s": {"type": ["number", "null"]}}},
                    "presses": {"type": "object", "required": ["count", "median_ack_s"],
                                "properties": {"count": {"type": "integer"},
                                               "median_ack_s": {"type": ["number", "null"]}}},
                    "buses": {"type": "object", "required": ["off_route", "overspeed", "overloaded"],
                              "properties": {"off_route": {"type": "integer"}, "overspeed": {"type": "integer"},
                                             "overloaded": {"type": "integer"}}},
                    "watch_log_days": {"type": "integer"},
                }}},
        },
    },
    "Notification": {
        "type": "object", "required": ["id", "receiver", "state"],
        "properties": {"id": {"type": "integer"}, "receiver": {"type": "string"}, "idempotency_key": {"type": "string"},
                       "alert_id": NULL_STR, "school": NULL_STR, "state": {"type": "string"},
                       "attempts": {"type": "integer"}, "created": TIME, "last_error": NULL_STR, "body": {}},
    },
}


def _paths() -> dict[str, Any]:
    anyone_json = {"200": _json({"type": "object"})}
    return {
        "/healthz": {"get": _op("alive", "anyone", anyone_json, secured=False)},
        "/readyz": {"get": _op("ready: broker connected and database reachable", "anyone",
                               {"200": _json({"type": "object"}), "503": _json({"type": "object"}, "not ready")},
                               secured=False)},
        "/metrics": {"get": _op("Prometheus text format", "anyone (configurable)",
                                {"200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                                 **_errors(401, 403)}, secured=False)},
        "/api/v1/openapi.json": {"get": _op("this document", "anyone", anyone_json, secured=False)},
        "/api/v1/schools": {"get": _op("schools with zones, devices and buses", "bureau, officer (its schools)",
                                       _read(_list_of("School")), [SCHOOL, *PAGING])},
        "/api/v1/schools/{id}": {"get": _op("one school", "bureau, officer of that school", _read(_ref("School")),
                                            [_path_id("school id")])},
        "/api/v1/devices": {"get": _op("devices with state and last_seen", "bureau, officer (its schools)",
                                       _read(_list_of("Device")), [
                                           _q("state", ", ".join(STATES), {"type": "string", "enum": STATES}),
                                           SCHOOL,
                                           _q("kind", ", ".join(KINDS), {"type": "string", "enum": KINDS}),
                                           *PAGING])},
        "/api/v1/alerts": {"get": _op("alerts, newest first", "bureau, officer (its schools)", _read(_list_of("Alert")), [
            _q("state", ", ".join(ALERT_STATES), {"type": "string", "enum": ALERT_STATES}),
            SCHOOL, _q("rule", "a contract §3 rule"),
            _q("severity", ", ".join(SEVERITIES), {"type": "string", "enum": SEVERITIES}),
            *PAGING])},
        "/api/v1/alerts/{id}": {"get": _op("one alert with its history", "bureau, officer of its school",
                                           _read(_ref("Alert")), [_path_id("alert id")])},
        "/api/v1/alerts/{id}/ack": {"post": _op("acknowledge", "bureau, officer of its school", _write(_ref("Alert")),
                                                [_path_id("alert id")], _ref("Note"))},
        "/api/v1/tickets": {
            "get": _op("repair tickets, newest first; without `status` every status", "maintenance, bureau, officer (its schools)",
                       _read(_list_of("Ticket")), [
                           _q("status", "open, in_progress, verifying or closed",
                              {"type": "string", "enum": TICKET_STATUSES}),
                           SCHOOL, _q("device", "a device id"), _q("assignee", "a crew member"), *PAGING]),
            "post": _op("open a ticket by hand for a device", "maintenance, bureau, officer of its school",
                        _write(_ref("Ticket"), 201), None, {
                            "type": "object", "required": ["school", "device"],
                            "properties": {"school": {"type": "string"}, "device": {"type": "string"},
                                           "kind": {"type": "string", "enum": KINDS},
                                           "note": {"type": "string", "maxLength": 2000}}}),
        },
        "/api/v1/tickets/{id}": {"get": _op("one ticket with its notes", "maintenance, bureau, officer of its school",
                                            _read(_ref("Ticket")), [_path_id("ticket id")])},
        "/api/v1/tickets/{id}/assign": {"post": _op("take or assign (open -> in_progress); default assignee: the caller",
                                                    "maintenance, bureau", _write(_ref("Ticket")), [_path_id("ticket id")],
                                                    {"type": "object", "properties": {"assignee": {"type": "string", "maxLength": 2000}}})},
        "/api/v1/tickets/{id}/note": {"post": _op("add a note", "maintenance, bureau, officer of its school",
                                                  _write(_ref("Ticket")), [_path_id("ticket id")],
                                                  {"type": "object", "required": ["note"],
                                                   "properties": {"note": {"type": "string", "maxLength": 2000}}})},
        "/api/v1/tickets/{id}/resolve": {"post": _op("the crew says it is fixed (-> verifying)", "maintenance",
                                                     _write(_ref("Ticket")), [_path_id("ticket id")], _ref("Note"))},
        "/api/v1/buses": {"get": _op("buses with GPS state and last position", "bureau, officer (its schools)",
                                     _read(_list_of("Bus")), [SCHOOL, *PAGING])},
        "/api/v1/buses/{id}": {"get": _op("one bus and its route", "bureau, officer of its school",
                                          _read(_ref("BusDetail")), [_path_id("bus id")])},
        "/api/v1/buses/{id}/track": {"get": _op("recent fixes, oldest first", "bureau, officer of its school",
                                                _read(_list_of("Fix")), [
                                                    _path_id("bus id"),
                                                    _q("since", "Unix seconds or RFC 3339 (default: one hour ago)"),
                                                    *PAGING])},
        "/api/v1/buses/{id}/detours": {
            "get": _op("declared detours of the bus, latest start first", "bureau, officer of its school",
                       _read(_list_of("Detour")), [_path_id("bus id"), *PAGING]),
            "post": _op("declare a detour: from start to end, off-route is recorded with the reason but not alerted",
                        "bureau, officer of its school", _write(_ref("Detour"), 201), [_path_id("bus id")], {
                            "type": "object", "required": ["start", "end", "reason"],
                            "properties": {"start": {"type": ["number", "string"], "description": "Unix seconds or RFC 3339"},
                                           "end": {"type": ["number", "string"], "description": "Unix seconds or RFC 3339"},
                                           "reason": {"type": "string", "minLength": 1, "maxLength": 2000}}}),
        },
        "/api/v1/maintenance": {
            "get": _op("maintenance windows not yet over", "bureau, officer (its schools)",
                       _read(_list_of("MaintenanceWindow")), [SCHOOL, *PAGING]),
            "post": _op("hold back a school's (or zone's) alerts for a time", "bureau, officer of that school",
                        _write(_ref("MaintenanceWindow"), 201), None, {
                            "type": "object", "required": ["school", "ends"],
                            "properties": {"school": {"type": "string"}, "zone": {"type": "string"},
                                           "starts": {"type": ["number", "string"]}, "ends": {"type": ["number", "string"]},
                                           "reason": {"type": "string", "maxLength": 2000}}}),
        },
        "/api/v1/maintenance/{id}": {"delete": _op("end a maintenance window", "bureau, officer of its school",
                                                   _write({"type": "object"}), [_path_id("window id")])},
        "/api/v1/audit": {"get": _op("the audit log, newest first", "admin, bureau", _read(_list_of("AuditEntry")), [
            SCHOOL, _q("target", "a ticket, alert or window id"), _q("action", "e.g. ticket.resolved"),
            _q("since", "Unix seconds or RFC 3339"), *PAGING])},
        "/api/v1/schools/{id}/watch-log": {
            "get": _op("the school's monitoring-use record (监控使用记录): keepers' entries and the system's own "
                       "events as one timeline, oldest first", "bureau, officer of that school",
                       _read(_ref("WatchLog")), [
                           _path_id("school id"),
                           _q("since", "Unix seconds or RFC 3339 (default: from the beginning)"),
                           _q("until", "Unix seconds or RFC 3339, exclusive (default: now)"), *PAGING]),
            "post": _op("add an entry: what was watched and seen; entries are never edited (a correction is a "
                        "new entry)", "officer of that school", _write(_ref("WatchLogItem"), 201),
                        [_path_id("school id")], {
                            "type": "object", "required": ["note"],
                            "properties": {"note": {"type": "string", "minLength": 1, "maxLength": 2000},
                                           "zones": {"type": "array", "items": {"type": "string"},
                                                     "description": "zone ids of that school"}}}),
        },
        "/api/v1/reports/inspection": {"get": {
            **_op("the inspection report for the days from..to (inclusive, Asia/Shanghai)",
                  "bureau (any or every school), officer (its schools)", {
                      "200": {"description": "OK", "content": {
                          "application/json": {"schema": _ref("InspectionReport")},
                          "text/csv": {"schema": {"type": "string", "description": "header row, one row per device"}}}},
                      **_errors(400, 401, 403, 404, 429)}, [
                          SCHOOL,
                          {**_q("from", "first day, YYYY-MM-DD", {"type": "string", "format": "date"}), "required": True},
                          {**_q("to", "last day, YYYY-MM-DD (inclusive; at most 366 days)",
                                {"type": "string", "format": "date"}), "required": True},
                          _q("format", "json (default) or csv", {"type": "string", "enum": ["json", "csv"]})]),
        }},
        "/api/v1/notifications": {"get": _op("alert messages in the outbox by state (dead letters by default)",
                                             "admin, bureau", _read(_list_of("Notification")), [
            _q("state", "pending, sent or dead", {"type": "string", "enum": ["pending", "sent", "dead"]}),
            _q("receiver", "a receiver's name"), *PAGING])},
    }


@cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Campus Safety Monitor", "version": "1",
                 "description": "Cameras, alarm panels and school-bus GPS of a school district. "
                                "Errors are {\"error\": {\"status\", \"message\"}}. Lists are {\"items\", \"next\"}."},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "paths": _paths(),
    }

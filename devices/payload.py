"""Decoding MQTT messages (contract §2) into typed inputs, pure and strict.

Every decoder raises `Invalid(reason)` for bad input; the collector counts it under the outcome the
exception carries and keeps going. Nothing here reads the clock: `now` is the monitor's time at
receipt.

Age: a `ts` more than 5 minutes ahead of `now` is invalid everywhere. A heartbeat or a GPS fix whose
`ts` is more than an hour behind `now` is invalid too (issue 10): it is a message queued somewhere
(a persistent session replayed after a restart, a bridge's backlog) and says nothing about the device
now, so it must not revive a device judged down. Fixes between 5 minutes and an hour old decode and
are dropped later by the fix filter as `stale` (counted in `campus_fixes_dropped_total`). Alarm and bus
events have no age limit: a press is never dropped for being late (an event may wait at the broker
while its school has no owner), and its own `ts` travels with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from devices.events import AlarmEvent, Fix
from devices.model import DeviceKind

MAX_PAYLOAD = 4096
MAX_FUTURE_S = 300.0
MAX_PAST_S = 3600.0  # heartbeats and fixes older than this are replays, not news (issue 10)
HEARTBEAT_STATUSES = frozenset({"ok", "degraded", "fault"})
ALARM_EVENT_TYPES = frozenset({"press", "test", "tamper", "cancel"})
MAX_EVENT_ID = 128
CHANNEL_STATES = {"on": True, "off": False}


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    INVALID = "invalid"
    UNKNOWN_DEVICE = "unknown_device"
    DUPLICATE = "duplicate"


class Invalid(Exception):
    """A message that must be dropped; `outcome` says how it is counted."""

    def __init__(self, reason: str, outcome: Outcome = Outcome.INVALID) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


def _obj(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise Invalid(f"payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"not JSON: {exc.msg}") from None
    if type(doc) is not dict:
        raise Invalid("payload is not a JSON object")
    return doc


def parse_ts(value: Any, now: float, max_past_s: float | None = None) -> float:
    """`ts` as Unix seconds (a number) or an RFC 3339 string; not more than 5 minutes ahead of `now`,
    and, given `max_past_s`, not more than that behind it."""
    kind = type(value)
    if kind is float or kind is int:
        ts = float(value)
    elif kind is str:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise Invalid("ts is not an RFC 3339 time") from None
        if parsed.tzinfo is None:
            raise Invalid("ts has no UTC offset")
        ts = parsed.timestamp()
    elif value is None:
        raise Invalid("ts is missing")
    else:
        raise Invalid("ts is neither a number nor a string")
    if ts != ts or ts < 0:
        raise Invalid("ts is not a valid time")
    if ts > now + MAX_FUTURE_S:
        raise Invalid(f"ts is {ts - now:.0f} s in the future")
    if max_past_s is not None and ts < now - max_past_s:
        raise Invalid(f"ts is {now - ts:.0f} s in the past (more than {max_past_s:.0f} s)")
    return ts


def _number(doc: dict[str, Any], key: str, low: float | None = None, high: float | None = None) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if type(value) is not float and type(value) is not int:
        raise Invalid(f"{key} is not a number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise Invalid(f"{key} {value} is out of range")
    return float(value)


def decode_heartbeat(payload: bytes, now: float) -> bool:
    """A heartbeat of a camera, alarm panel, face terminal or NVR, or a bus's GPS unit without a fix;
    returns True when it says the device is faulty. (An NVR's `channels` are read by
    `decode_nvr_heartbeat`; here they are ignored.)"""
    return _heartbeat(_obj(payload), now)


@dataclass(frozen=True, slots=True)
class NvrHeartbeat:
    faulty: bool
    channels: dict[str, bool]  # camera id -> on (True) / off (False), as the NVR reported them


def decode_nvr_heartbeat(payload: bytes, now: float) -> NvrHeartbeat:
    """An NVR heartbeat with its optional `channels`: `{"cam-dg-01": "on", "cam-dg-02": "off"}`.

    Channel names are not checked against the registry here (the judge ignores ids that are not
    cameras of the NVR's school); a value other than `on` or `off` makes the whole message invalid.
    """
    doc = _obj(payload)
    faulty = _heartbeat(doc, now)
    raw = doc.get("channels")
    if raw is None:
        return NvrHeartbeat(faulty, {})
    if type(raw) is not dict:
        raise Invalid("channels is not an object of camera id -> on/off")
    channels: dict[str, bool] = {}
    for cam, state in raw.items():
        on = CHANNEL_STATES.get(state) if type(state) is str else None
        if on is None:
            raise Invalid(f"channel {cam[:64]!r} is {state!r}, not on or off")
        channels[cam] = on
    return NvrHeartbeat(faulty, channels)


def _heartbeat(doc: dict[str, Any], now: float) -> bool:
    parse_ts(doc.get("ts"), now, MAX_PAST_S)
    status = doc.get("status")
    if type(status) is not str or status not in HEARTBEAT_STATUSES:
        raise Invalid(f"status {status!r} is not one of ok, degraded, fault")
    if len(doc) > 2:
        _number(doc, "fps", 0)
        _number(doc, "temp_c", -100, 200)
        _number(doc, "battery", 0, 100)
        rec = doc.get("recording")
        if rec is not None and type(rec) is not bool:
            raise Invalid("recording is not a boolean")
    return status == "fault"


def decode_alarm_event(
    payload: bytes, school: str, device: str, now: float, kind: DeviceKind = DeviceKind.ALARM
) -> AlarmEvent:
    """An alarm panel's event, or a bus's (`kind` GPS: its emergency button); the same payload."""
    doc = _obj(payload)
    ts = parse_ts(doc.get("ts"), now)
    event_id = doc.get("event_id")
    if type(event_id) is not str or not event_id or len(event_id) > MAX_EVENT_ID:
        raise Invalid("event_id is missing or not a string of 1-128 characters")
    kind_ = doc.get("type")
    if type(kind_) is not str or kind_ not in ALARM_EVENT_TYPES:
        raise Invalid(f"type {kind_!r} is not one of press, test, tamper, cancel")
    return AlarmEvent(school, device, event_id, kind_, ts, now, kind)


def decode_fix(payload: bytes, school: str, bus: str, now: float) -> Fix:
    doc = _obj(payload)
    ts = parse_ts(doc.get("ts"), now, MAX_PAST_S)
    lat = _number(doc, "lat", -90, 90)
    lon = _number(doc, "lon", -180, 180)
    if lat is None or lon is None:
        raise Invalid("lat and lon are required")
    speed = _number(doc, "speed_kmh", 0, 400)
    heading = _number(doc, "heading", 0, 360)
    hdop = _number(doc, "hdop", 0)
    passengers = doc.get("passengers")
    if passengers is not None:
        if type(passengers) is float and passengers.is_integer():
            passengers = int(passengers)
        if type(passengers) is not int or passengers < 0:
            raise Invalid(f"passengers {passengers!r} is not a whole number >= 0")
    return Fix(school, bus, ts, now, lat, lon, speed, heading, hdop, passengers)


def decode_status(payload: bytes) -> bool:
    """`online` or `offline`, plain text; returns True for online."""
    text = payload.strip()
    if text == b"online":
        return True
    if text == b"offline":
        return False
    raise Invalid("status is neither online nor offline")

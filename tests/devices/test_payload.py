"""Decoding MQTT payloads (contract §2): every bad input is `Invalid`, never another exception."""

from __future__ import annotations

import pytest

from devices.model import DeviceKind
from devices.payload import (
    MAX_PAYLOAD,
    Invalid,
    Outcome,
    decode_alarm_event,
    decode_fix,
    decode_heartbeat,
    decode_nvr_heartbeat,
    decode_status,
    parse_ts,
)

NOW = 1_764_000_000.0  # 2025-11-24T16:00:00Z


def _padded(doc: bytes, size: int) -> bytes:
    """`doc` (a JSON object ending in `}`) padded with spaces to exactly `size` bytes."""
    return doc[:-1] + b" " * (size - len(doc)) + b"}"


# ---- heartbeats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "faulty"),
    [
        (b'{"ts": 1764000000.5, "status": "ok"}', False),
        (b'{"ts": 1764000000, "status": "degraded"}', False),
        (b'{"ts": 1764000000, "status": "fault"}', True),
        (b'{"ts": "2025-11-24T16:00:00Z", "status": "ok"}', False),
        (b'{"ts": 1764000000, "status": "ok", "fps": 25, "recording": true, "temp_c": 41.5}', False),
        (b'{"ts": 1764000000, "status": "ok", "battery": 100}', False),
        (b'{"ts": 1764000000, "status": "ok", "fps": null}', False),
    ],
)
def test_good_heartbeat_is_accepted_and_fault_says_faulty(payload: bytes, faulty: bool) -> None:
    assert decode_heartbeat(payload, NOW) is faulty


BAD_HEARTBEATS = [
    ("not JSON", b"ok"),
    ("truncated JSON", b'{"ts": 1764000000, "status": "ok"'),
    ("not UTF-8", b'{"ts": 1764000000, "status": "\xff\xfe"}'),
    ("empty payload", b""),
    ("a JSON array", b'[1764000000, "ok"]'),
    ("a JSON string", b'"ok"'),
    ("a JSON null", b"null"),
    ("missing ts", b'{"status": "ok"}'),
    ("null ts", b'{"ts": null, "status": "ok"}'),
    ("missing status", b'{"ts": 1764000000}'),
    ("status not a known word", b'{"ts": 1764000000, "status": "fine"}'),
    ("status a number", b'{"ts": 1764000000, "status": 1}'),
    ("status a list", b'{"ts": 1764000000, "status": ["ok"]}'),
    ("status an object", b'{"ts": 1764000000, "status": {"ok": true}}'),
    ("ts a bool", b'{"ts": true, "status": "ok"}'),
    ("ts a list", b'{"ts": [1764000000], "status": "ok"}'),
    ("ts a word", b'{"ts": "yesterday", "status": "ok"}'),
    ("ts negative", b'{"ts": -1, "status": "ok"}'),
    ("ts a date without offset", b'{"ts": "2025-11-24T16:00:00", "status": "ok"}'),
    ("ts six minutes ahead", b'{"ts": 1764000360, "status": "ok"}'),
    ("ts infinite", b'{"ts": 1e400, "status": "ok"}'),
    ("fps a string", b'{"ts": 1764000000, "status": "ok", "fps": "25"}'),
    ("fps a bool", b'{"ts": 1764000000, "status": "ok", "fps": true}'),
    ("fps negative", b'{"ts": 1764000000, "status": "ok", "fps": -1}'),
    ("fps a list", b'{"ts": 1764000000, "status": "ok", "fps": [25]}'),
    ("recording a number", b'{"ts": 1764000000, "status": "ok", "recording": 1}'),
    ("temp_c absurd", b'{"ts": 1764000000, "status": "ok", "temp_c": 1000}'),
    ("battery over 100", b'{"ts": 1764000000, "status": "ok", "battery": 101}'),
    ("battery under 0", b'{"ts": 1764000000, "status": "ok", "battery": -1}'),
    ("over 4 KiB", _padded(b'{"ts": 1764000000, "status": "ok"}', MAX_PAYLOAD + 1)),
]


@pytest.mark.parametrize(("why", "payload"), BAD_HEARTBEATS, ids=[w for w, _ in BAD_HEARTBEATS])
def test_bad_heartbeat_is_invalid(why: str, payload: bytes) -> None:
    with pytest.raises(Invalid) as caught:
        decode_heartbeat(payload, NOW)
    assert caught.value.outcome is Outcome.INVALID
    assert caught.value.reason


def test_payload_of_exactly_4_kib_is_accepted() -> None:
    payload = _padded(b'{"ts": 1764000000, "status": "ok"}', MAX_PAYLOAD)
    assert len(payload) == 4096
    assert decode_heartbeat(payload, NOW) is False


def test_oversized_payload_reason_names_its_size() -> None:
    with pytest.raises(Invalid, match="4097 bytes"):
        decode_heartbeat(_padded(b'{"ts": 1, "status": "ok"}', 4097), NOW)


# ---- ts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1764000000, 1764000000.0),
        (1764000000.25, 1764000000.25),
        ("2025-11-24T16:00:00Z", 1764000000.0),
        ("2025-11-24T16:00:00z", 1764000000.0),
        ("2025-11-24T16:00:00.5Z", 1764000000.5),
        ("2025-11-25T00:00:00+08:00", 1764000000.0),
        ("2025-11-24T11:00:00-05:00", 1764000000.0),
        (NOW + 300, NOW + 300),  # exactly five minutes ahead is still fine
        (0, 0.0),
    ],
)
def test_ts_accepts_unix_seconds_and_rfc3339(value: object, expected: float) -> None:
    assert parse_ts(value, NOW) == expected


@pytest.mark.parametrize(
    "value",
    [NOW + 300.001, "2025-11-24T16:05:01Z", "2025-11-25T00:05:01+08:00", "9999-12-31T23:59:59Z"],
)
def test_ts_more_than_five_minutes_ahead_is_invalid(value: object) -> None:
    with pytest.raises(Invalid, match="future"):
        parse_ts(value, NOW)


def test_ts_far_in_the_past_is_accepted_by_default_because_liveness_uses_the_receipt_time() -> None:
    assert parse_ts(NOW - 86400 * 365, NOW) == NOW - 86400 * 365


@pytest.mark.parametrize("value", [True, False, None, [], {}, "", "1764000000", "2025-11-24"])
def test_ts_that_is_not_a_time_is_invalid(value: object) -> None:
    with pytest.raises(Invalid):
        parse_ts(value, NOW)


# ---- alarm events -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["press", "test", "tamper", "cancel"])
def test_alarm_event_of_each_type_decodes(kind: str) -> None:
    payload = b'{"ts": 1764000000, "event_id": "e-1", "type": "%s"}' % kind.encode()
    ev = decode_alarm_event(payload, "panhe-ms", "alarm-gate", NOW + 2)
    assert (ev.school, ev.device, ev.event_id, ev.type) == ("panhe-ms", "alarm-gate", "e-1", kind)
    assert ev.ts == 1764000000.0
    assert ev.received == NOW + 2


BAD_EVENTS = [
    ("not JSON", b"press"),
    ("missing event_id", b'{"ts": 1764000000, "type": "press"}'),
    ("empty event_id", b'{"ts": 1764000000, "event_id": "", "type": "press"}'),
    ("numeric event_id", b'{"ts": 1764000000, "event_id": 7, "type": "press"}'),
    ("event_id too long", b'{"ts": 1764000000, "event_id": "%s", "type": "press"}' % (b"x" * 129)),
    ("missing type", b'{"ts": 1764000000, "event_id": "e"}'),
    ("unknown type", b'{"ts": 1764000000, "event_id": "e", "type": "fire"}'),
    ("type a list", b'{"ts": 1764000000, "event_id": "e", "type": ["press"]}'),
    ("type an object", b'{"ts": 1764000000, "event_id": "e", "type": {}}'),
    ("missing ts", b'{"event_id": "e", "type": "press"}'),
    ("ts in the future", b'{"ts": 1764000301, "event_id": "e", "type": "press"}'),
    ("over 4 KiB", _padded(b'{"ts": 1764000000, "event_id": "e", "type": "press"}', 5000)),
]


@pytest.mark.parametrize(("why", "payload"), BAD_EVENTS, ids=[w for w, _ in BAD_EVENTS])
def test_bad_alarm_event_is_invalid(why: str, payload: bytes) -> None:
    with pytest.raises(Invalid):
        decode_alarm_event(payload, "panhe-ms", "alarm-gate", NOW)


# ---- GPS fixes ---------------------------------------------------------------------------------


def test_gps_fix_needs_only_ts_lat_lon() -> None:
    fix = decode_fix(b'{"ts": 1764000000, "lat": 27.33, "lon": 103.72}', "panhe-ms", "bus-023", NOW + 1)
    assert (fix.school, fix.bus, fix.lat, fix.lon) == ("panhe-ms", "bus-023", 27.33, 103.72)
    assert (fix.ts, fix.received) == (1764000000.0, NOW + 1)
    assert fix.speed_kmh is None and fix.heading is None and fix.hdop is None


def test_gps_fix_keeps_optional_speed_heading_hdop() -> None:
    payload = b'{"ts": 1764000000, "lat": 27.33, "lon": 103.72, "speed_kmh": 38.5, "heading": 90, "hdop": 0.9}'
    fix = decode_fix(payload, "panhe-ms", "bus-023", NOW)
    assert (fix.speed_kmh, fix.heading, fix.hdop) == (38.5, 90.0, 0.9)


@pytest.mark.parametrize(("lat", "lon"), [(90, 180), (-90, -180), (0, 0)])
def test_gps_fix_on_the_edge_of_the_globe_is_accepted(lat: float, lon: float) -> None:
    payload = b'{"ts": 1764000000, "lat": %d, "lon": %d}' % (lat, lon)
    assert decode_fix(payload, "s", "b", NOW).lat == lat


BAD_FIXES = [
    ("lat over 90", b'{"ts": 1764000000, "lat": 90.0001, "lon": 103.72}'),
    ("lat under -90", b'{"ts": 1764000000, "lat": -91, "lon": 103.72}'),
    ("lon over 180", b'{"ts": 1764000000, "lat": 27.33, "lon": 180.5}'),
    ("lon under -180", b'{"ts": 1764000000, "lat": 27.33, "lon": -181}'),
    ("missing lat", b'{"ts": 1764000000, "lon": 103.72}'),
    ("missing lon", b'{"ts": 1764000000, "lat": 27.33}'),
    ("null lat", b'{"ts": 1764000000, "lat": null, "lon": 103.72}'),
    ("lat a string", b'{"ts": 1764000000, "lat": "27.33", "lon": 103.72}'),
    ("lat a bool", b'{"ts": 1764000000, "lat": true, "lon": 103.72}'),
    ("lon a list", b'{"ts": 1764000000, "lat": 27.33, "lon": [103.72]}'),
    ("speed a string", b'{"ts": 1764000000, "lat": 27.33, "lon": 103.72, "speed_kmh": "fast"}'),
    ("speed negative", b'{"ts": 1764000000, "lat": 27.33, "lon": 103.72, "speed_kmh": -5}'),
    ("heading over 360", b'{"ts": 1764000000, "lat": 27.33, "lon": 103.72, "heading": 361}'),
    ("missing ts", b'{"lat": 27.33, "lon": 103.72}'),
    ("ts in the future", b'{"ts": 1764000400, "lat": 27.33, "lon": 103.72}'),
    ("a JSON array", b"[27.33, 103.72]"),
    ("over 4 KiB", _padded(b'{"ts": 1764000000, "lat": 27.33, "lon": 103.72}', 4100)),
]


@pytest.mark.parametrize(("why", "payload"), BAD_FIXES, ids=[w for w, _ in BAD_FIXES])
def test_bad_gps_fix_is_invalid(why: str, payload: bytes) -> None:
    with pytest.raises(Invalid):
        decode_fix(payload, "panhe-ms", "bus-023", NOW)


# ---- status ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "online"), [(b"online", True), (b"offline", False), (b"offline\n", False)])
def test_status_is_online_or_offline(payload: bytes, online: bool) -> None:
    assert decode_status(payload) is online


@pytest.mark.parametrize("payload", [b"", b"ONLINE", b"up", b'"online"', b"\xff"])
def test_other_status_text_is_invalid(payload: bytes) -> None:
    with pytest.raises(Invalid):
        decode_status(payload)


# ---- age: heartbeats and fixes an hour behind are replays (issue 10) ----------------------------

AGES = [
    # (what, ts, accepted)
    ("an hour behind exactly", NOW - 3600, True),
    ("an hour and a second behind", NOW - 3601, False),
    ("a day behind", NOW - 86400, False),
    ("a minute behind", NOW - 60, True),
]


@pytest.mark.parametrize(("what", "ts", "accepted"), AGES, ids=[a[0] for a in AGES])
def test_heartbeat_more_than_an_hour_behind_the_receive_clock_is_invalid(what: str, ts: float, accepted: bool) -> None:
    payload = b'{"ts": %d, "status": "ok"}' % ts
    for decode in (decode_heartbeat, decode_nvr_heartbeat):
        if accepted:
            decode(payload, NOW)
        else:
            with pytest.raises(Invalid) as caught:
                decode(payload, NOW)
            assert caught.value.outcome is Outcome.INVALID
            assert "in the past" in caught.value.reason


@pytest.mark.parametrize(("what", "ts", "accepted"), AGES, ids=[a[0] for a in AGES])
def test_gps_fix_more_than_an_hour_behind_is_invalid_too(what: str, ts: float, accepted: bool) -> None:
    payload = b'{"ts": %d, "lat": 27.33, "lon": 103.72}' % ts
    if accepted:
        assert decode_fix(payload, "s", "b", NOW).ts == ts
    else:
        with pytest.raises(Invalid):
            decode_fix(payload, "s", "b", NOW)


def test_alarm_event_a_day_late_is_still_an_event() -> None:
    ev = decode_alarm_event(b'{"ts": %d, "event_id": "e-1", "type": "press"}' % (NOW - 86400), "s", "alarm-gate", NOW)
    assert ev.ts == NOW - 86400


# ---- NVR heartbeats and their channels ----------------------------------------------------------

NVR_BEATS = [
    # (payload, faulty, channels)
    (b'{"ts": 1764000000, "status": "ok"}', False, {}),
    (b'{"ts": 1764000000, "status": "fault", "channels": {}}', True, {}),
    (b'{"ts": 1764000000, "status": "ok", "channels": {"cam-dg-01": "on", "cam-dg-02": "off"}}', False,
     {"cam-dg-01": True, "cam-dg-02": False}),
    (b'{"ts": 1764000000, "status": "ok", "channels": null}', False, {}),
    (b'{"ts": 1764000000, "status": "ok", "channels": {"not-in-registry": "on"}}', False, {"not-in-registry": True}),
]


@pytest.mark.parametrize(("payload", "faulty", "channels"), NVR_BEATS)
def test_nvr_heartbeat_reads_status_and_channels(payload: bytes, faulty: bool, channels: dict[str, bool]) -> None:
    beat = decode_nvr_heartbeat(payload, NOW)
    assert (beat.faulty, beat.channels) == (faulty, channels)


BAD_CHANNELS = [
    ("a channel ON in capitals", b'{"cam-1": "ON"}'),
    ("a channel true", b'{"cam-1": true}'),
    ("a channel null", b'{"cam-1": null}'),
    ("a channel a number", b'{"cam-1": 1}'),
    ("channels a list", b'["cam-1"]'),
    ("channels a string", b'"cam-1"'),
]


@pytest.mark.parametrize(("why", "channels"), BAD_CHANNELS, ids=[b[0] for b in BAD_CHANNELS])
def test_nvr_heartbeat_with_a_bad_channel_is_invalid(why: str, channels: bytes) -> None:
    with pytest.raises(Invalid) as caught:
        decode_nvr_heartbeat(b'{"ts": 1764000000, "status": "ok", "channels": %s}' % channels, NOW)
    assert caught.value.outcome is Outcome.INVALID


def test_camera_heartbeat_ignores_channels_as_it_ignores_other_extra_keys() -> None:
    assert decode_heartbeat(b'{"ts": 1764000000, "status": "ok", "channels": "whatever"}', NOW) is False


# ---- buses: heartbeat without a fix, emergency button, passengers -------------------------------


def test_bus_heartbeat_decodes_as_any_heartbeat() -> None:
    assert decode_heartbeat(b'{"ts": 1764000000, "status": "ok"}', NOW) is False


def test_bus_event_is_an_alarm_event_of_the_bus() -> None:
    ev = decode_alarm_event(b'{"ts": 1764000000, "event_id": "808-1", "type": "press"}', "panhe-ms", "bus-023", NOW,
                            DeviceKind.GPS)
    assert (ev.school, ev.device, ev.type, ev.kind) == ("panhe-ms", "bus-023", "press", DeviceKind.GPS)


def test_alarm_event_kind_defaults_to_alarm() -> None:
    ev = decode_alarm_event(b'{"ts": 1764000000, "event_id": "e", "type": "press"}', "s", "a", NOW)
    assert ev.kind is DeviceKind.ALARM


@pytest.mark.parametrize(("written", "passengers"), [("", None), (', "passengers": 0', 0), (', "passengers": 23', 23),
                                                     (', "passengers": 19.0', 19), (', "passengers": null', None)])
def test_gps_fix_may_carry_passengers(written: str, passengers: int | None) -> None:
    fix = decode_fix(b'{"ts": 1764000000, "lat": 27.33, "lon": 103.72%s}' % written.encode(), "s", "b", NOW)
    assert fix.passengers == passengers


@pytest.mark.parametrize("value", ["-1", "2.5", '"19"', "true", "[19]"])
def test_gps_fix_with_passengers_not_a_whole_number_is_invalid(value: str) -> None:
    with pytest.raises(Invalid):
        decode_fix(b'{"ts": 1764000000, "lat": 27.33, "lon": 103.72, "passengers": %s}' % value.encode(), "s", "b", NOW)

"""The monitor end to end: a real Mosquitto, devices publishing over MQTT, the service read over HTTP.

Timeouts in the test registry are 1 s (interval 0.5 s x 2 missed), so the contract's "within its
timeout plus at most one second" is checked on the real clock.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.storage.db import Database
from monitor.storage.tables import AlarmEventRecord
from tests.integration.mosquitto import run_mosquitto
from tests.integration.service import (
    Device,
    get_json,
    keep_beating,
    make_app,
    metrics_text,
    sample,
    serving,
    state,
    token,
)
from tests.waiting import let_time_pass, wait_for

pytestmark = pytest.mark.integration
TIMEOUT = 1.0


@pytest.fixture
async def running(tmp_path: Path, mosquitto: tuple[str, int]):
    async with serving(make_app(mosquitto[1], tmp_path), mosquitto[1]) as running:
        yield running


async def test_killed_camera_is_down_within_its_timeout_and_comes_back(running) -> None:
    app, dev = running
    stop = asyncio.Event()
    others = [("panhe-ms", "camera", c) for c in ("cam-dg-02", "cam-dg-03", "cam-ct-01")]
    beater = asyncio.create_task(keep_beating(dev, stop, others))
    await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-dg-01")
    await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "up", 2)
    last = app.judge.liveness.devices[next(k for k in app.judge.liveness.devices if k[2] == "cam-dg-01")].last_seen
    # silent from now on: down no later than last heartbeat + timeout + 1 s
    await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "down", TIMEOUT + 2)
    judged_at = time.time()
    assert judged_at - last <= TIMEOUT + 1.0
    assert judged_at - last >= TIMEOUT - 0.05
    for other in others:
        assert state(app, *other) == "up"
    await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-dg-01")
    await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "up", 2)
    stop.set()
    await beater


async def test_offline_status_is_down_at_once_and_fault_is_faulty_but_alive(running) -> None:
    app, dev = running
    await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-ct-01")
    await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-ct-01") == "up", 2)
    await asyncio.to_thread(dev.send, "campus/panhe-ms/camera/cam-ct-01/status", "offline")
    sent = time.monotonic()
    await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-ct-01") == "down", 2)
    assert time.monotonic() - sent < 0.5
    await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-ct-01", "fault")
    await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-ct-01") == "faulty", 2)
    text = await metrics_text(app)
    assert sample(text, "campus_device_up", device="cam-ct-01", kind="camera", school="panhe-ms", zone="canteen") == 1.0


async def test_zone_goes_dark_below_min_live_and_is_judged(running) -> None:
    app, dev = running
    found = []
    app.watch.listeners.append(found.extend)
    await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-dg-01")
    for cam in ("cam-dg-02", "cam-dg-03"):
        await asyncio.to_thread(dev.send, f"campus/panhe-ms/camera/{cam}/status", "offline")
    await wait_for(lambda: any(j.rule == "zone_dark" and j.active for j in found), 2)
    dark = next(j for j in found if j.rule == "zone_dark")
    assert (dark.school, dark.subject, dark.severity) == ("panhe-ms", "dorm-girls", "critical")
    down = [j for j in found if j.rule == "camera_down"]
    assert {j.subject for j in down} == {"cam-dg-02", "cam-dg-03"}
    assert all(j.severity == "critical" for j in down)  # dormitory cameras
    text = await metrics_text(app)
    assert sample(text, "campus_zone_dark", school="panhe-ms", zone="dorm-girls", zone_kind="dormitory") == 1.0
    assert sample(text, "campus_zone_live_cameras", school="panhe-ms", zone="dorm-girls", zone_kind="dormitory") == 1.0
    assert sample(text, "campus_zone_cameras", school="panhe-ms", zone="dorm-girls", zone_kind="dormitory") == 3.0


BAD_INPUTS = [
    ("campus/panhe-ms/camera/cam-dg-01/heartbeat", b"not json", "camera", "invalid"),
    ("campus/panhe-ms/camera/cam-dg-01/heartbeat", b'{"ts": "yesterday", "status": "ok"}', "camera", "invalid"),
    ("campus/panhe-ms/camera/cam-dg-01/heartbeat", b'{"ts": 1, "status": 7}', "camera", "invalid"),
    ("campus/panhe-ms/camera/cam-dg-01/heartbeat", b'{"ts": 1, "status": "ok", "pad": "' + b"x" * 5000 + b'"}', "camera", "invalid"),
    ("campus/panhe-ms/camera/cam-nope/heartbeat", b'{"ts": 1, "status": "ok"}', "camera", "unknown_device"),
    ("campus/no-school/alarm/alarm-gate/heartbeat", b'{"ts": 1, "status": "ok"}', "alarm", "unknown_device"),
    ("campus/panhe-ms/bus/bus-023/gps", b'{"ts": 1, "lat": 97.0, "lon": 103.7}', "gps", "invalid"),
    ("campus/panhe-ms/bus/bus-023/gps", b'{"ts": 1, "lat": 27.3, "lon": 203.7}', "gps", "invalid"),
    ("campus/panhe-ms/alarm/alarm-gate/event", b'{"ts": 1, "event_id": "e", "type": "explode"}', "alarm", "invalid"),
]


async def test_every_bad_input_is_counted_and_the_collector_keeps_going(running) -> None:
    app, dev = running
    before = dict(app.collector.counts)
    for topic, payload, _, _ in BAD_INPUTS:
        await asyncio.to_thread(dev.send, topic, payload)
    future = {"ts": time.time() + 600, "status": "ok"}
    await asyncio.to_thread(dev.send, "campus/panhe-ms/camera/cam-dg-01/heartbeat", future)
    expected: dict[tuple[str, str], int] = {}
    for _, _, kind, outcome in [*BAD_INPUTS, ("", b"", "camera", "invalid")]:
        expected[(kind, outcome)] = expected.get((kind, outcome), 0) + 1

    def counted() -> bool:
        return all(app.collector.counts[k] - before.get(k, 0) == n for k, n in expected.items())

    await wait_for(counted, 3)
    assert state(app, "panhe-ms", "camera", "cam-dg-01") == "unknown"  # nothing bad revived it
    await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-dg-01")
    await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "up", 2)
    text = await metrics_text(app)
    assert sample(text, "campus_messages_total", kind="camera", outcome="unknown_device") >= 1
    assert sample(text, "campus_messages_total", kind="camera", outcome="invalid") >= 5


async def test_retained_heartbeat_is_not_liveness(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    dev = Device(mosquitto[1])
    await asyncio.to_thread(dev.send, "campus/panhe-ms/camera/cam-dg-01/heartbeat",
                            {"ts": time.time(), "status": "ok"}, 1, True)
    app = make_app(mosquitto[1], tmp_path)
    await app.start()
    try:
        await wait_for(lambda: app.collector.counts[("camera", "duplicate")] == 1, 3)
        assert state(app, "panhe-ms", "camera", "cam-dg-01") == "unknown"
    finally:
        dev.close()
        await app.stop()


async def test_alarm_event_is_stored_once_and_a_repeat_is_a_duplicate(running, tmp_path: Path) -> None:
    app, dev = running
    event = {"ts": time.time(), "event_id": "press-1", "type": "press"}
    await asyncio.to_thread(dev.send, "campus/panhe-ms/alarm/alarm-gate/event", event)
    await asyncio.to_thread(dev.send, "campus/panhe-ms/alarm/alarm-gate/event", event)
    await wait_for(lambda: app.collector.counts[("alarm", "duplicate")] == 1, 3)
    assert app.collector.counts[("alarm", "accepted")] == 1
    def stored_events(db: Database) -> list[AlarmEventRecord]:
        with db.session() as s:
            return list(s.scalars(select(AlarmEventRecord)))

    stored = await app.db.call(stored_events)
    assert [(e.device, e.event_id, e.type) for e in stored] == [("alarm-gate", "press-1", "press")]
    text = await metrics_text(app)
    assert sample(text, "campus_alarm_events_total", school="panhe-ms", device="alarm-gate", type="press") == 1.0


async def test_broker_restart_marks_nothing_down(tmp_path: Path) -> None:
    with run_mosquitto(tmp_path / "b1") as port:
        app = make_app(port, tmp_path)
        await app.start()
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
        dev = Device(port)
        names = [("panhe-ms", "camera", c) for c in ("cam-dg-01", "cam-dg-02", "cam-dg-03", "cam-ct-01")]
        for n in names:
            await asyncio.to_thread(dev.beat, *n)
        await wait_for(lambda: all(state(app, *n) == "up" for n in names), 3)
        dev.client.loop_stop()
    # the broker is gone for three timeouts: the monitor is blind, not the devices dead
    await wait_for(lambda: not app.collector.connected, 3)
    await let_time_pass(3 * TIMEOUT)
    assert all(state(app, *n) == "up" for n in names)
    with run_mosquitto(tmp_path / "b2", port=port):
        await wait_for(lambda: app.collector.connected, 40)
        dev = Device(port)
        stop = asyncio.Event()
        beater = asyncio.create_task(keep_beating(dev, stop, names))
        await let_time_pass(3 * TIMEOUT)  # connected again and heard for three timeouts
        stop.set()
        await beater
        assert all(state(app, *n) == "up" for n in names)
        dev.close()
        await app.stop()


async def test_restart_keeps_states_and_never_revives_an_expired_device(tmp_path: Path, mosquitto: tuple[str, int]) -> None:
    app = make_app(mosquitto[1], tmp_path)
    await app.start()
    await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
    dev = Device(mosquitto[1])
    await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-dg-01")
    await asyncio.to_thread(dev.send, "campus/panhe-ms/camera/cam-dg-02/status", "offline")
    await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-01") == "up"
                   and state(app, "panhe-ms", "camera", "cam-dg-02") == "down", 3)
    await app.stop()
    await let_time_pass(TIMEOUT + 0.3)  # cam-dg-01's deadline passes while the monitor is stopped
    app2 = make_app(mosquitto[1], tmp_path)
    await app2.start()
    try:
        assert state(app2, "panhe-ms", "camera", "cam-dg-02") == "down"
        assert state(app2, "panhe-ms", "camera", "cam-dg-01") == "unknown"
        await let_time_pass(0.3)
        assert state(app2, "panhe-ms", "camera", "cam-dg-01") == "unknown"  # not all down at boot
        await wait_for(lambda: state(app2, "panhe-ms", "camera", "cam-dg-01") == "down", TIMEOUT + 2)
    finally:
        dev.close()
        await app2.stop()


async def test_api_checks_token_role_and_school(running) -> None:
    app, _ = running
    assert (await get_json(app, "/api/v1/devices"))[0] == 401
    assert (await get_json(app, "/api/v1/devices", "csm_not-a-token"))[0] == 401
    officer = await token(app, "officer", ["other-ps"])
    bureau = await token(app, "bureau")
    crew = await token(app, "maintenance")
    status, body = await get_json(app, "/api/v1/devices", officer)
    assert status == 200
    assert {d["school"] for d in body["items"]} == {"other-ps"}
    assert (await get_json(app, "/api/v1/schools/panhe-ms", officer))[0] == 403
    assert (await get_json(app, "/api/v1/devices?school=panhe-ms", officer))[0] == 403
    assert (await get_json(app, "/api/v1/devices", crew))[0] == 403
    for dev in app.judge.devices():  # silent since start: one timeout on, unknown turns down; pin them down
        if dev.school == "panhe-ms" and dev.kind == "camera":
            app.judge.offline(dev, app.clock())
    status, body = await get_json(app, "/api/v1/devices?state=down&kind=camera&school=panhe-ms", bureau)
    assert status == 200
    assert {d["id"] for d in body["items"]} == {"cam-dg-01", "cam-dg-02", "cam-dg-03", "cam-ct-01"}
    status, body = await get_json(app, "/api/v1/devices?kind=alarm&school=panhe-ms", bureau)
    assert status == 200 and [d["id"] for d in body["items"]] == ["alarm-gate"]  # the kind filter holds
    status, body = await get_json(app, "/api/v1/devices?state=sleepy", bureau)
    assert status == 400 and "state" in body["error"]["message"]
    status, body = await get_json(app, "/api/v1/schools/panhe-ms", bureau)
    assert status == 200
    assert {z["id"]: z["cameras"] for z in body["zones"]} == {"dorm-girls": 3, "canteen": 1}


async def test_health_and_readiness(running) -> None:
    app, _ = running
    assert (await get_json(app, "/healthz"))[0] == 200
    status, body = await get_json(app, "/readyz")
    assert status == 200 and body["broker"] and body["database"]


async def test_readyz_is_not_ready_without_a_broker(tmp_path: Path) -> None:
    from tests.ports import free_port

    app = make_app(free_port(), tmp_path)
    await app.start()
    try:
        status, body = await get_json(app, "/readyz")
        assert status == 503 and body["broker"] is False
        text = await metrics_text(app)
        assert sample(text, "campus_mqtt_connected") == 0.0
    finally:
        await app.stop()


def test_database_holds_no_password_in_errors() -> None:
    db = Database("postgresql+psycopg://user:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in db.safe_url


async def test_an_alarm_event_from_a_down_panel_brings_it_back_and_clears_its_judgement(running) -> None:
    app, dev = running
    found = []
    app.watch.listeners.append(found.extend)
    await asyncio.to_thread(dev.send, "campus/panhe-ms/alarm/alarm-gate/status", "offline")
    await wait_for(lambda: state(app, "panhe-ms", "alarm", "alarm-gate") == "down", 2)
    await asyncio.to_thread(dev.send, "campus/panhe-ms/alarm/alarm-gate/event",
                            {"ts": time.time(), "event_id": "back-1", "type": "test"})
    await wait_for(lambda: state(app, "panhe-ms", "alarm", "alarm-gate") == "up", 2)
    panel = [(j.rule, j.active) for j in found if j.subject == "alarm-gate"]
    assert panel == [("alarm_panel_down", True), ("alarm_panel_down", False)]

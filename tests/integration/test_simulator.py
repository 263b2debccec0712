"""The simulator against a real Mosquitto: what it puts on the wire follows contract §2, killed devices
go silent, and its bad input is bad in the way it is labelled."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.model import KIND_OF_SEGMENT, Registry
from devices.payload import Invalid, decode_alarm_event, decode_fix, decode_heartbeat, decode_status
from devices.registry import parse_registry
from monitor.tools.simulator import BAD_KINDS, Action, Simulator, Verb, main, parse_action, run_load
from tests.integration.mosquitto import run_mosquitto
from tests.waiting import let_time_pass, wait_for, wait_until

pytestmark = pytest.mark.integration

REGISTRY = """
defaults:
  camera: {interval_s: 0.4, missed: 3}
  alarm: {interval_s: 0.4, missed: 3}
  gps: {interval_s: 0.4, missed: 6}
schools:
  - id: panhe-ms
    name: 盘河中学
    zones:
      - {id: dorm-girls, name: 女生宿舍, kind: dormitory, min_live: 2}
      - {id: canteen, name: 食堂, kind: canteen}
    cameras:
      - {id: cam-dg-01, zone: dorm-girls}
      - {id: cam-dg-02, zone: dorm-girls}
      - {id: cam-dg-03, zone: dorm-girls}
      - {id: cam-ct-01, zone: canteen}
    alarms:
      - {id: alarm-gate, location: 校门}
  - id: sayu-ms
    name: 洒渔中学
    zones:
      - {id: gate, name: 校门, kind: gate}
    cameras:
      - {id: cam-gt-01, zone: gate}
routes:
  - id: panhe-r1
    corridor_m: 150
    speed_limit_kmh: 60
    path: [[103.7171, 27.3382], [103.7204, 27.3417], [103.7260, 27.3440], [103.7301, 27.3502]]
buses:
  - {id: bus-023, plate: 云C·12345, school: panhe-ms, route: panhe-r1, capacity: 19}
"""

TOPIC = re.compile(r"^campus/([a-z0-9-]{1,64})/(camera|alarm|bus)/([a-z0-9-]{1,64})/(heartbeat|event|gps|status)$")


@dataclass(frozen=True)
class Msg:
    at: float
    topic: str
    payload: bytes
    retain: bool
    qos: int


class Recorder:
    """A paho subscriber to `campus/#` keeping every message with its time of arrival."""

    def __init__(self, port: int) -> None:
        self.messages: list[Msg] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda client, *a: client.subscribe("campus/#", qos=1)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(5)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Msg(time.monotonic(), msg.topic, msg.payload, bool(msg.retain), msg.qos))

    def of(self, suffix: str, device: str | None = None) -> list[Msg]:
        with self._lock:
            return [m for m in self.messages
                    if m.topic.endswith("/" + suffix) and (device is None or f"/{device}/" in m.topic)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def registry() -> Registry:
    return parse_registry(REGISTRY, "test.yaml")


@pytest.fixture
def recorder(mosquitto: tuple[str, int]) -> Iterator[Recorder]:
    rec = Recorder(mosquitto[1])
    yield rec
    rec.close()


def _url(mosquitto: tuple[str, int]) -> str:
    return f"mqtt://{mosquitto[0]}:{mosquitto[1]}"


async def _run(sim: Simulator, seconds: float) -> None:
    await sim.start()
    try:
        await let_time_pass(seconds)  # the simulator runs this long
    finally:
        await sim.stop()


def _registered(registry: Registry) -> set[tuple[str, str, str]]:
    return {(d.school, d.kind.value, d.id) for d in registry.devices()}


def _parse_topic(topic: str) -> tuple[str, str, str, str]:
    m = TOPIC.match(topic)
    assert m, topic
    school, segment, device, leaf = m.groups()
    return school, KIND_OF_SEGMENT[segment].value, device, leaf


async def test_every_device_announces_itself_and_reports_in_contract_form(
        mosquitto: tuple[str, int], recorder: Recorder, registry: Registry) -> None:
    await _run(Simulator(registry, _url(mosquitto)), 2.0)

    def reported() -> set[tuple[str, str, str]]:
        return {(s, k, d) for s, k, d, leaf in map(_parse_topic, (m.topic for m in list(recorder.messages)))
                if leaf in ("heartbeat", "gps")}

    await wait_for(lambda: reported() == _registered(registry), 5, "a report from every device")
    now = time.time()
    seen: set[tuple[str, str, str]] = set()
    for msg in recorder.messages:
        school, kind, device, leaf = _parse_topic(msg.topic)
        assert (school, kind, device) in _registered(registry), msg.topic
        if leaf == "heartbeat":
            assert kind in ("camera", "alarm")
            assert decode_heartbeat(msg.payload, now) is False  # valid, and not faulty
            seen.add((school, kind, device))
        elif leaf == "gps":
            fix = decode_fix(msg.payload, school, device, now)
            assert fix.speed_kmh is not None and 0 <= fix.speed_kmh <= 60
            seen.add((school, kind, device))
        elif leaf == "status":
            assert decode_status(msg.payload) is True and msg.qos == 1
    assert seen == _registered(registry)
    online = {(s, k, d) for s, k, d, _ in map(_parse_topic, (m.topic for m in recorder.of("status")))}
    assert online == _registered(registry)


async def test_online_status_is_retained_for_late_subscribers(
        mosquitto: tuple[str, int], registry: Registry) -> None:
    sim = Simulator(registry, _url(mosquitto))
    early = Recorder(mosquitto[1])
    await sim.start()
    try:
        await wait_for(lambda: len(early.of("status")) >= len(sim.devices), 5, "every device announced")
        early.close()
        late = Recorder(mosquitto[1])
        await wait_for(lambda: len(late.of("status")) >= len(sim.devices), 5, "a status of every device")
        retained = [m for m in late.of("status") if m.retain]
        late.close()
    finally:
        await sim.stop()
    assert {m.topic for m in retained} == {f"{d.topic}/status" for d in sim.devices}
    assert all(m.payload == b"online" for m in retained)


async def test_heartbeats_come_at_the_interval_and_are_spread_over_it(
        mosquitto: tuple[str, int], recorder: Recorder, registry: Registry) -> None:
    await _run(Simulator(registry, _url(mosquitto), rate=2.0), 2.0)  # every 0.2 s
    beats = recorder.of("heartbeat", "cam-dg-01")
    assert 8 <= len(beats) <= 11
    gaps = [b.at - a.at for a, b in zip(beats, beats[1:], strict=False)]
    assert all(0.1 < g < 0.3 for g in gaps), gaps
    firsts = sorted(recorder.of("heartbeat", d)[0].at for d in ("cam-dg-01", "cam-dg-02", "cam-dg-03", "cam-ct-01"))
    assert firsts[-1] - firsts[0] > 0.05, "the first heartbeats are spread, not a burst"


async def test_killed_camera_goes_silent_and_comes_back_when_revived(
        mosquitto: tuple[str, int], recorder: Recorder, registry: Registry) -> None:
    scenario = [Action(0.5, Verb.KILL, "panhe-ms/cam-dg-02", offline=True),
                Action(1.8, Verb.REVIVE, "panhe-ms/cam-dg-02")]
    sim = Simulator(registry, _url(mosquitto), scenario=scenario)
    await _run(sim, 2.6)
    statuses = recorder.of("status", "cam-dg-02")
    assert [m.payload for m in statuses] == [b"online", b"offline", b"online"]
    killed_at, revived_at = statuses[1].at, statuses[2].at
    beats = [m.at for m in recorder.of("heartbeat", "cam-dg-02")]
    assert not [t for t in beats if killed_at < t < revived_at - 0.01], "silent while killed"
    assert any(t >= revived_at - 0.01 for t in beats), "heartbeats again after revive"
    assert revived_at - killed_at == pytest.approx(1.3, abs=0.2)
    # its neighbour kept beating all along
    neighbour = [m.at for m in recorder.of("heartbeat", "cam-dg-01")]
    assert any(killed_at < t < revived_at for t in neighbour)


async def test_killing_a_whole_school_silences_only_that_school(
        mosquitto: tuple[str, int], recorder: Recorder, registry: Registry) -> None:
    sim = Simulator(registry, _url(mosquitto), scenario=[Action(0.0, Verb.KILL, "panhe-ms/*")])
    await _run(sim, 1.2)
    late = [m for m in recorder.messages if m.at - recorder.messages[0].at > 0.3 and "/status" not in m.topic]
    assert late and all("/sayu-ms/" in m.topic for m in late)


async def test_bad_payloads_are_bad_the_way_they_are_labelled(
        mosquitto: tuple[str, int], recorder: Recorder, registry: Registry) -> None:
    sim = Simulator(registry, _url(mosquitto), rate=0.01)  # no heartbeat traffic to speak of
    await sim.start()
    try:
        sent = sim.send_bad(count=len(BAD_KINDS))
        await wait_for(lambda: {(b.topic, b.payload) for b in sent} <= {(m.topic, m.payload) for m in list(recorder.messages)},
                       5, "every bad payload through the broker")
    finally:
        await sim.stop()
    assert [m.kind for m in sent] == list(BAD_KINDS)
    registered = _registered(registry)
    received = {(m.topic, m.payload) for m in recorder.messages}
    now = time.time()
    for bad in sent:
        assert (bad.topic, bad.payload) in received, bad.kind
        school, kind, device, leaf = _parse_topic(bad.topic)
        if (school, kind, device) not in registered:
            outcome = "unknown_device"
        else:
            with pytest.raises(Invalid):
                if leaf == "heartbeat":
                    decode_heartbeat(bad.payload, now)
                elif leaf == "gps":
                    decode_fix(bad.payload, school, device, now)
                else:
                    decode_alarm_event(bad.payload, school, device, now)
            outcome = "invalid"
        assert outcome == bad.outcome, bad.kind
    by_kind = {b.kind: b for b in sent}
    assert len(by_kind["oversize"].payload) > 4096
    assert b'"lat": 127.33' in by_kind["lat_out_of_range"].payload


async def test_alarm_press_and_cancel_are_qos1_events_with_unique_ids(
        mosquitto: tuple[str, int], recorder: Recorder, registry: Registry) -> None:
    scenario = [Action(0.2, Verb.PRESS, "alarm-gate"), Action(0.4, Verb.CANCEL, "panhe-ms/alarm/alarm-gate"),
                Action(0.6, Verb.PRESS, "alarm-gate")]
    await _run(Simulator(registry, _url(mosquitto), scenario=scenario), 1.0)
    now = time.time()
    events = [decode_alarm_event(m.payload, "panhe-ms", "alarm-gate", now) for m in recorder.of("event")]
    assert [e.type for e in events] == ["press", "cancel", "press"]
    assert len({e.event_id for e in events}) == 3
    assert all(m.qos == 1 for m in recorder.of("event"))


def _distance_to_path_m(lon: float, lat: float, path: tuple[tuple[float, float], ...]) -> float:
    kx = 111_320.0 * math.cos(math.radians(lat))
    px, py = lon * kx, lat * 111_320.0
    best = math.inf
    for (ax, ay), (bx, by) in zip(path, path[1:], strict=False):
        ax, ay, bx, by = ax * kx, ay * 111_320.0, bx * kx, by * 111_320.0
        dx, dy = bx - ax, by - ay
        f = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(px - ax - f * dx, py - ay - f * dy))
    return best


async def test_bus_follows_its_route_then_leaves_it_and_speeds_when_told(
        mosquitto: tuple[str, int], recorder: Recorder, registry: Registry) -> None:
    scenario = [Action(1.0, Verb.OFF_ROUTE, "bus-023", offset_m=600, duration_s=10),
                Action(1.0, Verb.OVERSPEED, "bus-023", speed_kmh=88, duration_s=10)]
    # rate 0.04: a fix every 10 s of bus time would be too slow for a test; so drive the bus
    # with the registry's 0.4 s interval and let it move 0.4 s per fix.
    await _run(Simulator(registry, _url(mosquitto), scenario=scenario), 4.0)
    path = registry.route("panhe-r1").path  # type: ignore[union-attr]
    fixes = [(m.at, decode_fix(m.payload, "panhe-ms", "bus-023", time.time())) for m in recorder.of("gps")]
    t0 = fixes[0][0]
    before = [f for t, f in fixes if t - t0 < 0.9]
    after = [f for t, f in fixes if t - t0 > 1.2]
    assert before and all(_distance_to_path_m(f.lon, f.lat, path) < 150 for f in before)
    assert all(f.speed_kmh is not None and f.speed_kmh < 60 for f in before)
    assert all(f.speed_kmh == 88 for f in after)
    # leaving at 12 m/s sideways, 0.4 s a fix: the distance grows fix after fix
    distances = [_distance_to_path_m(f.lon, f.lat, path) for f in after]
    assert distances[-1] > distances[0] + 10


@pytest.mark.parametrize("engine", ["raw", "paho"])
def test_load_mode_delivers_every_heartbeat(mosquitto: tuple[str, int], recorder: Recorder,
                                            registry: Registry, engine: str) -> None:
    result = run_load(_url(mosquitto), registry, devices=5, messages=5000, engine=engine)
    assert result.sent == 5000 and result.devices == 5
    beats = wait_until(lambda: [] if len(recorder.of("heartbeat")) < 5000 else recorder.of("heartbeat"), 10,
                       "5000 heartbeats at the subscriber")
    assert len(beats) == 5000
    assert {_parse_topic(m.topic)[2] for m in beats} == {"cam-dg-01", "cam-dg-02", "cam-dg-03", "cam-ct-01",
                                                         "alarm-gate"}
    assert all(decode_heartbeat(m.payload, time.time()) is False for m in beats[::100])


def test_load_mode_keeps_to_a_set_rate(mosquitto: tuple[str, int], registry: Registry) -> None:
    result = run_load(_url(mosquitto), registry, devices=5, per_second=2000, duration_s=1.0)
    assert result.per_second == pytest.approx(2000, rel=0.1)


def test_command_line_runs_for_its_duration_and_prints_counts(
        mosquitto: tuple[str, int], recorder: Recorder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry_file = tmp_path / "registry.yaml"
    registry_file.write_text(REGISTRY, encoding="utf-8")
    rc = main(["--broker", _url(mosquitto), "--registry", str(registry_file), "--duration", "1.5",
               "--report-every", "0.5", "--kill", "cam-gt-01", "--kill-after", "0.2", "--bad-payloads", "3"])
    assert rc == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("t+")]
    assert len(lines) == 3
    assert "down 1" in lines[-1] and "bad 3" in lines[-1]
    assert len(recorder.of("heartbeat", "cam-dg-01")) >= 3


def test_command_line_rejects_an_unknown_device(
        mosquitto: tuple[str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry_file = tmp_path / "registry.yaml"
    registry_file.write_text(REGISTRY, encoding="utf-8")
    rc = main(["--broker", _url(mosquitto), "--registry", str(registry_file), "--kill", "cam-nope"])
    assert rc == 2
    assert "cam-nope" in capsys.readouterr().err


async def test_flapping_camera_goes_down_and_up_the_scripted_number_of_times(
        mosquitto: tuple[str, int], recorder: Recorder, registry: Registry) -> None:
    flap = parse_action("0.3 flap panhe-ms/cam-ct-01 down_s=0.5 up_s=0.5 cycles=2 offline=true")
    await _run(Simulator(registry, _url(mosquitto), scenario=[flap]), 2.2)
    statuses = recorder.of("status", "cam-ct-01")
    assert [m.payload for m in statuses] == [b"online", b"offline", b"online", b"offline", b"online"]
    downs = [(a.at, b.at) for a, b in zip(statuses[1::2], statuses[2::2], strict=True)]
    beats = [m.at for m in recorder.of("heartbeat", "cam-ct-01")]
    assert all(not [t for t in beats if off < t < on - 0.01] for off, on in downs)
    assert all(on - off == pytest.approx(0.5, abs=0.15) for off, on in downs)


async def test_faulty_camera_keeps_beating_with_status_fault(
        mosquitto: tuple[str, int], recorder: Recorder, registry: Registry) -> None:
    scenario = [Action(0.0, Verb.FAULT, "panhe-ms/cam-dg-03")]
    await _run(Simulator(registry, _url(mosquitto), scenario=scenario), 1.0)
    now = time.time()
    faulty = [decode_heartbeat(m.payload, now) for m in recorder.of("heartbeat", "cam-dg-03")]
    assert len(faulty) >= 2 and all(faulty)
    assert not any(decode_heartbeat(m.payload, now) for m in recorder.of("heartbeat", "cam-dg-01"))


async def test_after_a_broker_restart_devices_announce_themselves_again_and_keep_reporting(
        tmp_path: Path, registry: Registry) -> None:
    with run_mosquitto(tmp_path / "first") as port:
        sim = Simulator(registry, f"mqtt://127.0.0.1:{port}")
        await sim.start()
    try:
        await let_time_pass(0.5)  # the broker is gone; the simulator keeps going
        with run_mosquitto(tmp_path / "second", port=port):
            rec = Recorder(port)
            every = {f"{d.topic}/status" for d in sim.devices}
            await wait_for(lambda: {m.topic for m in rec.of("status") if m.payload == b"online"} == every
                           and rec.of("heartbeat", "cam-dg-01") and rec.of("gps", "bus-023"),
                           10, "every device back (paho retries after 1 s, then 2 s)")
            rec.close()
    finally:
        await sim.stop()
    assert {m.topic for m in rec.of("status") if m.payload == b"online"} == {f"{d.topic}/status" for d in sim.devices}
    assert rec.of("heartbeat", "cam-dg-01") and rec.of("gps", "bus-023")

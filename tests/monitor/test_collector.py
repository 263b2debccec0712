"""The collector's message handling without a broker: messages are fed the way its paho callback
receives them (topic, payload, retain, QoS), on a fixed clock; outcomes are read from its counters,
judgements and alarm events from a recording sink, acknowledgements from a stand-in paho client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest

from devices.events import AlarmEvent, Fix, Judgement, Rule
from devices.judge import Judge
from devices.liveness import Device
from devices.model import DeviceKind
from devices.payload import Outcome
from monitor.config import MqttConfig
from monitor.mqtt.collector import Collector
from tests.registries import small_registry

T0 = 1_764_000_000.0


class Sink:
    """Records what the collector hands on; alarm events keep their `ack` for the test to call."""

    def __init__(self) -> None:
        self.judged: list[Judgement] = []
        self.events: list[tuple[str, AlarmEvent, Callable[[Outcome | None], None]]] = []
        self.fixes: list[tuple[str, Fix]] = []
        self.fail_judgements = False

    def judgements(self, items: list[Judgement]) -> None:
        if self.fail_judgements:
            raise RuntimeError("the sink broke")
        self.judged.extend(items)

    def alarm_event(self, dev: Device, ev: AlarmEvent, done: Callable[[Outcome | None], None]) -> None:
        self.events.append((dev.id, ev, done))

    def fix(self, dev: Device, fix: Fix) -> list[Judgement]:
        self.fixes.append((dev.id, fix))
        return []

    def link(self, up: bool, now: float) -> None:
        pass


class Paho:
    """The two things the collector asks of its paho client when a message is handled."""

    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acked.append(mid)


class Loop:
    def call_soon_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        fn(*args)


class Fed:
    def __init__(self) -> None:
        self.judge = Judge(small_registry())
        self.judge.restore({}, T0)
        self.judge.link_up(T0)
        self.sink = Sink()
        self.paho = Paho()
        self.collector = Collector(MqttConfig(), self.judge, self.sink, clock=lambda: T0)
        self.collector._client = self.paho  # type: ignore[assignment]  # deferred acks go to the client
        self.collector._loop = Loop()  # type: ignore[assignment]
        self._mids = iter(range(1, 10_000))

    def receive(self, topic: str, payload: bytes | str | dict[str, Any], retain: bool = False, qos: int = 1) -> int:
        """One message through the paho callback; returns its message id."""
        if isinstance(payload, dict):
            payload = orjson.dumps(payload)
        msg = mqtt.MQTTMessage(next(self._mids), topic.encode())
        msg.payload = payload.encode() if isinstance(payload, str) else payload
        msg.retain = retain
        msg.qos = qos
        self.collector._on_message(self.paho, None, msg)  # type: ignore[arg-type]
        return msg.mid

    def count(self, kind: str, outcome: Outcome) -> int:
        return self.collector.counts[(kind, outcome)]

    def state(self, kind: DeviceKind, device: str, school: str = "panhe-ms") -> str:
        return str(self.judge.liveness.devices[(school, kind, device)].state)


@pytest.fixture
def fed() -> Fed:
    return Fed()


HEARTBEAT = "campus/panhe-ms/camera/cam-dg-01/heartbeat"


def test_a_live_heartbeat_is_accepted_and_brings_the_camera_up(fed: Fed) -> None:
    fed.receive(HEARTBEAT, {"ts": T0, "status": "ok"})
    assert fed.count("camera", Outcome.ACCEPTED) == 1
    assert fed.state(DeviceKind.CAMERA, "cam-dg-01") == "up"


def test_a_fault_heartbeat_makes_the_camera_faulty_but_alive(fed: Fed) -> None:
    fed.receive(HEARTBEAT, {"ts": T0, "status": "fault"})
    assert fed.count("camera", Outcome.ACCEPTED) == 1
    assert fed.state(DeviceKind.CAMERA, "cam-dg-01") == "faulty"


def test_a_retained_heartbeat_is_a_duplicate_and_not_liveness(fed: Fed) -> None:
    fed.receive(HEARTBEAT, {"ts": T0, "status": "ok"}, retain=True)
    assert fed.count("camera", Outcome.DUPLICATE) == 1
    assert fed.count("camera", Outcome.ACCEPTED) == 0
    assert fed.state(DeviceKind.CAMERA, "cam-dg-01") == "unknown"


def test_a_retained_gps_fix_is_a_duplicate_and_never_reaches_the_bus_rules(fed: Fed) -> None:
    fed.receive("campus/panhe-ms/bus/bus-023/gps", {"ts": T0, "lat": 27.3382, "lon": 103.7171, "speed_kmh": 30},
                retain=True)
    assert fed.count("gps", Outcome.DUPLICATE) == 1
    assert fed.sink.fixes == []


def test_a_live_gps_fix_is_accepted_and_handed_to_the_bus_rules(fed: Fed) -> None:
    fed.receive("campus/panhe-ms/bus/bus-023/gps", {"ts": T0, "lat": 27.3382, "lon": 103.7171, "speed_kmh": 30})
    assert fed.count("gps", Outcome.ACCEPTED) == 1
    [(bus, fix)] = fed.sink.fixes
    assert (bus, fix.lat, fix.lon, fix.speed_kmh) == ("bus-023", 27.3382, 103.7171, 30)
    assert fed.state(DeviceKind.GPS, "bus-023") == "up"


@pytest.mark.parametrize(("payload", "why"), [
    (b"not json", "not JSON"),
    (b'{"ts": "soon", "status": "ok"}', "ts not a time"),
    (b'{"ts": 1764000000, "status": "sleepy"}', "unknown status"),
    (orjson.dumps({"ts": T0, "status": "ok", "pad": "x" * 5000}), "over 4 KiB"),
    (orjson.dumps({"ts": T0 + 301, "status": "ok"}), "more than 5 minutes ahead"),
])
def test_an_undecodable_heartbeat_is_counted_invalid_and_dropped(fed: Fed, payload: bytes, why: str) -> None:
    fed.receive(HEARTBEAT, payload)
    assert fed.count("camera", Outcome.INVALID) == 1, why
    assert fed.state(DeviceKind.CAMERA, "cam-dg-01") == "unknown"


def test_a_message_from_an_unregistered_device_is_counted_unknown_device(fed: Fed) -> None:
    fed.receive("campus/panhe-ms/camera/cam-ghost/heartbeat", {"ts": T0, "status": "ok"})
    fed.receive("campus/ghost-school/bus/bus-023/gps", {"ts": T0, "lat": 27.3, "lon": 103.7})
    assert fed.count("camera", Outcome.UNKNOWN_DEVICE) == 1
    assert fed.count("gps", Outcome.UNKNOWN_DEVICE) == 1


def test_a_topic_outside_the_contract_is_counted_invalid_of_unknown_kind(fed: Fed) -> None:
    fed.receive("elsewhere/entirely", b"{}")
    fed.receive("campus/panhe-ms/lamp/lamp-1/heartbeat", {"ts": T0, "status": "ok"})
    assert fed.count("unknown", Outcome.INVALID) == 2


def test_a_leaf_a_registered_device_does_not_have_is_counted_invalid_under_its_kind(fed: Fed) -> None:
    fed.receive("campus/panhe-ms/camera/cam-dg-01/snapshot", b"{}")
    fed.receive("campus/panhe-ms/camera/cam-dg-01/event", {"ts": T0, "event_id": "e-1", "type": "press"})
    assert fed.count("camera", Outcome.INVALID) == 2
    assert fed.sink.events == []


def test_a_bus_heartbeat_keeps_its_gps_unit_alive_without_a_fix(fed: Fed) -> None:
    fed.receive("campus/panhe-ms/bus/bus-023/heartbeat", {"ts": T0, "status": "ok"})
    assert fed.count("gps", Outcome.ACCEPTED) == 1
    assert fed.sink.fixes == []  # no position: nothing for the bus rules
    assert fed.judge.liveness.devices[("panhe-ms", DeviceKind.GPS, "bus-023")].last_seen == T0


def test_a_bus_emergency_button_is_an_alarm_event_acknowledged_once_stored(fed: Fed) -> None:
    mid = fed.receive("campus/panhe-ms/bus/bus-023/event", {"ts": T0, "event_id": "b-1", "type": "press"})
    [(device, event, done)] = fed.sink.events
    assert (device, event.event_id, event.type) == ("bus-023", "b-1", "press")
    assert fed.paho.acked == []
    done(Outcome.ACCEPTED)
    assert fed.paho.acked == [mid]


def test_an_offline_status_marks_a_heard_camera_down_at_once_and_passes_on_camera_down(fed: Fed) -> None:
    fed.receive(HEARTBEAT, {"ts": T0, "status": "ok"})
    fed.receive("campus/panhe-ms/camera/cam-dg-01/status", "offline")
    assert fed.state(DeviceKind.CAMERA, "cam-dg-01") == "down"
    assert [(j.rule, j.subject, j.active) for j in fed.sink.judged] == [(Rule.CAMERA_DOWN, "cam-dg-01", True)]


def test_a_retained_online_status_is_not_liveness_but_a_live_one_is(fed: Fed) -> None:
    fed.receive("campus/panhe-ms/camera/cam-dg-01/status", "online", retain=True)
    assert fed.state(DeviceKind.CAMERA, "cam-dg-01") == "unknown"
    fed.receive("campus/panhe-ms/camera/cam-dg-01/status", "online")
    assert fed.state(DeviceKind.CAMERA, "cam-dg-01") == "up"
    assert fed.count("camera", Outcome.ACCEPTED) == 2


def test_a_heartbeat_is_acknowledged_at_once(fed: Fed) -> None:
    mid = fed.receive(HEARTBEAT, {"ts": T0, "status": "ok"})
    assert fed.paho.acked == [mid]


def test_an_alarm_event_is_acknowledged_only_once_the_sink_has_stored_it(fed: Fed) -> None:
    mid = fed.receive("campus/panhe-ms/alarm/alarm-gate/event", {"ts": T0, "event_id": "e-1", "type": "press"})
    [(device, event, done)] = fed.sink.events
    assert (device, event.event_id, event.type) == ("alarm-gate", "e-1", "press")
    assert fed.paho.acked == []  # not stored yet: the broker keeps it
    done(Outcome.ACCEPTED)
    assert fed.paho.acked == [mid]
    assert fed.count("alarm", Outcome.ACCEPTED) == 1  # counted once it is stored


def test_an_invalid_alarm_event_is_counted_and_acknowledged_since_it_can_never_be_stored(fed: Fed) -> None:
    mid = fed.receive("campus/panhe-ms/alarm/alarm-gate/event", {"ts": T0, "event_id": "e-1", "type": "explode"})
    assert fed.count("alarm", Outcome.INVALID) == 1
    assert fed.sink.events == []
    assert fed.paho.acked == [mid]


def test_an_error_while_handling_is_counted_and_never_escapes_the_callback(fed: Fed) -> None:
    fed.sink.fail_judgements = True
    fed.receive(HEARTBEAT, {"ts": T0, "status": "ok"})
    fed.receive("campus/panhe-ms/camera/cam-dg-01/status", "offline")  # raises in the sink
    assert fed.count("unknown", Outcome.INVALID) == 1
    assert len(fed.paho.acked) == 2  # acknowledged all the same: it would only come back and fail again

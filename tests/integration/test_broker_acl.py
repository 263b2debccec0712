"""The generated password and ACL files in a real Mosquitto: each device publishes only as itself."""

from __future__ import annotations

import logging
import os
import queue
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from devices.registry import parse_registry
from monitor.tools.broker_config import check_password, main, read_credentials
from tests.integration.mosquitto import MOSQUITTO, run_mosquitto
from tests.registries import SMALL_REGISTRY
from tests.services import require_binary
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

TIMEOUT = 5.0


class Client:
    """A paho MQTT 5 client that records what it receives and the reason codes the broker sends."""

    def __init__(self, port: int, user: str | None, password: str | None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connected = threading.Event()
        self.connect_reason: mqtt.ReasonCode | None = None
        self.acks: dict[int, mqtt.ReasonCode] = {}
        self.acked = threading.Condition()
        self.granted: queue.Queue[list[mqtt.ReasonCode]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.granted.put(list(codes))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                    props: object) -> None:
        self.connect_reason = reason
        self.connected.set()

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: mqtt.ReasonCode,
                    props: object) -> None:
        with self.acked:
            self.acks[mid] = reason
            self.acked.notify_all()

    def wait_connected(self) -> mqtt.ReasonCode:
        assert self.connected.wait(TIMEOUT), "no CONNACK"
        assert self.connect_reason is not None
        return self.connect_reason

    def publish(self, topic: str, payload: bytes) -> mqtt.ReasonCode:
        """Publish at QoS 1 and return the PUBACK's reason code."""
        info = self.client.publish(topic, payload, qos=1)
        with self.acked:
            assert self.acked.wait_for(lambda: info.mid in self.acks, TIMEOUT), f"no PUBACK for {topic}"
            return self.acks[info.mid]

    def subscribe(self, topic: str) -> list[mqtt.ReasonCode]:
        self.client.subscribe(topic, qos=1)
        return self.granted.get(timeout=TIMEOUT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """A Mosquitto with the generated files, anonymous clients refused: yields (port, passwords)."""
    (tmp_path / "registry.yaml").write_text(SMALL_REGISTRY, encoding="utf-8")
    out = tmp_path / "broker"
    assert main(["--registry", str(tmp_path / "registry.yaml"), "--out", str(out)]) == 0
    # `user root`: started as root, Mosquitto would drop to `mosquitto`, who cannot read the pytest tmp dir
    conf = f"user root\nallow_anonymous false\npassword_file {out / 'passwd'}\nacl_file {out / 'acl'}\n"
    conf += (out / "mosquitto.conf").read_text(encoding="utf-8")
    with run_mosquitto(tmp_path / "mosquitto", conf) as port:
        yield port, read_credentials(out / "credentials.tsv")


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def connect(clients: list[Client], port: int, user: str | None, password: str | None) -> Client:
    c = Client(port, user, password)
    clients.append(c)
    return c


def test_a_device_publishing_as_another_device_is_refused_and_the_monitor_never_sees_it(broker, clients):
    port, passwords = broker
    monitor = connect(clients, port, "campus-monitor", passwords["campus-monitor"])
    assert not monitor.wait_connected().is_failure
    assert not any(code.is_failure for code in monitor.subscribe("campus/+/+/+/+"))
    intruder = connect(clients, port, "panhe-ms/camera/cam-dg-01", passwords["panhe-ms/camera/cam-dg-01"])
    assert not intruder.wait_connected().is_failure

    forged = [
        "campus/panhe-ms/camera/cam-dg-02/heartbeat",  # a neighbour in the same zone
        "campus/panhe-ms/camera/cam-dg-02/status",
        "campus/panhe-ms/alarm/alarm-gate/event",  # a fake alarm press
        "campus/other-ps/camera/cam-01/heartbeat",  # another school
        "campus/other-ps/camera/cam-dg-01/heartbeat",  # its own id under another school
        "campus/panhe-ms/bus/cam-dg-01/gps",  # its own id as another kind
        "campus/_monitor/status",
    ]
    for topic in forged:
        assert publish_refused(intruder, topic), topic
    own = "campus/panhe-ms/camera/cam-dg-01/heartbeat"
    assert intruder.publish(own, b'{"ts": 1, "status": "ok"}').value == 0

    # the broker keeps one connection's messages in order: the own heartbeat comes after anything forged
    topic, payload = monitor.messages.get(timeout=TIMEOUT)
    assert topic == own
    assert monitor.messages.empty()


def publish_refused(client: Client, topic: str) -> bool:
    """MQTT 5 PUBACK 0x87 (not authorised) is how Mosquitto says it dropped a publish."""
    return client.publish(topic, b'{"ts": 1, "status": "ok"}').value == 135


def test_every_device_account_may_publish_its_own_heartbeat_status_and_events(broker, clients):
    port, passwords = broker
    monitor = connect(clients, port, "campus-monitor", passwords["campus-monitor"])
    monitor.wait_connected()
    monitor.subscribe("campus/+/+/+/+")
    topics = {
        "panhe-ms/alarm/alarm-gate": "campus/panhe-ms/alarm/alarm-gate/event",
        "panhe-ms/bus/bus-023": "campus/panhe-ms/bus/bus-023/gps",
        "other-ps/camera/cam-01": "campus/other-ps/camera/cam-01/status",
    }
    for user, topic in topics.items():
        dev = connect(clients, port, user, passwords[user])
        assert not dev.wait_connected().is_failure, user
        assert dev.publish(topic, b"online").value == 0, topic
        assert monitor.messages.get(timeout=TIMEOUT)[0] == topic


def test_a_device_may_read_nothing_and_the_monitor_may_not_publish_as_a_device(broker, clients):
    port, passwords = broker
    dev = connect(clients, port, "panhe-ms/camera/cam-dg-01", passwords["panhe-ms/camera/cam-dg-01"])
    dev.wait_connected()
    dev.subscribe("campus/#")  # Mosquitto 2.0 grants the subscription and filters each message on delivery
    monitor = connect(clients, port, "campus-monitor", passwords["campus-monitor"])
    monitor.wait_connected()
    monitor.subscribe("campus/+/+/+/+")
    neighbour = connect(clients, port, "panhe-ms/camera/cam-dg-02", passwords["panhe-ms/camera/cam-dg-02"])
    neighbour.wait_connected()
    assert neighbour.publish("campus/panhe-ms/camera/cam-dg-02/heartbeat", b"{}").value == 0
    assert monitor.messages.get(timeout=TIMEOUT)[0] == "campus/panhe-ms/camera/cam-dg-02/heartbeat"
    with pytest.raises(queue.Empty):
        dev.messages.get(timeout=0.5)  # the monitor had it; the device, with no read rule, gets nothing

    assert publish_refused(monitor, "campus/panhe-ms/alarm/alarm-gate/event")
    assert monitor.publish("campus/_monitor/status", b"online").value == 0


def test_the_bridge_account_publishes_for_registry_devices_only_and_never_as_the_monitor(broker, clients):
    port, passwords = broker
    monitor = connect(clients, port, "campus-monitor", passwords["campus-monitor"])
    monitor.wait_connected()
    monitor.subscribe("campus/#")
    bridge = connect(clients, port, "campus-bridge", passwords["campus-bridge"])
    assert not bridge.wait_connected().is_failure
    refused = [
        "campus/_monitor/status",  # the monitor's own status
        "campus/panhe-ms/camera/cam-nope/heartbeat",  # no such device
        "campus/no-school/bus/bus-023/gps",  # no such school
        "campus/panhe-ms/camera/bus-023/heartbeat",  # a bus's id as a camera
        "campus/panhe-ms/camera/cam-dg-01/heartbeat/x",  # deeper than a device topic
    ]
    for topic in refused:
        assert publish_refused(bridge, topic), topic
    allowed = [
        "campus/panhe-ms/camera/cam-dg-01/heartbeat",
        "campus/panhe-ms/bus/bus-023/gps",
        "campus/panhe-ms/bus/bus-023/event",
        "campus/other-ps/camera/cam-01/status",
        "campus/_bridge/jt808/status",  # its own status (the bridges' Last Will)
    ]
    for topic in allowed:
        assert bridge.publish(topic, b'{"ts": 1, "status": "ok"}').value == 0, topic
    # in order, and nothing refused got through to the monitor (which reads device topics only)
    devices = allowed[:-1]
    assert [monitor.messages.get(timeout=TIMEOUT)[0] for _ in devices] == devices
    with pytest.raises(queue.Empty):
        bridge.messages.get(timeout=0.2)  # and it reads nothing


def test_each_bridge_has_its_own_account_for_the_devices_it_speaks_for_and_all_stay_connected(tmp_path, clients):
    from tests.bridges.conftest import REGISTRY as BRIDGE_REGISTRY  # terminals, gb_ids and an rtsp camera

    (tmp_path / "registry.yaml").write_text(BRIDGE_REGISTRY, encoding="utf-8")
    out = tmp_path / "broker"
    assert main(["--registry", str(tmp_path / "registry.yaml"), "--out", str(out)]) == 0
    passwords = read_credentials(out / "credentials.tsv")
    conf = f"user root\nallow_anonymous false\npassword_file {out / 'passwd'}\nacl_file {out / 'acl'}\n"
    conf += (out / "mosquitto.conf").read_text(encoding="utf-8")
    own = {
        "jt808": ["campus/panhe-ms/bus/bus-023/gps", "campus/panhe-ms/bus/bus-024/event"],
        "gb28181": ["campus/panhe-ms/nvr/nvr-1/heartbeat", "campus/panhe-ms/camera/cam-dg-01/status",
                    "campus/panhe-ms/camera/cam-solo/heartbeat"],
        "rtsp": ["campus/panhe-ms/camera/cam-gate-01/heartbeat"],
    }
    with run_mosquitto(tmp_path / "mosquitto", conf) as port:
        bridges = {name: connect(clients, port, f"campus-bridge-{name}", passwords[f"campus-bridge-{name}"])
                   for name in own}
        for name, bridge in bridges.items():
            assert not bridge.wait_connected().is_failure, name
        for name, bridge in bridges.items():  # all three at once: none takes another's connection
            for topic in own[name]:
                assert not bridge.publish(topic, b'{"ts": 1, "status": "ok"}').is_failure, (name, topic)  # 0 or 16
            assert not bridge.publish(f"campus/_bridge/{name}/status", b"online").is_failure
            others = [t for other, topics in own.items() if other != name for t in topics]
            for topic in [*others, "campus/_monitor/status", "campus/panhe-ms/bus/bus-099/gps",
                          f"campus/_bridge/{'rtsp' if name != 'rtsp' else 'jt808'}/status"]:
                assert publish_refused(bridge, topic), (name, topic)
        assert all(b.client.is_connected() for b in bridges.values())


def test_the_bridge_password_from_the_environment_and_no_bridge_account_when_asked(tmp_path, monkeypatch):
    (tmp_path / "registry.yaml").write_text(SMALL_REGISTRY, encoding="utf-8")
    monkeypatch.setenv("BRIDGE_PW", "bridge-secret")
    out = tmp_path / "broker"
    assert main(["--registry", str(tmp_path / "registry.yaml"), "--out", str(out), "--bridge-password-env", "BRIDGE_PW"]) == 0
    rows = [line.split("\t") for line in (out / "credentials.tsv").read_text().splitlines() if not line.startswith("#")]
    assert rows[0][0] == "campus-monitor"  # the monitor's account stays the first row
    assert ["campus-bridge", "bridge-secret", "campus/+/+/+/+"] in rows
    acl = (out / "acl").read_text()
    assert "user campus-bridge\ntopic write campus/panhe-ms/camera/cam-dg-01/+\n" in acl
    assert "topic write campus/_bridge/+/status" in acl
    assert main(["--registry", str(tmp_path / "registry.yaml"), "--out", str(out), "--bridge-user", ""]) == 0
    assert "campus-bridge" not in read_credentials(out / "credentials.tsv")
    assert "campus-bridge" not in (out / "acl").read_text()


def test_wrong_password_and_anonymous_clients_are_refused(broker, clients):
    port, passwords = broker
    assert connect(clients, port, "panhe-ms/camera/cam-dg-01", passwords["campus-monitor"]).wait_connected().is_failure
    assert connect(clients, port, None, None).wait_connected().is_failure


def test_the_files_are_what_mosquitto_and_an_operator_expect(tmp_path):
    (tmp_path / "registry.yaml").write_text(SMALL_REGISTRY, encoding="utf-8")
    out = tmp_path / "broker"
    args = ["--registry", str(tmp_path / "registry.yaml"), "--out", str(out)]
    assert main(args) == 0
    first = read_credentials(out / "credentials.tsv")
    assert stat.S_IMODE((out / "credentials.tsv").stat().st_mode) == 0o600
    assert len(first) == 2 + 4 + 5 + 1 + 1  # the monitor (two connections), the bridges (4), 5 cameras, 1 panel, 1 bus
    rows = [line.split("\t") for line in (out / "credentials.tsv").read_text().splitlines() if not line.startswith("#")]
    assert rows[0][0] == "campus-monitor" and rows[1][0] == "campus-monitor-events"  # the monitor's account first
    assert "use_username_as_clientid true" in (out / "mosquitto.conf").read_text().splitlines()
    assert not [line for line in (out / "mosquitto.conf").read_text().splitlines()
                if line.startswith(("password_file", "acl_file"))]  # the broker's config names them
    hashes = dict(line.split(":", 1) for line in (out / "passwd").read_text().splitlines())
    assert all(check_password(first[user], hashes[user]) for user in first)

    assert main(args) == 0  # again: the passwords devices were given stay
    assert read_credentials(out / "credentials.tsv") == first
    assert main([*args, "--rotate"]) == 0
    rotated = read_credentials(out / "credentials.tsv")
    assert set(rotated) == set(first) and all(rotated[u] != first[u] for u in first)


def test_mosquitto_passwd_hashes_are_read_back_by_our_check():
    """Our `$7$` hashes use Mosquitto's own recipe: a hash made by mosquitto_passwd checks out."""
    import tempfile

    tool = require_binary("mosquitto_passwd", "mosquitto", also=(str(Path(MOSQUITTO).with_name("mosquitto_passwd")),))
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "pw"
        subprocess.run([tool, "-b", "-c", str(f), "alice", "s3cret"], check=True, capture_output=True)
        hashed = f.read_text().strip().split(":", 1)[1]
    assert check_password("s3cret", hashed)
    assert not check_password("wrong", hashed)


def test_compose_style_passwords_from_the_environment_and_credentials_kept_apart(tmp_path, monkeypatch, clients):
    (tmp_path / "registry.yaml").write_text(SMALL_REGISTRY, encoding="utf-8")
    monkeypatch.setenv("MON_PW", "monitor-secret")
    monkeypatch.setenv("SIM_PW", "simulator-secret")
    out, creds = tmp_path / "broker", tmp_path / "secrets" / "mqtt.tsv"
    assert main(["--registry", str(tmp_path / "registry.yaml"), "--out", str(out), "--credentials", str(creds),
                 "--monitor-password-env", "MON_PW", "--simulator-user", "campus-simulator",
                 "--simulator-password-env", "SIM_PW"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["acl", "mosquitto.conf", "passwd"]  # no secrets
    assert read_credentials(creds)["campus-monitor"] == "monitor-secret"
    conf = f"user root\nallow_anonymous false\npassword_file {out / 'passwd'}\nacl_file {out / 'acl'}\n"
    with run_mosquitto(tmp_path / "mosquitto", conf) as port:
        monitor = connect(clients, port, "campus-monitor", "monitor-secret")
        assert not monitor.wait_connected().is_failure
        monitor.subscribe("campus/+/+/+/+")
        sim = connect(clients, port, "campus-simulator", "simulator-secret")
        assert not sim.wait_connected().is_failure
        assert sim.publish("campus/other-ps/camera/cam-01/heartbeat", b"{}").value == 0  # any device
        assert publish_refused(sim, "campus/_monitor/status")  # but never the monitor
        assert monitor.messages.get(timeout=TIMEOUT)[0] == "campus/other-ps/camera/cam-01/heartbeat"


def test_a_password_variable_that_is_not_set_is_an_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "registry.yaml").write_text(SMALL_REGISTRY, encoding="utf-8")
    monkeypatch.delenv("NOT_SET_PW", raising=False)
    assert main(["--registry", str(tmp_path / "registry.yaml"), "--out", str(tmp_path / "b"),
                 "--monitor-password-env", "NOT_SET_PW"]) == 1
    assert "$NOT_SET_PW is not set" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_the_compose_healthcheck_passes_with_the_monitor_account_and_fails_without(broker):
    port, passwords = broker
    require_binary("mosquitto_sub", "mosquitto-clients")  # the healthcheck command runs it
    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text(encoding="utf-8"))
    kind, command = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    command = command.replace("$$", "$").replace("-p 1883", f"-p {port}")
    for password, healthy in ((passwords["campus-monitor"], True), ("wrong", False)):
        done = subprocess.run(["sh", "-c", command], env={**os.environ, "MQTT_MONITOR_PASSWORD": password},
                              capture_output=True, text=True, timeout=10)
        assert (done.returncode == 0) is healthy, done.stderr


async def test_no_device_account_can_take_the_monitors_client_ids_or_disturb_its_session(broker, clients, tmp_path):
    """With the generated files (mosquitto.conf included), a device logging in with the monitor's client
    ids gets its own (its username): the monitor stays connected and a press still arrives."""
    import asyncio
    import dataclasses
    import time

    from devices.registry import parse_registry
    from monitor.app import App
    from monitor.config import MqttConfig
    from tests.integration.service import make_config

    port, passwords = broker
    cfg = make_config(port, f"sqlite:///{tmp_path / 'campus.db'}")
    cfg = dataclasses.replace(cfg, mqtt=MqttConfig(
        url=f"mqtt://campus-monitor:{passwords['campus-monitor']}@127.0.0.1:{port}", client_id="campus-monitor"))
    app = App(cfg, parse_registry(SMALL_REGISTRY, "registry.yaml"), ("registry.yaml", SMALL_REGISTRY))
    await app.start()
    try:
        await wait_for(lambda: app.collector.connected and app.events.connected, 10)
        assert app.events._logins[0][0] == "campus-monitor-events"  # its own account, so its own client id
        losses = []
        app.collector._client.on_disconnect = lambda *a: losses.append("devices")  # any drop at all
        app.events._client.on_disconnect = lambda *a: losses.append("events")
        user = "panhe-ms/camera/cam-dg-01"
        for client_id in ("campus-monitor", "campus-monitor-events") * 3:
            thief = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
            thief.username_pw_set(user, passwords[user])
            thief.connect("127.0.0.1", port)
            thief.loop_start()
            await asyncio.to_thread(thief.publish("campus/panhe-ms/camera/cam-dg-01/heartbeat",
                                                  b'{"ts": %f, "status": "ok"}' % time.time(), qos=1).wait_for_publish, 5)
            thief.disconnect()
            thief.loop_stop()
        panel = Client(port, "panhe-ms/alarm/alarm-gate", passwords["panhe-ms/alarm/alarm-gate"])
        clients.append(panel)
        panel.wait_connected()
        assert panel.publish("campus/panhe-ms/alarm/alarm-gate/event",
                             b'{"ts": %f, "event_id": "after-thieves", "type": "press"}' % time.time()).value == 0
        await wait_for(lambda: any(a.event_id == "after-thieves" for a in app.alerts.book.open_alerts()), 5)
        assert losses == []
        assert app.collector.connected and app.events.connected
    finally:
        await app.stop()


async def test_two_simulators_with_one_account_displace_each_other_and_say_why(tmp_path, caplog):
    """Behind `use_username_as_clientid` the client id is the account: a second simulator logged in as
    `campus-simulator` takes the first one's connection, in turn, and they say why."""
    from monitor.tools.simulator import Simulator

    caplog.set_level(logging.INFO, logger="monitor.tools.simulator")
    (tmp_path / "registry.yaml").write_text(SMALL_REGISTRY, encoding="utf-8")
    out = tmp_path / "broker"
    assert main(["--registry", str(tmp_path / "registry.yaml"), "--out", str(out), "--simulator-user",
                 "campus-simulator"]) == 0
    password = read_credentials(out / "credentials.tsv")["campus-simulator"]
    conf = f"user root\nallow_anonymous false\npassword_file {out / 'passwd'}\nacl_file {out / 'acl'}\n"
    conf += (out / "mosquitto.conf").read_text(encoding="utf-8")
    registry = parse_registry(SMALL_REGISTRY, "registry.yaml")
    with run_mosquitto(tmp_path / "mosquitto", conf) as port:
        url = f"mqtt://campus-simulator:{password}@127.0.0.1:{port}"
        first = Simulator(registry, url, client_id="sim-a")
        second = Simulator(registry, url, client_id="sim-b")
        await first.start()
        try:
            await second.start()
            await wait_for(lambda: [r for r in caplog.records if "another client connected" in r.getMessage()], 10,
                           "the displaced simulator saying why")
        finally:
            await second.stop()
            await first.stop()

"""mqtts:// with a CA, over MQTT 5 and 3.1.1, on a real Mosquitto with certificates made by openssl;
a broker whose certificate another CA signed is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import time
from pathlib import Path

import pytest

from devices.registry import parse_registry
from monitor.app import App
from monitor.config import MqttConfig
from tests.integration.mosquitto import run_mosquitto
from tests.integration.service import make_config
from tests.registries import SMALL_REGISTRY
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_ca(dir: Path, name: str) -> tuple[Path, Path]:
    key, crt = dir / f"{name}.key", dir / f"{name}.crt"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2",
            "-subj", f"/CN={name}")
    return key, crt


def make_server_cert(dir: Path, ca_key: Path, ca_crt: Path) -> tuple[Path, Path]:
    key, csr, crt = dir / "server.key", dir / "server.csr", dir / "server.crt"
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    ext = dir / "ext.cnf"
    ext.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(crt), "-days", "2", "-extfile", str(ext))
    return key, crt


@pytest.fixture
def tls_broker(tmp_path: Path):
    certs = tmp_path / "certs"
    certs.mkdir()
    ca_key, ca_crt = make_ca(certs, "campus-ca")
    _, other_ca = make_ca(certs, "other-ca")
    key, crt = make_server_cert(certs, ca_key, ca_crt)
    # the test listener is plain; a second one on its own port speaks TLS
    from tests.ports import free_port

    tls_port = free_port()
    # `user root`: started as root, Mosquitto would drop to `mosquitto`, who cannot read the tmp dir
    conf = f"user root\nlistener {tls_port} 127.0.0.1\ncafile {ca_crt}\ncertfile {crt}\nkeyfile {key}\n"
    with run_mosquitto(tmp_path / "mosquitto", conf) as plain_port:
        yield plain_port, tls_port, ca_crt, other_ca


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_mqtts_with_the_right_ca_connects_and_takes_presses(tmp_path: Path, tls_broker, protocol: str) -> None:
    plain_port, tls_port, ca, _ = tls_broker
    cfg = make_config(plain_port, f"sqlite:///{tmp_path / 'campus.db'}")
    cfg = dataclasses.replace(cfg, mqtt=MqttConfig(url=f"mqtts://127.0.0.1:{tls_port}", client_id="tls-monitor",
                                                   protocol=protocol, ca_file=str(ca)))
    app = App(cfg, parse_registry(SMALL_REGISTRY, "registry.yaml"), ("registry.yaml", SMALL_REGISTRY))
    await app.start()
    try:
        await wait_for(lambda: app.collector.connected and app.events.connected, 10)
        from tests.integration.service import Device

        dev = Device(plain_port)  # the broker hands plain-port messages to TLS subscribers alike
        try:
            await asyncio.to_thread(dev.send, "campus/panhe-ms/alarm/alarm-gate/event",
                                    {"ts": time.time(), "event_id": "tls-1", "type": "press"})
            await wait_for(lambda: any(a.event_id == "tls-1" for a in app.alerts.book.open_alerts()), 5)
        finally:
            dev.close()
    finally:
        await app.stop()


async def test_mqtts_with_a_wrong_ca_is_refused(tmp_path: Path, tls_broker, caplog) -> None:
    plain_port, tls_port, _, other_ca = tls_broker
    cfg = make_config(plain_port, f"sqlite:///{tmp_path / 'campus.db'}")
    cfg = dataclasses.replace(cfg, mqtt=MqttConfig(url=f"mqtts://127.0.0.1:{tls_port}", client_id="tls-monitor",
                                                   protocol="5", ca_file=str(other_ca)))
    app = App(cfg, parse_registry(SMALL_REGISTRY, "registry.yaml"), ("registry.yaml", SMALL_REGISTRY))
    await app.start()
    try:
        await wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text, 10)
        assert not app.collector.connected and not app.events.connected
    finally:
        await app.stop()

"""Helpers to run the monitor in-process against a real broker, and to talk to it like a device would."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devices.registry import parse_registry
from monitor.app import App
from monitor.config import Config, DatabaseConfig, HttpConfig, MqttConfig
from monitor.storage.auth_tables import create_token
from tests.registries import SMALL_REGISTRY
from tests.waiting import let_time_pass, wait_for


def make_config(port: int, db_url: str, **mqtt: Any) -> Config:
    return Config(
        mqtt=MqttConfig(url=f"mqtt://127.0.0.1:{port}", client_id=f"monitor-test-{port}", **mqtt),
        database=DatabaseConfig(url=db_url, persist_every_s=0.2),
        http=HttpConfig(listen="127.0.0.1:0"),
    )


def make_app(port: int, tmp_path: Path, text: str = SMALL_REGISTRY, db_url: str | None = None) -> App:
    registry = parse_registry(text, "registry.yaml")
    return App(make_config(port, db_url or f"sqlite:///{tmp_path / 'campus.db'}"), registry, ("registry.yaml", text))


@contextlib.asynccontextmanager
async def serving(app: App, port: int) -> AsyncIterator[tuple[App, Device]]:
    """`app` started and connected to the broker on `port`, with a device client; both stopped after."""
    await app.start()
    try:
        # subscribed, not only connected: an event published before the events connection's SUBACK
        # would find no session to wait in (its first connection) and be lost to the test
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5,
                       "the monitor subscribed on both connections")
        dev = Device(port)
        try:
            yield app, dev
        finally:
            dev.close()
    finally:
        await app.stop()


class Device:
    """A paho publisher standing in for the district's devices."""

    def __init__(self, port: int, client_id: str = "") -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes | str | dict[str, Any], qos: int = 1, retain: bool = False) -> None:
        if isinstance(payload, dict):
            payload = orjson.dumps(payload)
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(5)

    def beat(self, school: str, kind: str, dev: str, status: str = "ok") -> None:
        self.send(f"campus/{school}/{kind}/{dev}/heartbeat", {"ts": time.time(), "status": status})

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def keep_beating(dev: Device, stop: asyncio.Event, names: list[tuple[str, str, str]]) -> None:
    """Heartbeats for `names` every 0.2 s until `stop` is set."""
    while not stop.is_set():
        for school, kind, device in names:
            await asyncio.to_thread(dev.beat, school, kind, device)
        await let_time_pass(0.2)  # the heartbeat interval


def state(app: App, school: str, kind: str, dev: str) -> str:
    from devices.model import DeviceKind

    return str(app.judge.liveness.devices[(school, DeviceKind(kind), dev)].state)


async def token(app: App, role: str, schools: list[str] | None = None) -> str:
    _, tok = await app.db.call(create_token, role, schools or [], f"test {role}")
    return tok


async def get_json(app: App, path: str, tok: str | None = None) -> tuple[int, Any]:
    host, port = app.http_address  # type: ignore[misc]
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    async with aiohttp.ClientSession() as s, s.get(f"http://{host}:{port}{path}", headers=headers) as r:
        body = await r.read()
        try:
            return r.status, orjson.loads(body)
        except orjson.JSONDecodeError:
            return r.status, body.decode()


async def metrics_text(app: App) -> str:
    status, body = await get_json(app, "/metrics")
    assert status == 200
    return str(body)


def sample(text: str, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None

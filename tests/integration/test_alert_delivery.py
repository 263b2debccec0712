"""From an MQTT message to the bureau's webhook, through the running monitor (contract §3, §4)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alerts.routing import parse_receivers
from devices.registry import parse_registry
from monitor.app import App
from monitor.config import AlertsConfig
from tests.integration.service import Device, make_config
from tests.ports import free_port
from tests.registries import SMALL_REGISTRY
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def webhook():
    received: list[tuple[float, dict[str, str], dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((time.monotonic(), dict(request.headers), await request.json()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", received
    await runner.cleanup()


def alerts_of(received: list[tuple[float, dict[str, str], dict[str, Any]]]) -> list[dict[str, Any]]:
    return [a for _, _, body in received for a in body["alerts"]]


async def test_press_reaches_the_webhook_at_once_and_camera_down_follows(
    tmp_path: Path, mosquitto: tuple[str, int], webhook
) -> None:
    url, received = webhook
    cfg = dataclasses.replace(
        make_config(mosquitto[1], f"sqlite:///{tmp_path / 'campus.db'}"),
        alerts=AlertsConfig(group_window_s=0.5),
        receivers=tuple(parse_receivers([{"kind": "webhook", "name": "bureau", "url": url}])),
    )
    app = App(cfg, parse_registry(SMALL_REGISTRY, "registry.yaml"), ("registry.yaml", SMALL_REGISTRY))
    await app.start()
    dev = Device(mosquitto[1])
    try:
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
        sent = time.monotonic()
        await asyncio.to_thread(dev.send, "campus/panhe-ms/alarm/alarm-gate/event",
                                {"ts": time.time(), "event_id": "p-1", "type": "press"})
        await wait_for(lambda: any(a["rule"] == "alarm_pressed" for a in alerts_of(received)), 3)
        at, headers, body = next(r for r in received if any(a["rule"] == "alarm_pressed" for a in r[2]["alerts"]))
        assert at - sent < 1.0
        assert headers["Content-Type"].startswith("application/json")
        assert headers.get("Idempotency-Key")
        press = body["alerts"][0]
        assert body["receiver"] == "bureau"
        assert (press["state"], press["severity"], press["school"], press["subject"]) == (
            "firing", "critical", "panhe-ms", "alarm-gate")
        assert "盘河中学" in press["summary"]

        await asyncio.to_thread(dev.send, "campus/panhe-ms/camera/cam-dg-01/status", "offline")
        await wait_for(lambda: any(a["rule"] == "camera_down" for a in alerts_of(received)), 4)
        down = next(a for a in alerts_of(received) if a["rule"] == "camera_down")
        assert (down["subject"], down["zone"], down["severity"], down["state"]) == (
            "cam-dg-01", "dorm-girls", "critical", "firing")
        await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-dg-01")
        await wait_for(lambda: any(a["rule"] == "camera_down" and a["state"] == "resolved"
                                   for a in alerts_of(received)), 4)
        keys = [h.get("Idempotency-Key") for _, h, _ in received]
        assert len(keys) == len(set(keys))  # one key per message, none twice
    finally:
        dev.close()
        await app.stop()


async def test_a_message_nobody_takes_becomes_a_dead_letter_the_bureau_can_see(
    tmp_path: Path, mosquitto: tuple[str, int]
) -> None:
    from tests.integration.service import get_json, token

    cfg = dataclasses.replace(
        make_config(mosquitto[1], f"sqlite:///{tmp_path / 'campus.db'}"),
        alerts=AlertsConfig(group_window_s=0, dead_letter_after_s=0.5),
        receivers=tuple(parse_receivers([{"kind": "webhook", "name": "gone", "url": f"http://127.0.0.1:{free_port()}/hook"}])),
    )
    app = App(cfg, parse_registry(SMALL_REGISTRY, "registry.yaml"), ("registry.yaml", SMALL_REGISTRY))
    await app.start()
    dev = Device(mosquitto[1])
    try:
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
        await asyncio.to_thread(dev.send, "campus/panhe-ms/alarm/alarm-gate/event",
                                {"ts": time.time(), "event_id": "p-dead", "type": "press"})
        bureau = await token(app, "bureau")
        officer = await token(app, "officer", ["panhe-ms"])

        async def dead_letters() -> list[dict[str, Any]]:
            status, body = await get_json(app, "/api/v1/notifications?state=dead", bureau)
            assert status == 200
            return list(body["items"])

        dead = await wait_for(dead_letters, 10, "a dead letter")
        assert dead and dead[0]["receiver"] == "gone" and dead[0]["state"] == "dead"
        assert (await get_json(app, "/api/v1/notifications", officer))[0] == 403
        text = (await get_json(app, "/metrics"))[1]
        assert 'campus_notifications_total{outcome="dead",receiver="gone"}' in text
    finally:
        dev.close()
        await app.stop()

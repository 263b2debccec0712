"""A refused SUBACK never passes silently: the monitor logs it, is not ready, and subscribes again.

Mosquitto 2.0 grants every subscription (its ACL filters deliveries instead), so the refusal is fed
to the collector's SUBACK callback on a real connection; NATS's MQTT refuses for real while a
cluster node is lost (issue 13)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from tests.integration.mosquitto import run_mosquitto
from tests.integration.service import get_json, make_app

pytestmark = pytest.mark.integration


async def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_a_refused_subscription_leaves_the_monitor_not_ready_until_granted(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="monitor.mqtt.collector")
    with run_mosquitto(tmp_path / "broker") as port:
        app = make_app(port, tmp_path)
        await app.start()
        collector = app.collector
        try:
            async def ready() -> bool:
                return (await get_json(app, "/readyz"))[0] == 200

            await _until(ready)
            mid = collector._sub_mid
            assert mid is not None
            refused = [ReasonCode(PacketTypes.SUBACK, identifier=0x80)] + [ReasonCode(PacketTypes.SUBACK, identifier=1)] * 3
            collector._on_subscribe(collector._client, None, mid, refused, None)
            status, body = await get_json(app, "/readyz")
            assert status == 503 and body["broker"] is True and body["subscribed"] is False
            assert "refused 1 of 4 subscriptions" in caplog.text

            async def granted_again() -> bool:
                return collector._sub_mid != mid and collector.subscribed

            await _until(granted_again)  # it subscribed again by itself, and the real broker granted it
            assert await ready()
        finally:
            await app.stop()

"""The bridges' publisher: refuses non-registry topics, buffers (bounded) while the broker is away."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridges.metrics import Stats
from bridges.publisher import Publisher
from monitor.config import MqttConfig
from tests.bridges.mqtt_sub import Subscriber, until
from tests.integration.mosquitto import run_mosquitto
from tests.ports import free_port

PREFIX = "campus/panhe-ms/camera/cam-dg-01"


def test_refuses_a_device_outside_the_registry() -> None:
    stats = Stats("test")
    pub = Publisher(MqttConfig(url="mqtt://127.0.0.1:1"), "test", {PREFIX}, stats, buffer=2)
    assert not pub.publish("campus/panhe-ms/camera/cam-x", "heartbeat", b"{}")
    assert stats.failures["refused"] == 1 and not pub.buffer
    # not connected: kept, the oldest dropped past the bound
    for i in range(3):
        assert pub.publish(PREFIX, "heartbeat", str(i).encode())
    assert [p for _, p, _, _ in pub.buffer] == [b"1", b"2"] and stats.failures["dropped"] == 1


@pytest.mark.integration
async def test_buffered_while_the_broker_is_away_then_sent_in_order(tmp_path: Path) -> None:
    port = free_port()
    stats = Stats("test")
    pub = Publisher(MqttConfig(url=f"mqtt://127.0.0.1:{port}"), "test", {PREFIX}, stats, buffer=3)
    for i in range(5):  # no broker link yet
        pub.publish(PREFIX, "heartbeat", b'{"n": %d}' % i)
    assert len(pub.buffer) == 3 and stats.failures["dropped"] == 2
    with run_mosquitto(tmp_path / "mq", port=port):
        sub = Subscriber("127.0.0.1", port)
        await pub.start()
        try:
            await until(lambda: len(sub.on(f"{PREFIX}/heartbeat")) == 3, what="the buffered messages")
            assert sub.on(f"{PREFIX}/heartbeat") == [{"n": 2}, {"n": 3}, {"n": 4}]
            assert stats.publishes["heartbeat"] == 3 and not pub.buffer
        finally:
            sub.close()
            await pub.stop()


@pytest.mark.integration
async def test_reconnects_after_losing_the_broker_and_flushes(tmp_path: Path) -> None:
    port = free_port()
    stats = Stats("test")
    pub = Publisher(MqttConfig(url=f"mqtt://127.0.0.1:{port}", keepalive_s=2), "test", {PREFIX}, stats)
    try:
        with run_mosquitto(tmp_path / "mq1", port=port):
            await pub.start()
            await until(lambda: pub.connected, what="the first connect")
        await until(lambda: not pub.connected, what="the lost link")
        pub.publish(PREFIX, "heartbeat", b"{}")
        assert len(pub.buffer) == 1
        with run_mosquitto(tmp_path / "mq2", port=port):
            await until(lambda: pub.connected and not pub.buffer, timeout=40, what="reconnect and flush")
        assert stats.publishes["heartbeat"] == 1
    finally:
        await pub.stop()

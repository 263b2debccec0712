"""The bridges' publisher: refuses non-registry topics, buffers (bounded) while the broker is away."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridges.metrics import Stats
from bridges.publisher import _PAHO_QUEUE_MAX, Publisher
from monitor.config import MqttConfig
from tests.bridges.mqtt_sub import Subscriber, until
from tests.integration.mosquitto import run_mosquitto
from tests.ports import free_port
from tests.waiting import let_time_pass

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


@pytest.mark.integration
async def test_a_flood_waits_in_the_bounded_buffer_not_in_paho_and_arrives_in_order(tmp_path: Path) -> None:
    with run_mosquitto(tmp_path / "mq") as port:
        sub = Subscriber("127.0.0.1", port)
        stats = Stats("test")
        pub = Publisher(MqttConfig(url=f"mqtt://127.0.0.1:{port}"), "test", {PREFIX}, stats, buffer=100_000)
        await pub.start()
        try:
            await until(lambda: pub.connected, what="the broker link")
            for i in range(20_000):  # all at once, faster than any socket: paho's queue stays bounded
                pub.publish(PREFIX, "heartbeat", b'{"n": %d}' % i)
                assert pub._paho_backlog() <= _PAHO_QUEUE_MAX
            assert pub.buffer  # the rest waits with us, bounded and counted
            await until(lambda: len(sub.on(f"{PREFIX}/heartbeat")) == 20_000, timeout=30, what="every message")
            assert [m["n"] for m in sub.on(f"{PREFIX}/heartbeat")] == list(range(20_000))  # type: ignore[index]
            assert not pub.buffer and stats.publishes["heartbeat"] == 20_000 and not stats.failures
        finally:
            sub.close()
            await pub.stop()


async def test_paho_is_left_alone_while_it_connects_in_a_worker_thread(tmp_path: Path) -> None:
    """The loop neither reads, writes, pings nor publishes through paho while connect() runs in its worker
    (a reconnect under a flood once died there with "deque mutated during iteration")."""
    with run_mosquitto(tmp_path / "mq") as port:
        pub = Publisher(MqttConfig(url=f"mqtt://127.0.0.1:{port}"), "test", {PREFIX}, Stats("test"))
        client = pub._client
        touched: list[str] = []
        real_connect = client.connect
        connecting = threading.Event()
        release = threading.Event()

        in_connect = threading.Event()

        def slow_connect(*args: Any, **kwargs: Any) -> Any:
            in_connect.set()
            connecting.set()
            release.wait(5)
            try:
                return real_connect(*args, **kwargs)
            finally:
                in_connect.clear()

        def spy(name: str) -> Callable[..., Any]:
            real = getattr(client, name)

            def call(*args: Any, **kwargs: Any) -> Any:
                if in_connect.is_set() and threading.current_thread() is threading.main_thread():
                    touched.append(name)
                return real(*args, **kwargs)
            return call

        client.connect = slow_connect  # type: ignore[method-assign]
        for name in ("loop_read", "loop_write", "loop_misc", "publish"):
            setattr(client, name, spy(name))
        await pub.start()
        try:
            await until(connecting.is_set, what="connect() in its worker")
            for _ in range(50):  # what the loop does meanwhile: publishes, its tick, readiness callbacks
                pub.publish(PREFIX, "heartbeat", b"{}")
                pub._tick()
                pub._socket._writable()
                pub._socket._readable()
            release.set()
            await until(lambda: pub.connected and not pub.buffer, what="connected and flushed")
            assert touched == []
        finally:
            release.set()
            await pub.stop()


@pytest.mark.integration
async def test_an_idle_publisher_does_not_spin_on_a_writable_socket(tmp_path: Path) -> None:
    with run_mosquitto(tmp_path / "mq") as port:
        pub = Publisher(MqttConfig(url=f"mqtt://127.0.0.1:{port}"), "test", {PREFIX}, Stats("test"))
        client = pub._client
        real_loop_write = client.loop_write
        calls = [0]

        def counting() -> Any:
            calls[0] += 1
            return real_loop_write()

        client.loop_write = counting  # type: ignore[method-assign]
        await pub.start()
        try:
            await until(lambda: pub.connected, what="the broker link")
            for _ in range(10):
                pub.publish(PREFIX, "heartbeat", b"{}")
            await let_time_pass(0.2)  # the publishes leave
            calls[0] = 0
            await let_time_pass(0.5)  # at rest: nothing to write
            assert calls[0] <= 2, f"loop_write called {calls[0]} times in 0.5 s with nothing to write"
        finally:
            await pub.stop()

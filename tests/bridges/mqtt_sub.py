"""A subscriber that records what reaches the broker, and a wait with a deadline (never a bare sleep)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.waiting import wait_for


class Subscriber:
    def __init__(self, host: str, port: int, topic: str = "campus/#") -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{id(self)}")
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("subscriber did not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, topic: str) -> list[dict[str, object] | str]:
        with self._lock:
            items = [p for t, p, _ in self.messages if t == topic]
        return [orjson.loads(p) if p.startswith(b"{") else p.decode() for p in items]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def until(pred: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """The bridges' tests' spelling of `tests.waiting.wait_for` (a 10 s default, a finer step)."""
    await wait_for(pred, timeout, what, step=0.01)

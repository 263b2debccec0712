"""Helpers for fault tests and `bench/faults.py`: the monitor as a real process, a real webhook that
records every message, and a panel that presses at a steady rate.

    hook = Webhook(); hook.start()                   # a thread with its own loop, on a free port
    svc = Service(tmp, port, db_url, hook.url); svc.start(); svc.kill()   # kill -9
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from aiohttp import web
from paho.mqtt.enums import CallbackAPIVersion

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]

REGISTRY = """
defaults:
  camera: {interval_s: 1, missed: 2}
  alarm: {interval_s: 30, missed: 3}
schools:
  - id: panhe-ms
    name: 盘河中学
    zones:
      - {id: dorm-girls, name: 女生宿舍, kind: dormitory}
    cameras:
      - {id: cam-dg-01, zone: dorm-girls}
      - {id: cam-dg-02, zone: dorm-girls}
    alarms:
      - {id: alarm-gate, location: 校门}
      - {id: alarm-dorm, location: 宿舍}
"""


class Webhook:
    """A real HTTP receiver on its own thread; `up` False answers 503 (a receiver that is down)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[tuple[float, str, dict[str, Any]]] = []  # (time.time(), Idempotency-Key, body)
        self.up = True
        self.refused = 0  # requests answered 503 while not `up`
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Webhook:
        self._thread.start()
        assert self._ready.wait(10), "webhook did not start"
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())
        self._loop.run_forever()

    async def _serve(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            if not self.up:
                self.refused += 1
                return web.Response(status=503)
            body = await request.json()
            with self._lock:
                self.received.append((time.time(), request.headers.get("Idempotency-Key", ""), body))
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._ready.set()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def alerts(self, rule: str | None = None, state: str | None = None) -> list[tuple[float, str, dict[str, Any]]]:
        """(arrival, key, alert) for every alert in every message, in arrival order."""
        with self._lock:
            items = list(self.received)
        return [(at, key, a) for at, key, body in items for a in body["alerts"]
                if (rule is None or a["rule"] == rule) and (state is None or a["state"] == state)]

    def presses(self) -> dict[str, float]:
        """Firing alarm_pressed alerts: alert id -> first arrival; one per press."""
        out: dict[str, float] = {}
        for at, _, a in self.alerts("alarm_pressed", "firing"):
            out.setdefault(a["id"], at)
        return out

    def firing_keys(self, rule: str = "alarm_pressed") -> dict[str, set[str]]:
        """Alert id -> the Idempotency-Keys its firing arrived under (more than one: sent twice as two messages)."""
        out: dict[str, set[str]] = {}
        for _, key, a in self.alerts(rule, "firing"):
            out.setdefault(a["id"], set()).add(key)
        return out

    def duplicate_keys(self) -> int:
        """Messages that arrived twice with the same Idempotency-Key (allowed by §4, counted anyway)."""
        with self._lock:
            keys = [key for _, key, _ in self.received]
        return len(keys) - len(set(keys))


def press_alerts(db_url: str) -> dict[str, str]:
    """Alert id -> the event_id of the press it stands for, read from the service's database (the webhook
    body of contract §4 names the alert, not the event)."""
    from monitor.storage.alert_store import open_alerts
    from monitor.storage.db import Database

    db = Database(db_url)
    try:
        return {a.id: a.event_id for a in open_alerts(db) if a.rule == "alarm_pressed" and a.event_id}
    finally:
        db.dispose()


def write_config(dir: Path, mqtt_port: int, db_url: str, hook_url: str, client_id: str = "monitor-faults") -> Path:
    http_port = free_port()
    cfg = dir / "campus.toml"
    cfg.write_text(f"""
[mqtt]
url = "mqtt://127.0.0.1:{mqtt_port}"
client_id = "{client_id}"
[database]
url = "{db_url}"
persist_every_s = 0.5
[http]
listen = "127.0.0.1:{http_port}"
[alerts]
group_window_s = 0
[[receivers]]
kind = "webhook"
name = "bureau"
url = "{hook_url}"
""", encoding="utf-8")
    (dir / "registry.yaml").write_text(REGISTRY, encoding="utf-8")
    return cfg


class Service:
    """`python -m monitor.cli run` as a child process, its log in `dir/service-N.log`."""

    def __init__(self, dir: Path, mqtt_port: int, db_url: str, hook_url: str) -> None:
        self.dir = dir
        self.db_url = db_url
        self.config = write_config(dir, mqtt_port, db_url, hook_url)
        self.http = self.config.read_text().split('listen = "', 1)[1].split('"', 1)[0]
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        log = open(self.dir / f"service-{self.runs}.log", "wb")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "run", "--config", str(self.config),
             "--registry", str(self.dir / "registry.yaml")],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http}/readyz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.dir.glob("service-*.log")))


class Panel:
    """A device client publishing alarm events at QoS 1 (paho's own thread)."""

    def __init__(self, port: int, client_id: str = "panel-tester") -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.sent: dict[str, float] = {}  # event_id -> time.time() of publish

    def press(self, event_id: str, panel: str = "alarm-gate", kind: str = "alarm") -> mqtt.MQTTMessageInfo:
        self.sent[event_id] = time.time()
        body = orjson.dumps({"ts": time.time(), "event_id": event_id, "type": "press"})
        return self.client.publish(f"campus/panhe-ms/{kind}/{panel}/event", body, qos=1)

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        self.client.publish(topic, payload, qos=qos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


FLOOD_SCRIPT = """
import signal, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, topics = int(sys.argv[1]), sys.argv[2:]
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flooder-%d" % port)
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port)
c.loop_start()
body = b'{"ts": %f, "status": "ok"}' % time.time()
n = 0
while not stop:
    for t in topics:
        c.publish(t, body)
        n += 1
    if n % 2000 == 0:
        time.sleep(0.001)  # let paho's thread write what is queued
c.disconnect()
c.loop_stop()
print(n, flush=True)
"""


class Flooder:
    """Another process publishing heartbeats (QoS 0) as fast as it can, so the flood takes no time from
    the test's own threads. `stop()` returns how many it published."""

    def __init__(self, port: int, topics: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", FLOOD_SCRIPT, str(port), *topics], cwd=ROOT,
                                     stdout=subprocess.PIPE)

    def stop(self) -> int:
        self.proc.terminate()
        out, _ = self.proc.communicate(15)
        return int(out.decode().split()[-1]) if out.strip() else 0


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> float:
    """Wait (blocking) until `predicate()`; return the seconds it took; fail with `what` on timeout."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - start

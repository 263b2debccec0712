"""Helpers for the cluster tests and `bench/cluster.py` (contract §9): instances of the service as real
processes, each with its own `[cluster] node`, broker node and failover list, and devices that keep
beating through a broker node of their own.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.integration.faults import Service
from tests.ports import free_port


def cluster_registry(schools: int, cameras: int = 2) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """A registry of `schools` schools with `cameras` cameras and one alarm panel each:
    (yaml, [(school, camera)], [(school, panel)])."""
    lines = ["defaults:", "  camera: {interval_s: 2, missed: 5}", "  alarm: {interval_s: 60, missed: 3}", "schools:"]
    cams: list[tuple[str, str]] = []
    panels: list[tuple[str, str]] = []
    for i in range(schools):
        school = f"school-{i:02d}"
        lines += [f"  - id: {school}", f"    name: 学校{i}", "    zones:",
                  "      - {id: dorm, name: 宿舍, kind: dormitory}", "    cameras:"]
        for c in range(cameras):
            lines.append(f"      - {{id: cam-{c}, zone: dorm}}")
            cams.append((school, f"cam-{c}"))
        lines += ["    alarms:", "      - {id: alarm-gate, location: 校门}"]
        panels.append((school, "alarm-gate"))
    return "\n".join(lines) + "\n", cams, panels


class Instance(Service):
    """One instance of the service in a cluster."""

    def __init__(self, dir: Path, node: str, mqtt_urls: list[str], db_url: str, hook_url: str, registry: str, *,
                 partitions: int, lease_s: float) -> None:
        dir.mkdir(parents=True, exist_ok=True)
        self.dir = dir
        self.node = node
        http_port = free_port()
        self.http = f"127.0.0.1:{http_port}"
        failover = ", ".join(f'"{u}"' for u in mqtt_urls[1:])
        self.config = dir / "campus.toml"
        self.config.write_text(f"""
[mqtt]
url = "{mqtt_urls[0]}"
failover = [{failover}]
client_id = "campus-monitor"
[database]
url = "{db_url}"
persist_every_s = 1
[http]
listen = "{self.http}"
[alerts]
group_window_s = 0
[cluster]
node = "{node}"
partitions = {partitions}
lease_s = {lease_s}
[[receivers]]
kind = "webhook"
name = "bureau"
url = "{hook_url}"
""", encoding="utf-8")
        (dir / "registry.yaml").write_text(registry, encoding="utf-8")
        self.proc = None
        self.runs = 0

    def status(self) -> dict[str, Any] | None:
        """The /readyz answer (ready or not), or None when the instance does not answer."""
        try:
            with urllib.request.urlopen(f"http://{self.http}/readyz", timeout=2) as r:
                body: dict[str, Any] = json.loads(r.read())
                return body
        except urllib.error.HTTPError as err:
            body = json.loads(err.read())
            return body
        except OSError:
            return None

    def partitions(self) -> set[int]:
        status = self.status()
        return set(status.get("partitions", [])) if status else set()

    def get(self, path: str, token: str) -> Any:
        req = urllib.request.Request(f"http://{self.http}{path}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())


class Devices:
    """Every camera beats every `every_s` (QoS 0) through one broker node, on its own thread."""

    def __init__(self, port: int, cameras: list[tuple[str, str]], every_s: float = 1.0) -> None:
        self.cameras = cameras
        self.every_s = every_s
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"devices-{port}")
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Devices:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for school, cam in self.cameras:
                body = orjson.dumps({"ts": time.time(), "status": "ok"})
                self.client.publish(f"campus/{school}/camera/{cam}/heartbeat", body, qos=0)
            self.beats += 1
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.disconnect()
        self.client.loop_stop()

"""A throwaway NATS server cluster with MQTT and JetStream for tests (contract §9's tested engine).

Three `nats-server` processes on free loopback ports, each with its own config and JetStream store
under a temporary directory (never the machine's NATS on 4222). MQTT sessions live in JetStream,
replicated across the nodes, so a client may reconnect to any node and find its session.

    cluster = NatsCluster(tmp_path).start()     # waits until every node answers MQTT
    cluster.mqtt_urls                           # ["mqtt://127.0.0.1:P1", ...]
    cluster.kill(1)                             # kill -9 one node
    cluster.stop()
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.ports import free_port
from tests.services import require_binary

NAMES = ("n1", "n2", "n3")


class NatsCluster:
    def __init__(self, root: Path, nodes: int = 3) -> None:
        self.binary = require_binary("nats-server", "nats-server", also=("/usr/sbin/nats-server",))
        self.root = root
        self.names = NAMES[:nodes]
        self.client_ports = [free_port() for _ in self.names]
        self.route_ports = [free_port() for _ in self.names]
        self.mqtt_ports = [free_port() for _ in self.names]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * len(self.names)

    @property
    def mqtt_urls(self) -> list[str]:
        return [f"mqtt://127.0.0.1:{p}" for p in self.mqtt_ports]

    def _config(self, i: int) -> Path:
        name = self.names[i]
        store = self.root / f"nats-{name}"
        store.mkdir(parents=True, exist_ok=True)
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for j, p in enumerate(self.route_ports) if j != i)
        conf = self.root / f"nats-{name}.conf"
        conf.write_text(f"""
server_name: {name}
listen: 127.0.0.1:{self.client_ports[i]}
jetstream {{ store_dir: "{store}" }}
cluster {{
  name: campus
  listen: 127.0.0.1:{self.route_ports[i]}
  routes: [{routes}]
}}
mqtt {{
  listen: 127.0.0.1:{self.mqtt_ports[i]}
  # sessions and retained messages on every node: any one node may be lost (the default follows
  # the cluster's size when the streams are made, which can be before every node has joined)
  stream_replicas: {len(self.names)}
}}
""", encoding="utf-8")
        return conf

    def start_node(self, i: int) -> None:
        log = open(self.root / f"nats-{self.names[i]}.log", "ab")  # noqa: SIM115 - the child owns it
        self.procs[i] = subprocess.Popen([self.binary, "-c", str(self._config(i))], stdout=log,
                                         stderr=subprocess.STDOUT)
        log.close()

    def start(self, timeout: float = 60.0) -> NatsCluster:
        for i in range(len(self.names)):
            self.start_node(i)
        deadline = time.monotonic() + timeout
        for i in range(len(self.names)):
            self.wait_mqtt(i, deadline - time.monotonic())
        return self

    def wait_mqtt(self, i: int, timeout: float) -> None:
        """Until node `i` takes an MQTT session with QoS 1 (JetStream elected and MQTT streams made)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.mqtt_ports[i]), timeout=1):
                    pass
                if _session_works(self.mqtt_ports[i], f"probe-{self.names[i]}", min(10.0, deadline - time.monotonic())):
                    return
                last = "session refused"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.25)  # the server's own start: nothing to wait on but polling
        raise AssertionError(f"NATS node {self.names[i]} MQTT not ready within {timeout:.0f} s ({last}); "
                             f"log: {self.log(i)[-2000:]}")

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            if proc is not None:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)

    def log(self, i: int) -> str:
        path = self.root / f"nats-{self.names[i]}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _session_works(port: int, client_id: str, timeout: float) -> bool:
    """Connect with a persistent session and subscribe at QoS 1: granted, within `timeout`."""
    granted: list[bool] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_subscribe = lambda c, u, mid, reasons, p: granted.append(not any(r.is_failure for r in reasons))
    client.on_connect = lambda c, u, f, reason, p: c.subscribe("campus/_probe/x/x/heartbeat", qos=1) \
        if not reason.is_failure else None
    try:
        client.connect("127.0.0.1", port, keepalive=10)
    except OSError:
        return False
    client.loop_start()
    try:
        deadline = time.monotonic() + max(timeout, 0.5)
        while not granted and time.monotonic() < deadline:
            time.sleep(0.05)
        return bool(granted and granted[0])
    finally:
        client.disconnect()
        client.loop_stop()

"""bench/ingest: how fast the monitor absorbs a heartbeat stream through a real Mosquitto.

    python bench/ingest.py [--devices 10000,200000] [--messages 200000]

For each registry size it measures three consumers of the same stream, one after another, each in its
own process:

- `mosquitto_sub` draining the stream (the broker's limit);
- a bare paho-mqtt subscriber that parses the JSON (orjson) and updates a dict (the Python floor);
- the monitor itself (`monitor.app.App`, SQLite, every judgement on).

The stream is queued first: each consumer's persistent session is subscribed, the broker is loaded
with the messages (QoS 0, `queue_qos0_messages`), then the consumer connects and drains them at its
own full speed. So the figures are absorption rates, not the publisher's speed, and "no loss" is
checked as received == published. Printed per consumer: messages/s, CPU-µs per message, peak RSS; for
the monitor also its memory per registered device. Needs the `mosquitto` and `mosquitto_sub` binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import free_port  # noqa: E402  (bench/ is on sys.path when run as a script)

FILTER = "campus/+/camera/+/heartbeat"


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_kib() -> int:
    """VmHWM: this process's own peak (ru_maxrss would carry the parent's peak across fork and exec)."""
    with open("/proc/self/status") as f:
        for row in f:
            if row.startswith("VmHWM:"):
                return int(row.split()[1])
    return 0


# ---- workers (run in their own process) ----------------------------------------------------------


def worker_paho(port: int, client_id: str, expect: int) -> dict[str, float]:
    import orjson
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    seen: dict[str, float] = {}
    state = {"n": 0, "t0": 0.0, "c0": 0.0, "t1": 0.0, "c1": 0.0}

    def on_connect(client, userdata, flags, reason, props):  # noqa: ANN001
        state["t0"], state["c0"] = time.perf_counter(), cpu_s()

    def on_message(client, userdata, msg):  # noqa: ANN001
        doc = orjson.loads(msg.payload)
        seen[msg.topic] = doc["ts"]
        state["n"] += 1
        if state["n"] >= expect:
            state["t1"], state["c1"] = time.perf_counter(), cpu_s()
            client.disconnect()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.on_connect, c.on_message = on_connect, on_message
    c.connect("127.0.0.1", port, 60)
    c.loop_forever()
    return {"received": state["n"], "seconds": state["t1"] - state["t0"], "cpu_s": state["c1"] - state["c0"],
            "peak_rss_kib": peak_kib()}


def worker_monitor(port: int, client_id: str, expect: int, registry_file: str, db_dir: str) -> dict[str, float]:
    import logging

    logging.basicConfig(level=logging.WARNING)
    import monitor.app
    from monitor.app import App
    from monitor.config import Config, DatabaseConfig, HttpConfig, MqttConfig
    from monitor.mqtt.collector import Collector
    from monitor.registry_file import load_registry

    class QueuedCollector(Collector):
        """The service's device connection keeps no session (old heartbeats are worth nothing after a
        restart); here the stream is queued in a session first, so this one connection keeps it."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if kwargs.get("events") is False:
                kwargs["events"] = None
            super().__init__(*args, **kwargs)

    monitor.app.Collector = QueuedCollector  # type: ignore[misc]

    async def run() -> dict[str, float]:
        base = rss_kib()
        registry = load_registry(registry_file)
        cfg = Config(mqtt=MqttConfig(url=f"mqtt://127.0.0.1:{port}", client_id=client_id),
                     database=DatabaseConfig(url=f"sqlite:///{db_dir}/campus.db"),
                     http=HttpConfig(listen="127.0.0.1:0"))
        app = App(cfg, registry, None)
        n_devices = len(app.judge.liveness.devices)
        await app.start()
        while not app.collector.connected:
            await asyncio.sleep(0.001)
        t0, c0 = time.perf_counter(), cpu_s()
        counts = app.collector.counts
        while sum(counts.values()) < expect:
            await asyncio.sleep(0.005)
        t1, c1 = time.perf_counter(), cpu_s()
        loaded = rss_kib()
        accepted = counts[("camera", "accepted")]
        await app.stop()
        return {"received": accepted, "seconds": t1 - t0, "cpu_s": c1 - c0, "peak_rss_kib": peak_kib(),
                "bytes_per_device": (loaded - base) * 1024 / n_devices, "devices": n_devices}

    return asyncio.run(run())


# ---- the driver ---------------------------------------------------------------------------------


def start_broker(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_queued_bytes 0\nqueue_qos0_messages true\nmax_inflight_messages 0\n"
        "log_type error\n"
    )
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)])
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.02)
    raise RuntimeError("mosquitto did not start")


def prime(port: int, client_id: str) -> None:
    """Create the consumer's persistent session with its subscription, then leave."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.connect("127.0.0.1", port, 60)
    c.loop_start()
    while not c.is_connected():
        time.sleep(0.01)
    c.subscribe(FILTER, 1)[1]
    time.sleep(0.3)
    c.disconnect()
    c.loop_stop()


def load(port: int, registry_file: Path, devices: int, messages: int) -> float:
    from monitor.registry_file import load_registry
    from monitor.tools.simulator import run_load

    reg = load_registry(registry_file)
    res = run_load(f"mqtt://127.0.0.1:{port}", reg, devices, messages=messages, qos=0, engine="raw")
    time.sleep(1.0)  # let the broker finish queueing
    return res.sent / res.seconds


def run_worker(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {args[0]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_mosquitto_sub(port: int, client_id: str, expect: int) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-i", client_id, "-c", "-q", "1",
                             "-t", FILTER, "-C", str(expect)], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"received": expect if proc.returncode == 0 else 0, "seconds": seconds,
            "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_kib": float("nan")}


def line(name: str, r: dict[str, float], sent: int) -> str:
    rate = r["received"] / r["seconds"] if r["seconds"] > 0 else 0.0
    lost = sent - r["received"]
    return (f"  {name:<16} {rate:>10,.0f} msg/s  {r['cpu_s'] * 1e6 / max(r['received'], 1):>6.1f} CPU-µs/msg  "
            f"peak RSS {r['peak_rss_kib'] / 1024:>7.1f} MiB  {'no loss' if lost == 0 else f'LOST {lost}'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", default="10000,200000")
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--worker", nargs="+")
    args = p.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "paho":
            result = worker_paho(int(rest[0]), rest[1], int(rest[2]))
        else:
            result = worker_monitor(int(rest[0]), rest[1], int(rest[2]), rest[3], rest[4])
        print(json.dumps(result))
        return 0

    from monitor.tools.district import dump_registry, synthetic_registry

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmpdir:
        tmp = Path(tmpdir)
        broker, port = start_broker(tmp)
        try:
            for n in (int(x) for x in args.devices.split(",")):
                reg_file = tmp / f"registry-{n}.yaml"
                reg_file.write_text(dump_registry(synthetic_registry(n)), encoding="utf-8")
                m = args.messages
                print(f"{n:,} registered devices, {m:,} heartbeats queued in Mosquitto, drained by:", flush=True)
                results = {}
                for name in ("mosquitto_sub", "paho floor", "monitor"):
                    cid = f"bench-{name.replace(' ', '-')}-{n}"
                    prime(port, cid)
                    load(port, reg_file, n, m)
                    if name == "mosquitto_sub":
                        r = run_mosquitto_sub(port, cid, m)
                    elif name == "paho floor":
                        r = run_worker(["paho", str(port), cid, str(m)])
                    else:
                        db_dir = tmp / f"db-{n}"
                        db_dir.mkdir()
                        r = run_worker(["monitor", str(port), cid, str(m), str(reg_file), str(db_dir)])
                    results[name] = r
                    print(line(name, r, m), flush=True)
                mon, floor = results["monitor"], results["paho floor"]
                ratio = (mon["received"] / mon["seconds"]) / (floor["received"] / floor["seconds"])
                print(f"  monitor at {ratio:.0%} of the paho floor (target >= 75%); "
                      f"{mon['bytes_per_device']:.0f} bytes of memory per registered device (target < 1024)",
                      flush=True)
        finally:
            broker.terminate()
            broker.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())

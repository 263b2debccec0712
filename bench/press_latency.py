"""bench/press_latency: alarm press on the broker -> bureau webhook, under a heartbeat stream.

    python bench/press_latency.py [--presses 1000] [--heartbeats-per-s 10000]

A real Mosquitto; the monitor in this process with a webhook receiver (aiohttp) in this process too; a
load thread publishing heartbeats for 10,000 cameras at the given rate; a paho publisher sending
`press` events one after another (QoS 1). Latency is the webhook's receipt time minus the publish
time of the press (same clock). Prints p50, p99, max, and the heartbeats absorbed meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import free_port  # noqa: E402  (bench/ is on sys.path when run as a script)


async def run(presses: int, rate: float) -> None:
    import logging

    import orjson
    import paho.mqtt.client as mqtt
    from aiohttp import web
    from paho.mqtt.enums import CallbackAPIVersion

    from alerts.routing import parse_receivers
    from devices.registry import parse_registry
    from monitor.app import App
    from monitor.config import AlertsConfig, Config, DatabaseConfig, HttpConfig, MqttConfig
    from monitor.tools.district import dump_registry, synthetic_registry
    from monitor.tools.simulator import run_load

    logging.basicConfig(level=logging.ERROR)
    doc = synthetic_registry(10_000)
    doc["schools"][0]["alarms"] = [{"id": "alarm-bench", "location": "校门"}]
    text = dump_registry(doc)
    registry = parse_registry(text, "bench.yaml")
    school = doc["schools"][0]["id"]

    with tempfile.TemporaryDirectory(prefix="bench-press-") as tmp:
        port = free_port()
        conf = Path(tmp) / "m.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type error\nset_tcp_nodelay true\n")
        broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)])
        time.sleep(0.5)
        got: dict[str, float] = {}
        done = asyncio.Event()

        async def hook(request: web.Request) -> web.Response:
            now = time.monotonic()
            body = await request.json()
            for a in body["alerts"]:
                if a["rule"] == "alarm_pressed" and a["state"] == "firing":
                    got.setdefault(a["id"], now)
            if len(got) >= presses:
                done.set()
            return web.Response()

        hook_app = web.Application()
        hook_app.router.add_post("/hook", hook)
        runner = web.AppRunner(hook_app)
        await runner.setup()
        hook_port = free_port()
        await web.TCPSite(runner, "127.0.0.1", hook_port).start()

        cfg = Config(mqtt=MqttConfig(url=f"mqtt://127.0.0.1:{port}", client_id="bench-monitor"),
                     database=DatabaseConfig(url=f"sqlite:///{tmp}/campus.db"),
                     http=HttpConfig(listen="127.0.0.1:0"), alerts=AlertsConfig(group_window_s=10),
                     receivers=tuple(parse_receivers([{"kind": "webhook", "name": "bureau", "url": f"http://127.0.0.1:{hook_port}/hook"}])),)
        cfg = dataclasses.replace(cfg)
        app = App(cfg, registry, ("bench.yaml", text))
        await app.start()
        while not app.collector.connected:
            await asyncio.sleep(0.01)

        stop_load = threading.Event()
        load_result: list[object] = []

        def load() -> None:
            while not stop_load.is_set():
                load_result.append(run_load(f"mqtt://127.0.0.1:{port}", registry, 10_000, duration_s=1.0, per_second=rate))

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        await asyncio.sleep(1.0)

        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-panel")
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        sent: list[float] = []
        before = sum(app.collector.counts.values())
        t0 = time.monotonic()
        for i in range(presses):
            n = len(got)
            sent.append(time.monotonic())
            pub.publish(f"campus/{school}/alarm/alarm-bench/event",
                        orjson.dumps({"ts": time.time(), "event_id": f"b-{i}", "type": "press"}), qos=1)
            while len(got) == n and time.monotonic() - sent[-1] < 5:
                await asyncio.sleep(0.0005)
        await asyncio.wait_for(done.wait(), 10)
        elapsed = time.monotonic() - t0
        absorbed = sum(app.collector.counts.values()) - before
        stop_load.set()
        loader.join(5)
        pub.loop_stop()
        received = sorted(got.values())
        lat = sorted((r - s) * 1000 for r, s in zip(received, sent, strict=False))
        print(f"{presses} presses, heartbeats absorbed meanwhile {absorbed / elapsed:,.0f} msg/s (asked {rate:,.0f})")
        print(f"press -> webhook latency: p50 {statistics.median(lat):.1f} ms, "
              f"p99 {lat[int(len(lat) * 0.99) - 1]:.1f} ms, max {lat[-1]:.1f} ms (target p99 < 100 ms)")
        await app.stop()
        await runner.cleanup()
        broker.terminate()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presses", type=int, default=1000)
    p.add_argument("--heartbeats-per-s", type=float, default=10_000)
    a = p.parse_args()
    asyncio.run(run(a.presses, a.heartbeats_per_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())

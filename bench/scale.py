"""bench/scale: one node at province scale, side by side with a 1-device baseline measured in the same run.

    /work/venv/bin/python bench/scale.py [--devices 200000] [--victims 1000] [--presses 30]

For each size (1 device, then `--devices`), the monitor runs as `campus-monitor run` would (registry
parsed and imported in a child process, SQLite, a real Mosquitto with set_tcp_nodelay, a real webhook
receiver in this process), in a process of its own, and this process measures it from outside:

- RSS of the monitor once every device has been heard (VmRSS), and per device over the baseline; again
  at the end, at least 65 s later (a periodic heap trim since: `monitor.heap`);
- a full /metrics scrape: time and size (gzip, as Prometheus asks), uncached and cached;
- alarm press -> webhook, p50/p99, with nobody scraping, then with a client (a process of its own)
  scraping back to back;
- API: `/api/v1/devices?state=down` and a page deep in the unfiltered list;
- detection: `--victims` cameras in as many schools (timeout 2 s) fall silent at once; the time from
  each one's deadline until the officer's API lists it `down` (polled every 50 ms: that is included);
- presses made while the victims' `camera_down` messages drain to the same webhook.

The other cameras have a 30-minute timeout and are heard once at the start, so nothing else changes
during the run. `[alerts] group_window_s` is 2 (not 10) to keep the run short.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import cpu_model, free_port, pct  # noqa: E402  (bench/ is on sys.path when run as a script)

VICTIM_TIMEOUT = (1, 2)  # interval_s, missed
SCRAPER = """
import signal, sys, urllib.request
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2], "Accept-Encoding": "gzip"})
while True:
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()
    print(1, flush=True)
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_until(predicate: Any, timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(every)


# ---- the monitor's process ---------------------------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    import logging

    from alerts.routing import parse_receivers
    from monitor.app import App
    from monitor.config import AlertsConfig, Config, DatabaseConfig, HttpConfig, MqttConfig
    from monitor.registry_loader import load_in_child
    from monitor.storage.auth_tables import create_token
    from monitor.storage.db import Database

    logging.basicConfig(level=logging.ERROR)
    db_url = f"sqlite:///{args.tmp}/campus.db"
    registry, _ = load_in_child(args.registry, db_url)
    cfg = Config(mqtt=MqttConfig(url=f"mqtt://127.0.0.1:{args.mqtt}", client_id=f"scale-{args.mqtt}"),
                 database=DatabaseConfig(url=db_url, persist_every_s=5),
                 http=HttpConfig(listen=f"127.0.0.1:{args.http}"), alerts=AlertsConfig(group_window_s=2),
                 receivers=tuple(parse_receivers([{"kind": "webhook", "name": "bureau", "url": args.hook}])))
    db = Database(db_url)
    _, token = create_token(db, "bureau", [], "bench")
    db.dispose()

    async def serve() -> None:
        app = App(cfg, registry)
        await app.start()
        while not app.collector.connected:
            await asyncio.sleep(0.01)
        print(f"READY {token}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await app.stop()

    asyncio.run(serve())
    return 0


# ---- this process: broker, webhook, load and measurements -------------------------------------------


class Hook:
    """The bureau's webhook on its own thread: when each alert (rule, subject) first arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        from aiohttp import web

        async def hook(request: web.Request) -> web.Response:
            body = await request.json()
            now = time.time()
            with self.lock:
                for a in body["alerts"]:
                    if a["state"] == "firing":
                        self.arrived.setdefault((a["rule"], a["subject"]), now)
            return web.Response(status=204)

        async def main() -> None:
            app = web.Application()
            app.router.add_post("/hook", hook)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            ready.set()
            await asyncio.Event().wait()

        asyncio.run(main())

    def has(self, key: tuple[str, str]) -> bool:
        with self.lock:
            return key in self.arrived


class Monitor:
    def __init__(self, n: int, victims: int, mqtt_port: int, hook: Hook, tmp: Path) -> None:
        from monitor.tools.district import dump_registry, synthetic_registry

        doc = synthetic_registry(n)
        doc["defaults"] = {"camera": {"interval_s": 600, "missed": 3}}  # nothing but the victims times out
        self.schools = [s["id"] for s in doc["schools"]]
        self.victims = []
        step = max(1, len(doc["schools"]) // victims)
        for school in doc["schools"][::step][:victims]:
            cam = school["cameras"][0]
            cam["interval_s"], cam["missed"] = VICTIM_TIMEOUT
            self.victims.append((school["id"], cam["id"]))
        doc["schools"][0]["alarms"] = [{"id": "alarm-bench", "location": "校门"}]
        self.topics = [f"campus/{s['id']}/camera/{c['id']}/heartbeat" for s in doc["schools"] for c in s["cameras"]]
        path = tmp / f"registry-{n}.yaml"
        path.write_text(dump_registry(doc), encoding="utf-8")
        del doc
        self.http = free_port()
        self.mqtt_port = mqtt_port
        self.hook = hook
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", "--registry", str(path), "--mqtt", str(mqtt_port), "--http", str(self.http),
             "--hook", f"http://127.0.0.1:{hook.port}/hook", "--tmp", str(tmp)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError("the monitor did not start")
        self.token = line[1]
        self.presses = 0

    def get(self, path: str, gzip_ok: bool = False) -> tuple[bytes, float]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", headers={
            "Authorization": f"Bearer {self.token}", **({"Accept-Encoding": "gzip"} if gzip_ok else {})})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=120) as r:
            body = r.read()
        return body, time.perf_counter() - t0

    def devices(self, query: str) -> list[dict[str, Any]]:
        return list(json.loads(self.get(f"/api/v1/devices?{query}")[0])["items"])

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def press_series(m: Monitor, count: int) -> list[float]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-panel-{m.presses}")
    pub.connect("127.0.0.1", m.mqtt_port)
    pub.loop_start()
    lat = []
    try:
        for _ in range(count):
            m.presses += 1
            event = f"p{m.presses}"
            sent = time.time()
            pub.publish(f"campus/{m.schools[0]}/alarm/alarm-bench/event",
                        json.dumps({"ts": sent, "event_id": event, "type": "press"}), qos=1)
            # alarm_pressed alerts are one per event; their subject is the panel: wait for a new arrival
            key = ("alarm_pressed", "alarm-bench")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with m.hook.lock:
                    got = m.hook.arrived.pop(key, None)
                if got is not None:
                    lat.append((got - sent) * 1000)
                    break
                time.sleep(0.0005)
            time.sleep(0.05)
    finally:
        pub.loop_stop()
        pub.disconnect()
    return lat


def measure(n: int, victims: int, presses: int, mqtt_port: int, hook: Hook, tmp: Path) -> dict[str, Any]:
    from monitor.tools.simulator import _RawSender

    out: dict[str, Any] = {"devices": n}
    m = Monitor(n, victims, mqtt_port, hook, tmp)
    try:
        out["rss_started_kib"] = rss_kib(m.proc.pid)
        url = f"mqtt://127.0.0.1:{mqtt_port}"
        sender = _RawSender(url, m.topics)
        payload = b'{"ts":%.3f,"status":"ok"}' % time.time()
        for first in range(0, len(m.topics), 1000):
            sender.send(first, min(1000, len(m.topics) - first), payload)
        sender.close()
        # the victims (2 s timeout) keep beating every 0.5 s until the detection phase
        victim_topics = [f"campus/{s}/camera/{c}/heartbeat" for s, c in m.victims]
        vsender = _RawSender(url, victim_topics)
        keep = threading.Event()
        last_beat = [0.0]

        def keep_victims() -> None:
            while not keep.is_set():
                last_beat[0] = time.time()
                vsender.send(0, len(victim_topics), b'{"ts":%.3f,"status":"ok"}' % last_beat[0])
                keep.wait(0.5)

        beating = threading.Thread(target=keep_victims, daemon=True)
        beating.start()
        wait_until(lambda: not m.devices("state=unknown&limit=1") or m.devices("state=unknown&limit=1000")
                   and all(d["id"] == "alarm-bench" for d in m.devices("state=unknown&limit=1000")),
                   300, "every camera heard", every=0.5)
        out["rss_kib"] = rss_kib(m.proc.pid)
        heard_at = time.monotonic()

        first_body, t_first = m.get("/metrics", gzip_ok=True)
        scrapes = [m.get("/metrics", gzip_ok=True)[1] for _ in range(3)]
        out["scrape_s"] = t_first
        out["scrape_cached_s"] = statistics.median(scrapes)
        out["metrics_mib"] = len(gzip.decompress(first_body)) / 2**20 if first_body[:2] == b"\x1f\x8b" else len(first_body) / 2**20

        out["press_quiet"] = press_series(m, presses)
        # the back-to-back scraper is a process of its own, as Prometheus is: a thread here would share
        # this process's GIL with the webhook receiver that times the presses
        scraper = subprocess.Popen([sys.executable, "-c", SCRAPER, f"http://127.0.0.1:{m.http}/metrics", m.token],
                                   stdout=subprocess.PIPE, text=True)
        out["press_scraped"] = press_series(m, presses)
        scraper.terminate()
        out["scrapes_during"] = len(scraper.communicate(timeout=120)[0].split())

        # detection: every victim is up; then all fall silent at once
        wait_until(lambda: not m.devices("state=down&kind=camera&limit=1"), 60, "every victim up")
        keep.set()
        beating.join(10)
        vsender.close()
        deadline = last_beat[0] + VICTIM_TIMEOUT[0] * VICTIM_TIMEOUT[1]
        hook.arrived.clear()
        seen: dict[str, float] = {}
        wanted = {c for _, c in m.victims}
        t_end = time.time() + 60
        while len(seen) < len(wanted) and time.time() < t_end:
            now = time.time()
            for d in m.devices("state=down&kind=camera&limit=1000"):
                seen.setdefault(d["id"], now)
            time.sleep(0.05)
        out["detect"] = [(seen[c] - deadline) * 1000 for c in wanted if c in seen]
        out["detected"] = len(seen)
        out["api_down_s"] = statistics.median(m.get("/api/v1/devices?state=down&limit=1000")[1] for _ in range(5))
        deep = max(0, n // 2)
        out["api_page_s"] = statistics.median(m.get(f"/api/v1/devices?limit=1000&cursor={deep}")[1] for _ in range(5))
        # presses while the victims' camera_down messages drain (they leave group_window_s after detection)
        storm_start = deadline + 2.0
        time.sleep(max(0.0, storm_start - time.time()))
        out["press_storm"] = press_series(m, max(5, presses // 2))
        wait_until(lambda: sum(1 for k in list(hook.arrived) if k[0] == "camera_down") >= len(wanted), 120,
                   "every camera_down delivered", every=0.2)
        out["storm_delivered_s"] = max(v for k, v in list(hook.arrived.items()) if k[0] == "camera_down") - deadline
        hook.arrived.clear()
        # steady state: at least one of the monitor's periodic heap trims (monitor.heap, every 60 s) since
        # every device was heard
        time.sleep(max(0.0, heard_at + 65 - time.monotonic()))
        out["rss_end_kib"] = rss_kib(m.proc.pid)
    finally:
        m.stop()
    return out


def report(base: dict[str, Any], big: dict[str, Any]) -> None:
    n = big["devices"]
    per_dev = (big["rss_kib"] - base["rss_kib"]) * 1024 / max(1, n - base["devices"])
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}")
    print(f"{'':44}{'1 device':>14}{f'{n:,} devices':>18}{'ratio':>9}")

    def row(label: str, a: float, b: float, unit: str, fmt: str = "{:.1f}") -> None:
        ratio = b / a if a else float("nan")
        print(f"{label:44}{fmt.format(a) + unit:>14}{fmt.format(b) + unit:>18}{ratio:>8.1f}x")

    row("RSS, every device heard", base["rss_kib"] / 1024, big["rss_kib"] / 1024, " MiB")
    print(f"{'  per device over the baseline':44}{'':>14}{per_dev:>14.0f} B   (target <= 1024)")
    per_dev_end = (big["rss_end_kib"] - base["rss_end_kib"]) * 1024 / max(1, n - base["devices"])
    row("RSS, 65 s later (a heap trim since)", base["rss_end_kib"] / 1024, big["rss_end_kib"] / 1024, " MiB")
    print(f"{'  per device over the baseline':44}{'':>14}{per_dev_end:>14.0f} B   (target <= 1024)")
    row("/metrics size", base["metrics_mib"], big["metrics_mib"], " MiB", "{:.2f}")
    row("/metrics scrape, built (gzip)", base["scrape_s"] * 1000, big["scrape_s"] * 1000, " ms", "{:.0f}")
    row("/metrics scrape, cached (median of 3)", base["scrape_cached_s"] * 1000, big["scrape_cached_s"] * 1000, " ms", "{:.0f}")
    for key, label in (("press_quiet", "press -> webhook p50, nobody scraping"),
                       ("press_scraped", "press -> webhook p50, scraped back to back"),
                       ("press_storm", "press -> webhook p50, camera_down storm")):
        row(label, statistics.median(base[key]), statistics.median(big[key]), " ms")
        row(label.replace("p50", "p99"), pct(base[key], 0.99), pct(big[key], 0.99), " ms")
    print(f"{'  scrapes answered meanwhile':44}{base['scrapes_during']:>14}{big['scrapes_during']:>18}")
    row("detection after deadline, p50 (API poll 50 ms)", statistics.median(base["detect"]), statistics.median(big["detect"]), " ms", "{:.0f}")
    row("detection after deadline, p99", pct(base["detect"], 0.99), pct(big["detect"], 0.99), " ms", "{:.0f}")
    row("detection after deadline, max", max(base["detect"]), max(big["detect"]), " ms", "{:.0f}")
    print(f"{'  victims detected':44}{base['detected']:>14}{big['detected']:>18}")
    row("every camera_down at the webhook, after deadline", base["storm_delivered_s"], big["storm_delivered_s"], " s", "{:.2f}")
    row("API devices?state=down (median of 5)", base["api_down_s"] * 1000, big["api_down_s"] * 1000, " ms")
    row("API devices page of 1000, deep (median of 5)", base["api_page_s"] * 1000, big["api_page_s"] * 1000, " ms")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", type=int, default=200_000)
    p.add_argument("--victims", type=int, default=1000)
    p.add_argument("--presses", type=int, default=30)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--registry", help=argparse.SUPPRESS)
    p.add_argument("--mqtt", type=int, help=argparse.SUPPRESS)
    p.add_argument("--http", type=int, help=argparse.SUPPRESS)
    p.add_argument("--hook", help=argparse.SUPPRESS)
    p.add_argument("--tmp", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        conf = tmp / "m.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type error\n"
                        "set_tcp_nodelay true\nmax_queued_messages 0\n")
        broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)])
        try:
            wait_until(lambda: _open(port), 10, "mosquitto listening")
            hook = Hook()
            results = []
            for n, victims in ((1, 1), (a.devices, a.victims)):
                (tmp / str(n)).mkdir()
                results.append(measure(n, victims, a.presses, port, hook, tmp / str(n)))
                print(f"measured {n:,} devices", file=sys.stderr)
            report(*results)
        finally:
            broker.terminate()
            broker.wait(10)
    return 0


def _open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


if __name__ == "__main__":
    sys.exit(main())

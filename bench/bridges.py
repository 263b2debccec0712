"""bench/bridges: throughput of the three bridges, each a separate process, to a real Mosquitto and the
running monitor (`campus-monitor run`, its own process, SQLite), all reading one registry.

    python bench/bridges.py [--terminals 10000] [--seconds 20] [--devices 1000] [--cameras 2000]

- JT/T 808: `--terminals` emulated terminals (each a bus of the registry) connect to
  `campus-monitor bridge jt808`; (1) paced, each sends one 0x0200 every 10 s with the time of sending
  and a position moving along its route (the goal: 10,000 terminals on one core with headroom),
  reporting the bridge's and the monitor's CPU and the fixes the monitor accepted; (2) flooded, every
  terminal sends as fast as its replies come back, reporting locations/s answered by the bridge and
  the fixes a subscriber received from the broker. The monitor is stopped before the flood: 30,000
  fixes/s is far more than it takes in (bench/ingest.py measures its ceiling), and draining them
  starved its HTTP side for minutes; a fresh monitor takes the GB/T 28181 phase.
- GB/T 28181: `--devices` registry cameras send MANSCDP Keepalive MESSAGEs over UDP, 64 in flight;
  keepalives/s answered 200, heartbeats received from the broker and accepted by the monitor.
- RTSP: `--cameras` registry cameras probed with OPTIONS against a local asyncio responder (in
  process); probes/s for one round.

"Accepted by the monitor" is `campus_messages_total{kind, outcome="accepted"}` read from its /metrics.
The counting subscribers are made before any terminal connects: paho's threaded loop uses select(),
which cannot watch a descriptor numbered 1024 or more, so a subscriber made after 10,000 terminal
sockets lost its connection at once and counted nothing (the "0 heartbeats" of the GB/T 28181 phase
that used to follow the JT/T 808 one). Prints the figures with the CPU model (/proc/cpuinfo). Needs
`mosquitto`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from _common import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bridges.config import RtspConfig  # noqa: E402
from bridges.jt808 import codec  # noqa: E402
from bridges.metrics import Stats  # noqa: E402
from bridges.rtsp import RtspProber  # noqa: E402
from bridges.targets import index  # noqa: E402
from devices.registry import parse_registry  # noqa: E402
from tests.bridges.gb_device import SERVER, keepalive  # noqa: E402
from tests.integration.mosquitto import free_port, run_mosquitto  # noqa: E402

HEAD = """defaults:
  camera: {interval_s: 600, missed: 3}   # not judged during the run: the monitor's work is taking messages
schools:
  - id: s1
    name: S
    zones: [{id: z, name: Z, kind: other}]
"""
ROUTE = ((103.7, 27.3), (103.8, 27.4))  # (lon, lat) ends of the buses' route


def phones(n: int) -> list[str]:
    return [f"0139{i:08d}" for i in range(n)]


def gb_ids(n: int) -> list[str]:
    return [f"530602000013200{i:05d}" for i in range(n)]


def district(terminals: int, devices: int) -> str:
    """One registry for the monitor and the bridges: `devices` GB/T 28181 cameras and `terminals` buses."""
    (x0, y0), (x1, y1) = ROUTE
    return (HEAD + "    cameras:\n"
            + "".join(f'      - {{id: c{i}, zone: z, gb_id: "{g}"}}\n' for i, g in enumerate(gb_ids(devices)))
            + f"routes:\n  - {{id: r, corridor_m: 150, speed_limit_kmh: 60, path: [[{x0}, {y0}], [{x1}, {y1}]]}}\nbuses:\n"
            + "".join(f'  - {{id: b{i}, plate: P{i}, school: s1, route: r, capacity: 19, terminal: "{p}"}}\n'
                      for i, p in enumerate(phones(terminals))))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_IDS = itertools.count()


class Counter:
    """A paho subscriber counting messages (in its own thread)."""

    def __init__(self, port: int, topic: str) -> None:
        self.n = 0
        self.ready = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}-{next(_IDS)}")
        self.c.on_connect = lambda c, u, f, r, p: c.subscribe(topic)
        self.c.on_subscribe = lambda *a: self.ready.set()
        self.c.on_message = self._on
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        if not self.ready.wait(10):
            raise RuntimeError(f"the counting subscriber of {topic} did not subscribe")
        assert self.c.socket() is not None and self.c.socket().fileno() < 1024, "paho's select() needs a low fd"  # type: ignore[union-attr]

    def _on(self, *a: object) -> None:
        self.n += 1

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


async def settle(sub: Counter, quiet_s: float = 2.0, limit_s: float = 60.0) -> None:
    """Wait until the subscriber has received nothing new for `quiet_s` (at most `limit_s`)."""
    end = time.monotonic() + limit_s
    last, since = sub.n, time.monotonic()
    while time.monotonic() < end and time.monotonic() - since < quiet_s:
        await asyncio.sleep(0.1)
        if sub.n != last:
            last, since = sub.n, time.monotonic()


def start_bridge(kind: str, tmp: Path, mqtt_port: int, section: str) -> tuple[subprocess.Popen[bytes], int]:
    """`campus-monitor bridge KIND` with `tmp/registry.yaml`; returns the process and its listening port
    (its /metrics port is kept in METRICS_PORT[port], read by `bridge_counts`)."""
    port = free_port()
    METRICS_PORT[port] = free_port()
    (tmp / f"{kind}.toml").write_text(f'[mqtt]\nurl = "mqtt://127.0.0.1:{mqtt_port}"\n[bridges.{kind}]\n'
                                      f'listen = "127.0.0.1:{port}"\nmetrics_listen = "127.0.0.1:{metrics_port(port)}"\n'
                                      f'buffer = 1000000\n{section}', encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "--log-level", "warning", "bridge", kind,
                             "--config", str(tmp / f"{kind}.toml"), "--registry", str(tmp / "registry.yaml")], cwd=ROOT)
    return proc, port


METRICS_PORT: dict[int, int] = {}


def metrics_port(port: int) -> int:
    return METRICS_PORT[port]


def bridge_counts(port: int) -> str:
    """What the bridge says it handed to the broker and lost, from its own /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port(port)}/metrics", timeout=30) as r:
            text = r.read().decode()
    except OSError as exc:
        return f"(bridge /metrics: {exc})"
    out = []
    for line in text.splitlines():
        if line.startswith(("campus_bridge_published_total{", "campus_bridge_publish_failures_total{")):
            name, value = line.rsplit(" ", 1)
            label = name.split(",")[-1].rstrip("}")
            out.append(f"{'published' if 'published_total' in name else 'lost'} {label} {int(float(value)):,}")
    return "bridge: " + ("; ".join(out) or "nothing published")


class Monitor:
    """`campus-monitor run` in its own process (SQLite in `tmp`), read through its /metrics."""

    def __init__(self, tmp: Path, mqtt_port: int, name: str) -> None:
        self.port = free_port()
        (tmp / f"{name}.toml").write_text(
            f'[mqtt]\nurl = "mqtt://127.0.0.1:{mqtt_port}"\nclient_id = "bench-{name}"\n'
            f'[database]\nurl = "sqlite:///{tmp / name}.db"\n[http]\nlisten = "127.0.0.1:{self.port}"\n'
            '[metrics]\nmax_age_s = 0\n',  # every read of the counts is fresh
            encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "--log-level", "warning", "run",
                                      "--config", str(tmp / f"{name}.toml"), "--registry", str(tmp / "registry.yaml")],
                                     cwd=ROOT)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            return str(r.read().decode())

    async def ready(self, limit_s: float = 120) -> None:
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("the monitor exited")
            try:
                await asyncio.to_thread(self.get, "/readyz")
                return
            except OSError:
                await asyncio.sleep(0.2)
        raise RuntimeError("the monitor was not ready")

    def accepted(self, kind: str) -> int:
        """campus_messages_total{kind=KIND, outcome="accepted"} (a monitor busy draining a flood may answer
        /metrics slowly: asked again, for up to two minutes)."""
        for _ in range(12):
            try:
                text = self.get("/metrics")
                break
            except (OSError, TimeoutError):
                continue
        else:
            raise RuntimeError("the monitor's /metrics did not answer for two minutes")
        for line in text.splitlines():
            if line.startswith("campus_messages_total{") and f'kind="{kind}"' in line and 'outcome="accepted"' in line:
                return int(float(line.rsplit(" ", 1)[1]))
        return 0

    async def settle(self, kind: str, quiet_s: float = 2.0, limit_s: float = 120.0) -> int:
        """Its accepted count once it has not grown for `quiet_s` (at most `limit_s`)."""
        end = time.monotonic() + limit_s
        last, since = await asyncio.to_thread(self.accepted, kind), time.monotonic()
        while time.monotonic() < end and time.monotonic() - since < quiet_s:
            await asyncio.sleep(0.25)
            now = await asyncio.to_thread(self.accepted, kind)
            if now != last:
                last, since = now, time.monotonic()
        return last

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


async def wait_port(port: int, deadline_s: float = 20) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            if time.monotonic() > end:
                raise
            await asyncio.sleep(0.05)


# ---- JT/T 808 --------------------------------------------------------------------------------------


async def jt808(n: int, seconds: float, mqtt_port: int, tmp: Path, sub: Counter, monitor: Monitor) -> None:
    numbers = phones(n)
    proc, port = start_bridge("jt808", tmp, mqtt_port, "max_connections = 100000\n")
    (x0, y0), (x1, y1) = ROUTE

    def frame(i: int, step: int) -> bytes:
        """Terminal i's location now, a little further along the route at each step."""
        f = (i * 0.0001 + step * 0.001) % 1.0
        body = codec.location_body(y0 + f * (y1 - y0), x0 + f * (x1 - x0), speed_kmh=40, heading=45,
                                   when=datetime.now().astimezone())
        return codec.encode(0x0200, numbers[i], step & 0xFFFF, body)

    try:
        await wait_port(port)
        conns = []
        for i in range(0, n, 500):
            conns += await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in numbers[i:i + 500]))
        replies = [0]

        async def drain(r: asyncio.StreamReader) -> None:
            while data := await r.read(65536):
                replies[0] += data.count(b"\x7e") // 2

        drains = [asyncio.create_task(drain(r)) for r, _ in conns]
        await asyncio.sleep(1)

        # (1) paced: every terminal once per 10 s, spread evenly, the fix's time the time of sending
        m0, c0, t0, s0 = await asyncio.to_thread(monitor.accepted, "gps"), cpu_seconds(proc.pid), time.monotonic(), sub.n
        mc0 = monitor.cpu()
        paced = max(10.0, seconds)
        step = 10.0 / n
        sent = 0
        while time.monotonic() - t0 < paced:
            i = sent % n
            conns[i][1].write(frame(i, sent // n))
            sent += 1
            delay = t0 + sent * step - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - c0
        mcpu = monitor.cpu() - mc0
        taken = await monitor.settle("gps") - m0
        got = sub.n - s0
        print(f"jt808 paced: {n:,} terminals every 10 s = {sent / wall:,.0f} locations/s offered for {wall:.0f} s; "
              f"bridge CPU {100 * cpu / wall:.1f}% of one core ({1e6 * cpu / max(sent, 1):.0f} µs/location); "
              f"{got:,}/{sent:,} fixes reached the subscriber, {taken:,}/{sent:,} were accepted by the monitor "
              f"(monitor CPU {100 * mcpu / wall:.0f}% of one core)", flush=True)
        # the flood is more than the monitor takes in (bench/ingest.py measures its ceiling): it starved
        # the monitor's HTTP side for minutes, so the flood goes to the broker and a subscriber alone
        monitor.stop()

        # (2) flood: 20 frames per terminal per round, as fast as the replies come back
        c0, t0, s0, r0 = cpu_seconds(proc.pid), time.monotonic(), sub.n, replies[0]
        sent = 0
        burst = [frame(i, 1000) * 20 for i in range(n)]
        while time.monotonic() - t0 < seconds:
            for (_, w), b in zip(conns, burst, strict=True):
                w.write(b)
            sent += 20 * n
            await asyncio.gather(*(w.drain() for _, w in conns))
            while replies[0] - r0 < sent - 20 * n:  # keep one round in flight at most
                await asyncio.sleep(0.005)
        while replies[0] - r0 < sent and time.monotonic() - t0 < seconds + 30:
            await asyncio.sleep(0.01)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - c0
        await settle(sub)
        got = sub.n - s0
        print(f"jt808 flood: {(replies[0] - r0) / wall:,.0f} locations/s answered by the bridge "
              f"(CPU {100 * cpu / wall:.0f}% of one core, {1e6 * cpu / max(sent, 1):.0f} µs/location); "
              f"{got:,}/{sent:,} fixes reached the subscriber; {await asyncio.to_thread(bridge_counts, port)}",
              flush=True)
        for t in drains:
            t.cancel()
        for _, w in conns:
            w.close()
        await asyncio.gather(*(w.wait_closed() for _, w in conns), return_exceptions=True)
    finally:
        proc.terminate()
        proc.wait(10)


# ---- GB/T 28181 ------------------------------------------------------------------------------------


async def gb28181(devices: int, seconds: float, mqtt_port: int, tmp: Path, sub: Counter, monitor: Monitor) -> None:
    ids = gb_ids(devices)
    proc, port = start_bridge("gb28181", tmp, mqtt_port, "")
    loop = asyncio.get_running_loop()
    answered = [0]
    window = asyncio.Semaphore(64)

    class Proto(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            if data.startswith(b"SIP/2.0 200"):
                answered[0] += 1
                window.release()

    try:
        await wait_port(port)
        transport, _ = await loop.create_datagram_endpoint(Proto, remote_addr=("127.0.0.1", port))
        local = transport.get_extra_info("sockname")
        msgs = []
        for i, g in enumerate(ids):
            body = keepalive(g, i)
            msgs.append((f"MESSAGE sip:{SERVER}@5306020000 SIP/2.0\r\nVia: SIP/2.0/UDP {local[0]}:{local[1]};rport;branch=z9hG4bK{i}\r\n"
                         f"From: <sip:{g}@5306020000>;tag={i}\r\nTo: <sip:{SERVER}@5306020000>\r\nCall-ID: {i}@bench\r\n"
                         f"CSeq: 1 MESSAGE\r\nContent-Type: Application/MANSCDP+xml\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        m0, c0, t0, s0 = await asyncio.to_thread(monitor.accepted, "camera"), cpu_seconds(proc.pid), time.monotonic(), sub.n
        sent = 0
        while time.monotonic() - t0 < seconds:
            try:
                await asyncio.wait_for(window.acquire(), 1.0)
            except TimeoutError:  # a lost datagram: free its slot
                window.release()
                continue
            transport.sendto(msgs[sent % devices])
            sent += 1
        wall = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - c0
        await settle(sub)
        taken = await monitor.settle("camera") - m0
        drained = time.monotonic() - t0
        print(f"gb28181: {answered[0] / wall:,.0f} keepalives/s answered 200 ({devices:,} cameras, UDP, 64 in flight; "
              f"bridge CPU {100 * cpu / wall:.0f}%, {1e6 * cpu / max(answered[0], 1):.0f} µs/keepalive); "
              f"{sub.n - s0:,}/{sent:,} heartbeats reached the subscriber; the monitor accepted {taken:,} "
              f"({taken / drained:,.0f}/s until it had drained them); {await asyncio.to_thread(bridge_counts, port)}",
              flush=True)
        transport.close()
    finally:
        proc.terminate()
        proc.wait(10)


# ---- RTSP ------------------------------------------------------------------------------------------


async def rtsp(cameras: int) -> None:
    async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await r.readuntil(b"\r\n\r\n")
            w.write(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n")
            await w.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    reg = HEAD + "    cameras:\n" + "".join(f'      - {{id: c{i}, zone: z, rtsp: "rtsp://127.0.0.1:{port}/ch{i}"}}\n' for i in range(cameras))
    targets = index(parse_registry(reg, "bench.yaml"))

    class Null:
        def prefix(self, *parts: str) -> str:
            return "/".join(parts)

        def publish(self, *a: object, **k: object) -> bool:
            return True

    prober = RtspProber(RtspConfig(timeout_s=5, concurrency=200), targets, Null(), Stats("rtsp", "probes"))  # type: ignore[arg-type]
    t0 = time.monotonic()
    alive = await prober.round()
    wall = time.monotonic() - t0
    server.close()
    print(f"rtsp: {cameras / wall:,.0f} probes/s ({alive}/{cameras} answered; 200 in flight, in process with the responder)",
          flush=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--terminals", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--cameras", type=int, default=2000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores); Python {sys.version.split()[0]}; "
          f"load average before {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "registry.yaml").write_text(district(args.terminals, args.devices), encoding="utf-8")
        with run_mosquitto(tmp / "mosquitto", "set_tcp_nodelay true\nmax_queued_messages 0\n") as mqtt_port:
            # every paho subscriber first, while descriptors are low (see the docstring)
            fixes = Counter(mqtt_port, "campus/+/bus/+/gps")
            beats = Counter(mqtt_port, "campus/+/camera/+/heartbeat")
            monitor = Monitor(tmp, mqtt_port, "monitor-jt808")
            try:
                await monitor.ready()
                c0, t0 = monitor.cpu(), time.monotonic()
                await asyncio.sleep(5)
                print(f"monitor idle ({args.terminals:,} buses, {args.devices:,} cameras, no traffic): CPU "
                      f"{100 * (monitor.cpu() - c0) / (time.monotonic() - t0):.0f}% of one core", flush=True)
                await jt808(args.terminals, args.seconds, mqtt_port, tmp, fixes, monitor)
                monitor = Monitor(tmp, mqtt_port, "monitor-gb28181")
                await monitor.ready()
                await gb28181(args.devices, args.seconds, mqtt_port, tmp, beats, monitor)
            finally:
                monitor.stop()
                fixes.close()
                beats.close()
    await rtsp(args.cameras)


if __name__ == "__main__":
    asyncio.run(main())

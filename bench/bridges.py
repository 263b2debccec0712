"""bench/bridges: throughput of the three bridges, each a separate process, to a real Mosquitto.

    python bench/bridges.py [--terminals 10000] [--seconds 20] [--devices 1000] [--cameras 2000]

- JT/T 808: `--terminals` emulated terminals connect to `campus-monitor bridge jt808` (its own
  process); (1) paced, each sends one 0x0200 every 10 s (the goal: 10,000 terminals on one core),
  reporting the bridge's CPU use; (2) flooded, every terminal sends as fast as its replies come back,
  reporting locations/s through the bridge and the fixes a subscriber received from the broker.
- GB/T 28181: `--devices` cameras send MANSCDP Keepalive MESSAGEs over UDP, 64 in flight;
  keepalives/s answered 200 and heartbeats received from the broker.
- RTSP: `--cameras` registry cameras probed with OPTIONS against a local asyncio responder (in
  process); probes/s for one round.

Prints the figures with the CPU model (/proc/cpuinfo). Needs `mosquitto`.
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
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bridges.config import RtspConfig  # noqa: E402
from bridges.jt808 import codec  # noqa: E402
from bridges.metrics import Stats  # noqa: E402
from bridges.rtsp import RtspProber  # noqa: E402
from bridges.targets import index  # noqa: E402
from devices.registry import parse_registry  # noqa: E402
from tests.bridges.gb_device import SERVER, keepalive  # noqa: E402
from tests.integration.mosquitto import free_port, run_mosquitto  # noqa: E402

HEAD = """schools:
  - id: s1
    name: S
    zones: [{id: z, name: Z, kind: other}]
"""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


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
        self.ready.wait(10)

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


def start_bridge(kind: str, tmp: Path, mqtt_port: int, registry: str, section: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    (tmp / "registry.yaml").write_text(registry, encoding="utf-8")
    (tmp / "campus.toml").write_text(f'[mqtt]\nurl = "mqtt://127.0.0.1:{mqtt_port}"\n[bridges.{kind}]\n'
                                     f'listen = "127.0.0.1:{port}"\nmetrics_listen = ""\nbuffer = 1000000\n{section}',
                                     encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "--log-level", "warning", "bridge", kind,
                             "--config", str(tmp / "campus.toml"), "--registry", str(tmp / "registry.yaml")], cwd=ROOT)
    return proc, port


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


async def jt808(n: int, seconds: float, mqtt_port: int, tmp: Path) -> None:
    phones = [f"0139{i:08d}" for i in range(n)]
    reg = HEAD + "routes:\n  - {id: r, corridor_m: 150, speed_limit_kmh: 60, path: [[103.7, 27.3], [103.8, 27.4]]}\nbuses:\n" + "".join(
        f'  - {{id: b{i}, plate: P{i}, school: s1, route: r, capacity: 19, terminal: "{p}"}}\n' for i, p in enumerate(phones))
    proc, port = start_bridge("jt808", tmp, mqtt_port, reg, "max_connections = 100000\n")
    sub = Counter(mqtt_port, "campus/+/bus/+/gps")
    try:
        await wait_port(port)
        conns = []
        for i in range(0, n, 500):
            conns += await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in phones[i:i + 500]))
        replies = [0]

        async def drain(r: asyncio.StreamReader) -> None:
            while data := await r.read(65536):
                replies[0] += data.count(b"\x7e") // 2

        drains = [asyncio.create_task(drain(r)) for r, _ in conns]
        body = codec.location_body(27.35, 103.75, speed_kmh=40, heading=90, when=datetime.now().astimezone())
        frames = [codec.encode(0x0200, p, 1, body) for p in phones]
        await asyncio.sleep(1)

        # (1) paced: every terminal once per 10 s, spread evenly
        c0, t0, s0 = cpu_seconds(proc.pid), time.monotonic(), sub.n
        paced = max(10.0, seconds)
        step = 10.0 / n
        sent = 0
        while time.monotonic() - t0 < paced:
            i = sent % n
            conns[i][1].write(frames[i])
            sent += 1
            delay = t0 + sent * step - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.sleep(1)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(proc.pid) - c0
        got = sub.n - s0
        print(f"jt808 paced: {n} terminals every 10 s = {sent / (wall - 1):,.0f} locations/s offered; bridge CPU "
              f"{100 * cpu / wall:.1f}% of one core ({1e6 * cpu / max(sent, 1):.0f} µs/location); "
              f"{got}/{sent} fixes reached the subscriber", flush=True)

        # (2) flood: 20 frames per terminal per round, as fast as the replies come back
        c0, t0, s0, r0 = cpu_seconds(proc.pid), time.monotonic(), sub.n, replies[0]
        sent = 0
        burst = [f * 20 for f in frames]
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
              f"{got:,}/{sent:,} fixes reached the subscriber", flush=True)
        for t in drains:
            t.cancel()
        for _, w in conns:
            w.close()
    finally:
        sub.close()
        proc.terminate()
        proc.wait(10)


# ---- GB/T 28181 ------------------------------------------------------------------------------------


async def gb28181(devices: int, seconds: float, mqtt_port: int, tmp: Path) -> None:
    ids = [f"530602000013200{i:05d}" for i in range(devices)]
    reg = HEAD + "    cameras:\n" + "".join(f'      - {{id: c{i}, zone: z, gb_id: "{g}"}}\n' for i, g in enumerate(ids))
    proc, port = start_bridge("gb28181", tmp, mqtt_port, reg, "")
    sub = Counter(mqtt_port, "campus/+/camera/+/heartbeat")
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
        c0, t0, s0 = cpu_seconds(proc.pid), time.monotonic(), sub.n
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
        print(f"gb28181: {answered[0] / wall:,.0f} keepalives/s answered 200 ({devices} cameras, UDP, 64 in flight; "
              f"bridge CPU {100 * cpu / wall:.0f}%, {1e6 * cpu / max(answered[0], 1):.0f} µs/keepalive); "
              f"{sub.n - s0:,}/{sent:,} heartbeats reached the subscriber", flush=True)
        transport.close()
    finally:
        sub.close()
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
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores); Python {sys.version.split()[0]}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with run_mosquitto(tmp / "mosquitto", "set_tcp_nodelay true\nmax_queued_messages 0\n") as mqtt_port:
            (tmp / "jt").mkdir()
            await jt808(args.terminals, args.seconds, mqtt_port, tmp / "jt")
            (tmp / "gb").mkdir()
            await gb28181(args.devices, args.seconds, mqtt_port, tmp / "gb")
    await rtsp(args.cameras)


if __name__ == "__main__":
    asyncio.run(main())

"""bench/cluster: several instances (contract §9) on one machine: aggregate ingest with 1, 2 and 3
instances, the take-over time after `kill -9`, and the false-down count.

    python bench/cluster.py [--schools 48] [--cameras 20] [--flood-s 15] [--partitions 16] [--lease-s 5]

Everything real, as `tests/integration/test_cluster.py` runs it: the instances are `campus-monitor run`
subprocesses (`tests.integration.cluster.Instance`) on one PostgreSQL (`tests.integration.postgres`),
through a 3-node NATS server cluster with MQTT and JetStream (`tests.integration.nats`), each instance
with its own first NATS node and the others as failover; a real webhook counts alerts.

Per phase (1, 2, 3 instances, a fresh database each): start the instances, wait until every partition
is owned and subscribed, then a publisher process floods heartbeats (QoS 0, every camera in turn, as fast
as paho publishes) through NATS node 1 for `--flood-s`; the aggregate ingest is the sum over the instances
of `campus_messages_total` (every MQTT message taken, any outcome) over the flood window, read from each one's `/metrics`.
In the last phase, the flood stopped, every camera beats each second, the instance holding the most
partitions is killed with SIGKILL, and the take-over time is until the survivors' `/readyz` list every
partition; then one camera timeout (10 s) and more is watched: false downs are `camera_down` alerts at
the webhook (none expected: every camera kept beating). Prints the CPU model: on a small machine the
instances, the three NATS nodes, PostgreSQL and the publisher share the same cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.cluster import Devices, Instance, cluster_registry  # noqa: E402
from tests.integration.faults import Webhook, wait_until  # noqa: E402
from tests.integration.nats import NatsCluster  # noqa: E402
from tests.integration.postgres import PostgresServer, find_bindir  # noqa: E402

METRIC = re.compile(r'^campus_messages_total\{([^}]*)\} ([0-9.e+]+)$', re.M)


def publish(port: int, seconds: float, cameras: list[tuple[str, str]]) -> None:
    """The flood (its own process): heartbeats for every camera in turn, as fast as paho takes them."""
    import orjson
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{os.getpid()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    end = time.monotonic() + seconds
    n = 0
    topics = [f"campus/{s}/camera/{c}/heartbeat" for s, c in cameras]
    while time.monotonic() < end:
        body = orjson.dumps({"ts": time.time(), "status": "ok"})
        for t in topics:
            client.publish(t, body, qos=0)
        n += len(topics)
    client.disconnect()
    client.loop_stop()
    print(n, flush=True)


def messages_taken(http: str) -> float:
    try:
        with urllib.request.urlopen(f"http://{http}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    return sum(float(v) for _, v in METRIC.findall(text))  # every MQTT message taken, any outcome


def phase(n: int, args: argparse.Namespace, tmp: Path, nats: NatsCluster, pg: PostgresServer, registry: str,
          cams: list[tuple[str, str]]) -> tuple[int, float, float, float]:
    db_url = pg.create_database(f"bench{n}")
    hook = Webhook().start()
    urls = nats.mqtt_urls
    nodes = [Instance(tmp / f"run{n}" / f"node-{i}", f"node-{i}", urls[i % 3:] + urls[:i % 3], db_url,
                      hook.url, registry, partitions=args.partitions, lease_s=args.lease_s)
             for i in range(n)]
    devices = None
    try:
        nodes[0].start()  # first alone: it migrates and imports the registry (two at once on a fresh
        wait_until(lambda: bool(nodes[0].partitions()), 60, "the first instance up")  # database collide)
        for node in nodes[1:]:
            node.start()
        wait_until(lambda: sorted(p for nd in nodes for p in nd.partitions()) == list(range(args.partitions))
                   and all(nd.partitions() for nd in nodes), 60, "every partition owned")
        wait_until(lambda: all((nd.status() or {}).get("subscribed") for nd in nodes), 60, "subscribed")
        flood = subprocess.Popen([sys.executable, __file__, "--schools", str(args.schools), "--cameras",
                                  str(args.cameras), "--publish", str(nats.mqtt_ports[0]),
                                  str(args.flood_s + 4)], stdout=subprocess.PIPE, text=True)
        time.sleep(2)  # the flood under way
        before = sum(messages_taken(nd.http) for nd in nodes)
        t0 = time.monotonic()
        time.sleep(args.flood_s)
        after = sum(messages_taken(nd.http) for nd in nodes)
        window = time.monotonic() - t0
        out, _ = flood.communicate(timeout=60)
        offered = int(out.split()[-1]) / (args.flood_s + 4)
        rate = (after - before) / window
        row = (n, offered, rate, rate / n)
        print(f"{n} instance(s): offered {offered:,.0f} msg/s, taken {rate:,.0f} msg/s aggregate "
              f"({rate / n:,.0f} per instance)", flush=True)
        if n == 3:
            devices = Devices(nats.mqtt_ports[1], cams).start()
            time.sleep(12)  # every camera heard again at its normal pace after the flood
            downs_before = len(hook.alerts("camera_down", "firing"))
            victim = max(nodes, key=lambda nd: len(nd.partitions()))
            lost = victim.partitions()
            survivors = [nd for nd in nodes if nd is not victim]
            victim.kill()
            took = wait_until(lambda: set().union(*(nd.partitions() for nd in survivors)) >= lost,
                              args.lease_s + 30, "taken over")
            end = time.monotonic() + 15  # more than one camera timeout (10 s) after the take-over
            while time.monotonic() < end:
                time.sleep(0.5)
            false_downs = len(hook.alerts("camera_down", "firing")) - downs_before
            print(f"kill -9 of the instance holding {len(lost)} of {args.partitions} partitions: taken over "
                  f"in {took:.1f} s (lease_s {args.lease_s}; contract: lease_s + 5 s); false downs in the "
                  f"15 s after: {false_downs}; camera_down during the floods and after: "
                  f"{downs_before} / {false_downs}", flush=True)
        flood_downs = len(hook.alerts("camera_down", "firing"))
        print(f"  camera_down alerts in this phase (cameras silent before and after the flood, not false downs): "
              f"{flood_downs}", flush=True)
    finally:
        if devices is not None:
            devices.stop()
        for node in nodes:
            node.stop()
        hook.stop()
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--schools", type=int, default=48)
    ap.add_argument("--cameras", type=int, default=20)
    ap.add_argument("--flood-s", type=float, default=15.0)
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--lease-s", type=float, default=5.0)
    ap.add_argument("--publish", nargs=2, help=argparse.SUPPRESS)  # the flood process: PORT SECONDS
    args = ap.parse_args()

    registry, cams, _ = cluster_registry(args.schools, args.cameras)
    if args.publish:
        publish(int(args.publish[0]), float(args.publish[1]), cams)
        return

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    print(f"{args.schools} schools x {args.cameras} cameras = {len(cams)} cameras; {args.partitions} partitions; "
          f"lease_s {args.lease_s}; 3-node NATS cluster (MQTT + JetStream), one PostgreSQL", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    (tmp / "nats").mkdir()
    nats = NatsCluster(tmp / "nats").start()
    pg = PostgresServer(find_bindir()).start()
    rows: list[tuple[int, float, float, float]] = []
    try:
        for n in (1, 2, 3):
            rows.append(phase(n, args, tmp, nats, pg, registry, cams))
        print("\ninstances   offered msg/s   taken msg/s (aggregate)   per instance   vs 1 instance")
        base = rows[0][2] or 1.0
        for n, offered, rate, per in rows:
            print(f"{n:9d}   {offered:13,.0f}   {rate:23,.0f}   {per:12,.0f}   {rate / base:12.2f}x")
    finally:
        pg.stop()
        nats.stop()


if __name__ == "__main__":
    main()

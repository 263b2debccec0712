"""Each bridge's own `/metrics` (Prometheus text, its own CollectorRegistry) and `/healthz`.

Counters are plain `Counter`s bumped on the loop thread; the families are built at scrape time, so
no metric object is kept in step by hand. Names (all labelled `bridge`):

- `campus_bridge_frames_total{outcome}`: JT/T 808 frames and SIP messages by outcome (`accepted`,
  `checksum`, `escape`, `unknown_device`, ...); for the RTSP prober `campus_bridge_probes_total`.
- `campus_bridge_published_total{leaf}`: §2 messages handed to the broker (`gps`, `heartbeat`, ...).
- `campus_bridge_publish_failures_total{reason}`: `refused` (not a registry device), `dropped` (the
  buffer was full while the broker was away), `error`.
- `campus_bridge_devices_connected`: terminals with an open connection, or devices registered.
- `campus_bridge_buffered_messages`, `campus_bridge_mqtt_connected` (1 or 0).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class Stats:
    """The counters of one bridge; gauges are read through callables set by the bridge."""

    def __init__(self, bridge: str, unit: str = "frames") -> None:
        self.bridge = bridge
        self.unit = unit  # "frames" or "probes"
        self.frames: Counter[str] = Counter()
        self.publishes: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.devices: Callable[[], int] = lambda: 0
        self.buffered: Callable[[], int] = lambda: 0
        self.mqtt_connected: Callable[[], bool] = lambda: False

    def frame(self, outcome: str) -> None:
        self.frames[outcome] += 1

    def published(self, leaf: str) -> None:
        self.publishes[leaf] += 1

    def failure(self, reason: str) -> None:
        self.failures[reason] += 1


class _BridgeCollector(Collector):
    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s, b = self.stats, [self.stats.bridge]
        what = "JT/T 808 frames or SIP messages" if s.unit == "frames" else "RTSP probes"
        frames = CounterMetricFamily(f"campus_bridge_{s.unit}", f"{what} by outcome", labels=["bridge", "outcome"])
        for outcome, n in sorted(s.frames.items()):
            frames.add_metric([*b, outcome], n)
        yield frames
        pub = CounterMetricFamily("campus_bridge_published", "Contract §2 messages handed to the broker",
                                  labels=["bridge", "leaf"])
        for leaf, n in sorted(s.publishes.items()):
            pub.add_metric([*b, leaf], n)
        yield pub
        fail = CounterMetricFamily("campus_bridge_publish_failures",
                                   "Messages not published: refused (not a registry device), dropped (buffer full), error",
                                   labels=["bridge", "reason"])
        for reason in ("refused", "dropped", "error"):
            fail.add_metric([*b, reason], s.failures.get(reason, 0))
        yield fail
        yield _gauge("campus_bridge_devices_connected", "Terminals connected or devices registered", b, s.devices())
        yield _gauge("campus_bridge_buffered_messages", "Messages waiting for the broker", b, s.buffered())
        yield _gauge("campus_bridge_mqtt_connected", "1 when the bridge is connected to the broker", b,
                     1.0 if s.mqtt_connected() else 0.0)


def _gauge(name: str, doc: str, labels: list[str], value: float) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=["bridge"])
    g.add_metric(labels, value)
    return g


def make_registry(stats: Stats) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_BridgeCollector(stats))
    return registry


class MetricsServer:
    """A small aiohttp server: `GET /metrics` and `GET /healthz` (200, and whether the broker is up)."""

    def __init__(self, stats: Stats, host: str, port: int) -> None:
        self.stats = stats
        self.host, self.port = host, port
        self.registry = make_registry(stats)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        log.info("bridge %s: /metrics on http://%s:%d/metrics", self.stats.bridge, self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "mqtt_connected": bool(self.stats.mqtt_connected())})

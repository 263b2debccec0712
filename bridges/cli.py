"""`campus-monitor bridge {jt808,gb28181,rtsp} --config FILE --registry FILE`: one bridge process.

`monitor/cli.py` adds this subcommand with `add_bridge_parser`; `run_bridge` loads the config and the
registry like the service does, then runs the bridge, its MQTT publisher and its `/metrics` until
SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any, Protocol

from bridges.config import split_listen
from bridges.metrics import MetricsServer, Stats
from bridges.publisher import Publisher
from bridges.targets import Targets, index
from devices.registry import RegistryError
from monitor.config import Config, ConfigError, load_config
from monitor.registry_file import load_registry
from monitor.tasks import stop_on_signals

log = logging.getLogger(__name__)

BRIDGES = ("jt808", "gb28181", "rtsp")


class Bridge(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def add_bridge_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("bridge", help="run a device-protocol bridge (JT/T 808, GB/T 28181, RTSP probe)")
    p.add_argument("protocol", choices=BRIDGES, help="which bridge")
    p.add_argument("--config", help="TOML config file ([mqtt] and [bridges.PROTOCOL]; missing = all defaults)")
    p.add_argument("--registry", required=True, help="registry YAML: the devices the bridge may speak for")
    p.set_defaults(fn=run_bridge)


def run_bridge(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
        targets = index(load_registry(args.registry))
    except (ConfigError, RegistryError) as exc:
        print(f"campus-monitor: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(build(args.protocol, cfg, targets)))
    except OSError as exc:  # e.g. the listen address is taken
        print(f"campus-monitor: bridge {args.protocol}: {exc}", file=sys.stderr)
        return 1
    return 0


class Running:
    """One bridge with its publisher and metrics server, started and stopped together."""

    def __init__(self, bridge: Bridge, publisher: Publisher, metrics: MetricsServer | None) -> None:
        self.bridge = bridge
        self.publisher = publisher
        self.metrics = metrics

    async def start(self) -> None:
        await self.publisher.start()
        if self.metrics is not None:
            await self.metrics.start()
        await self.bridge.start()

    async def stop(self) -> None:
        await self.bridge.stop()
        if self.metrics is not None:
            await self.metrics.stop()
        await self.publisher.stop()


def build(protocol: str, cfg: Config, targets: Targets) -> Running:
    section = getattr(cfg.bridges, protocol)
    stats = Stats(protocol, "probes" if protocol == "rtsp" else "frames")
    publisher = Publisher(cfg.mqtt, protocol, targets.prefixes(cfg.mqtt.topic_root.strip("/")), stats, section.buffer)
    stats.buffered = lambda: len(publisher.buffer)
    stats.mqtt_connected = lambda: publisher.connected
    bridge: Bridge
    if protocol == "jt808":
        from bridges.jt808.server import Jt808Bridge

        bridge = Jt808Bridge(section, targets, publisher, stats)
    elif protocol == "gb28181":
        from bridges.gb28181.server import Gb28181Bridge

        bridge = Gb28181Bridge(section, targets, publisher, stats)
    else:
        from bridges.rtsp import RtspProber

        bridge = RtspProber(section, targets, publisher, stats)
    metrics = MetricsServer(stats, *split_listen(section.metrics_listen)) if section.metrics_listen else None
    return Running(bridge, publisher, metrics)


async def serve(running: Running) -> None:
    stop = stop_on_signals()
    await running.start()
    try:
        await stop.wait()
    finally:
        await running.stop()

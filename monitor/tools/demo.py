"""`campus-monitor demo`: the whole service on a simulated district, in one process.

An embedded MQTT broker, SQLite in the user's data directory (fresh at each start), the monitor, and
the simulator publishing 昭阳区's 56 schools, 50 alarm-equipped, 135 buses, and 盘河中学's 28
dormitory and canteen cameras, six of which die during the demo.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

import platformdirs

from devices.liveness import State
from devices.registry import parse_registry
from monitor.app import App
from monitor.config import Config, DatabaseConfig, HttpConfig, MqttConfig, parse_listen
from monitor.http.errors import CannotListen
from monitor.storage.auth_tables import create_token
from monitor.tasks import stop_on_signals
from monitor.tools.broker import EmbeddedBroker, pick_port
from monitor.tools.district import PANHE, district_registry, dump_registry
from monitor.tools.simulator import Simulator, demo_scenario

log = logging.getLogger(__name__)
STATUS_EVERY_S = 5.0


def counts_line(app: App, sim: Simulator) -> str:
    states = {s: 0 for s in State}
    for dev in app.judge.devices():
        states[dev.state] += 1
    dark = sum(1 for z in app.judge.coverage.zones.values() if z.dark)
    accepted = sum(n for (_, outcome), n in app.collector.counts.items() if outcome == "accepted")
    dropped = sum(n for (_, outcome), n in app.collector.counts.items() if outcome != "accepted")
    return (f"devices up {states[State.UP]} faulty {states[State.FAULTY]} down {states[State.DOWN]} "
            f"unknown {states[State.UNKNOWN]} | dark zones {dark} | messages {accepted} accepted, {dropped} dropped")


async def run_demo(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir or platformdirs.user_data_dir("campus-monitor")) / "demo"
    data_dir.mkdir(parents=True, exist_ok=True)
    db_file = data_dir / "campus.db"
    for leftover in data_dir.glob("campus.db*"):
        leftover.unlink()
    registry_file = data_dir / "district.yaml"
    text = dump_registry(district_registry())
    registry_file.write_text(text, encoding="utf-8")
    registry = parse_registry(text, str(registry_file))

    mqtt_host, mqtt_port = parse_listen(args.mqtt_listen, "--mqtt-listen")
    port = pick_port(mqtt_host, mqtt_port)
    if port != mqtt_port:
        print(f"MQTT port {mqtt_port} is taken; the embedded broker uses {port}", flush=True)
    broker = EmbeddedBroker(mqtt_host, port)
    await broker.start()

    cfg = Config(
        mqtt=MqttConfig(url=broker.url, client_id="campus-monitor-demo"),
        database=DatabaseConfig(url=f"sqlite:///{db_file}"),
        http=HttpConfig(listen=args.listen),
    )
    app = App(cfg, registry, (str(registry_file), text))
    try:
        await app.start()
    except CannotListen:
        await app.stop()
        await broker.stop()
        raise
    config_file = data_dir / "campus.toml"  # so `token create --config` reaches the demo's database
    config_file.write_text(f'[database]\nurl = "sqlite:///{db_file.as_posix()}"\n', encoding="utf-8")
    _, token = await app.db.call(create_token, "bureau", [], "教育局（演示）")
    _, officer = await app.db.call(create_token, "officer", [PANHE], "盘河中学安全员（演示）")
    _, crew = await app.db.call(create_token, "maintenance", [], "维修组（演示）")
    scenario = [] if args.no_failures else demo_scenario()
    sim = Simulator(registry, broker.url, rate=args.rate, scenario=scenario, client_id="campus-simulator")
    await sim.start()

    host, http_port = app.http_address or parse_listen(args.listen)
    base = f"http://{host}:{http_port}"
    n = len(app.judge.liveness.devices)
    print(f"""
Campus Safety Monitor demo: {len(registry.schools)} schools, {len(registry.buses)} buses, {n} devices
  status page   {base}/   log in with one of these tokens (each is also an API bearer token):
    bureau      {token}   (every school; the district map is {base}/map)
    officer     {officer}   (盘河中学 only)
    crew        {crew}   (maintenance: repair tickets, {base}/tickets)
  API           curl -H 'Authorization: Bearer {token}' '{base}/api/v1/devices?state=down'
  metrics       {base}/metrics
  MQTT broker   {broker.url}   (topics campus/{{school}}/{{camera,alarm,bus}}/{{id}}/...)
  database      {db_file}
  registry      {registry_file}
  more tokens   campus-monitor token create --role officer --school {PANHE} --config {config_file}
Six 盘河中学 cameras die in the first two minutes; each is marked down one timeout (90 s) after it goes silent.
Ctrl-C stops.
""", flush=True)

    stop = stop_on_signals()
    loop = asyncio.get_running_loop()
    if args.duration:
        loop.call_later(args.duration, stop.set)
    tty = sys.stdout.isatty()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), STATUS_EVERY_S)
            except TimeoutError:
                pass
            line = counts_line(app, sim)
            print(("\r" + line + "   ") if tty else line, end="" if tty else "\n", flush=True)
    finally:
        print()
        await sim.stop()
        await app.stop()
        await broker.stop()
    return 0

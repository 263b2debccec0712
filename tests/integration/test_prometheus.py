"""A real Prometheus scraping a running monitor fed by the simulator runs every dashboard query and rule.

The monitor (App, in this process) reads a real Mosquitto; the simulator publishes part of the 昭阳区
district with short heartbeat intervals and a script (a camera goes offline, an alarm is pressed, bad
messages). Prometheus (the Debian `prometheus` package) is started on a free port with a config made
from deploy/prometheus/prometheus.yml and scrapes every second.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from alerts.routing import parse_receivers
from devices.registry import parse_registry
from monitor.app import App
from monitor.config import Config, DatabaseConfig, HttpConfig, MqttConfig
from monitor.tools.district import DEMO_FAILURES, district_registry, dump_registry
from monitor.tools.simulator import Action, Simulator, Verb
from tests.integration.mosquitto import run_mosquitto
from tests.ports import free_port
from tests.services import require_binary
from tests.test_grafana_dashboards import dashboard_queries
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy/prometheus"

#: Contract §6 metrics that the monitor does not export yet (other parts are adding them). A query on
#: them must still run without error. The test fails once one of them is exported (Prometheus has
#: scraped it): take it off this list, and its queries must return data like the others.
PENDING: set[str] = set()
METRIC = re.compile(r"\b((?:campus|scrape)_[a-z_]+|up)\b(?!\s*\()")
#: A query whose last step filters (`... == 0`, `... > 0`) may rightly return nothing.
FILTER_LAST = re.compile(r"(==|>)\s*\d+\)*\s*$")
SCRAPE_S = 1


def small_district() -> tuple[str, str]:
    """盘河中学 and five other schools with their buses, heartbeats every second: (YAML, a dorm camera)."""
    doc = district_registry()
    keep = {"panhe-ms", *[s["id"] for s in doc["schools"] if s["id"] != "panhe-ms"][:5]}
    doc["schools"] = [s for s in doc["schools"] if s["id"] in keep]
    doc["buses"] = [b for b in doc["buses"] if b["school"] in keep]
    routes = {b["route"] for b in doc["buses"]}
    doc["routes"] = [r for r in doc["routes"] if r["id"] in routes]
    doc["defaults"] = {"camera": {"interval_s": 1, "missed": 2}, "alarm": {"interval_s": 1, "missed": 2},
                       "gps": {"interval_s": 1, "missed": 3}}
    return dump_registry(doc), f"panhe-ms/camera/{DEMO_FAILURES[0].camera}"


@dataclass
class Running:
    prometheus: str  # base URL
    config: Path
    broker: contextlib.ExitStack  # closing it stops the broker


@contextlib.contextmanager
def run_prometheus(tmp_path: Path, target: str) -> Iterator[tuple[str, Path]]:
    """deploy/prometheus/prometheus.yml pointed at `target`, scraping and evaluating every second."""
    prometheus = require_binary("prometheus", "prometheus")
    tmp_path.mkdir(parents=True, exist_ok=True)
    conf = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    conf["global"].update(scrape_interval=f"{SCRAPE_S}s", evaluation_interval=f"{SCRAPE_S}s")
    conf["rule_files"] = [str(DEPLOY / name) for name in conf["rule_files"]]
    conf.pop("alerting")
    (job,) = [j for j in conf["scrape_configs"] if j["job_name"] == "campus-monitor"]
    job["static_configs"] = [{"targets": [target]}]
    job["scrape_timeout"] = f"{SCRAPE_S}s"
    conf["scrape_configs"] = [job]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(conf), encoding="utf-8")
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [prometheus, f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://127.0.0.1:{port}", path
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    text, dying_camera = small_district()
    registry = parse_registry(text, "district.yaml")
    alarm = next(s for s in registry.schools if s.id == "panhe-ms").alarms[0].id
    broker = contextlib.ExitStack()
    mqtt_port = broker.enter_context(run_mosquitto(tmp_path / "mosquitto"))
    url = f"mqtt://127.0.0.1:{mqtt_port}"
    hook = web.Application()  # a webhook receiver taking every alert, so the outbox metrics have series

    async def take(request: web.Request) -> web.Response:
        return web.Response(status=200)

    hook.router.add_post("/hook", take)
    hook_runner = web.AppRunner(hook)
    await hook_runner.setup()
    hook_port = free_port()
    await web.TCPSite(hook_runner, "127.0.0.1", hook_port).start()
    cfg = Config(mqtt=MqttConfig(url=url, client_id="campus-monitor-prom-test"),
                 database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'campus.db'}", persist_every_s=1),
                 http=HttpConfig(listen="127.0.0.1:0"),
                 receivers=tuple(parse_receivers([{"kind": "webhook", "name": "bureau",
                                                   "url": f"http://127.0.0.1:{hook_port}/hook"}])))
    app = App(cfg, registry, ("district.yaml", text))
    await app.start()
    # killed after 3 s: heard at least twice before (heartbeats every second), so it has a last_seen
    # (killed at 0.5 s it could go offline before its first heartbeat reached a still-subscribing monitor)
    scenario = [Action(3.0, Verb.KILL, dying_camera, offline=True), Action(1.0, Verb.PRESS, f"panhe-ms/alarm/{alarm}"),
                Action(1.0, Verb.BAD, count=6)]
    sim = Simulator(registry, url, scenario=scenario, client_id="campus-sim-prom-test", seed=3)
    await sim.start()
    assert app.http_address is not None
    host, port = app.http_address
    try:
        with run_prometheus(tmp_path / "prometheus", f"{host}:{port}") as (base, config):
            yield Running(base, config, broker)
    finally:
        await sim.stop()
        await app.stop()
        broker.close()
        await hook_runner.cleanup()


async def query(http: aiohttp.ClientSession, base: str, expr: str) -> dict[str, Any]:
    async with http.post(f"{base}/api/v1/query", data={"query": expr}) as resp:
        body = await resp.json()
    return body


async def series(http: aiohttp.ClientSession, base: str, expr: str) -> list[dict[str, Any]]:
    body = await query(http, base, expr)
    return body["data"]["result"] if body.get("status") == "success" else []


def referenced(expr: str) -> set[str]:
    return {m for m in METRIC.findall(expr) if m not in ("campus_", "scrape_")}


def rule_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load((DEPLOY / "rules.yml").read_text(encoding="utf-8"))
    return [(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


async def test_every_dashboard_query_and_rule_runs_against_a_live_monitor(running: Running):
    base = running.prometheus
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        async def ready() -> bool:
            try:
                async with http.get(f"{base}/-/ready") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(ready, 20, "Prometheus to start")
        # five scrapes of a monitor that hears devices, has a camera down (offline after it was heard),
        # an alarm press stored and bad messages counted
        await wait_for(lambda: series(http, base, 'count_over_time(up{job="campus-monitor"}[1m]) >= 5'), 20,
                       "five scrapes")
        await wait_for(lambda: series(http, base, "campus_alarm_events_total"), 20, "the alarm press")
        await wait_for(lambda: series(http, base, 'campus_messages_total{outcome="invalid"}'), 20, "bad messages")
        dead = f'campus_device_up{{device="{DEMO_FAILURES[0].camera}"}} == 0 and campus_device_last_seen_timestamp_seconds'
        await wait_for(lambda: series(http, base, dead), 20, "the offline camera")

        async with http.get(f"{base}/api/v1/label/__name__/values") as resp:
            known = set((await resp.json())["data"])
        assert not PENDING & known, f"exported now, take them off PENDING: {sorted(PENDING & known)}"
        unknown = {m for _, _, e in dashboard_queries() for m in referenced(e)} - known - PENDING
        unknown |= {m for _, e in rule_exprs() for m in referenced(e)} - known - PENDING
        assert not unknown, f"queries name metrics that are neither exported nor pending: {sorted(unknown)}"

        failures: list[str] = []
        empty: list[str] = []
        for name, title, expr in dashboard_queries():
            body = await query(http, base, expr)
            if body.get("status") != "success":
                failures.append(f"{name} / {title}: {body.get('error')}\n    {expr}")
            elif not body["data"]["result"] and referenced(expr) <= known and not FILTER_LAST.search(expr):
                empty.append(f"{name} / {title}: no data\n    {expr}")
        for alert, expr in rule_exprs():
            body = await query(http, base, expr)
            if body.get("status") != "success":
                failures.append(f"rule {alert}: {body.get('error')}\n    {expr}")
        assert not failures, "\n".join(failures)
        assert not empty, "\n".join(empty)

        # Prometheus itself evaluates the rules without error, and a healthy monitor fires none of them
        async with http.get(f"{base}/api/v1/rules") as resp:
            groups = (await resp.json())["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        assert set(rules) == {a for a, _ in rule_exprs()}
        assert all(r["health"] == "ok" and not r.get("lastError") for r in rules.values()), rules
        assert all(r["state"] == "inactive" for r in rules.values()), {n: r["state"] for n, r in rules.items()}

        # the broker goes away: the disconnected rule's condition holds, "no messages" is not claimed
        running.broker.close()
        disconnected = dict(rule_exprs())["CampusMonitorBrokerDisconnected"]
        await wait_for(lambda: series(http, base, disconnected), 20, "the broker-disconnected condition")
        assert not await series(http, base, dict(rule_exprs())["CampusMonitorNoMessages"])


def test_promtool_accepts_the_deployed_config_and_rules():
    promtool = require_binary("promtool", "prometheus")
    for args in (["check", "config", str(DEPLOY / "prometheus.yml")], ["check", "rules", str(DEPLOY / "rules.yml")]):
        done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr


def test_amtool_accepts_the_alertmanager_config():
    amtool = require_binary("amtool", "prometheus-alertmanager")
    done = subprocess.run([amtool, "check-config", str(ROOT / "deploy/alertmanager/alertmanager.yml")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr

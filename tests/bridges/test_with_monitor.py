"""The bridges with the running monitor: a device emulated on the wire, a real Mosquitto, the monitor
in process, its state, its API and a real webhook receiver (issue 12's "done when").

- JT/T 808: the bridge runs as its own process (`campus-monitor bridge jt808`), a terminal emulator
  registers, authenticates and reports; the bus's position, its emergency button and its silence
  reach the monitor.
- GB/T 28181: an NVR emulator (a Python UA) registers, keeps alive and answers the bridge's Catalog
  queries; its channels judge the cameras behind it, and its death is one `nvr_down`.
- RTSP: asyncio responders answer OPTIONS; one stops and its camera goes down after its timeout.

Timeouts are 1 s (interval 0.5 s x 2 missed), so "within a second" is checked on the real clock.
JT/T 808 has no standard passenger-count item in 0x0200 (the 2019 edition's additional items are
mileage, fuel, speed, alarms, signal and I/O states), so `passengers` is not bridged (docs/bridges.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alerts.model import Alert
from alerts.routing import parse_receivers
from bridges.cli import Running, build
from bridges.gb28181.server import Gb28181Bridge
from bridges.targets import index
from devices.model import DeviceKind
from devices.registry import parse_registry
from monitor.app import App
from monitor.config import AlertsConfig, parse_config
from tests.bridges.gb_device import Device as GbDevice
from tests.bridges.gb_device import catalog_response, keepalive
from tests.bridges.jt808_terminal import Terminal
from tests.integration.service import get_json, make_config, metrics_text, sample, state, token
from tests.ports import free_port
from tests.waiting import let_time_pass, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 1.0  # every device's: interval_s 0.5 x missed 2
SCHOOL = "panhe-ms"
PATH = "[[103.7171, 27.3382], [103.7204, 27.3417]]"
ON_ROUTE = (27.33925, 103.71809)  # (lat, lon), on the line between the two points
NVR_GB = "53060200001180000001"
CAM_GB = {"cam-dg-01": "53060200001320000001", "cam-dg-02": "53060200001320000002",
          "cam-dg-03": "53060200001320000003"}
PASSWORD = "s3cret-28181"

HEAD = """\
defaults:
  camera: {interval_s: 0.5, missed: 2}
  gps: {interval_s: 0.5, missed: 2}
  nvr: {interval_s: 0.5, missed: 2}
"""


# ---- the running parts -----------------------------------------------------------------------------


class Webhook:
    """A real generic-webhook receiver: every alert of every POST, with when it arrived."""

    def __init__(self) -> None:
        self.alerts: list[tuple[float, dict[str, Any]]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            body = await request.json()
            self.alerts.extend((time.monotonic(), a) for a in body["alerts"])
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/hook", hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def of(self, rule: str, subject: str | None = None, state: str = "firing", since: float = 0.0) -> list[dict[str, Any]]:
        return [a for at, a in self.alerts if at >= since and a["rule"] == rule and a["state"] == state
                and (subject is None or a["subject"] == subject)]


@asynccontextmanager
async def monitor(mqtt_port: int, tmp_path: Path, registry_text: str) -> AsyncIterator[tuple[App, Webhook]]:
    """The monitor in process, sending every alert change at once to a real webhook."""
    hook = Webhook()
    await hook.start()
    cfg = dataclasses.replace(
        make_config(mqtt_port, f"sqlite:///{tmp_path / 'campus.db'}"),
        alerts=AlertsConfig(group_window_s=0),
        receivers=tuple(parse_receivers([{"kind": "webhook", "name": "bureau", "url": hook.url}])),
    )
    app = App(cfg, parse_registry(registry_text, "registry.yaml"), ("registry.yaml", registry_text))
    await app.start()
    try:
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5, "the monitor's broker link")
        yield app, hook
    finally:
        await app.stop()
        await hook.stop()


@asynccontextmanager
async def bridge(protocol: str, mqtt_port: int, registry_text: str, section: str) -> AsyncIterator[Running]:
    """One bridge in process, built as `campus-monitor bridge PROTOCOL` builds it."""
    cfg = parse_config(f'[mqtt]\nurl = "mqtt://127.0.0.1:{mqtt_port}"\nclient_id = "test-{mqtt_port}"\n'
                       f'[bridges.{protocol}]\nmetrics_listen = ""\n{section}')
    running = build(protocol, cfg, index(parse_registry(registry_text, "registry.yaml")))
    await running.start()
    try:
        await wait_for(lambda: running.publisher.connected, 5, f"the {protocol} bridge's broker link")
        yield running
    finally:
        await running.stop()


def open_alerts(app: App, rule: str, subject: str | None = None) -> list[Alert]:
    return [a for a in app.alerts.book.open_alerts() if a.rule == rule and (subject is None or a.subject == subject)]


def last_seen(app: App, kind: str, device: str) -> float:
    seen = app.judge.liveness.devices[(SCHOOL, DeviceKind(kind), device)].last_seen
    assert seen is not None
    return seen


async def within(seconds: float, condition: Callable[[], Any], what: str) -> float:
    """Wait (with room to spare) for `condition`, then check it came within `seconds`; the time taken."""
    started = time.monotonic()
    await wait_for(condition, seconds + 3, what)
    took = time.monotonic() - started
    assert took <= seconds, f"{what} took {took:.2f} s, more than {seconds} s"
    return took


# ---- JT/T 808 --------------------------------------------------------------------------------------


def window_not_now() -> str:
    """A service window of one hour that does not hold the present hour (Asia/Shanghai)."""
    hour = (datetime.now(timezone(timedelta(hours=8))).hour + 2) % 24
    return f"{hour:02d}:00-{hour + 1:02d}:00"


def bus_registry() -> str:
    return HEAD + f"""\
schools:
  - {{id: {SCHOOL}, name: 盘河中学}}
routes:
  - {{id: panhe-r1, corridor_m: 150, speed_limit_kmh: 60, path: {PATH}}}          # no windows: always in service
  - {{id: panhe-r2, corridor_m: 150, speed_limit_kmh: 60, windows: ["{window_not_now()}"], path: {PATH}}}
buses:
  - {{id: bus-023, plate: 云C·12345, school: {SCHOOL}, route: panhe-r1, capacity: 19, terminal: "013912345678"}}
  - {{id: bus-031, plate: 云C·12331, school: {SCHOOL}, route: panhe-r2, capacity: 19, terminal: "013912345631"}}
"""


@asynccontextmanager
async def jt808_process(mqtt_port: int, tmp_path: Path, registry_text: str) -> AsyncIterator[int]:
    """`campus-monitor bridge jt808` as its own process; yields the port the terminals connect to."""
    port = free_port()
    (tmp_path / "bridge-registry.yaml").write_text(registry_text, encoding="utf-8")
    (tmp_path / "bridge.toml").write_text(
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{mqtt_port}"\nclient_id = "test-{mqtt_port}"\n'
        f'[bridges.jt808]\nlisten = "127.0.0.1:{port}"\nmetrics_listen = ""\n', encoding="utf-8")
    with open(tmp_path / "bridge.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "bridge", "jt808", "--config",
                                 str(tmp_path / "bridge.toml"), "--registry", str(tmp_path / "bridge-registry.yaml")],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        def accepting() -> bool:
            assert proc.poll() is None, (tmp_path / "bridge.log").read_text(errors="replace")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        await wait_for(accepting, 20, "the JT/T 808 bridge process to listen")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_a_jt808_terminal_moves_its_bus_presses_its_emergency_button_and_falls_silent(
        mosquitto: tuple[str, int], tmp_path: Path) -> None:
    text = bus_registry()
    async with monitor(mosquitto[1], tmp_path, text) as (app, hook), jt808_process(mosquitto[1], tmp_path, text) as port:
        term = Terminal("013912345678")
        await term.connect("127.0.0.1", port)
        result, code = await term.register()
        assert result == 0 and await term.auth(code) == 0

        # a location: within a second the monitor's position of the bus is the fix
        lat, lon = ON_ROUTE
        now = datetime.now().astimezone()
        assert await term.location(lat, lon, speed_kmh=38.5, heading=45, when=now) == 0
        watch = app.buses.watches["bus-023"]
        await within(1.0, lambda: watch.snapshot().lat == lat, "the bus's position in the monitor")
        snap = watch.snapshot()
        assert (snap.lat, snap.lon, snap.speed_kmh, snap.last_fix_ts) == (lat, lon, 38.5, float(int(now.timestamp())))
        status, body = await get_json(app, "/api/v1/buses/bus-023", await token(app, "bureau"))
        assert status == 200
        assert body["position"] == {"lat": lat, "lon": lon, "speed_kmh": 38.5, "ts": float(int(now.timestamp()))}
        assert body["gps"] == "up" and body["off_route"] is False

        # the emergency alarm bit: an alarm_pressed alert whose subject is the bus, at the webhook too
        assert await term.location(lat, lon, speed_kmh=20, alarm=1, when=datetime.now().astimezone()) == 0
        await within(1.0, lambda: open_alerts(app, "alarm_pressed", "bus-023"), "the bus's alarm_pressed alert")
        (press,) = open_alerts(app, "alarm_pressed")
        assert (press.school, press.severity) == (SCHOOL, "critical")
        await within(1.0, lambda: hook.of("alarm_pressed", "bus-023"), "the press at the webhook")
        assert hook.of("alarm_pressed")[0]["school"] == SCHOOL

        # a bus outside its service window: its fix is taken, its silence is not judged
        other = Terminal("00000000013912345631", version=1)  # a 2019 frame, 20 digits
        await other.connect("127.0.0.1", port)
        assert await other.location(lat, lon, when=datetime.now().astimezone()) == 0
        await within(1.0, lambda: app.buses.watches["bus-031"].snapshot().lat == lat, "bus-031's position")

        # both terminals fall silent (connections closed without 0x0003): the GPS timeout judges
        assert not open_alerts(app, "bus_gps_lost")
        await term.close()
        await other.close()
        seen = last_seen(app, "gps", "bus-023")
        await wait_for(lambda: open_alerts(app, "bus_gps_lost", "bus-023"), TIMEOUT + 3, "bus_gps_lost of bus-023")
        assert time.time() - seen <= TIMEOUT + 1.0
        assert state(app, SCHOOL, "gps", "bus-023") == "down"
        await wait_for(lambda: hook.of("bus_gps_lost", "bus-023"), 3, "bus_gps_lost at the webhook")
        await let_time_pass(TIMEOUT + 1.0)  # well past bus-031's timeout too
        assert not open_alerts(app, "bus_gps_lost", "bus-031") and not hook.of("bus_gps_lost", "bus-031")
        assert state(app, SCHOOL, "gps", "bus-031") != "down"


# ---- GB/T 28181 ------------------------------------------------------------------------------------


def nvr_registry(rtsp_port: int) -> str:
    cams = "".join(f'      - {{id: {cam}, zone: dorm-girls, nvr: nvr-1, gb_id: "{gb}"}}\n' for cam, gb in CAM_GB.items())
    return HEAD + f"""\
schools:
  - id: {SCHOOL}
    name: 盘河中学
    zones:
      - {{id: dorm-girls, name: 女生宿舍, kind: dormitory, min_live: 2}}
      - {{id: gate, name: 校门, kind: gate}}
    nvrs:
      - {{id: nvr-1, gb_id: "{NVR_GB}", location: 监控室}}
    cameras:
{cams}      - {{id: cam-gate-01, zone: gate, rtsp: "rtsp://127.0.0.1:{rtsp_port}/Streaming/Channels/101"}}
"""


class Nvr:
    """An NVR on the wire: registers (Digest), sends a Keepalive every `every_s` and answers each Catalog
    query with its channels' states, from one task (so its requests and their answers never cross)."""

    def __init__(self, channels: dict[str, str], every_s: float = 0.2) -> None:
        self.ua = GbDevice(NVR_GB, PASSWORD)
        self.channels = channels  # gb_id -> ON / OFF
        self.every_s = every_s
        self.catalogs_sent: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._dying = asyncio.Event()
        self._sn = 0

    async def start(self, port: int) -> None:
        await self.ua.open("127.0.0.1", port)
        assert await self.ua.register() == 200
        self._task = asyncio.create_task(self._live())

    async def _live(self) -> None:
        while not self._dying.is_set():
            while not self.ua.queries.empty():
                query = self.ua.queries.get_nowait()
                if b"<CmdType>Catalog</CmdType>" in query.body:
                    await self.send_catalog()
            self._sn += 1
            assert await self.ua.message(keepalive(NVR_GB, self._sn)) == 200
            with contextlib.suppress(TimeoutError):  # the NVR's keepalive interval, or its death
                await asyncio.wait_for(self._dying.wait(), self.every_s)

    async def send_catalog(self, only: dict[str, str] | None = None) -> None:
        self._sn += 1
        items = [(gb, f"通道{i}", on) for i, (gb, on) in enumerate((only or self.channels).items())]
        root = "Notify" if only else "Response"
        assert await self.ua.message(catalog_response(NVR_GB, items, self._sn, root=root)) == 200
        self.catalogs_sent.append(time.monotonic())

    async def die(self, unregister: bool) -> None:
        """Stop after the request in flight has its answer (so no answer is left for the next request)."""
        self._dying.set()
        if self._task is not None:
            await self._task
        if unregister:
            assert await self.ua.register(expires=0) == 200
        self.ua.close()


class RtspResponder:
    """Answers RTSP OPTIONS with 200 until stopped; then the port refuses connections."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.answered = 0

    async def start(self, port: int = 0) -> RtspResponder:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n")
            await writer.drain()
            self.answered += 1
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


@pytest.mark.parametrize("death", ["silence", "unregister"])
async def test_an_nvr_judges_its_cameras_and_its_death_is_one_nvr_down_not_a_camera_down_storm(
        mosquitto: tuple[str, int], tmp_path: Path, death: str) -> None:
    gate = await RtspResponder().start()  # the gate camera stays up, so the school never goes offline
    text = nvr_registry(gate.port)
    gb_section = f'listen = "127.0.0.1:0"\npassword = "{PASSWORD}"\ncatalog_every_s = 30\n'  # as in service: longer than a camera's timeout
    async with AsyncExitStack() as stack:
        app, hook = await stack.enter_async_context(monitor(mosquitto[1], tmp_path, text))
        gb = await stack.enter_async_context(bridge("gb28181", mosquitto[1], text, gb_section))
        await stack.enter_async_context(bridge("rtsp", mosquitto[1], text, "every_s = 0.2\ntimeout_s = 0.3\n"))
        await wait_for(lambda: state(app, SCHOOL, "camera", "cam-gate-01") == "up", 3, "the gate camera up")

        # the NVR registers; the bridge asks for its catalog: ON cameras are up, the OFF one down
        nvr = Nvr({CAM_GB["cam-dg-01"]: "ON", CAM_GB["cam-dg-02"]: "ON", CAM_GB["cam-dg-03"]: "OFF"})
        assert isinstance(gb.bridge, Gb28181Bridge)
        await nvr.start(gb.bridge.port)
        expected = {"cam-dg-01": "up", "cam-dg-02": "up", "cam-dg-03": "down"}
        await wait_for(lambda: nvr.catalogs_sent, 3, "the NVR's answer to the Catalog query")
        await within(1.0, lambda: all(state(app, SCHOOL, "camera", c) == s for c, s in expected.items()),
                     "the cameras judged by the NVR's catalog")
        assert state(app, SCHOOL, "nvr", "nvr-1") == "up"
        assert open_alerts(app, "camera_down", "cam-dg-03")  # an OFF channel is a camera down
        # a notification turns the channel ON: up within a second
        await nvr.send_catalog({CAM_GB["cam-dg-03"]: "ON"})
        nvr.channels[CAM_GB["cam-dg-03"]] = "ON"
        await within(1.0, lambda: state(app, SCHOOL, "camera", "cam-dg-03") == "up", "cam-dg-03 up again")
        await let_time_pass(2 * TIMEOUT)  # kept alive by Keepalives alone: the cameras stay up with their NVR
        assert all(state(app, SCHOOL, "camera", c) == "up" for c in CAM_GB), "cameras fell silent behind a live NVR"
        assert not open_alerts(app, "camera_down") and not open_alerts(app, "nvr_down")

        # the NVR dies: one nvr_down naming its cameras; they are unreachable; no camera_down of their own
        died = time.monotonic()
        await nvr.die(unregister=death == "unregister")
        await wait_for(lambda: open_alerts(app, "nvr_down"), TIMEOUT + 3, "nvr_down")
        if death == "unregister":
            assert time.monotonic() - died < 1.0  # `offline` at once, not after a timeout
        (down,) = open_alerts(app, "nvr_down")
        assert (down.school, down.subject, down.severity) == (SCHOOL, "nvr-1", "critical")
        assert sorted(down.detail["cameras"]) == sorted(CAM_GB)
        await wait_for(lambda: all(state(app, SCHOOL, "camera", c) == "unreachable" for c in CAM_GB), 2,
                       "the cameras behind the NVR unreachable")
        await let_time_pass(2 * TIMEOUT)  # past every camera's own timeout, twice
        assert all(state(app, SCHOOL, "camera", c) == "unreachable" for c in CAM_GB)
        assert not open_alerts(app, "camera_down")
        assert not hook.of("camera_down", since=died), "a camera_down storm behind a dead NVR"
        await wait_for(lambda: len(hook.of("nvr_down")) == 1, 3, "nvr_down at the webhook")
        (sent,) = hook.of("nvr_down")
        assert sent["subject"] == "nvr-1" and all(c in sent["summary"] for c in CAM_GB)
        assert state(app, SCHOOL, "camera", "cam-gate-01") == "up" and not open_alerts(app, "school_offline")

        # unreachable cameras are not live: the dormitory is dark and three blind spots
        assert open_alerts(app, "zone_dark", "dorm-girls")
        text_metrics = await metrics_text(app)
        zone = {"school": SCHOOL, "zone": "dorm-girls"}
        assert sample(text_metrics, "campus_zone_live_cameras", zone_kind="dormitory", **zone) == 0.0
        assert sample(text_metrics, "campus_zone_dark", zone_kind="dormitory", **zone) == 1.0
        assert sample(text_metrics, "campus_blind_spots", **zone) == 3.0
        assert sample(text_metrics, "campus_blind_spots", school=SCHOOL, zone="gate") in (0.0, None)
        assert sample(text_metrics, "campus_device_up", school=SCHOOL, kind="camera", device="cam-dg-01",
                      zone="dorm-girls") == 0.0
    await gate.stop()


# ---- RTSP ------------------------------------------------------------------------------------------


async def test_an_rtsp_camera_is_up_while_it_answers_options_and_down_after_its_timeout_when_it_stops(
        mosquitto: tuple[str, int], tmp_path: Path) -> None:
    first, second = await RtspResponder().start(), await RtspResponder().start()
    text = HEAD + f"""\
schools:
  - id: {SCHOOL}
    name: 盘河中学
    zones: [{{id: gate, name: 校门, kind: gate}}]
    cameras:
      - {{id: cam-gate-01, zone: gate, rtsp: "rtsp://admin:hunter2@127.0.0.1:{first.port}/Streaming/Channels/101"}}
      - {{id: cam-gate-02, zone: gate, rtsp: "rtsp://127.0.0.1:{second.port}/Streaming/Channels/101"}}
"""
    async with monitor(mosquitto[1], tmp_path, text) as (app, hook), \
            bridge("rtsp", mosquitto[1], text, "every_s = 0.2\ntimeout_s = 0.3\n"):
        await wait_for(lambda: all(state(app, SCHOOL, "camera", c) == "up" for c in ("cam-gate-01", "cam-gate-02")), 3,
                       "both RTSP cameras up")
        await first.stop()  # the camera stops answering: refused from now on
        stopped = last_seen(app, "camera", "cam-gate-01")
        await wait_for(lambda: state(app, SCHOOL, "camera", "cam-gate-01") == "down", TIMEOUT + 3, "cam-gate-01 down")
        judged = time.time()
        assert TIMEOUT - 0.05 <= judged - last_seen(app, "camera", "cam-gate-01") <= TIMEOUT + 1.0
        assert last_seen(app, "camera", "cam-gate-01") >= stopped
        (down,) = open_alerts(app, "camera_down")
        assert (down.subject, down.severity, down.zone) == ("cam-gate-01", "warning", "gate")
        await wait_for(lambda: hook.of("camera_down", "cam-gate-01"), 3, "camera_down at the webhook")
        assert state(app, SCHOOL, "camera", "cam-gate-02") == "up"
        # it answers again on the same port: up again at the next probe
        await first.start(first.port)
        await within(1.0, lambda: state(app, SCHOOL, "camera", "cam-gate-01") == "up", "cam-gate-01 up again")
    await second.stop()
    await first.stop()

"""The GB/T 28181 bridge against real peers: sipp scenarios (REGISTER with Digest, Keepalive) and a
Python device UA (Catalog), publishing through a real Mosquitto."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridges.cli import Running, build
from bridges.gb28181.server import Gb28181Bridge
from bridges.targets import index
from monitor.config import parse_config
from tests.bridges.conftest import registry
from tests.bridges.gb_device import Device, catalog_response, keepalive
from tests.bridges.mqtt_sub import Subscriber, until
from tests.ports import free_port
from tests.services import require_binary

pytestmark = pytest.mark.integration

SCENARIOS = Path(__file__).parent / "sipp"
NVR_GB, CAM1_GB, CAM2_GB, SOLO_GB = ("53060200001180000001", "53060200001320000001", "53060200001320000002",
                                     "53060200001320000009")
NVR = "campus/panhe-ms/nvr/nvr-1"
PASSWORD = "s3cret-28181"


@pytest.fixture
async def bridge(mosquitto: tuple[str, int]) -> AsyncIterator[tuple[Running, Subscriber]]:
    host, port = mosquitto
    cfg = parse_config(f'[mqtt]\nurl = "mqtt://{host}:{port}"\n[bridges.gb28181]\nlisten = "127.0.0.1:0"\n'
                       f'password = "{PASSWORD}"\nmetrics_listen = ""\ncatalog_every_s = 0.5\n')
    running = build("gb28181", cfg, index(registry()))
    sub = Subscriber(host, port)
    await running.start()
    await until(lambda: running.publisher.connected, what="the bridge's broker link")
    try:
        yield running, sub
    finally:
        await running.stop()
        sub.close()


async def sipp(tmp_path: Path, port: int, scenario: str, *args: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        require_binary("sipp", "sip-tester"), f"127.0.0.1:{port}", "-sf", str(SCENARIOS / scenario), "-m", "1", "-p", str(free_port()),
        "-i", "127.0.0.1", "-nostdin", "-timeout", "10s", "-timeout_error", *args,
        cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await proc.wait()


async def test_sipp_register_with_digest_keepalive_and_unregister(bridge: tuple[Running, Subscriber], tmp_path: Path) -> None:
    running, sub = bridge
    gb: Gb28181Bridge = running.bridge  # type: ignore[assignment]
    cam = "campus/panhe-ms/camera/cam-solo"
    assert await sipp(tmp_path, gb.port, "register_auth_wrong.xml", "-s", SOLO_GB, "-ap", "wrong") == 0  # 401 then 403
    assert gb.stats.frames["auth_failed"] == 1 and SOLO_GB not in gb.registered
    assert await sipp(tmp_path, gb.port, "register_auth.xml", "-s", SOLO_GB, "-ap", PASSWORD) == 0  # 401 then 200
    assert SOLO_GB in gb.registered
    assert await sipp(tmp_path, gb.port, "register_refused.xml", "-s", "99999999991320000001") == 0  # unknown id: 403
    assert gb.stats.frames["unknown_device"] == 1
    assert await sipp(tmp_path, gb.port, "keepalive.xml", "-s", SOLO_GB) == 0
    await until(lambda: sub.on(f"{cam}/heartbeat") and sub.on(f"{cam}/status"), what="heartbeat and status")
    hb = sub.on(f"{cam}/heartbeat")[0]
    assert isinstance(hb, dict) and hb["status"] == "ok" and set(hb) == {"ts", "status"}
    assert sub.on(f"{cam}/status") == ["online"]
    # Expires: 0 unregisters -> offline (the digest again, since a password is set)
    dev = Device(SOLO_GB, PASSWORD)
    await dev.open("127.0.0.1", gb.port)
    try:
        assert await dev.register(expires=0) == 200
    finally:
        dev.close()
    await until(lambda: sub.on(f"{cam}/status") == ["online", "offline"], what="the offline status")
    assert not any("99999999991320000001" in t for t, _, _ in sub.messages)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_nvr_catalog_publishes_channels(bridge: tuple[Running, Subscriber], tcp: bool) -> None:
    running, sub = bridge
    gb: Gb28181Bridge = running.bridge  # type: ignore[assignment]
    nvr = Device(NVR_GB, PASSWORD)
    await nvr.open("127.0.0.1", gb.port, tcp=tcp)
    try:
        assert await nvr.register() == 200
        query = await asyncio.wait_for(nvr.queries.get(), 5)  # the bridge asks for the catalog at once
        assert query.method == "MESSAGE" and b"<CmdType>Catalog</CmdType>" in query.body
        items = [(CAM1_GB, "女生宿舍3楼东", "ON"), (CAM2_GB, "女生宿舍4楼东", "OFF"), ("53060200001320000077", "x", "ON")]
        assert await nvr.message(catalog_response(NVR_GB, items)) == 200
        await until(lambda: any(isinstance(m, dict) and "channels" in m for m in sub.on(f"{NVR}/heartbeat")),
                    what="the NVR's channels")
        (hb,) = [m for m in sub.on(f"{NVR}/heartbeat") if isinstance(m, dict) and "channels" in m]
        assert hb["channels"] == {"cam-dg-01": "on", "cam-dg-02": "off"} and hb["status"] == "ok"
        assert gb.stats.frames["foreign_channel"] == 1
        assert await nvr.message(keepalive(NVR_GB, 2, encoding="UTF-8")) == 200
        await until(lambda: len(sub.on(f"{NVR}/heartbeat")) == 2, what="the keepalive heartbeat")
        # the Keepalive carries the channel states last reported, so the cameras are heard with the NVR
        kept = sub.on(f"{NVR}/heartbeat")[1]
        assert isinstance(kept, dict) and kept["channels"] == {"cam-dg-01": "on", "cam-dg-02": "off"}
        # a notification names what changed; the next Keepalive carries the merged states
        assert await nvr.message(catalog_response(NVR_GB, [(CAM2_GB, "女生宿舍4楼东", "ON")], root="Notify")) == 200
        assert await nvr.message(keepalive(NVR_GB, 3)) == 200
        await until(lambda: len(sub.on(f"{NVR}/heartbeat")) == 4, what="the next keepalive heartbeat")
        last = sub.on(f"{NVR}/heartbeat")[3]
        assert isinstance(last, dict) and last["channels"] == {"cam-dg-01": "on", "cam-dg-02": "on"}
        # unregistering forgets them: after registering again, a Keepalive is the NVR's alone
        assert await nvr.register(expires=0) == 200
        assert await nvr.register() == 200
        assert await nvr.message(keepalive(NVR_GB, 4)) == 200
        await until(lambda: len(sub.on(f"{NVR}/heartbeat")) == 5, what="a keepalive after registering again")
        assert set(sub.on(f"{NVR}/heartbeat")[4]) == {"ts", "status"}
        # catalog_every_s = 0.5: the query comes again
        again = await asyncio.wait_for(nvr.queries.get(), 5)
        assert b"Catalog" in again.body
        # a Keepalive from an id outside the registry: 403, nothing published
        stranger = Device("99999999991180000001")
        await stranger.open("127.0.0.1", gb.port, tcp=tcp)
        try:
            assert await stranger.message(keepalive("99999999991180000001")) == 403
        finally:
            stranger.close()
    finally:
        nvr.close()

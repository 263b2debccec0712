"""The desk pages as people use them, in a real Chromium against a real Mosquitto: the crew's phone flow
(a short ticket number and the camera's location, take before fixed, the school's device states, all in
Chinese), the district map and the bus list.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices.registry import parse_registry
from monitor.app import App
from monitor.config import TicketsConfig
from monitor.storage.auth_tables import create_token
from tests.integration.browsing import DESKTOP, PHONE, base_url, chromium, log_in, shoot
from tests.integration.service import Device, keep_beating, make_config, serving
from tests.integration.test_api import REGISTRY
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

LOCATED = REGISTRY.replace("- {id: cam-dg-01, zone: dorm-girls}",
                           "- {id: cam-dg-01, zone: dorm-girls, location: 女生宿舍3楼东走廊}")
ENGLISH_LEAKS = ("open", "in_progress", "verifying", "maintenance", "camera", "dorm-girls", "noted", "assigned",
                 "resolved", "system", "Not allowed", "role ")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async for b in chromium():
        yield b


@pytest.fixture
async def service(tmp_path: Path, mosquitto: tuple[str, int]) -> AsyncIterator[tuple[App, Device]]:
    cfg = dataclasses.replace(make_config(mosquitto[1], f"sqlite:///{tmp_path / 'campus.db'}"),
                              tickets=TicketsConfig(open_after_s=1.0, verify_s=60.0, reopen_after_s=600.0))
    app = App(cfg, parse_registry(LOCATED, "registry.yaml"), ("registry.yaml", LOCATED))
    async with serving(app, mosquitto[1]) as running:
        yield running


async def named_token(app: App, role: str, name: str, schools: list[str] | None = None) -> str:
    _, tok = await app.db.call(create_token, role, schools or [], name)
    return tok


def leaks(text: str) -> list[str]:
    return [w for w in ENGLISH_LEAKS if w in text]


async def test_a_crew_member_on_a_phone_takes_then_fixes_a_ticket_by_its_short_number_and_location_in_chinese(
        service, browser) -> None:
    app, dev = service
    url = base_url(app)
    crew = await named_token(app, "maintenance", "维修张师傅")
    stop = asyncio.Event()
    healthy = [("panhe-ms", "camera", c) for c in ("cam-dg-02", "cam-dg-03", "cam-ct-01")] + [
        ("panhe-ms", "alarm", "alarm-gate"), ("other-ps", "camera", "cam-01")]
    beater = asyncio.create_task(keep_beating(dev, stop, healthy))
    try:
        await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-dg-01")
        await wait_for(lambda: app.tickets.book.for_device(("panhe-ms", "camera", "cam-dg-01")) is not None, 8)
        context = await browser.new_context(viewport=PHONE, locale="zh-CN")
        page = await context.new_page()
        await log_in(page, url, crew)
        assert page.url == url + "/tickets"
        row = page.locator("tr[data-device='cam-dg-01']")
        await row.wait_for()
        text = await row.inner_text()
        assert "女生宿舍3楼东走廊" in text and "女生宿舍" in text
        number = await row.locator("a.ticket-no").inner_text()
        assert re.fullmatch(r"№\d{4}-\d+", number), number
        await shoot(page, "crew-tickets", ("phone",))

        await row.locator("a.ticket-no").click()
        await page.wait_for_selector("#status[data-status='open']")
        assert await page.locator("#resolve").count() == 0  # 接单 comes first
        assert await page.locator("#take-first").is_visible()
        await page.click("#take")
        await page.wait_for_selector("#status[data-status='in_progress']")
        await page.fill("#resolve-note", "更换了摄像头电源适配器")
        await shoot(page, "crew-ticket", ("phone",))
        await page.click("#resolve")
        await page.wait_for_selector("#status[data-status='verifying']")
        main = await page.inner_text("main")
        assert "更换了摄像头电源适配器" in main and "接单" in main and "报修复" in main
        assert number in main
        assert leaks(main.replace("cam-dg-01", "")) == []

        await page.click("#school-link")  # the crew sees whether the camera is back
        assert page.url == url + "/schools/panhe-ms"
        assert await page.get_attribute("#devices tr[data-device='cam-dg-01']", "data-state") == "down"
        healthy.append(("panhe-ms", "camera", "cam-dg-01"))
        await page.wait_for_selector("#devices tr[data-device='cam-dg-01'][data-state='up']", timeout=15_000)
        assert "女生宿舍3楼东走廊" in await page.inner_text("#devices")
        await shoot(page, "crew-school", ("phone",))

        response = await page.goto(url + "/alerts")
        assert response.status == 403
        assert "无权" in await page.inner_text("main") and leaks(await page.inner_text("main")) == []
        await context.close()
    finally:
        stop.set()
        await beater


async def test_the_bureau_sees_schools_and_buses_on_the_district_map_and_in_the_bus_list(service, browser) -> None:
    app, dev = service
    url = base_url(app)
    bureau = await named_token(app, "bureau", "教育局值班")
    for i in range(3):
        await asyncio.to_thread(dev.send, "campus/panhe-ms/bus/bus-023/gps",
                                {"ts": time.time(), "lat": 27.3382 + i * 0.0008, "lon": 103.7171 + i * 0.0009,
                                 "speed_kmh": 35})
        await asyncio.sleep(0.3)
    await wait_for(lambda: app.buses.watches["bus-023"].snapshot().lat is not None, 3)

    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    await log_in(page, url, bureau, "/map")
    await page.wait_for_selector("#map.leaflet-container")
    assert await page.locator("path.school-marker").count() == 2  # both schools have a bus route to stand on
    assert await page.locator("path.bus-marker").count() == 1
    assert await page.locator("path.route-line").count() == 2
    assert await page.locator("#no-tiles").is_visible()
    assert problems == []  # nothing refused by the page's CSP, nothing fetched elsewhere
    await shoot(page, "map")

    await page.goto(url + "/buses")
    rows = page.locator("#bus-list tr[data-bus]")
    assert await rows.count() == 2
    text = await page.inner_text("#bus-list")
    assert "云C·12345" in text and "盘河中学" in text and "最后定位" in text
    await shoot(page, "buses")
    await page.click("#bus-list a:has-text('云C·12345')")
    assert page.url == url + "/buses/bus-023"
    assert "偏离报警距离" in await page.inner_text("main")
    await page.wait_for_selector("#bus-leaflet path.bus-marker")  # route, corridor and track on a scaled map
    assert await page.locator("#bus-leaflet path.track-line").count() == 1
    assert await page.locator("#bus-leaflet path.route-line").count() == 1
    assert await page.locator("#bus-leaflet path.bus-marker").count() == 1
    assert await page.locator("#bus-leaflet .leaflet-control-scale").count() == 1
    await shoot(page, "bus")
    await page.goto(url + "/buses?lang=en")
    assert "Last fix" in await page.inner_text("#bus-list")
    await context.close()

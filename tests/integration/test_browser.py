"""The pages in a real headless Chromium (Debian `chromium`, driven by Playwright): a crew member
resolves the ticket of a killed camera and watches it verify and close; an officer cannot open another
school's pages; sessions are HttpOnly/SameSite=Strict and forms need their CSRF token.

Set CAMPUS_SCREENSHOTS=DIR to keep a phone-sized and a desktop screenshot of every page.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from monitor.config import TicketsConfig
from tests.integration.service import Device, get_json, token
from tests.integration.test_api import build_app, keep_beating
from tests.services import require_binary, require_module
from tests.waiting import let_time_pass, wait_for

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}



@pytest.fixture
async def browser():
    playwright_api = require_module("playwright.async_api", "playwright")
    chromium = require_binary("chromium", "chromium", also=(CHROMIUM,))  # Debian's; playwright downloads none
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        yield b
        await b.close()


@pytest.fixture
async def service(tmp_path: Path, mosquitto: tuple[str, int]):
    app = build_app(mosquitto[1], tmp_path, TicketsConfig(open_after_s=1.0, verify_s=2.0, reopen_after_s=60.0))
    await app.start()
    await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
    dev = Device(mosquitto[1])
    yield app, dev
    dev.close()
    await app.stop()


def base_url(app) -> str:  # type: ignore[no-untyped-def]
    host, port = app.http_address
    return f"http://{host}:{port}"


async def log_in(page, url: str, tok: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(url + "/")
    assert page.url.startswith(url + "/login")
    await page.fill("#token", tok)
    await page.click("form[action='/login'] button")
    await page.wait_for_load_state()


async def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    folder = os.environ.get("CAMPUS_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(Path(folder) / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(PHONE)


async def test_crew_resolves_the_killed_cameras_ticket_and_sees_it_verify_then_close(service, browser) -> None:
    app, dev = service
    url = base_url(app)
    crew = await token(app, "maintenance")
    stop = asyncio.Event()
    healthy = [("panhe-ms", "camera", c) for c in ("cam-dg-02", "cam-dg-03", "cam-ct-01")] + [
        ("panhe-ms", "alarm", "alarm-gate"), ("other-ps", "camera", "cam-01")]
    beater = asyncio.create_task(keep_beating(dev, stop, healthy))
    try:
        await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-dg-01")
        await wait_for(lambda: app.tickets.book.for_device(("panhe-ms", "camera", "cam-dg-01")) is not None, 6)

        context = await browser.new_context(viewport=PHONE, locale="zh-CN")
        page = await context.new_page()
        await log_in(page, url, crew)
        assert page.url == url + "/tickets"  # the crew lands on its list
        cookie = next(c for c in await context.cookies() if c["name"] == "csm_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert crew not in cookie["value"]

        row = page.locator("tr[data-device='cam-dg-01']")
        await row.wait_for()
        assert await row.get_attribute("data-status") == "open"
        await shoot(page, "tickets")
        await row.locator("button").click()  # take it
        await page.wait_for_load_state()
        await row.locator("a").click()
        await page.wait_for_selector("#status[data-status='in_progress']")
        await page.fill("#resolve-note", "换了摄像头电源 / replaced the power supply")
        await shoot(page, "ticket")
        await page.click("#resolve")
        await page.wait_for_selector("#status[data-status='verifying']")
        assert "换了摄像头电源" in await page.inner_text("#notes")

        healthy.append(("panhe-ms", "camera", "cam-dg-01"))  # the camera comes back
        started = time.monotonic()
        await page.wait_for_selector("#status[data-status='closed']", timeout=15_000)  # the page refreshes itself
        assert time.monotonic() - started < 15
        await shoot(page, "ticket-closed")

        csrf_less = await page.request.post(url + "/tickets", form={"school": "panhe-ms", "device": "cam-ct-01"})
        assert csrf_less.status == 403
        await context.close()
    finally:
        stop.set()
        await beater


async def test_an_officer_cannot_open_another_schools_pages_and_sees_its_own(service, browser) -> None:
    app, dev = service
    url = base_url(app)
    officer = await token(app, "officer", ["panhe-ms"])
    t0 = time.time()
    for i in range(4):
        await asyncio.to_thread(dev.send, "campus/panhe-ms/bus/bus-023/gps",
                                {"ts": time.time(), "lat": 27.3382 + i * 0.0008, "lon": 103.7171 + i * 0.0009, "speed_kmh": 35})
        await let_time_pass(0.6)  # the bus drives on between fixes

    async def track_drawn() -> bool:  # the bus page draws the track the API serves
        _, track = await get_json(app, f"/api/v1/buses/bus-023/track?since={t0 - 1}", officer)
        return bool(track["items"])

    await wait_for(track_drawn, 5, "the bus's track")

    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await log_in(page, url, officer)
    assert page.url == url + "/"
    schools = await page.locator("#schools tr[data-school]").evaluate_all("rows => rows.map(r => r.dataset.school)")
    assert schools == ["panhe-ms"]
    await shoot(page, "overview")

    response = await page.goto(url + "/schools/other-ps")
    assert response.status == 403
    assert "cam-01" not in await page.content()
    response = await page.goto(url + "/buses/bus-900")
    assert response.status == 403
    await shoot(page, "forbidden")

    response = await page.goto(url + "/schools/panhe-ms")
    assert response.status == 200
    assert await page.locator("#devices tr[data-device='cam-dg-01']").count() == 1
    await shoot(page, "school")
    response = await page.goto(url + "/buses/bus-023")
    assert response.status == 200
    assert await page.locator("#bus-map polyline.route").count() == 1
    assert await page.locator("#bus-map polyline.track").count() == 1
    await shoot(page, "bus")

    await page.goto(url + "/alerts?lang=en")
    assert "Alerts" in await page.inner_text("h1")
    await shoot(page, "alerts")
    await page.goto(url + "/login?lang=zh")
    await context.close()


async def test_a_bureau_user_sees_the_district_worst_first_and_acknowledges_an_alert(service, browser) -> None:
    app, dev = service
    url = base_url(app)
    bureau = await token(app, "bureau")
    stop = asyncio.Event()
    beater = asyncio.create_task(keep_beating(dev, stop, [("other-ps", "camera", "cam-01")]))
    try:
        await asyncio.to_thread(dev.beat, "panhe-ms", "camera", "cam-dg-01")
        engine = app.alerts  # type: ignore[attr-defined]
        await wait_for(lambda: any(a.rule == "zone_dark" for a in engine.book.open_alerts()), 6)

        async def stored() -> bool:  # the pages list the alerts stored in the database
            _, alerts = await get_json(app, "/api/v1/alerts?rule=zone_dark", bureau)
            return bool(alerts["items"])

        await wait_for(stored, 5, "the zone_dark alert stored")
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await log_in(page, url, bureau)
        order = await page.locator("#schools tr[data-school]").evaluate_all("rows => rows.map(r => r.dataset.school)")
        assert order == ["panhe-ms", "other-ps"]  # dark zone and dead cameras first
        await shoot(page, "overview-bureau")
        await page.goto(url + "/alerts")
        first = page.locator("#alerts tr[data-alert]").first
        alert_id = await first.get_attribute("data-alert")
        await shoot(page, "alerts-bureau")
        await first.locator("button").click()
        await page.wait_for_load_state()
        assert engine.book.get(alert_id) is None or str(engine.book.get(alert_id).state) != "firing"
        await context.close()
    finally:
        stop.set()
        await beater

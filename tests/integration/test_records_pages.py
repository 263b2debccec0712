"""The records' pages in a real headless Chromium (Debian `chromium`, Playwright): an officer keeps the
monitoring-use record through its page, the bureau reads it, and the inspection report prints on A4.
The report is printed to /tmp/campus-report/report.pdf with a screenshot beside it (report.png),
for a person to look at. Two dead cameras in the girls' dormitory read as two blind spots on the
school page and the overview; a bus carrying more than its capacity shows as overloaded."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import time
from pathlib import Path

import pytest

from devices.registry import parse_registry
from monitor.app import App
from tests.integration.service import Device, keep_beating, make_config, state, token
from tests.integration.test_records import REGISTRY
from tests.waiting import wait_for

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
OUT = Path("/tmp/campus-report")


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright  # a missing Playwright or Chromium fails, never skips

    assert Path(CHROMIUM).exists(), "Debian chromium is needed (scripts/system-packages.txt)"
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        await b.close()


async def log_in(page, url: str, tok: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(url + "/login")
    await page.fill("#token", tok)
    await page.click("form[action='/login'] button")
    await page.wait_for_load_state()


async def test_keeper_writes_the_record_bureau_reads_it_and_the_report_prints_on_a4(
        tmp_path: Path, mosquitto: tuple[str, int], browser) -> None:
    port = mosquitto[1]
    cfg = make_config(port, f"sqlite:///{tmp_path / 'campus.db'}")
    cfg = dataclasses.replace(cfg, buses=dataclasses.replace(cfg.buses, overload_after_s=0.5))
    app = App(cfg, parse_registry(REGISTRY, "registry.yaml"), ("registry.yaml", REGISTRY))
    await app.start()
    dev = Device(port)
    stop = asyncio.Event()
    healthy = [("panhe-ms", "camera", "cam-dg-03"), ("panhe-ms", "camera", "cam-ct-01"),
               ("panhe-ms", "alarm", "alarm-gate"), ("other-ps", "camera", "cam-01")]
    beater = asyncio.create_task(keep_beating(dev, stop, healthy))
    try:
        await wait_for(lambda: app.collector.subscribed and app.events.subscribed, 5)
        # two dead cameras in the girls' dormitory
        for cam in ("cam-dg-01", "cam-dg-02"):
            await asyncio.to_thread(dev.send, f"campus/panhe-ms/camera/{cam}/status", "offline", 1, False)
        await wait_for(lambda: state(app, "panhe-ms", "camera", "cam-dg-02") == "down", 3)
        # an overloaded bus: 25 pupils on a bus for 19
        await asyncio.to_thread(dev.send, "campus/panhe-ms/bus/bus-023/gps",
                                {"ts": time.time(), "lat": 27.3382, "lon": 103.7171, "speed_kmh": 20, "passengers": 25})
        await wait_for(lambda: app.buses.watches["bus-023"].snapshot().overloaded, 3)
        officer = await token(app, "officer", ["panhe-ms"])
        bureau = await token(app, "bureau")
        host, http_port = app.http_address  # type: ignore[misc]
        url = f"http://{host}:{http_port}"

        ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = await ctx.new_page()
        await log_in(page, url, officer)
        await page.goto(url + "/schools/panhe-ms")
        assert await page.inner_text("#blind-spots") == "2"
        assert await page.get_attribute("[data-zone='dorm-girls'] [data-blind-spots]", "data-blind-spots") == "2"
        assert "25/19" in await page.inner_text("#buses") and "超载" in await page.inner_text("#buses")
        await page.goto(url + "/buses/bus-023")
        assert "25" in await page.inner_text("#load") and "超载" in await page.inner_text("#load")
        await page.goto(url + "/")
        assert await page.inner_text("tr[data-school='panhe-ms'] td:nth-child(3)") == "2"
        await page.goto(url + "/schools/panhe-ms")
        await page.click("#watch-log-link")
        assert "王老师" in await page.inner_text("#keeper")
        await page.fill("#note", "调阅女生宿舍三楼走廊录像：两个摄像头无画面，已报修")
        await page.check("input[name='zones'][value='dorm-girls']")
        await page.click("#new-entry button[type='submit']")
        await page.wait_for_selector("tr[data-kind='entry']")
        assert "两个摄像头无画面" in await page.inner_text("#watch-log")
        assert "女生宿舍" in await page.inner_text("tr[data-kind='entry']")
        await page.goto(url + "/schools/other-ps/watch-log")
        assert "403" in await page.inner_text("main")
        await ctx.close()

        ctx = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = await ctx.new_page()
        await log_in(page, url, bureau)
        await page.goto(url + "/schools/panhe-ms/watch-log")
        assert "两个摄像头无画面" in await page.inner_text("#watch-log")
        assert await page.locator("#new-entry").count() == 0  # the bureau reads, the officer writes
        await asyncio.sleep(1.0)  # scenario pause: the two cameras stay down a little longer
        await app.watch.persist()
        await app.history.flush()
        await page.goto(url + "/reports/inspection?school=panhe-ms")
        sheet = page.locator("article.sheet[data-school='panhe-ms']")
        assert "校园安全监控巡查报告" in await sheet.inner_text()
        assert "有值守记录的天数" in await sheet.inner_text()
        down = await sheet.locator("tr[data-device='cam-dg-01'] td.num").first.inner_text()
        assert re.fullmatch(r"0:00:0[1-9]", down), down
        OUT.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(OUT / "report.png"), full_page=True)
        await page.emulate_media(media="print")
        assert await page.locator("#report-form").is_hidden()  # the form does not print
        pdf = await page.pdf(path=str(OUT / "report.pdf"), prefer_css_page_size=True)
        boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
        assert boxes and all((round(float(w)), round(float(h))) == (595, 842) for w, h in boxes)  # A4 in points
        await ctx.close()
    finally:
        stop.set()
        await beater
        dev.close()
        await app.stop()

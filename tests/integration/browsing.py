"""Driving the pages in a real headless Chromium (Debian `/usr/bin/chromium`, through Playwright), as the
people who use them do. A missing Chromium or Playwright fails the test that needs it; it never skips.

Set CAMPUS_SCREENSHOTS=DIR to keep a phone-sized and a desktop screenshot of each page a test `shoot`s.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


async def chromium() -> AsyncIterator[Any]:
    """A headless Debian Chromium (use as an async generator fixture)."""
    from playwright.async_api import async_playwright  # ImportError fails the test: never a skip

    assert Path(CHROMIUM).exists(), f"Debian chromium is not installed at {CHROMIUM} (scripts/system-packages.txt)"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        await browser.close()


def base_url(app: Any) -> str:
    host, port = app.http_address
    return f"http://{host}:{port}"


async def log_in(page: Any, url: str, tok: str, path: str = "/") -> None:
    """Open `path` without a session, which leads to the login form; log in with the token there."""
    await page.goto(url + path)
    assert page.url.startswith(url + "/login")
    await page.fill("#token", tok)
    await page.click("form[action='/login'] button")
    await page.wait_for_load_state()


async def shoot(page: Any, name: str, sizes: tuple[str, ...] = ("phone", "desktop")) -> None:
    folder = os.environ.get("CAMPUS_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    for label in sizes:
        await page.set_viewport_size(PHONE if label == "phone" else DESKTOP)
        await page.screenshot(path=str(Path(folder) / f"{name}-{label}.png"), full_page=True)
    if before:
        await page.set_viewport_size(before)

"""bench/banner_latency: alarm press on the broker -> the press banner drawn on open pages (contract §5: 2 s).

    python bench/banner_latency.py [--presses 30] [--pages 4] [--polling]

A real Mosquitto; the monitor in this process; headless Debian Chromium with `--pages` pages open (half
the bureau's, half an officer's of the pressed school), each watching its banner with a
MutationObserver that notes the wall-clock time a press first appears. Presses are published one after
another (QoS 1), each acknowledged through the API once every page has drawn it. Latency is the page's
time minus the publish time (same machine, same clock). `--polling` takes EventSource away from the
pages, so they use the fallback (`/presses` every second). Prints the CPU, p50, p95 and max.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import cpu_model, free_port  # noqa: E402  (bench/ is on sys.path when run as a script)

WATCH = """
window.__seen = {};
new MutationObserver(() => {
  document.querySelectorAll('#press-banner .press').forEach(p => {
    if (!(p.dataset.press in window.__seen)) { window.__seen[p.dataset.press] = Date.now(); }
  });
}).observe(document, {childList: true, subtree: true});
"""


async def run(presses: int, pages: int, polling: bool) -> None:
    import logging

    import aiohttp
    import orjson
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    from devices.registry import parse_registry
    from monitor.app import App
    from monitor.config import Config, DatabaseConfig, HttpConfig, MqttConfig
    from monitor.storage.auth_tables import create_token
    from tests.integration.service import SMALL_REGISTRY

    logging.basicConfig(level=logging.ERROR)
    registry = parse_registry(SMALL_REGISTRY, "bench.yaml")
    with tempfile.TemporaryDirectory(prefix="bench-banner-") as tmp:
        port = free_port()
        conf = Path(tmp) / "m.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_type error\n"
                        "set_tcp_nodelay true\n")
        broker = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)])
        time.sleep(0.5)
        try:
            cfg = Config(mqtt=MqttConfig(url=f"mqtt://127.0.0.1:{port}", client_id="bench-monitor"),
                         database=DatabaseConfig(url=f"sqlite:///{tmp}/campus.db"), http=HttpConfig(listen="127.0.0.1:0"))
            app = App(cfg, registry, ("bench.yaml", SMALL_REGISTRY))
            await app.start()
            while not app.collector.connected:
                await asyncio.sleep(0.01)
            host, http_port = app.http_address or ("127.0.0.1", 0)
            url = f"http://{host}:{http_port}"
            _, bureau = await app.db.call(create_token, "bureau", [], "bench bureau")
            _, officer = await app.db.call(create_token, "officer", ["panhe-ms"], "bench officer")

            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                                  args=["--no-sandbox", "--disable-gpu"], headless=True)
                open_pages = []
                for i in range(pages):
                    context = await browser.new_context()
                    if polling:
                        await context.add_init_script("delete window.EventSource;")
                    await context.add_init_script(WATCH)
                    page = await context.new_page()
                    await page.goto(url + "/login?next=/map")  # /map does not reload itself
                    await page.fill("#token", bureau if i % 2 == 0 else officer)
                    await page.click("form[action='/login'] button")
                    await page.wait_for_url(url + "/map")
                    open_pages.append(page)
                await asyncio.sleep(1.0)

                pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-panel")
                pub.connect("127.0.0.1", port)
                pub.loop_start()
                latencies: list[float] = []
                async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {bureau}"}) as http:
                    for n in range(presses):
                        sent = time.time()
                        pub.publish("campus/panhe-ms/alarm/alarm-gate/event",
                                    orjson.dumps({"ts": sent, "event_id": f"bench-{n}", "type": "press"}), qos=1).wait_for_publish()
                        while not app.presses.unacknowledged(lambda _: True):  # the monitor's own side, in-process
                            await asyncio.sleep(0.001)
                        alert_id = app.presses.unacknowledged(lambda _: True)[0].id
                        drawn: list[float | None] = [None] * len(open_pages)
                        deadline = time.monotonic() + 10
                        while None in drawn and time.monotonic() < deadline:
                            for i, pg in enumerate(open_pages):
                                if drawn[i] is None:
                                    try:
                                        drawn[i] = await pg.evaluate(f"(window.__seen || {{}})[{alert_id!r}] || null")
                                    except PlaywrightError:  # the page reloaded meanwhile: ask again
                                        pass
                            await asyncio.sleep(0.02)
                        if None in drawn:
                            print("not drawn:", alert_id, [await pg.evaluate("JSON.stringify(window.__seen)") for pg in open_pages],
                                  [await pg.title() for pg in open_pages], file=sys.stderr)
                        latencies += [(t / 1000 - sent) * 1000 if t else float("inf") for t in drawn]
                        for alert in app.presses.unacknowledged(lambda _: True):
                            async with http.post(f"{url}/api/v1/alerts/{alert.id}/ack", json={"note": "bench"}) as r:
                                await r.read()
                        await asyncio.sleep(0.3)
                pub.loop_stop()
                await browser.close()
            await app.stop()
        finally:  # never leave the broker behind, also when a page fails
            broker.terminate()
            broker.wait(5)

    lat = sorted(latencies)
    print(f"CPU: {cpu_model()} ({platform.machine()})")
    print(f"{presses} presses x {pages} pages ({'polling fallback' if polling else 'server-sent events'}):")
    print(f"press -> banner drawn: p50 {statistics.median(lat):.0f} ms, p95 {lat[int(len(lat) * 0.95) - 1]:.0f} ms, "
          f"max {lat[-1]:.0f} ms (contract: within 2000 ms)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presses", type=int, default=30)
    p.add_argument("--pages", type=int, default=4, help="pages open on /map, half bureau, half officer")
    p.add_argument("--polling", action="store_true", help="pages without EventSource: the /presses fallback")
    a = p.parse_args()
    asyncio.run(run(a.presses, a.pages, a.polling))
    return 0


if __name__ == "__main__":
    sys.exit(main())

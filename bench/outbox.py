"""bench/outbox: the outbox under a storm: messages per second per receiver, and alarm presses made
while the storm drains (press -> webhook), against the same presses with no storm (the baseline).

    /work/venv/bin/python bench/outbox.py [--storm 2000] [--receivers 1] [--presses 50]

A real SQLite outbox file (synchronous=FULL) worked on one database thread as in the service, the
real sender, real aiohttp webhooks on 127.0.0.1 (one
per receiver). The storm is `--storm` camera_down alerts of as many schools (each its own message,
group window 0 so none are merged); the presses are fed one every 20 ms while it drains.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import cpu_model, free_port, pct  # noqa: E402  (bench/ is on sys.path when run as a script)

from alerts.lifecycle import AlertBook, LifecycleConfig  # noqa: E402
from alerts.outbox import OutboxSender  # noqa: E402
from alerts.routing import Router, parse_receivers  # noqa: E402
from alerts.wording import RegistryNames  # noqa: E402
from devices.events import AlarmEvent, Judgement, Rule, Severity  # noqa: E402
from monitor.storage.alert_store import record_changes  # noqa: E402
from monitor.storage.db import Database  # noqa: E402
from monitor.storage.outbox_store import SqlOutbox  # noqa: E402
from monitor.storage.runner import DbThread  # noqa: E402


async def run(storm: int, n_receivers: int, presses: int) -> None:
    arrived: dict[tuple[str, str], float] = {}
    runners = []
    urls = []
    for i in range(n_receivers):
        async def hook(request: web.Request, name: str = f"r{i}") -> web.Response:
            body = await request.json()
            now = time.perf_counter()
            for a in body["alerts"]:
                arrived.setdefault((name, a["subject"]), now)
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{port}/hook")

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.migrate()
        receivers = parse_receivers([{"kind": "webhook", "name": f"r{i}", "url": u} for i, u in enumerate(urls)])
        router = Router(receivers, group_window_s=0)
        book = AlertBook(LifecycleConfig(remind_after_s=0), RegistryNames())
        db_thread = DbThread(db)  # the service's one database thread, as AlertEngine passes it
        sender = OutboxSender(SqlOutbox(db), receivers, group_window_s=0, in_db=db_thread.run,
                              in_db_urgent=db_thread.run_urgent)
        task = asyncio.create_task(sender.run())
        await asyncio.sleep(0.2)

        def store(changes: list) -> None:  # type: ignore[type-arg]
            with db.session() as s:
                record_changes(s, changes, router.route(changes))

        async def press_series(tag: str) -> list[float]:
            lat = []
            for i in range(presses):
                now = time.time()
                start = time.perf_counter()
                await db_thread.run(store, book.alarm(AlarmEvent("s-press", f"alarm-{tag}-{i}", f"{tag}{i}", "press", now, now), now))
                sender.wake()
                subject = f"alarm-{tag}-{i}"
                while not all((f"r{r}", subject) in arrived for r in range(n_receivers)):
                    await asyncio.sleep(0.0005)
                lat.append((max(arrived[(f"r{r}", subject)] for r in range(n_receivers)) - start) * 1000)
                await asyncio.sleep(0.02)
            return lat

        quiet = await press_series("quiet")
        now = time.time()
        changes = book.judge([Judgement(now, Rule.CAMERA_DOWN, Severity.WARNING, f"s{i}", f"cam-{i}", True)
                              for i in range(storm)], now)
        t0 = time.perf_counter()
        await db_thread.run(store, changes)
        sender.wake()
        stormy = await press_series("storm")
        while sum(1 for k in arrived if k[1].startswith("cam-")) < storm * n_receivers:
            await asyncio.sleep(0.01)
        drained = time.perf_counter() - t0
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        db_thread.close()
        db.dispose()
    for runner in runners:
        await runner.cleanup()
    print(f"CPU: {cpu_model()}")
    print(f"storm: {storm} messages to each of {n_receivers} receiver(s) drained in {drained:.2f} s: "
          f"{storm / drained:,.0f} messages/s per receiver, {storm * n_receivers / drained:,.0f} in all")
    print(f"press -> every webhook, no storm (baseline): p50 {statistics.median(quiet):.1f} ms, p99 {pct(quiet, 0.99):.1f} ms")
    print(f"press -> every webhook, while the storm drains: p50 {statistics.median(stormy):.1f} ms, "
          f"p99 {pct(stormy, 0.99):.1f} ms (x{pct(stormy, 0.99) / max(pct(quiet, 0.99), 1e-9):.1f} of baseline; target < 100 ms)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--storm", type=int, default=2000)
    p.add_argument("--receivers", type=int, default=1)
    p.add_argument("--presses", type=int, default=50)
    a = p.parse_args()
    asyncio.run(run(a.storm, a.receivers, a.presses))
    return 0


if __name__ == "__main__":
    sys.exit(main())

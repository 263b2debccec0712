"""Alarm press to webhook, inside the alert engine: book -> router -> outbox (SQLite) -> sender -> HTTP.

Measures, for N presses one after the other, the time from handing the press to `AlertBook.alarm` to
the webhook having the request, through a real SQLite outbox file (synchronous=FULL) and a real
aiohttp receiver on 127.0.0.1. The MQTT leg (broker -> collector) is not in this figure.

    /work/venv/bin/python bench/alert_latency.py [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import free_port
from aiohttp import web

from alerts.lifecycle import AlertBook, LifecycleConfig
from alerts.outbox import OutboxSender
from alerts.routing import Router, parse_receivers
from alerts.wording import RegistryNames
from devices.events import AlarmEvent
from monitor.storage.alert_store import record_changes
from monitor.storage.db import Database
from monitor.storage.outbox_store import SqlOutbox


async def main(n: int) -> None:
    port = free_port()
    arrived: dict[str, float] = {}
    got = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        arrived[body["alerts"][0]["subject"]] = time.perf_counter()
        got.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.migrate()
        receivers = parse_receivers([{"kind": "webhook", "name": "bureau", "url": f"http://127.0.0.1:{port}/hook"}])
        router = Router(receivers, group_window_s=10)
        book = AlertBook(LifecycleConfig(), RegistryNames())
        sender = OutboxSender(SqlOutbox(db), receivers, group_window_s=10)
        task = asyncio.create_task(sender.run())
        await asyncio.sleep(0.2)
        latencies = []
        for i in range(n):
            got.clear()
            start = time.perf_counter()
            now = time.time()
            changes = book.alarm(AlarmEvent("s1", f"alarm-{i}", f"e{i}", "press", now, now), now)

            def store(changes=changes) -> None:
                with db.session() as s:
                    record_changes(s, changes, router.route(changes))

            await asyncio.to_thread(store)
            sender.wake()
            await got.wait()
            latencies.append((arrived[f"alarm-{i}"] - start) * 1000)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        db.dispose()
    await runner.cleanup()
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"presses={n} p50={p50:.2f} ms p99={p99:.2f} ms max={latencies[-1]:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))

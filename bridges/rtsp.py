"""The RTSP probe: every `every_s`, an `OPTIONS` to each registry camera with an `rtsp://` URL.

Any RTSP status line in answer (`RTSP/1.0 200 OK`, `401 Unauthorized`, ...) proves the camera alive
and publishes its `heartbeat`; no answer within `timeout_s` (refused, reset, silent, not RTSP)
publishes nothing, and the monitor's timeout judges. At most `concurrency` probes are in flight; a
round that overruns `every_s` starts the next one as soon as it ends. Credentials in a URL are never
sent in the OPTIONS line nor logged: the request and every log line use the URL without user info.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from bridges import payloads
from bridges.config import RtspConfig
from bridges.metrics import Stats
from bridges.publisher import Publisher
from bridges.targets import Target, Targets
from monitor.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_STATUS = re.compile(rb"RTSP/\d\.\d (\d{3})[ \r\n]")


def public_url(url: str) -> str:
    """The URL without `user:password@`: what goes on the wire and into logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


async def probe(url: str, timeout_s: float) -> int | None:
    """The status code of the camera's answer to OPTIONS, or None (no RTSP answer within the timeout)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 554
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"OPTIONS {public_url(url)} RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: campus-monitor\r\n\r\n".encode())
            await writer.drain()
            line = await reader.readuntil(b"\n")
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    finally:
        if writer is not None:
            writer.close()
    m = _STATUS.match(line)
    return int(m.group(1)) if m else None


class RtspProber:
    def __init__(self, cfg: RtspConfig, targets: Targets, publisher: Publisher, stats: Stats,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.cameras = targets.rtsp
        self.publisher = publisher
        self.stats = stats
        self.clock = clock
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None
        self._alive = 0
        stats.devices = lambda: self._alive

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        log.info("RTSP probe: %d cameras every %.0f s (timeout %.0f s, %d at once)", len(self.cameras),
                 self.cfg.every_s, self.cfg.timeout_s, self.cfg.concurrency)

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await self.round()
            await asyncio.sleep(max(0.0, self.cfg.every_s - (time.monotonic() - started)))

    async def round(self) -> int:
        """Probe every camera once; returns how many answered."""
        gate = asyncio.Semaphore(self.cfg.concurrency)

        async def one(cam: Target, url: str) -> bool:
            async with gate:
                status = await probe(url, self.cfg.timeout_s)
            if status is None:
                self.stats.frame("no_answer")
                log.debug("RTSP camera %s (%s): no answer", cam.id, public_url(url))
                return False
            self.stats.frame("answered")
            self.publisher.publish(self.publisher.prefix(cam.school, cam.segment, cam.id), "heartbeat",
                                   payloads.heartbeat(self.clock()))
            return True

        results = await asyncio.gather(*(one(cam, url) for cam, url in self.cameras))
        self._alive = sum(results)
        self.rounds += 1
        return self._alive

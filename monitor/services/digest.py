"""The daily digest: read the last day from the database, build it (`alerts.digest`), and queue it in
the outbox, which delivers it like an alert message.

At `[alerts] digest_at` local time (Asia/Shanghai) on school days (Monday to Friday by default) an
APScheduler cron job queues one digest of the 24 h before for each bureau receiver (those with no
`schools` filter; Alertmanager takes alerts, not reports), in the receiver's language. The outbox
then sends it with the same retries, backoff, dead letters and `Idempotency-Key` as alerts, and a
restart in the middle of its retries resumes them. The key is made from the receiver and the day,
so queueing the same day twice sends nothing twice. `run_once(now)` does one run, for tests and tools.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from alerts import digest as pure
from alerts.digest import Digest, DigestNames
from alerts.outbox import OutboxSender
from alerts.receivers import takes_digest
from alerts.routing import Receiver
from monitor.storage.digest_store import DayRows, read_day
from monitor.storage.outbox_store import add_digest
from monitor.storage.runner import DbThread

log = logging.getLogger(__name__)
DAY_S = 86400.0
SCHOOL_DAYS = "mon-fri"


def parse_digest_at(text: str) -> tuple[int, int]:
    """"07:00" -> (7, 0); anything else is a ValueError."""
    hour, _, minute = text.partition(":")
    h, m = int(hour), int(minute)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"digest_at {text!r}: not a time of day HH:MM")
    return h, m


def digest_key(receiver: str, day_end: float) -> str:
    return hashlib.sha256(f"digest|{receiver}|{day_end:.0f}".encode()).hexdigest()[:32]


class DigestService:
    def __init__(self, digest_at: str, names: DigestNames, receivers: Sequence[Receiver], db: DbThread,
                 outbox: OutboxSender, clock: Callable[[], float], *, days: str = SCHOOL_DAYS) -> None:
        self.receivers = [r for r in receivers if takes_digest(r)]
        self.names = names
        self.hour, self.minute = parse_digest_at(digest_at)
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.days = days
        self.scheduler: AsyncIOScheduler | None = None

    def trigger(self) -> CronTrigger:
        return CronTrigger(day_of_week=self.days, hour=self.hour, minute=self.minute, timezone=pure.LOCAL)

    async def start(self) -> None:
        if not self.receivers:
            log.info("daily digest: no bureau receiver, not scheduled")
            return
        self.scheduler = AsyncIOScheduler(timezone=pure.LOCAL)
        self.scheduler.add_job(self._scheduled, self.trigger(), id="daily-digest", coalesce=True,
                               misfire_grace_time=3600, max_instances=1)
        self.scheduler.start()
        log.info("daily digest at %02d:%02d (%s, %s) to %s", self.hour, self.minute, self.days, pure.LOCAL,
                 ", ".join(r.name for r in self.receivers))

    async def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None

    async def _scheduled(self) -> None:
        try:
            await self.run_once(self.clock())
        except Exception:  # noqa: BLE001
            log.exception("daily digest failed")

    def build(self, rows: DayRows, day_start: float, day_end: float, language: str) -> Digest:
        return pure.build_digest(rows.down, rows.transitions, rows.alarms, rows.tickets,
                                 day_start, day_end, self.names, language, rows.history, rows.entries)

    async def run_once(self, now: float) -> dict[str, bool]:
        """Queue the digest of the 24 h before `now` for every bureau receiver.

        Returns, per receiver, whether it was queued now (False: this day's digest was queued before)."""
        day_start, day_end = now - DAY_S, now
        rows = await self.db.call(read_day, day_start, day_end, list(self.names.schools))
        digests: dict[str, Digest] = {}
        queued: dict[str, bool] = {}
        for receiver in self.receivers:
            lang = receiver.language
            if lang not in digests:
                digests[lang] = self.build(rows, day_start, day_end, lang)
            d = digests[lang]
            body = {"digest": d.as_dict(), "title": pure.title(d), "markdown": pure.markdown(d),
                    "plain": pure.plain(d), "language": lang}
            key = digest_key(receiver.name, day_end)
            queued[receiver.name] = await self.db.call(add_digest, receiver.name, key, body, now)
            log.info("daily digest for %s queued (key %s)%s", receiver.name, key,
                     "" if queued[receiver.name] else ": already queued before")
        self.outbox.wake([r.name for r in self.receivers])
        return queued

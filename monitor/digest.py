"""The daily digest edge: read the last day from the database, build it (`alerts.digest`), send it.

At `[alerts] digest_at` local time (Asia/Shanghai) on school days (Monday to Friday by default) an
APScheduler cron job sends the bureau's receivers (those with no `schools` filter) one digest of the
24 h before. Each receiver gets it in its own language and format (webhook JSON with the figures and
the markdown text under one `Idempotency-Key`; WeCom and DingTalk markdown; e-mail text and HTML);
Alertmanager receivers are skipped (a digest is not an alert). Failed sends are retried with
exponential backoff and jitter under the same key. `run_once(now)` does one run, for tests and tools.
Wired into the App by `install(app)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from sqlalchemy import func, or_, select

from alerts import digest as pure
from alerts.digest import AlarmPress, Digest, DigestNames, DownDevice, TicketTimes, Transition
from alerts.receivers import email as email_receiver
from alerts.receivers.base import DeliveryError, check_robot_answer, json_request, perform
from alerts.receivers.dingtalk import signed_url
from alerts.receivers.wecom import clip
from alerts.routing import Receiver, parse_receivers
from monitor.storage.tables import AlarmEventRecord, DeviceRecord, JudgementRecord
from monitor.storage.ticket_tables import TicketRecord

log = logging.getLogger(__name__)
DAY_S = 86400.0
SCHOOL_DAYS = "mon-fri"
_RULES = ("zone_dark", "bus_off_route", "bus_overspeed")


@dataclass(frozen=True, slots=True)
class DayRows:
    down: list[DownDevice]
    transitions: list[Transition]
    alarms: list[AlarmPress]
    tickets: list[TicketTimes]


def parse_digest_at(text: str) -> tuple[int, int]:
    """"07:00" -> (7, 0); anything else is a ValueError."""
    hour, _, minute = text.partition(":")
    h, m = int(hour), int(minute)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"digest_at {text!r}: not a time of day HH:MM")
    return h, m


def read_day(db: Any, day_start: float, day_end: float) -> DayRows:
    """The rows a digest needs (runs on the database thread)."""
    with db.session() as s:
        down = [DownDevice(r.school, r.kind, r.id, r.state_since)
                for r in s.scalars(select(DeviceRecord).where(DeviceRecord.state == "down"))]
        # The last zone_dark transition of each zone before the day: a zone dark since yesterday.
        before = (
            select(func.max(JudgementRecord.id))
            .where(JudgementRecord.rule == "zone_dark", JudgementRecord.time < day_start)
            .group_by(JudgementRecord.school, JudgementRecord.subject)
        )
        rows = s.scalars(
            select(JudgementRecord)
            .where(or_(JudgementRecord.id.in_(before),
                       (JudgementRecord.rule.in_(_RULES)) & (JudgementRecord.time >= day_start)
                       & (JudgementRecord.time < day_end)))
            .order_by(JudgementRecord.time, JudgementRecord.id)
        )
        transitions = [Transition(r.time, r.rule, r.school, r.subject, r.zone, r.active) for r in rows]
        alarms = [AlarmPress(r.school, r.device, r.type, r.received) for r in s.scalars(
            select(AlarmEventRecord).where(AlarmEventRecord.received >= day_start, AlarmEventRecord.received < day_end))]
        tickets = [TicketTimes(r.school, r.opened_at, r.resolved_at, r.closed_at) for r in s.scalars(
            select(TicketRecord).where(
                or_((TicketRecord.opened_at >= day_start) & (TicketRecord.opened_at < day_end),
                    (TicketRecord.closed_at >= day_start) & (TicketRecord.closed_at < day_end))))]
    return DayRows(down, transitions, alarms, tickets)


def digest_key(receiver: str, day_end: float) -> str:
    return hashlib.sha256(f"digest|{receiver}|{day_end:.0f}".encode()).hexdigest()[:32]


def _mail(receiver: Receiver, digest: Digest, key: str, now: float) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = pure.title(digest)
    mail["From"] = str(receiver.options["from"])
    mail["To"] = ", ".join(receiver.options["to"])
    mail["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    mail["Message-ID"] = make_msgid(idstring=key, domain="campus-monitor")
    mail["X-Idempotency-Key"] = key
    mail.set_content(pure.plain(digest))
    mail.add_alternative(
        f'<!DOCTYPE html><html lang="{digest.language}"><head><meta charset="utf-8"></head><body>'
        f"<pre>{html.escape(pure.plain(digest))}</pre></body></html>", subtype="html")
    return mail


async def send_digest(http: aiohttp.ClientSession, receiver: Receiver, digest: Digest, key: str, now: float) -> None:
    """One attempt; raises `DeliveryError` (with `retryable`) when it did not arrive."""
    text = pure.markdown(digest)
    if receiver.kind == "webhook":
        body = {"receiver": receiver.name, "digest": digest.as_dict(), "text": text}
        headers = {"Idempotency-Key": key, **dict(receiver.options.get("headers", {}))}
        await perform(http, json_request(receiver.url, body, headers), receiver.timeout_s)
    elif receiver.kind == "wecom":
        request = json_request(receiver.url, {"msgtype": "markdown", "markdown": {"content": clip(text)}})
        _, answer = await perform(http, request, receiver.timeout_s)
        check_robot_answer(f"wecom {receiver.name}", answer, frozenset({-1, 45009}))
    elif receiver.kind == "dingtalk":
        secret = receiver.options.get("secret")
        url = signed_url(receiver.url, str(secret), now) if secret else receiver.url
        payload = {"msgtype": "markdown", "markdown": {"title": pure.title(digest), "text": text}}
        _, answer = await perform(http, json_request(url, payload), receiver.timeout_s)
        check_robot_answer(f"dingtalk {receiver.name}", answer, frozenset({-1, 130101}))
    elif receiver.kind == "email":
        try:
            await asyncio.to_thread(email_receiver._send_blocking, receiver, _mail(receiver, digest, key, now))  # noqa: SLF001
        except Exception as exc:  # noqa: BLE001 - SMTP and socket errors: worth another try
            raise DeliveryError(f"email {receiver.name}: {type(exc).__name__}: {exc}", retryable=True) from exc
    else:
        raise DeliveryError(f"receiver {receiver.name}: a {receiver.kind} receiver takes no digest", retryable=False)


def bureau_receivers(receivers: Sequence[Receiver]) -> list[Receiver]:
    """Receivers with no school filter, except Alertmanager (it takes alerts, not reports)."""
    return [r for r in receivers if r.schools is None and r.kind != "alertmanager"]


class DigestService:
    def __init__(self, app: Any, receivers: Sequence[Receiver], *, days: str = SCHOOL_DAYS, attempts: int = 6,
                 backoff_s: float = 5.0, max_backoff_s: float = 300.0,
                 rng: Callable[[], float] = random.random) -> None:
        self.app = app
        self.receivers = bureau_receivers(receivers)
        self.names = DigestNames.from_registry(app.registry)
        self.hour, self.minute = parse_digest_at(app.cfg.alerts.digest_at)
        self.days = days
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.rng = rng
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
            await self.run_once(self.app.clock())
        except Exception:  # noqa: BLE001
            log.exception("daily digest failed")

    def build(self, rows: DayRows, day_start: float, day_end: float, language: str) -> Digest:
        return pure.build_digest(rows.down, rows.transitions, rows.alarms, rows.tickets,
                                 day_start, day_end, self.names, language)

    async def run_once(self, now: float) -> dict[str, bool]:
        """Build the digest of the 24 h before `now` and send it to every bureau receiver.

        Returns, per receiver, whether it arrived (after retries)."""
        day_start, day_end = now - DAY_S, now
        rows = await self.app.db_call(read_day, day_start, day_end)
        digests: dict[str, Digest] = {}
        results: dict[str, bool] = {}
        async with aiohttp.ClientSession() as http:
            for receiver in self.receivers:
                lang = receiver.language
                if lang not in digests:
                    digests[lang] = self.build(rows, day_start, day_end, lang)
                results[receiver.name] = await self._deliver(http, receiver, digests[lang], digest_key(receiver.name, day_end))
        return results

    async def _deliver(self, http: aiohttp.ClientSession, receiver: Receiver, digest: Digest, key: str) -> bool:
        for attempt in range(1, self.attempts + 1):
            try:
                await send_digest(http, receiver, digest, key, self.app.clock())
            except DeliveryError as exc:
                if not exc.retryable or attempt == self.attempts:
                    log.error("daily digest to %s not delivered after %d attempts: %s", receiver.name, attempt, exc)
                    return False
                ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                delay = ceiling / 2 + self.rng() * ceiling / 2
                log.warning("daily digest to %s failed (attempt %d), again in %.1f s: %s", receiver.name, attempt, delay, exc)
                await asyncio.sleep(delay)
                continue
            log.info("daily digest sent to %s (key %s)", receiver.name, key)
            return True
        return False


def install(app: Any, **options: Any) -> DigestService:
    """Wire the digest into `app` (a bad `digest_at` or receiver stops the start)."""
    service = DigestService(app, parse_receivers(list(app.cfg.receivers)), **options)
    app.digest = service
    app.services.append(service)
    return service

"""The monitoring-use record (监控使用记录): keepers' entries, and the timeline that sets them among
the system's own events of the school (runs on the database thread).

Entries are only ever added: there is no update or delete here (a correction is a new entry).
The timeline merges, oldest first: entries, devices going down and coming back (the judgement log's
down rules), alarm and bus-button events (press, tamper, test, cancel), acknowledgements and ticket
actions (the audit log).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Select, select

from devices.events import DOWN_RULES
from monitor.storage.base import table_of
from monitor.storage.db import Database
from monitor.storage.history_tables import WatchLogRecord
from monitor.storage.tables import AlarmEventRecord, JudgementRecord
from monitor.storage.ticket_tables import AuditRecord

WATCH_LOG = table_of(WatchLogRecord)
DOWN_RULE_NAMES = sorted(str(r) for r in DOWN_RULES.values())


def entry_view(row: Any) -> dict[str, Any]:
    return {"id": f"w-{row.id}", "kind": "entry", "at": row.at, "by": row.author, "school": row.school,
            "subject": None, "zones": list(row.zones or []), "note": row.note, "detail": {"via": row.via}}


def add_entry(db: Database, school: str, at: float, author: str, token_id: int | None, zones: Sequence[str],
              note: str, via: str) -> dict[str, Any]:
    with db.begin() as conn:
        new_id = conn.execute(
            WATCH_LOG.insert().values(school=school, at=at, author=author, token_id=token_id, zones=list(zones),
                                      note=note, via=via).returning(WATCH_LOG.c.id)
        ).scalar_one()
        row = conn.execute(select(WATCH_LOG).where(WATCH_LOG.c.id == new_id)).one()
    return entry_view(row)


def entry_times(db: Database, schools: Iterable[str], start: float, end: float) -> list[tuple[str, float]]:
    """(school, time) of every keeper entry in `[start, end)`."""
    q = (select(WATCH_LOG.c.school, WATCH_LOG.c.at)
         .where(WATCH_LOG.c.school.in_(sorted(set(schools))), WATCH_LOG.c.at >= start, WATCH_LOG.c.at < end))
    with db.begin() as conn:
        return [(r.school, r.at) for r in conn.execute(q)]


def _window(q: Select[Any], col: Any, since: float | None, until: float | None) -> Select[Any]:
    if since is not None:
        q = q.where(col >= since)
    if until is not None:
        q = q.where(col < until)
    return q


def timeline(db: Database, school: str, since: float | None, until: float | None, offset: int,
             limit: int) -> tuple[list[dict[str, Any]], bool]:
    """One page of the school's record, oldest first; True if more follow."""
    n = offset + limit + 1
    w, j, e, a = WATCH_LOG.c, JudgementRecord, AlarmEventRecord, AuditRecord
    with db.session() as s:
        entries = [entry_view(r) for r in s.execute(
            _window(select(WATCH_LOG).where(w.school == school), w.at, since, until).order_by(w.at, w.id).limit(n))]
        downs = [{
            "id": f"j-{r.id}", "kind": "device_down" if r.active else "device_up", "at": r.time, "by": "system",
            "school": r.school, "subject": r.subject, "zones": [r.zone] if r.zone else [], "note": None,
            "detail": {"rule": r.rule, "device_kind": (r.detail or {}).get("kind"),
                       "reason": (r.detail or {}).get("reason")},
        } for r in s.scalars(_window(select(j).where(j.school == school, j.rule.in_(DOWN_RULE_NAMES)), j.time,
                                     since, until).order_by(j.time, j.id).limit(n))]
        events = [{
            "id": f"e-{r.id}", "kind": f"alarm_{r.type}", "at": r.received, "by": "system", "school": r.school,
            "subject": r.device, "zones": [], "note": None, "detail": {"event_id": r.event_id},
        } for r in s.scalars(_window(select(e).where(e.school == school), e.received, since, until)
                             .order_by(e.received, e.id).limit(n))]
        actions = [{
            "id": f"a-{r.id}", "kind": "alert_ack" if r.action == "alert.acknowledged" else r.action.replace(".", "_"),
            "at": r.at, "by": r.actor, "school": r.school, "subject": r.target, "zones": [],
            "note": (r.detail or {}).get("note"), "detail": {"action": r.action, "via": r.via},
        } for r in s.scalars(_window(select(a).where(a.school == school, (a.action == "alert.acknowledged")
                                                     | a.action.like("ticket.%")), a.at, since, until)
                             .order_by(a.at, a.id).limit(n))]
    merged: Iterator[dict[str, Any]] = heapq.merge(entries, downs, events, actions, key=lambda item: item["at"])
    page = list(merged)[offset:offset + limit + 1]
    return page[:limit], len(page) > limit

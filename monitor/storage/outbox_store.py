"""The outbox table for `alerts.outbox.OutboxSender` (its `OutboxTable`), digest rows, and the
listing the API shows the bureau (dead letters)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Insert, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from alerts.outbox import OutboxRow
from monitor.storage.alert_tables import OutboxRecord
from monitor.storage.base import table_of
from monitor.storage.db import Database

_PENDING = "pending"


class SqlOutbox:
    """`alerts.outbox.OutboxTable` over the `outbox` table. Call from the database thread only."""

    def __init__(self, db: Database, schools: Callable[[], Collection[str] | None] = lambda: None) -> None:
        """`schools()`: several instances: the schools whose rows this instance sends (those it owns,
        plus digests while it owns partition 0); None: every row."""
        self.db = db
        self.schools = schools

    def pending(self, receiver: str, urgent: bool, after_id: int, limit: int) -> tuple[list[OutboxRow], int]:
        lane: tuple[Any, ...] = (OutboxRecord.receiver == receiver, OutboxRecord.state == _PENDING,
                                 OutboxRecord.urgent.is_(urgent))
        schools = self.schools()
        if schools is not None:
            lane = (*lane, OutboxRecord.school.in_(list(schools)))
        with self.db.session() as s:
            rows = s.scalars(
                select(OutboxRecord).where(*lane, OutboxRecord.id > after_id).order_by(OutboxRecord.id).limit(limit)
            ).all()
            depth = len(rows) if len(rows) < limit and after_id == 0 else (
                s.scalar(select(func.count()).select_from(OutboxRecord).where(*lane)) or 0)
            return [
                OutboxRow(r.id, r.school, r.created, r.hold_until, r.urgent, r.batch, r.next_attempt, r.attempts,
                          r.idempotency_key, r.body, r.kind)
                for r in rows
            ], depth

    def claim(self, batches: Sequence[tuple[Sequence[int], int]]) -> list[int]:
        claimed: list[int] = []
        with self.db.session() as s:
            for ids, head in batches:
                claimed.extend(s.scalars(
                    update(OutboxRecord)
                    .where(OutboxRecord.id.in_(ids), OutboxRecord.state == _PENDING,
                           OutboxRecord.batch.is_(None) | (OutboxRecord.batch == head))
                    .values(batch=head)
                    .returning(OutboxRecord.id)
                ))
        return claimed

    def sent(self, ids: Sequence[int], at: float) -> None:
        with self.db.session() as s:
            s.execute(update(OutboxRecord).where(OutboxRecord.id.in_(ids)).values(state="sent", sent_at=at))

    def failed(self, ids: Sequence[int], attempts: int, error: str, dead: bool, next_attempt: float) -> None:
        values: dict[str, Any] = {"attempts": attempts, "last_error": error}
        if dead:
            values["state"] = "dead"
        else:
            values["next_attempt"] = next_attempt
        with self.db.session() as s:
            s.execute(update(OutboxRecord).where(OutboxRecord.id.in_(ids)).values(**values))

    def pending_receivers(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(OutboxRecord.receiver).where(OutboxRecord.state == _PENDING).distinct()))


def add_digest(db: Database, receiver: str, key: str, body: Mapping[str, Any], created: float) -> bool:
    """Queue one digest message; False when a digest with this key was queued before (a rerun of the
    same day after a restart sends nothing twice)."""
    values = {
        "receiver": receiver, "idempotency_key": key, "alert_id": "digest", "school": "_digest", "body": dict(body),
        "urgent": False, "created": created, "hold_until": created, "batch": None, "attempts": 0,
        "next_attempt": created, "state": _PENDING, "kind": "digest",
    }
    table = table_of(OutboxRecord)
    insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
    stmt: Insert = insert(table).values(values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    with db.begin() as conn:
        return bool(conn.execute(stmt).rowcount)


def list_outbox(db: Database, state: str = "dead", receiver: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Outbox rows in a state (dead letters by default), newest first: for the API."""
    with db.session() as s:
        query = select(OutboxRecord).where(OutboxRecord.state == state)
        if receiver is not None:
            query = query.where(OutboxRecord.receiver == receiver)
        rows = s.scalars(query.order_by(OutboxRecord.id.desc()).limit(limit))
        return [
            {
                "id": r.id, "receiver": r.receiver, "idempotency_key": r.idempotency_key, "alert_id": r.alert_id,
                "kind": r.kind, "school": r.school, "state": r.state, "attempts": r.attempts, "created": r.created,
                "last_error": r.last_error, "body": r.body,
            }
            for r in rows
        ]

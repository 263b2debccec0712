"""The audit log: who (a token's holder, its id and role, or the rules), when, what (action and target),
and from where (client address; api, page or rule) for every action taken through the API, the pages
or by the rules themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.storage.db import Database
from monitor.storage.ticket_tables import AuditRecord


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, and from where: a token's holder through the API or a page, or the rules."""

    name: str
    token_id: int | None = None
    role: str | None = None
    remote: str | None = None
    via: str = "rule"  # api, page, rule


def write_audit(session: Session, actor: Actor, action: str, target: str, school: str | None,
                at: float, detail: dict[str, Any] | None = None) -> None:
    session.add(AuditRecord(at=at, actor=actor.name, token_id=actor.token_id, role=actor.role, action=action,
                            target=target, school=school, remote=actor.remote, via=actor.via, detail=detail or {}))


def audit(db: Database, actor: Actor, action: str, target: str, school: str | None, at: float,
          detail: dict[str, Any] | None = None) -> None:
    with db.session() as s:
        write_audit(s, actor, action, target, school, at, detail)


def list_audit(db: Database, schools: set[str] | None, target: str | None, action: str | None,
               since: float | None, limit: int) -> list[dict[str, Any]]:
    """Newest first."""
    with db.session() as s:
        q = select(AuditRecord)
        if schools is not None:
            q = q.where(AuditRecord.school.in_(sorted(schools)))
        if target is not None:
            q = q.where(AuditRecord.target == target)
        if action is not None:
            q = q.where(AuditRecord.action == action)
        if since is not None:
            q = q.where(AuditRecord.at >= since)
        rows = s.scalars(q.order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(limit))
        return [
            {"id": r.id, "at": r.at, "actor": r.actor, "token_id": r.token_id, "role": r.role, "action": r.action,
             "target": r.target, "school": r.school, "remote": r.remote, "via": r.via, "detail": r.detail}
            for r in rows
        ]

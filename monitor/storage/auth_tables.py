"""API tokens, stored as SHA-256 digests only."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import JSON, Boolean, Double, Integer, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from monitor.http.auth import Principal, digest, new_token, same_digest
from monitor.storage.base import Base
from monitor.storage.db import Database


class TokenRecord(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    schools: Mapped[list[str]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(Text, unique=True)
    created: Mapped[float] = mapped_column(Double)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    expires: Mapped[float | None] = mapped_column(Double, nullable=True)  # Unix seconds; None: never


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    role: str
    schools: list[str]
    created: float
    revoked: bool
    expires: float | None = None

    def state(self, now: float) -> str:
        if self.revoked:
            return "revoked"
        return "expired" if self.expires is not None and self.expires <= now else "active"


def create_token(db: Database, role: str, schools: list[str], name: str = "",
                 expires_in_s: float | None = None) -> tuple[TokenInfo, str]:
    token = new_token()
    now = time.time()
    with db.session() as s:
        rec = TokenRecord(
            name=name or role,
            role=role,
            schools=sorted(schools),
            digest=digest(token),
            created=now,
            revoked=False,
            expires=None if expires_in_s is None else now + expires_in_s,
        )
        s.add(rec)
        s.flush()
        info = _info(rec)
        s.commit()
    return info, token


def list_tokens(db: Database) -> list[TokenInfo]:
    with db.session() as s:
        return [_info(r) for r in s.scalars(select(TokenRecord).order_by(TokenRecord.id))]


def revoke_token(db: Database, token_id: int) -> bool:
    with db.session() as s:
        rec = s.get(TokenRecord, token_id)
        if rec is None:
            return False
        rec.revoked = True
        s.commit()
        return True


def find_principal(db: Database, token: str, now: float | None = None) -> Principal | None:
    """The token's principal; None when it is unknown, revoked or expired at `now`."""
    d = digest(token)
    now = time.time() if now is None else now
    with db.session() as s:
        rec = s.scalars(select(TokenRecord).where(TokenRecord.digest == d)).first()
        if rec is None or rec.revoked or not same_digest(rec.digest, d):
            return None
        if rec.expires is not None and rec.expires <= now:
            return None
        return Principal(rec.id, rec.name, rec.role, frozenset(rec.schools))


def _info(rec: TokenRecord) -> TokenInfo:
    return TokenInfo(rec.id, rec.name, rec.role, list(rec.schools), rec.created, bool(rec.revoked), rec.expires)

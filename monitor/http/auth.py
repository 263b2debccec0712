"""API tokens and roles (contract §5): who may see and do what, for which schools.

A token is 32 random bytes shown once; only its SHA-256 is stored (a random token needs no slow
hash), looked up by that digest and compared in constant time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

ROLES = ("admin", "bureau", "officer", "maintenance")
UNSCOPED_ROLES = ("admin", "bureau")  # always every school: `--school` is refused for them
PREFIX = "csm_"


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: int
    name: str
    role: str
    schools: frozenset[str]

    def sees_school(self, school: str) -> bool:
        return self.all_schools or school in self.schools

    @property
    def all_schools(self) -> bool:
        """Bureau and admin see every school; a maintenance crew too unless its token names schools
        (`--school` limits every role but bureau and admin, contract §7); an officer only its own."""
        return self.role in UNSCOPED_ROLES or (self.role == "maintenance" and not self.schools)


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def require(principal: Principal | None, roles: tuple[str, ...], school: str | None = None) -> Principal:
    """The principal if it holds one of `roles` (admin always does) and, when given, sees `school`."""
    if principal is None:
        raise AuthError(401, "a valid bearer token is required")
    if principal.role != "admin" and principal.role not in roles:
        raise AuthError(403, f"role {principal.role} may not do this")
    if school is not None and not principal.sees_school(school):
        raise AuthError(403, f"this token is not for school {school}")
    return principal


def parse_duration(text: str) -> float:
    """`30d`, `12h`, `45m`, `90s` (or plain seconds) as seconds; ValueError when it is none of them."""
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    value = text.strip().lower()
    unit = units.get(value[-1:], None)
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration such as 30d, 12h, 45m or 90s") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{text!r} must be a duration greater than 0")
    return seconds


def validate_new(role: str, schools: list[str], known_schools: set[str]) -> None:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if role == "officer" and not schools:
        raise ValueError("an officer token needs at least one --school")
    if role in UNSCOPED_ROLES and schools:
        raise ValueError(f"a {role} token is for every school: --school limits only officer and maintenance tokens")
    unknown = [s for s in schools if s not in known_schools]
    if unknown:
        raise ValueError(f"school(s) not in the registry: {', '.join(unknown)}")


# ---- the HTTP edge's authenticator -----------------------------------------------------------------

FAILED_AUTH_PER_MINUTE = 30
TOKEN_CACHE_S = 0.5  # a revoked token is refused everywhere within this (contract §7: within 1 s)
SLOW_DOWN_S = 1.0  # the answer to a bad token from an address over the limit waits this long


class Authenticator:
    """Bearer tokens to principals, with a short cache, and a failed-attempt limit per address that
    slows bad tokens down (429 after a pause) but never refuses a valid one."""

    def __init__(self, lookup: Callable[[str], Awaitable[Principal | None]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lookup = lookup
        self.clock = clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._failures: dict[str, tuple[float, int]] = {}

    async def principal_of_token(self, token: str) -> Principal | None:
        now = self.clock()
        key = digest(token)
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < TOKEN_CACHE_S:
            return hit[1]
        found = await self.lookup(token)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now, found)
        return found

    async def principal(self, header: str, peer: str) -> Principal | None:
        """The principal of an `Authorization` header; None without one; AuthError when it is bad."""
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        found = await self.principal_of_token(token) if scheme.lower() == "bearer" and token else None
        if found is None:
            await self.failed(peer)
            if scheme.lower() != "bearer" or not token:
                raise AuthError(401, "Authorization must be `Bearer TOKEN`")
            raise AuthError(401, "the token is not valid")
        return found

    def limited(self, peer: str) -> bool:
        start, n = self._failures.get(peer, (0.0, 0))
        return self.clock() - start < 60 and n >= FAILED_AUTH_PER_MINUTE

    async def failed(self, peer: str) -> None:
        """Count a failed authentication from `peer`; past the limit, answer only after a pause and
        with 429."""
        now = self.clock()
        start, n = self._failures.get(peer, (now, 0))
        if now - start >= 60:
            start, n = now, 0
        self._failures[peer] = (start, n + 1)
        if len(self._failures) > 100_000:
            self._failures.clear()
        if n + 1 > FAILED_AUTH_PER_MINUTE:
            log.warning("failed authentication from %s (%d this minute): slowed down", peer, n + 1)
            await asyncio.sleep(SLOW_DOWN_S)
            raise AuthError(429, "too many failed authentication attempts; wait a minute")
        log.warning("failed authentication from %s", peer)

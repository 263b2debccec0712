"""API tokens and roles (contract §5): who may see and do what, for which schools.

A token is 32 random bytes shown once; only its SHA-256 is stored (a random token needs no slow
hash), looked up by that digest and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

ROLES = ("admin", "bureau", "officer", "maintenance")
PREFIX = "csm_"


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: int
    name: str
    role: str
    schools: frozenset[str]

    def sees_school(self, school: str) -> bool:
        if self.role in ("admin", "bureau", "maintenance"):
            return True
        return school in self.schools

    @property
    def all_schools(self) -> bool:
        return self.role in ("admin", "bureau", "maintenance")


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


def validate_new(role: str, schools: list[str], known_schools: set[str]) -> None:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if role == "officer" and not schools:
        raise ValueError("an officer token needs at least one --school")
    unknown = [s for s in schools if s not in known_schools]
    if unknown:
        raise ValueError(f"school(s) not in the registry: {', '.join(unknown)}")

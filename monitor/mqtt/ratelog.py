"""Logging bad input at a limited rate: a few lines a minute per outcome, and a count of the rest."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

TRUNCATE = 120


@dataclass(slots=True)
class _Bucket:
    window_start: float = 0.0
    logged: int = 0
    held: int = 0


@dataclass(slots=True)
class RateLimitedLog:
    logger: logging.Logger
    per_minute: int = 5
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def warn(self, outcome: str, now: float, msg: str, *args: object) -> bool:
        """Log `msg` unless `outcome` already had its lines this minute; returns whether it logged."""
        b = self._buckets.get(outcome)
        if b is None:
            b = self._buckets[outcome] = _Bucket(now)
        self._roll(outcome, b, now)
        if b.logged >= self.per_minute:
            b.held += 1
            return False
        b.logged += 1
        self.logger.warning(msg, *args)
        return True

    def flush(self, now: float) -> None:
        """Report the count held back in every minute that has ended; call it periodically (e.g. once a
        second), so a burst of bad input that then stops still has its count logged."""
        for outcome, b in self._buckets.items():
            if b.held:
                self._roll(outcome, b, now)

    def _roll(self, outcome: str, b: _Bucket, now: float) -> None:
        if now - b.window_start >= 60.0:
            if b.held:
                self.logger.warning("%d more %s messages were dropped in the last minute (not logged)", b.held, outcome)
            b.window_start, b.logged, b.held = now, 0, 0


def truncate(payload: bytes, limit: int = TRUNCATE) -> str:
    text = payload[:limit].decode("utf-8", "replace")
    return text + f"... ({len(payload)} bytes)" if len(payload) > limit else text

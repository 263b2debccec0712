"""The fix filter: which GPS fixes of a bus are fit to be judged, and why the others are not.

One `FixFilter` per bus remembers the last accepted fix. `check` returns a `FixReason`; anything but
`ACCEPTED` is dropped before the bus rules see it, and the edge counts and logs it by that reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from devices.events import Fix

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0


class FixReason(StrEnum):
    ACCEPTED = "accepted"
    INVALID = "invalid"  # not a finite position, or lat/lon out of range
    ZERO = "zero_position"  # (0, 0): a unit without a fix
    FUTURE = "future"  # ts more than `future_s` after receipt
    STALE = "stale"  # ts more than `stale_s` before receipt
    DUPLICATE = "duplicate"  # same ts as the last accepted fix
    OUT_OF_ORDER = "out_of_order"  # older than the last accepted fix
    IMPOSSIBLE_JUMP = "impossible_jump"  # implies a speed no bus reaches


@dataclass(frozen=True, slots=True)
class FixRules:
    future_s: float = 300.0
    stale_s: float = 300.0
    max_speed_kmh: float = 200.0
    jump_allowance_m: float = 50.0  # GPS error allowed on top of the speed bound


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def position_reason(lat: float, lon: float) -> FixReason | None:
    """Why a position is unusable on its own, or None when it is fine."""
    if not (math.isfinite(lat) and math.isfinite(lon)) or not (
        -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0
    ):
        return FixReason.INVALID
    if lat == 0.0 and lon == 0.0:
        return FixReason.ZERO
    return None


class FixFilter:
    """Remembers one bus's last accepted fix and judges the next against it."""

    __slots__ = ("rules", "_ts", "_lat", "_lon", "_held")

    def __init__(self, rules: FixRules | None = None) -> None:
        self.rules = rules or FixRules()
        self._ts: float | None = None
        self._lat = 0.0
        self._lon = 0.0
        self._held: Fix | None = None  # the last fix dropped as an impossible jump

    @property
    def last_ts(self) -> float | None:
        return self._ts

    def check(self, fix: Fix) -> FixReason:
        """ACCEPTED (and remembered) or the reason to drop the fix."""
        reason = self._reason(fix)
        if reason is FixReason.ACCEPTED:
            self._ts, self._lat, self._lon = fix.ts, fix.lat, fix.lon
            self._held = None
        elif reason is FixReason.IMPOSSIBLE_JUMP:
            self._held = fix
        return reason

    def _reason(self, fix: Fix) -> FixReason:
        bad = position_reason(fix.lat, fix.lon)
        if bad is not None:
            return bad
        r = self.rules
        if not math.isfinite(fix.ts):
            return FixReason.INVALID
        if fix.ts > fix.received + r.future_s:
            return FixReason.FUTURE
        if fix.ts < fix.received - r.stale_s:
            return FixReason.STALE
        if self._ts is None:
            return FixReason.ACCEPTED
        if fix.ts == self._ts:
            return FixReason.DUPLICATE
        if fix.ts < self._ts:
            return FixReason.OUT_OF_ORDER
        if self._plausible(self._ts, self._lat, self._lon, fix):
            return FixReason.ACCEPTED
        # Two fixes in a row that agree with each other but not with the last accepted one: the
        # accepted one was the outlier (or the bus was moved while off), so start again from here.
        held = self._held
        if held is not None and held.ts < fix.ts and self._plausible(held.ts, held.lat, held.lon, fix):
            return FixReason.ACCEPTED
        return FixReason.IMPOSSIBLE_JUMP

    def _plausible(self, ts: float, lat: float, lon: float, fix: Fix) -> bool:
        r = self.rules
        reach = r.max_speed_kmh / 3.6 * (fix.ts - ts) + r.jump_allowance_m
        # cheap first: a latitude-and-longitude box no distance inside reach can leave
        dlat = abs(fix.lat - lat) * METRES_PER_DEGREE
        if dlat > reach:
            return False
        if dlat + abs(fix.lon - lon) * METRES_PER_DEGREE <= reach:
            return True  # the box's half-perimeter bounds the distance from above
        return distance_m(lat, lon, fix.lat, fix.lon) <= reach

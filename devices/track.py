"""Which fixes of a bus go into its stored track: the downsampling rule (contract §7 `[buses]`).

A fix is kept when it is the bus's first, when at least `min_interval_s` passed since the last kept fix
(by the unit's time), when it lies at least `min_distance_m` from the last kept fix, or when the bus's
off-route or overspeed state changed since then. Pure: time comes with the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from devices.events import Fix

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class TrackFlags:
    """The bus's state that, when it changes, always marks a point of its track."""

    off_route: bool = False
    overspeed: bool = False


@dataclass(frozen=True, slots=True)
class _Kept:
    ts: float
    lat: float
    lon: float
    flags: TrackFlags


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class Downsampler:
    """The keep-or-skip rule, with the last kept fix of each bus."""

    def __init__(self, min_interval_s: float, min_distance_m: float) -> None:
        self.min_interval_s = min_interval_s
        self.min_distance_m = min_distance_m
        self._last: dict[str, _Kept] = {}

    def keep(self, fix: Fix, flags: TrackFlags = TrackFlags()) -> bool:
        """True when `fix` belongs in the track; a kept fix becomes the bus's reference."""
        last = self._last.get(fix.bus)
        if last is not None and not self._due(last, fix, flags):
            return False
        self._last[fix.bus] = _Kept(fix.ts, fix.lat, fix.lon, flags)
        return True

    def _due(self, last: _Kept, fix: Fix, flags: TrackFlags) -> bool:
        return (flags != last.flags
                or fix.ts - last.ts >= self.min_interval_s
                or distance_m(last.lat, last.lon, fix.lat, fix.lon) >= self.min_distance_m)

    def forget(self, bus: str) -> None:
        self._last.pop(bus, None)

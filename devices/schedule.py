"""Service windows: is a route in service at a given time, and since when."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from devices.model import Route, Window


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def window_start(windows: tuple[Window, ...], timezone: str, t: float) -> float | None:
    """The Unix time the window containing `t` opened, or None outside every window.

    No windows means always in service: returns -inf.
    """
    if not windows:
        return float("-inf")
    local = datetime.fromtimestamp(t, _zone(timezone))
    minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    for w in windows:
        if w.start_min <= minute < w.end_min:
            return (midnight + timedelta(minutes=w.start_min)).timestamp()
    return None


def in_service(route: Route, t: float) -> bool:
    return window_start(route.windows, route.timezone, t) is not None


def next_window_start(windows: tuple[Window, ...], timezone: str, t: float) -> float | None:
    """The first window opening strictly after `t` (within the next two days), None if always in service."""
    if not windows:
        return None
    tz = _zone(timezone)
    local = datetime.fromtimestamp(t, tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    best: float | None = None
    for day in (0, 1, 2):
        base = midnight + timedelta(days=day)
        for w in windows:
            start = datetime.combine(base.date(), datetime.min.time(), tz) + timedelta(minutes=w.start_min)
            ts = start.timestamp()
            if ts > t and (best is None or ts < best):
                best = ts
        if best is not None:
            return best
    return best

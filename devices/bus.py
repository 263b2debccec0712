"""The bus rules: one `BusWatch` per bus, fed its GPS fixes, judging off-route and overspeed.

Each accepted fix is placed against the route (`Place`):

- `on_route`: inside the corridor, at a progress that follows on from where the bus was;
- `outside_corridor`: farther than `corridor_m` from every part of the line;
- `skipped_ahead`: inside the corridor, but of a part of the route farther ahead than the bus can
  have driven since its last fix (at `reach_kmh`): it cut across, skipping a stretch;
- `backward`: inside the corridor, but more than `backward_m` behind where it was: it is driving
  the route the wrong way (or came back onto it behind the point it left).

The bus's place on the route (its progress) follows it: an on-route fix advances it (never back
by jitter under `backward_m`), a skip or a backward fix moves it to where the bus now is, and an
outside fix moves it only if the nearest point of the line is about where the bus left. So after
a skip the next fixes are judged from the new place: a bus that skips once and then drives on
normally has one out fix, and alerts only if the skip came with enough other out fixes (as the
labelled WMATA 3T detour does: a fix outside, the skip, then a backward run).

Every place but `on_route` is *out*. The bus goes off route after `off_route_fixes` out fixes in a
row spanning at least `off_route_after_s` of fix time, and back on route after as many `on_route`
fixes spanning as long, so jitter at the corridor's edge never flaps. Off route is judged only
inside the route's service windows. A declared detour covering the fix's time does not stop the
judgement: it is emitted with `detail["detour"] = reason` and `detail["suppressed"] = True`, and
the alert engine records it without alerting. A change of suppression (a detour declared or
ending while the bus is off route) ends one episode (`active=False`) and starts the next.

Overspeed: the reported `speed_kmh`, else a speed derived over at least `speed_baseline_s` of
travel (median of the last three estimates, so jitter over short intervals does not count), above
the limit in force (the route's, or a slow stretch's where the bus is on it) for at least
`overspeed_after_s`; it clears after as long at or below the limit. Overspeed is judged at any time.

A bus moving (at least `moving_kmh`) outside every service window gives an info judgement named
`OFF_HOURS_RULE`; it clears when service starts or after the bus stood still `parked_after_s`.

Overload: a fix's `passengers` above the bus's `capacity` for at least `overload_after_s` is
`bus_overloaded` (critical); the first fix at or below capacity clears it. Unlike a speed, a count
holds until the next reading, so the duration is also checked by `tick` (on the monitor's clock,
from the receipt of the first fix over capacity) and the alert is not late when fixes are sparse.
Fixes without `passengers` change nothing; a bus without a `capacity` is never judged overloaded.
Overload is judged at any time, in service or not.

Durations are measured on the fixes' own times (`Fix.ts`); service windows and detours are looked
up at the fix's time; `Judgement.time` is the monitor's time passed in.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from devices.events import Fix, Judgement, Rule, Severity
from devices.fixes import FixFilter, FixReason, FixRules
from devices.geometry import Match, RouteLine
from devices.model import Bus, Route
from devices.schedule import window_start

#: Rule name of the info judgement "bus moving outside every service window" (not a contract §3 rule).
OFF_HOURS_RULE = Rule.BUS_MOVING_OFF_HOURS


@dataclass(frozen=True, slots=True)
class BusRules:
    off_route_after_s: float = 60.0
    off_route_fixes: int = 3
    overspeed_after_s: float = 10.0
    overload_after_s: float = 30.0
    reach_kmh: float = 120.0  # fastest a bus is taken to move along its route
    reach_slack_m: float = 100.0  # added to the reach, on top of the corridor width
    backward_m: float = 75.0  # progress lost beyond this is driving backwards, not jitter
    resync_after_s: float = 900.0  # after a silence this long, where the bus was is forgotten
    speed_baseline_s: float = 30.0  # derived speed spans at least this much fix time
    moving_kmh: float = 10.0
    parked_after_s: float = 300.0
    fix_rules: FixRules = field(default_factory=FixRules)


class Place(StrEnum):
    ON_ROUTE = "on_route"
    OUTSIDE = "outside_corridor"
    AHEAD = "skipped_ahead"
    BACKWARD = "backward"


@dataclass(frozen=True, slots=True)
class Detour:
    start: float
    end: float
    reason: str


@dataclass(frozen=True, slots=True)
class Observation:
    """What one fix did: why it was dropped (or ACCEPTED), its place, the judgements it caused."""

    reason: FixReason
    judgements: list[Judgement]
    place: Place | None = None


@dataclass(frozen=True, slots=True)
class BusSnapshot:
    """The bus as metrics and the API show it (contract §6 bus gauges)."""

    bus: str
    school: str
    route: str
    off_route: bool  # off route inside a service window (also while on a declared detour)
    detour: str | None  # reason of the detour covering the last fix, if any
    overspeed: bool
    in_service: bool
    place: Place | None
    distance_m: float | None
    progress_m: float | None
    speed_kmh: float | None
    lat: float | None
    lon: float | None
    last_fix_ts: float | None
    passengers: int | None = None  # the last count reported (gauge `campus_bus_passengers`)
    overloaded: bool = False


class BusWatch:
    """One bus against its route. Not thread-safe; time always comes from the caller."""

    __slots__ = (
        "bus", "route", "line", "rules", "filter", "_reach_mps", "_detours",
        "_fix", "_place", "_match", "_speed", "_speed_source", "_limit", "_stretch",
        "_ref_p", "_ref_t", "_off", "_out_run", "_out_since", "_in_run", "_in_since", "_pub",
        "_svc_minute", "_svc", "_over", "_over_since", "_under_since", "_over_from",
        "_track", "_raw_speeds", "_roaming", "_still_since",
        "_passengers", "_overloaded", "_load_since", "_load_since_rx",
    )  # fmt: skip

    def __init__(self, bus: Bus, route: Route, line: RouteLine, rules: BusRules | None = None) -> None:
        self.bus = bus
        self.route = route
        self.line = line
        self.rules = rules or BusRules()
        self.filter = FixFilter(self.rules.fix_rules)
        self._reach_mps = self.rules.reach_kmh / 3.6
        self._detours: list[Detour] = []
        self._fix: Fix | None = None
        self._place: Place | None = None
        self._match: Match | None = None
        self._speed: float | None = None
        self._speed_source = ""
        self._limit = route.speed_limit_kmh
        self._stretch = ""
        self._ref_p: float | None = None  # progress the bus has reached
        self._ref_t = 0.0
        self._off = False
        self._out_run = 0
        self._out_since = 0.0
        self._in_run = 0
        self._in_since = 0.0
        self._pub: str | None = None  # the open off-route episode: "" alerting, else the detour reason
        self._svc_minute = -1
        self._svc = True
        self._over = False
        self._over_since: float | None = None
        self._under_since: float | None = None
        self._over_from = 0.0
        self._track: deque[tuple[float, float, float]] = deque(maxlen=16)
        self._raw_speeds: deque[float] = deque(maxlen=3)
        self._roaming = False
        self._still_since: float | None = None
        self._passengers: int | None = None
        self._overloaded = False
        self._load_since: float | None = None  # fix time of the first fix over capacity in a row
        self._load_since_rx = 0.0  # and the monitor's time it was received

    # ---- inputs ----------------------------------------------------------------------------

    def declare_detour(self, start: float, end: float, reason: str) -> None:
        """From `start` to `end` (Unix seconds) off-route is recorded but not alerted."""
        if not end > start:
            raise ValueError("a detour must end after it starts")
        self._detours.append(Detour(start, end, reason.strip() or "detour"))

    @property
    def detours(self) -> tuple[Detour, ...]:
        return tuple(self._detours)

    def observe(self, fix: Fix, now: float) -> Observation:
        """Filter, place and judge one fix."""
        reason = self.filter.check(fix)
        if reason is not FixReason.ACCEPTED:
            return Observation(reason, [])
        t = fix.ts
        x, y = self.line.project(fix.lon, fix.lat)
        place, match = self._locate(x, y, t)
        self._fix, self._place, self._match = fix, place, match
        speed = self._measure_speed(fix, t, x, y)
        in_service = self._in_service(t)
        out: list[Judgement] = []
        self._judge_route(place, t, in_service, now, out)
        self._judge_speed(speed, t, now, out)
        self._judge_roaming(speed, t, in_service, now, out)
        self._judge_load(fix, now, out)
        return Observation(reason, out, place)

    def tick(self, now: float) -> list[Judgement]:
        """Time-driven changes without a fix: a service window or a detour ending or starting."""
        out: list[Judgement] = []
        in_service = self._in_service(now)
        if not in_service:
            self._reset_route_runs()
        self._publish(now, in_service, now, out)
        if self._load_since is not None and not self._overloaded and now - self._load_since_rx >= self.rules.overload_after_s:
            self._overloaded = True
            out.append(self._load_judgement(now, True))
        return out

    def snapshot(self) -> BusSnapshot:
        fix, m = self._fix, self._match
        t = fix.ts if fix else None
        return BusSnapshot(
            bus=self.bus.id,
            school=self.bus.school,
            route=self.route.id,
            off_route=self._pub is not None,
            detour=self._pub or None,
            overspeed=self._over,
            in_service=self._svc if fix else True,
            place=self._place,
            distance_m=m.distance_m if m else None,
            progress_m=m.progress_m if m else None,
            speed_kmh=self._speed,
            lat=fix.lat if fix else None,
            lon=fix.lon if fix else None,
            last_fix_ts=t,
            passengers=self._passengers,
            overloaded=self._overloaded,
        )

    # ---- where on the route ----------------------------------------------------------------

    def _locate(self, x: float, y: float, t: float) -> tuple[Place, Match]:
        line, corridor, rules = self.line, self.route.corridor_m, self.rules
        ref = self._ref_p
        if ref is not None and t - self._ref_t > rules.resync_after_s:
            ref = None
        if ref is None:
            passes = line.passes(x, y, corridor)
            if passes:
                return self._settle(Place.ON_ROUTE, min(passes, key=_by_distance), t)
            return self._settle(Place.OUTSIDE, line.nearest(x, y), t)
        reach = self._reach_mps * (t - self._ref_t) + corridor + rules.reach_slack_m
        near = line.passes(x, y, corridor, ref - reach, ref + reach)
        behind = ref - rules.backward_m
        if near:
            best: Match | None = None
            for m in near:
                if m.progress_m >= behind and (
                    best is None or abs(m.progress_m - ref) < abs(best.progress_m - ref)
                ):
                    best = m
            if best is not None:
                return self._settle(Place.ON_ROUTE, best, t)
        passes = near or line.passes(x, y, corridor)
        if not passes:
            m = line.nearest(x, y)
            if behind <= m.progress_m <= ref + reach:
                return self._settle(Place.OUTSIDE, m, t)  # it left the route about here
            return Place.OUTSIDE, m  # nearest to some other part: keep where it left from
        m = min(passes, key=_by_distance)  # where it most likely is
        if m.progress_m < ref:
            lap = (line.length_m - ref) + m.progress_m <= reach  # round the end, onto the start again
            return self._settle(Place.ON_ROUTE if lap else Place.BACKWARD, m, t)
        return self._settle(Place.AHEAD, m, t)

    def _settle(self, place: Place, m: Match, t: float) -> tuple[Place, Match]:
        ref = self._ref_p
        if place is Place.ON_ROUTE and ref is not None and m.progress_m >= ref - self.rules.backward_m:
            self._ref_p = max(ref, m.progress_m)
        else:
            self._ref_p = m.progress_m  # follow the bus, wherever it is
        self._ref_t = t
        return place, m

    # ---- off route -------------------------------------------------------------------------

    def _in_service(self, t: float) -> bool:
        route = self.route
        if not route.windows:
            self._svc = True
            return True
        minute = int(t // 60)  # windows and zone offsets are whole minutes
        if minute != self._svc_minute:
            self._svc_minute = minute
            self._svc = window_start(route.windows, route.timezone, t) is not None
        return self._svc

    def _reset_route_runs(self) -> None:
        self._off = False
        self._out_run = 0
        self._in_run = 0

    def _judge_route(
        self, place: Place, t: float, in_service: bool, now: float, out: list[Judgement]
    ) -> None:
        if not in_service:
            self._reset_route_runs()
        else:
            rules = self.rules
            if place is not Place.ON_ROUTE:
                self._in_run = 0
                if not self._off:
                    if self._out_run == 0:
                        self._out_since = t
                    self._out_run += 1
                    if (
                        self._out_run >= rules.off_route_fixes
                        and t - self._out_since >= rules.off_route_after_s
                    ):
                        self._off = True
            else:
                self._out_run = 0
                if self._off:
                    if self._in_run == 0:
                        self._in_since = t
                    self._in_run += 1
                    if (
                        self._in_run >= rules.off_route_fixes
                        and t - self._in_since >= rules.off_route_after_s
                    ):
                        self._off = False
                        self._in_run = 0
        self._publish(t, in_service, now, out)

    def _detour_at(self, t: float) -> str | None:
        if self._detours:
            self._detours = [d for d in self._detours if d.end > t - 86_400.0]  # forget day-old ones
        for d in self._detours:
            if d.start <= t < d.end:
                return d.reason
        return None

    def _publish(self, t: float, in_service: bool, now: float, out: list[Judgement]) -> None:
        want: str | None = None
        if self._off and in_service:
            want = self._detour_at(t) or ""
        was = self._pub
        if want == was:
            return
        if was is not None:
            if not in_service:
                why = "service_ended"
            elif not self._off:
                why = "back_on_route"
            else:
                why = "detour_declared" if want else "detour_ended"
            out.append(self._route_judgement(now, False, was, why))
        if want is not None:
            out.append(self._route_judgement(now, True, want, str(self._place or "")))
        self._pub = want

    def _route_judgement(self, now: float, active: bool, episode: str, why: str) -> Judgement:
        detail: dict[str, Any] = {"route": self.route.id, "reason": why}
        if active:
            detail["since"] = self._out_since
            detail["fixes"] = self._out_run
        detail.update(self._position_detail())
        if episode:
            detail["detour"] = episode
            detail["suppressed"] = True
        return Judgement(
            now, Rule.BUS_OFF_ROUTE, Severity.CRITICAL, self.bus.school, self.bus.id, active, None, detail
        )

    def _position_detail(self) -> dict[str, Any]:
        fix, m = self._fix, self._match
        if fix is None or m is None:
            return {}
        return {
            "fix_ts": fix.ts,
            "lat": fix.lat,
            "lon": fix.lon,
            "distance_m": round(m.distance_m, 1),
            "progress_m": round(m.progress_m, 1),
            "place": str(self._place),
        }

    # ---- speed -----------------------------------------------------------------------------

    def _measure_speed(self, fix: Fix, t: float, x: float, y: float) -> float | None:
        track = self._track
        baseline = self.rules.speed_baseline_s
        reported = fix.speed_kmh
        speed: float | None
        if reported is not None and math.isfinite(reported) and reported >= 0:
            speed, self._speed_source = reported, "reported"
        else:
            speed = None
            for bt, bx, by in reversed(track):
                if t - bt >= baseline:
                    self._raw_speeds.append(math.hypot(x - bx, y - by) / (t - bt) * 3.6)
                    raw = sorted(self._raw_speeds)
                    speed = raw[(len(raw) - 1) // 2]
                    break
            self._speed_source = "derived"
        if not track or t - track[-1][0] >= baseline / 6:
            track.append((t, x, y))
        self._speed = speed
        return speed

    def _limit_at(self) -> tuple[float, str]:
        route = self.route
        limit, name = route.speed_limit_kmh, ""
        if route.slow_stretches and self._place is Place.ON_ROUTE and self._match is not None:
            p = self._match.progress_m
            for s in route.slow_stretches:
                if s.from_m <= p <= s.to_m and s.speed_limit_kmh < limit:
                    limit, name = s.speed_limit_kmh, s.name or f"{s.from_m:g}-{s.to_m:g} m"
        return limit, name

    def _judge_speed(self, speed: float | None, t: float, now: float, out: list[Judgement]) -> None:
        if speed is None:
            return
        limit, stretch = self._limit_at()
        self._limit, self._stretch = limit, stretch
        after = self.rules.overspeed_after_s
        if speed > limit:
            self._under_since = None
            if self._over_since is None:
                self._over_since = t
            if not self._over and t - self._over_since >= after:
                self._over = True
                self._over_from = self._over_since
                out.append(self._speed_judgement(now, True, speed))
        else:
            self._over_since = None
            if self._over:
                if self._under_since is None:
                    self._under_since = t
                if t - self._under_since >= after:
                    self._over = False
                    self._under_since = None
                    out.append(self._speed_judgement(now, False, speed))

    def _speed_judgement(self, now: float, active: bool, speed: float) -> Judgement:
        detail: dict[str, Any] = {
            "route": self.route.id,
            "speed_kmh": round(speed, 1),
            "limit_kmh": self._limit,
            "source": self._speed_source,
            "since": self._over_from,
        }
        if self._stretch:
            detail["stretch"] = self._stretch
        detail.update(self._position_detail())
        return Judgement(
            now, Rule.BUS_OVERSPEED, Severity.WARNING, self.bus.school, self.bus.id, active, None, detail
        )

    # ---- passengers --------------------------------------------------------------------------

    def _judge_load(self, fix: Fix, now: float, out: list[Judgement]) -> None:
        count = fix.passengers
        if count is None:
            return
        self._passengers = count
        capacity = self.bus.capacity
        if capacity <= 0:
            return
        if count > capacity:
            if self._load_since is None:
                self._load_since, self._load_since_rx = fix.ts, fix.received
            if not self._overloaded and fix.ts - self._load_since >= self.rules.overload_after_s:
                self._overloaded = True
                out.append(self._load_judgement(now, True))
            return
        self._load_since = None
        if self._overloaded:
            self._overloaded = False
            out.append(self._load_judgement(now, False))

    def _load_judgement(self, now: float, active: bool) -> Judgement:
        detail: dict[str, Any] = {
            "route": self.route.id,
            "passengers": self._passengers,
            "capacity": self.bus.capacity,
        }
        if active:
            detail["since"] = self._load_since
        detail.update(self._position_detail())
        return Judgement(
            now, Rule.BUS_OVERLOADED, Severity.CRITICAL, self.bus.school, self.bus.id, active, None, detail
        )

    # ---- moving out of service -------------------------------------------------------------

    def _judge_roaming(
        self, speed: float | None, t: float, in_service: bool, now: float, out: list[Judgement]
    ) -> None:
        if in_service:
            if self._roaming:
                self._roaming = False
                out.append(self._roaming_judgement(now, False, "service_started", speed))
            return
        if speed is None:
            return
        if speed >= self.rules.moving_kmh:
            self._still_since = None
            if not self._roaming:
                self._roaming = True
                out.append(self._roaming_judgement(now, True, "moving_out_of_service", speed))
        elif self._roaming:
            if self._still_since is None:
                self._still_since = t
            elif t - self._still_since >= self.rules.parked_after_s:
                self._roaming = False
                self._still_since = None
                out.append(self._roaming_judgement(now, False, "parked", speed))

    def _roaming_judgement(self, now: float, active: bool, why: str, speed: float | None) -> Judgement:
        detail: dict[str, Any] = {"route": self.route.id, "reason": why, "speed_kmh": speed}
        detail.update(self._position_detail())
        return Judgement(
            now, OFF_HOURS_RULE, Severity.INFO, self.bus.school, self.bus.id, active, None, detail
        )


def _by_distance(m: Match) -> float:
    return m.distance_m

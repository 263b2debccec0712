"""Benchmark of the bus rules: fixes judged per second, off-route delay, memory per route.

    python bench/buses.py [--buses 1000] [--routes 1000] [--points 2000] [--minutes 10]

Every bus drives its own winding route of `--points` points (10 m apart) at 25-60 km/h, a fix every
10 s with a few metres of jitter and no reported speed (so speed is derived), through the whole
path a fix takes below the edge: filter, projection, route matching, off-route and overspeed rules.
One bus in twenty turns off its route half way through and drives away. Runs on one core (one Python thread).
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devices.bus import BusRules, BusWatch  # noqa: E402
from devices.events import Fix, Rule  # noqa: E402
from devices.geometry import LocalProjection, RouteLine  # noqa: E402
from devices.model import Bus, Heartbeat, Route  # noqa: E402

T0 = 1_764_000_000.0
INTERVAL_S = 10.0


def winding_path(
    rng: random.Random, points: int, lon0: float, lat0: float
) -> tuple[tuple[float, float], ...]:
    """A road-like line that meanders (10 m steps, bends and right-angle turns) but never loops."""
    proj = LocalProjection(lon0, lat0)
    x = y = 0.0
    base = rng.uniform(0, 2 * math.pi)
    swing = 0.0
    out = []
    for _ in range(points):
        out.append(proj.inverse(x, y))
        swing += rng.gauss(0, 0.04)
        if rng.random() < 0.004:
            swing = -math.copysign(math.pi / 2.5, swing)  # a sharp turn the other way
        swing = max(-1.3, min(1.3, swing))
        x += 10 * math.cos(base + swing)
        y += 10 * math.sin(base + swing)
    return tuple(out)


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def build(args: argparse.Namespace) -> tuple[list[BusWatch], list[Route], float, int]:
    rng = random.Random(7)
    routes = [
        Route(
            f"r{i}",
            150.0,
            60.0,
            winding_path(rng, args.points, 103.7 + (i % 40) * 0.05, 27.3 + (i // 40) * 0.05),
        )
        for i in range(args.routes)
    ]
    gc.collect()
    rss0 = rss_bytes()
    tracemalloc.start()
    t = time.perf_counter()
    lines = [RouteLine.from_route(r) for r in routes]
    build_s = time.perf_counter() - t
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_per_route = (rss_bytes() - rss0) // max(1, len(lines))
    print(f"routes: {len(lines)} of {args.points} points, {lines[0].length_m / 1000:.1f} km each")
    print(f"  build: {build_s / len(lines) * 1000:.2f} ms per route")
    print(
        f"  memory per route: {lines[0].nbytes / 1024:.0f} KiB of arrays, "
        f"{traced / len(lines) / 1024:.0f} KiB traced by Python, {rss_per_route / 1024:.0f} KiB RSS"
    )
    watches = []
    for i in range(args.buses):
        k = i % len(routes)
        bus = Bus(f"bus-{i:04d}", "", "s", routes[k].id, 19, Heartbeat(10.0, 6))
        watches.append(BusWatch(bus, routes[k], lines[k], BusRules()))
    return watches, routes, build_s, rss_per_route


def make_fixes(watches: list[BusWatch], minutes: float) -> tuple[list[Fix], dict[str, float]]:
    """Fixes of every bus, interleaved in time; and for each leaver, its first fix outside the corridor.

    A leaver turns off half way through and drives straight away from its route's general line.
    """
    rng = random.Random(11)
    steps = int(minutes * 60 / INTERVAL_S)
    fixes: list[Fix] = []
    left_at: dict[str, float] = {}
    plans = []
    for i, w in enumerate(watches):
        speed = rng.uniform(25, 60) / 3.6
        start = rng.uniform(0, max(0.0, w.line.length_m - speed * steps * INTERVAL_S))
        plans.append((w, speed, start, i % 20 == 0))
    for s in range(steps):
        t = T0 + s * INTERVAL_S
        for w, speed, start, leaves in plans:
            progress = start + speed * s * INTERVAL_S
            if leaves and s >= steps // 2:
                progress = start + speed * (steps // 2) * INTERVAL_S
                x0, y0 = w.line.project(*w.line.point_at(progress))
                ax, ay = w.line.project(*w.route.path[0])
                bx, by = w.line.project(*w.route.path[-1])
                norm = math.hypot(bx - ax, by - ay)
                away = speed * (s - steps // 2) * INTERVAL_S
                x, y = x0 - (by - ay) / norm * away, y0 + (bx - ax) / norm * away
                lon, lat = w.line.projection.inverse(x + rng.gauss(0, 5), y + rng.gauss(0, 5))
                if w.bus.id not in left_at and w.line.nearest(x, y).distance_m > w.route.corridor_m:
                    left_at[w.bus.id] = t
            else:
                lon, lat = w.line.point_at(progress + rng.gauss(0, 5), rng.gauss(0, 5))
            fixes.append(Fix("s", w.bus.id, t, t, lat, lon))
    return fixes, left_at


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--buses", type=int, default=1000)
    ap.add_argument("--routes", type=int, default=1000)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()

    watches, _, _, _ = build(args)
    by_id = {w.bus.id: w for w in watches}
    fixes, left_at = make_fixes(watches, args.minutes)
    turn_at = T0 + int(args.minutes * 60 / INTERVAL_S) // 2 * INTERVAL_S  # when leavers turn off
    print(f"fixes: {len(fixes)} ({args.buses} buses, one every {INTERVAL_S:g} s for {args.minutes:g} min)")

    fired: dict[str, tuple[float, int]] = {}
    out_fixes: dict[str, int] = {}
    rule_delay: list[float] = []
    gc.collect()
    t = time.perf_counter()
    for fix in fixes:
        obs = by_id[fix.bus].observe(fix, fix.ts)
        if fix.bus in left_at and fix.ts >= turn_at:
            out_fixes[fix.bus] = out_fixes.get(fix.bus, 0) + 1
            for j in obs.judgements:
                if j.rule == Rule.BUS_OFF_ROUTE and j.active and fix.bus not in fired:
                    fired[fix.bus] = (fix.ts, out_fixes[fix.bus])
                    rule_delay.append(fix.ts - j.detail["since"])
    elapsed = time.perf_counter() - t
    print(
        f"judged: {len(fixes) / elapsed:,.0f} fixes/s on one core ({elapsed / len(fixes) * 1e6:.1f} µs per fix)"
    )

    delays = sorted(ts - left_at[b] for b, (ts, _) in fired.items())
    counts = sorted(n for _, n in fired.values())
    if delays:
        print(
            f"off-route delay: {len(fired)}/{len(left_at)} leavers alerted, "
            f"{delays[0]:+.0f} to {delays[-1]:+.0f} s (median {delays[len(delays) // 2]:+.0f} s) of fix time "
            f"after the first fix outside the corridor, at fix #{counts[0]}-{counts[-1]} after turning off, "
            f"plus {elapsed / len(fixes) * 1e6:.0f} µs of processing"
        )
        print(
            f"  after the first fix judged out (outside, skipped ahead or backward): "
            f"{min(rule_delay):.0f}-{max(rule_delay):.0f} s (the rule: 3 fixes and 60 s)"
        )
    false_alarms = sum(1 for w in watches if w.bus.id not in left_at and w.snapshot().off_route)
    print(
        f"false off-route among {len(watches) - len(left_at)} buses that kept to their route: {false_alarms}"
    )

    gc.collect()
    tracemalloc.start()
    spare = [BusWatch(w.bus, w.route, w.line) for w in watches[:200]]
    for s in range(12):
        for w in spare:
            lon, lat = w.line.point_at(1000 + 100 * s)
            w.observe(Fix("s", w.bus.id, T0 + 10 * s, T0 + 10 * s, lat, lon), T0 + 10 * s)
    per_bus = tracemalloc.get_traced_memory()[0] / len(spare)
    tracemalloc.stop()
    print(f"memory per bus (watch state after 2 min of fixes): {per_bus / 1024:.1f} KiB")


if __name__ == "__main__":
    main()

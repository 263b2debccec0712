"""The judge's per-state index stays equal to a scan through beats, offlines, sweeps and restores."""

from __future__ import annotations

import random

from devices.judge import Judge
from devices.liveness import Restored, State
from devices.registry import parse_registry
from monitor.tools.district import district_registry, dump_registry


def _scan(judge: Judge) -> dict[State, set]:
    out: dict[State, set] = {s: set() for s in State if s is not State.UP}
    for d in judge.devices():
        if d.state is not State.UP:
            out[d.state].add(d)
    return out


def test_the_index_by_state_matches_a_scan_at_every_step() -> None:
    registry = parse_registry(dump_registry(district_registry(7)), "r.yaml")
    judge = Judge(registry)
    rng = random.Random(3)
    devices = list(judge.devices())
    judge.link_up(0.0)
    now = 0.0
    for _ in range(3000):
        now += rng.random() * 5
        dev = rng.choice(devices)
        roll = rng.random()
        if roll < 0.7:
            judge.beat(dev, now, faulty=rng.random() < 0.05)
        elif roll < 0.8:
            judge.offline(dev, now)
        else:
            judge.sweep(now)
        assert judge.by_state == _scan(judge)
    assert judge.by_state[State.DOWN]
    restored = Judge(registry)
    restored.restore({d.spec.key: Restored(d.state, d.last_seen, d.since) for d in devices}, now)
    assert restored.by_state == _scan(restored)
    assert [d.id for d in restored.ordered()] == [d.id for d in sorted(devices, key=lambda d: (d.school, str(d.kind), d.id))]


def test_the_unknown_index_gives_its_large_table_back_when_all_but_a_few_are_heard() -> None:
    import sys

    registry = parse_registry(dump_registry(district_registry(7)), "r.yaml")
    judge = Judge(registry)
    devices = list(judge.devices())
    judge.link_up(0.0)
    full = sys.getsizeof(judge.by_state[State.UNKNOWN])
    never_heard = devices[:3]
    for dev in devices[3:]:
        judge.beat(dev, 1.0)
    assert judge.by_state[State.UNKNOWN] == set(never_heard) == _scan(judge)[State.UNKNOWN]
    assert len(devices) > 500 and sys.getsizeof(judge.by_state[State.UNKNOWN]) * 8 < full, \
        "a set that held every device keeps its table after they left"

"""Several instances (contract §9): a judge takes schools from their stored states, judges them only once
it sees their topics, with one timeout of grace from then at most, and lets them go without a judgement."""

from __future__ import annotations

from devices.judge import Judge
from devices.liveness import Restored, State
from devices.registry import parse_registry

REGISTRY = """
defaults:
  camera: {interval_s: 10, missed: 3}
schools:
  - id: a
    name: A
    zones: [{id: dorm, name: D, kind: dormitory}]
    cameras: [{id: cam-1, zone: dorm}, {id: cam-2, zone: dorm}]
  - id: b
    name: B
    zones: [{id: dorm, name: D, kind: dormitory}]
    cameras: [{id: cam-1, zone: dorm}]
"""


def _judge() -> Judge:
    judge = Judge(parse_registry(REGISTRY, "r.yaml"))
    judge.liveness.school_grace = {}  # clustered: nothing judged until taken
    return judge


def test_schools_not_taken_are_never_judged() -> None:
    judge = _judge()
    judge.link_up(0.0)
    assert judge.sweep(1000.0) == []
    assert {d.state for d in judge.devices()} == {State.UNKNOWN}


def test_a_taken_school_is_judged_from_its_stored_states_with_grace_from_when_it_is_seen() -> None:
    judge = _judge()
    cam1 = judge.liveness.devices[("a", "camera", "cam-1")]  # type: ignore[index]
    cam2 = judge.liveness.devices[("a", "camera", "cam-2")]  # type: ignore[index]
    # stored by the old owner: cam-1 heard at 95 (keeps reporting), cam-2 last heard at 80 (stopped)
    saved = {cam1.spec.key: Restored(State.UP, 95.0, 50.0), cam2.spec.key: Restored(State.UP, 80.0, 50.0)}
    judge.take(["a"], saved, 100.0)
    assert cam1.state is State.UP and cam2.state is State.UP
    assert judge.sweep(104.0) == []  # blind until its partition's topics are heard
    judge.see("a", 105.0)
    judge.beat(cam1, 110.0)
    judge.beat(cam1, 130.0)
    assert judge.sweep(134.9) == []  # one timeout (30 s) from 105 at most
    down = judge.sweep(135.0)
    assert [(j.subject, j.active) for j in down if j.rule == "camera_down"] == [("cam-2", True)]
    assert cam1.state is State.UP
    judge.beat(cam1, 150.0)
    assert judge.sweep(170.0) == []


def test_letting_go_emits_nothing_and_recounts_coverage() -> None:
    judge = _judge()
    cam = judge.liveness.devices[("b", "camera", "cam-1")]  # type: ignore[index]
    judge.take(["b"], {cam.spec.key: Restored(State.DOWN, 10.0, 40.0)}, 100.0)
    assert judge.coverage.zones[("b", "dorm")].dark
    assert cam in judge.by_state[State.DOWN]
    judge.see("b", 100.0)
    judge.let_go(["b"], 120.0)
    assert cam.state is State.UNKNOWN and not judge.coverage.zones[("b", "dorm")].dark
    assert cam not in judge.by_state[State.DOWN]
    assert judge.sweep(1000.0) == []
    assert judge.standing(1000.0, ["b"]) == []

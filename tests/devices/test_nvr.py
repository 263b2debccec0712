"""NVRs and the cameras behind them, face terminals, blind spots: the judge on a fake clock.

Timeouts: camera and face 30 s x 3 = 90 s, NVR 60 s x 3 = 180 s, alarm 180 s. Every time is literal.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from devices.events import Judgement, Rule, Severity
from devices.judge import Judge
from devices.liveness import Device, Restored, State
from devices.model import DeviceKind
from devices.registry import parse_registry

T0 = 1_764_000_000.0

REGISTRY = parse_registry(dedent("""\
    schools:
      - id: panhe-ms
        zones:
          - {id: dorm-girls, kind: dormitory, min_live: 2}
          - {id: gate, kind: gate}
        nvrs:
          - {id: nvr-1, location: 监控室}
        cameras:
          - {id: cam-dg-01, zone: dorm-girls, nvr: nvr-1}
          - {id: cam-dg-02, zone: dorm-girls, nvr: nvr-1}
          - {id: cam-dg-03, zone: dorm-girls}
          - {id: cam-gate-01, zone: gate, nvr: nvr-1}
        faces:
          - {id: face-gate-01, zone: gate}
        alarms:
          - {id: alarm-gate}
    """), "district.yaml")
BEHIND = ["cam-dg-01", "cam-dg-02", "cam-gate-01"]
ALL_ON = {cam: True for cam in BEHIND}


@pytest.fixture
def judge() -> Judge:
    j = Judge(REGISTRY)
    j.restore({}, T0)
    j.link_up(T0)
    return j


def dev(judge: Judge, kind: DeviceKind, device_id: str) -> Device:
    return judge.liveness.devices[("panhe-ms", kind, device_id)]


def cam(judge: Judge, device_id: str) -> Device:
    return dev(judge, DeviceKind.CAMERA, device_id)


def nvr(judge: Judge) -> Device:
    return dev(judge, DeviceKind.NVR, "nvr-1")


def states(judge: Judge, *ids: str) -> list[State]:
    return [cam(judge, i).state for i in ids]


def rules(found: list[Judgement]) -> list[tuple[Rule, str, bool]]:
    return [(j.rule, j.subject, j.active) for j in found]


def keep_alive(judge: Judge, t: float, *, nvr_too: bool = False) -> list[Judgement]:
    """Everything not behind the NVR beats at `t` (and the NVR itself, without channels, if asked)."""
    out = []
    for kind, i in [(DeviceKind.CAMERA, "cam-dg-03"), (DeviceKind.FACE, "face-gate-01"), (DeviceKind.ALARM, "alarm-gate")]:
        out += judge.beat(dev(judge, kind, i), t)
    if nvr_too:
        out += judge.nvr_beat(nvr(judge), t, False, {})
    return out


def run(judge: Judge, start: float, end: float, *, nvr_too: bool = False) -> list[Judgement]:
    """Sweep each second from `start` to `end`, keeping the others alive every 20 s."""
    out: list[Judgement] = []
    t = start
    while t <= end:
        if (t - start) % 20 == 0:
            out += keep_alive(judge, t, nvr_too=nvr_too)
        out += judge.sweep(t)
        t += 1.0
    return out


# ---- the NVR goes down: its cameras are unreachable, not down ----------------------------------


def test_silent_nvr_makes_its_cameras_unreachable_with_one_nvr_down_and_no_camera_down(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    found = run(judge, T0 + 1, T0 + 181)
    assert [r for r in rules(found) if r[0] is not Rule.ZONE_DARK] == [(Rule.NVR_DOWN, "nvr-1", True)]
    [down] = [j for j in found if j.rule is Rule.NVR_DOWN]
    assert (down.time, down.severity, down.detail["cameras"]) == (T0 + 181, Severity.CRITICAL, BEHIND)
    assert states(judge, *BEHIND) == [State.UNREACHABLE] * 3
    assert cam(judge, "cam-dg-03").state is State.UP


def test_at_start_cameras_behind_an_nvr_never_heard_are_unreachable_at_the_nvr_timeout_not_down(judge: Judge) -> None:
    found = [j for j in run(judge, T0, T0 + 180) if j.rule in (Rule.CAMERA_DOWN, Rule.NVR_DOWN)]
    assert rules(found) == [(Rule.NVR_DOWN, "nvr-1", True)]
    assert found[0].time == T0 + 180
    assert states(judge, *BEHIND) == [State.UNREACHABLE] * 3


def test_cameras_behind_a_silent_nvr_wait_for_its_judgement_instead_of_going_down_at_their_own(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    assert run(judge, T0 + 1, T0 + 180) == []  # cameras' own deadlines (T0 + 91) passed; the NVR's not yet
    assert states(judge, *BEHIND) == [State.UP] * 3


def test_nvr_offline_makes_its_cameras_unreachable_at_once(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    found = judge.offline(nvr(judge), T0 + 5)
    assert rules(found) == [
        (Rule.NVR_DOWN, "nvr-1", True), (Rule.ZONE_DARK, "dorm-girls", True), (Rule.ZONE_DARK, "gate", True),
    ]
    assert states(judge, *BEHIND) == [State.UNREACHABLE] * 3


def test_unreachable_cameras_darken_their_zone_and_are_blind_spots(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    judge.beat(cam(judge, "cam-dg-03"), T0 + 1)
    judge.offline(nvr(judge), T0 + 5)
    zone = judge.coverage.zones[("panhe-ms", "dorm-girls")]
    gate = judge.coverage.zones[("panhe-ms", "gate")]
    assert (zone.live, zone.unreachable, zone.down, zone.dark, zone.blind_spots) == (1, 2, 0, True, 2)
    assert (gate.unreachable, gate.blind_spots) == (1, 0)  # not a dormitory: no blind spot
    assert judge.coverage.schools["panhe-ms"].blind_spots == 2
    assert [(z.zone.id, z.blind_spots) for z in judge.coverage.blind_spot_zones()] == [("dorm-girls", 2)]


# ---- a camera's own silence while its NVR is alive ----------------------------------------------


def test_camera_silent_while_its_nvr_keeps_beating_is_down_at_its_own_timeout(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    found = run(judge, T0 + 1, T0 + 91, nvr_too=True)
    assert [r for r in rules(found) if r[0] is Rule.CAMERA_DOWN] == [
        (Rule.CAMERA_DOWN, c, True) for c in BEHIND
    ]
    assert {j.time for j in found if j.rule is Rule.CAMERA_DOWN} == {T0 + 91}


def test_camera_silent_before_an_nvr_that_is_heard_seldom_is_judged_when_the_nvr_is_heard(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    assert run(judge, T0 + 1, T0 + 150) == []
    judge.nvr_beat(nvr(judge), T0 + 150, False, {})  # alive, but no word of its cameras
    found = judge.sweep(T0 + 181)
    assert [r for r in rules(found) if r[0] is Rule.CAMERA_DOWN] == [(Rule.CAMERA_DOWN, c, True) for c in BEHIND]


def test_nvr_channel_off_marks_its_camera_down_at_once_and_on_brings_it_back(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    found = judge.nvr_beat(nvr(judge), T0 + 30, False, {"cam-gate-01": False})
    assert rules(found) == [(Rule.CAMERA_DOWN, "cam-gate-01", True), (Rule.ZONE_DARK, "gate", True)]
    assert found[0].detail["reason"] == "offline"
    found = judge.nvr_beat(nvr(judge), T0 + 60, False, {"cam-gate-01": True})
    assert rules(found) == [(Rule.CAMERA_DOWN, "cam-gate-01", False), (Rule.ZONE_DARK, "gate", False)]


def test_nvr_channel_on_keeps_a_faulty_camera_faulty(judge: Judge) -> None:
    judge.beat(cam(judge, "cam-dg-01"), T0 + 1, faulty=True)
    judge.nvr_beat(nvr(judge), T0 + 2, False, {"cam-dg-01": True})
    assert cam(judge, "cam-dg-01").state is State.FAULTY


def test_nvr_channels_naming_no_camera_of_its_school_are_ignored(judge: Judge) -> None:
    found = judge.nvr_beat(nvr(judge), T0 + 1, False, {"cam-elsewhere": True, "face-gate-01": False})
    assert found == []
    assert dev(judge, DeviceKind.FACE, "face-gate-01").state is State.UNKNOWN


# ---- while the NVR is down ----------------------------------------------------------------------


def test_camera_down_before_its_nvr_went_down_stays_down_and_keeps_its_alert(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, {**ALL_ON, "cam-gate-01": False})
    found = judge.offline(nvr(judge), T0 + 5)
    assert (Rule.CAMERA_DOWN, "cam-gate-01", False) not in rules(found)
    assert states(judge, *BEHIND) == [State.UNREACHABLE, State.UNREACHABLE, State.DOWN]


def test_camera_heard_while_its_nvr_is_down_is_up_and_unreachable_again_when_silent(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    judge.offline(nvr(judge), T0 + 5)
    found = judge.beat(cam(judge, "cam-dg-01"), T0 + 10)
    assert rules(found) == [(Rule.ZONE_DARK, "dorm-girls", False)]  # 2 of 3 could be live again
    assert cam(judge, "cam-dg-01").state is State.UP
    found = run(judge, T0 + 10, T0 + 100)
    assert rules(found) == [(Rule.ZONE_DARK, "dorm-girls", True)]
    assert cam(judge, "cam-dg-01").state is State.UNREACHABLE
    assert cam(judge, "cam-dg-01").reason == "nvr_down"


def test_camera_saying_offline_while_its_nvr_is_down_is_down(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    judge.offline(nvr(judge), T0 + 5)
    found = judge.offline(cam(judge, "cam-dg-02"), T0 + 6)
    assert rules(found) == [(Rule.CAMERA_DOWN, "cam-dg-02", True)]
    assert judge.coverage.zones[("panhe-ms", "dorm-girls")].blind_spots == 2


# ---- the NVR comes back -------------------------------------------------------------------------


def test_nvr_back_with_its_channels_on_brings_its_cameras_up_and_clears_everything(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    judge.offline(nvr(judge), T0 + 5)
    found = judge.nvr_beat(nvr(judge), T0 + 300, False, ALL_ON)
    assert rules(found) == [
        (Rule.NVR_DOWN, "nvr-1", False), (Rule.ZONE_DARK, "dorm-girls", False), (Rule.ZONE_DARK, "gate", False),
    ]
    assert states(judge, *BEHIND) == [State.UP] * 3
    assert judge.coverage.schools["panhe-ms"].blind_spots == 0


def test_nvr_back_without_channels_leaves_its_cameras_unknown_for_one_camera_timeout(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    judge.offline(nvr(judge), T0 + 5)
    found = judge.nvr_beat(nvr(judge), T0 + 300, False, {})
    assert rules(found) == [
        (Rule.NVR_DOWN, "nvr-1", False), (Rule.ZONE_DARK, "dorm-girls", False), (Rule.ZONE_DARK, "gate", False),
    ]
    assert states(judge, *BEHIND) == [State.UNKNOWN] * 3
    assert cam(judge, "cam-dg-01").reason == "nvr_back"
    found = run(judge, T0 + 300, T0 + 390, nvr_too=True)
    assert [j.time for j in found if j.rule is Rule.CAMERA_DOWN] == [T0 + 390] * 3


def test_camera_judged_down_after_the_nvr_returned_is_not_unreachable_when_it_goes_again(judge: Judge) -> None:
    judge.offline(nvr(judge), T0 + 5)
    judge.nvr_beat(nvr(judge), T0 + 10, False, {"cam-dg-01": False})
    assert cam(judge, "cam-dg-01").state is State.DOWN
    judge.offline(nvr(judge), T0 + 20)
    assert cam(judge, "cam-dg-01").state is State.DOWN


# ---- face terminals -----------------------------------------------------------------------------


def test_face_terminal_silent_past_its_timeout_is_face_down_warning(judge: Judge) -> None:
    face = dev(judge, DeviceKind.FACE, "face-gate-01")
    judge.beat(face, T0 + 1)
    assert [j for j in judge.sweep(T0 + 90) if j.subject == "face-gate-01"] == []
    found = [j for j in judge.sweep(T0 + 91) if j.subject == "face-gate-01"]
    assert [(j.rule, j.severity, j.zone, j.active) for j in found] == [(Rule.FACE_DOWN, Severity.WARNING, "gate", True)]
    assert rules(judge.beat(face, T0 + 95)) == [(Rule.FACE_DOWN, "face-gate-01", False)]


def test_face_terminals_do_not_count_as_zone_cameras(judge: Judge) -> None:
    judge.offline(dev(judge, DeviceKind.FACE, "face-gate-01"), T0 + 1)
    assert judge.coverage.zones[("panhe-ms", "gate")].cameras == 1
    assert not judge.coverage.zones[("panhe-ms", "gate")].dark


# ---- the school as a whole ----------------------------------------------------------------------


def test_school_is_offline_when_every_device_is_down_or_unreachable(judge: Judge) -> None:
    judge.nvr_beat(nvr(judge), T0 + 1, False, ALL_ON)
    for kind, i in [(DeviceKind.CAMERA, "cam-dg-03"), (DeviceKind.ALARM, "alarm-gate")]:
        judge.offline(dev(judge, kind, i), T0 + 2)
    assert not judge.coverage.schools["panhe-ms"].offline
    judge.offline(nvr(judge), T0 + 3)
    assert not judge.coverage.schools["panhe-ms"].offline  # the face terminal is still heard of
    found = judge.offline(dev(judge, DeviceKind.FACE, "face-gate-01"), T0 + 4)
    assert (Rule.SCHOOL_OFFLINE, "panhe-ms", True) in rules(found)


# ---- restart ------------------------------------------------------------------------------------


def key(kind: DeviceKind, i: str) -> tuple[str, DeviceKind, str]:
    return ("panhe-ms", kind, i)


@pytest.mark.parametrize(
    ("nvr_stored", "camera_stored", "camera_after"),
    [
        (Restored(State.DOWN, T0 - 600, T0 - 400), Restored(State.UNREACHABLE, T0 - 610, T0 - 400), State.UNREACHABLE),
        (Restored(State.DOWN, T0 - 600, T0 - 400), None, State.UNREACHABLE),
        (Restored(State.UP, T0 - 600, T0 - 700), Restored(State.UNREACHABLE, T0 - 610, T0 - 400), State.UNKNOWN),
        (Restored(State.UP, T0 - 30, T0 - 700), Restored(State.UNREACHABLE, T0 - 610, T0 - 400), State.UNKNOWN),
        (Restored(State.DOWN, T0 - 600, T0 - 400), Restored(State.DOWN, T0 - 900, T0 - 800), State.DOWN),
    ],
    ids=["both stored so", "camera not stored", "nvr revived never: unknown", "nvr up", "camera down stays down"],
)
def test_restart_keeps_cameras_unreachable_only_while_their_nvr_is_down(
    nvr_stored: Restored, camera_stored: Restored | None, camera_after: State
) -> None:
    judge = Judge(REGISTRY)
    saved = {key(DeviceKind.NVR, "nvr-1"): nvr_stored}
    if camera_stored is not None:
        saved[key(DeviceKind.CAMERA, "cam-dg-01")] = camera_stored
    judge.restore(saved, T0)
    assert cam(judge, "cam-dg-01").state is camera_after
    zone = judge.coverage.zones[("panhe-ms", "dorm-girls")]  # recounted from the restored states
    assert zone.unreachable == states(judge, "cam-dg-01", "cam-dg-02").count(State.UNREACHABLE)


def test_restored_unreachable_cameras_come_back_with_their_nvr(judge: Judge) -> None:
    judge = Judge(REGISTRY)
    judge.restore({key(DeviceKind.NVR, "nvr-1"): Restored(State.DOWN, T0 - 600, T0 - 400)}, T0)
    judge.link_up(T0)
    assert states(judge, *BEHIND) == [State.UNREACHABLE] * 3
    assert [j for j in judge.sweep(T0 + 1000) if j.subject in BEHIND] == []  # not judged by silence
    found = judge.nvr_beat(nvr(judge), T0 + 1001, False, ALL_ON)
    assert states(judge, *BEHIND) == [State.UP] * 3
    assert (Rule.NVR_DOWN, "nvr-1", False) in rules(found)


def test_the_judge_keeps_every_state_change_for_the_history_when_asked() -> None:
    judge = Judge(REGISTRY, keep_changes=True)
    dev = judge.liveness.devices
    nvr, cam = dev[("panhe-ms", DeviceKind.NVR, "nvr-1")], dev[("panhe-ms", DeviceKind.CAMERA, "cam-dg-01")]
    judge.link_up(T0)
    judge.nvr_beat(nvr, T0 + 1, False, ALL_ON)
    judge.offline(nvr, T0 + 5)
    changes = [(c.device.id, str(c.old), str(c.new), c.time, c.reason) for c in judge.take_changes()]
    assert changes[:2] == [("nvr-1", "unknown", "up", T0 + 1, "heartbeat"), ("cam-dg-01", "unknown", "up", T0 + 1, "heartbeat")]
    assert ("nvr-1", "up", "down", T0 + 5, "offline") in changes
    assert ("cam-dg-01", "up", "unreachable", T0 + 5, "nvr_down") in changes  # caused by the NVR: kept too
    assert judge.take_changes() == []  # taken once
    assert cam.state is State.UNREACHABLE
    quiet = Judge(REGISTRY)
    quiet.link_up(T0)
    quiet.offline(quiet.liveness.devices[("panhe-ms", DeviceKind.NVR, "nvr-1")], T0 + 1)
    assert quiet.take_changes() == []  # not asked: nothing kept

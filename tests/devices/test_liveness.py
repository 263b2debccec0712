"""Liveness on a fake clock: every time below is a literal Unix timestamp."""

from __future__ import annotations

import pytest

from devices.liveness import Change, Device, Liveness, Restored, State
from devices.model import DeviceKind, DeviceSpec, Heartbeat, Window

T0 = 1_764_000_000.0  # 2025-11-25 00:00:00 in Asia/Shanghai (2025-11-24T16:00:00Z)
HOUR = 3600.0
CAMERA_HB = Heartbeat(30.0, 3)  # timeout 90 s
GPS_HB = Heartbeat(10.0, 6)  # timeout 60 s
SERVICE = (Window(6 * 60 + 30, 8 * 60 + 30), Window(16 * 60, 18 * 60 + 30))  # 06:30-08:30, 16:00-18:30


def camera(device_id: str = "cam-1", heartbeat: Heartbeat = CAMERA_HB, school: str = "panhe-ms") -> Device:
    return Device(DeviceSpec(school, DeviceKind.CAMERA, device_id, "dorm-girls", heartbeat))


def gps(bus_id: str = "bus-023") -> Device:
    spec = DeviceSpec("panhe-ms", DeviceKind.GPS, bus_id, None, GPS_HB, "panhe-r1")
    return Device(spec, SERVICE, "Asia/Shanghai")


def started(*devices: Device, at: float = T0, connect: bool = True) -> Liveness:
    """An engine just started at `at` with nothing stored, connected to the broker at the same time."""
    engine = Liveness(devices)
    engine.restore({}, at)
    if connect:
        engine.link_up(at)
    return engine


def sweep_each_second(engine: Liveness, start: float, end: float) -> list[Change]:
    changes: list[Change] = []
    t = start
    while t <= end:
        changes.extend(engine.sweep(t))
        t += 1.0
    return changes


# ---- start ------------------------------------------------------------------------------------


def test_device_never_heard_is_unknown_until_one_timeout_after_first_connect() -> None:
    cam = camera()
    engine = started(cam, connect=False)
    engine.link_up(T0 + 5)
    assert engine.sweep(T0 + 94.9) == []
    assert cam.state is State.UNKNOWN
    [change] = engine.sweep(T0 + 95)
    assert (change.old, change.new, change.reason, change.time) == (State.UNKNOWN, State.DOWN, "silent", T0 + 95)


def test_nothing_is_judged_before_the_monitor_first_connects() -> None:
    cam = camera()
    engine = started(cam, connect=False)
    assert sweep_each_second(engine, T0, T0 + 600) == []
    assert cam.state is State.UNKNOWN


def test_first_heartbeat_brings_unknown_device_up() -> None:
    cam = camera()
    engine = started(cam)
    change = engine.beat(cam, T0 + 3)
    assert change is not None
    assert (change.old, change.new, change.reason) == (State.UNKNOWN, State.UP, "heartbeat")
    assert cam.last_seen == T0 + 3 and cam.since == T0 + 3


def test_repeated_heartbeat_is_no_change_but_updates_last_seen() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    assert engine.beat(cam, T0 + 31) is None
    assert cam.last_seen == T0 + 31
    assert cam.since == T0 + 1


# ---- silence ----------------------------------------------------------------------------------


def test_camera_silent_past_timeout_is_down() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 10)
    assert engine.sweep(T0 + 99.999) == []
    assert cam.state is State.UP
    [change] = engine.sweep(T0 + 100)
    assert (change.device, change.old, change.new, change.reason) == (cam, State.UP, State.DOWN, "silent")
    assert cam.state is State.DOWN and cam.since == T0 + 100


def test_heartbeat_before_the_deadline_postpones_it() -> None:
    cam = camera()
    engine = started(cam)
    for t in (T0 + 10, T0 + 90, T0 + 170, T0 + 250):
        engine.beat(cam, t)
        assert engine.sweep(t + 79) == []
    [change] = engine.sweep(T0 + 340)
    assert change.new is State.DOWN


@pytest.mark.parametrize(
    ("interval_s", "missed", "timeout"),
    [(30.0, 3, 90.0), (10.0, 6, 60.0), (5.0, 1, 5.0), (0.5, 4, 2.0)],
)
def test_timeout_is_interval_times_missed(interval_s: float, missed: int, timeout: float) -> None:
    cam = camera(heartbeat=Heartbeat(interval_s, missed))
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    assert engine.sweep(T0 + 1 + timeout - 0.001) == []
    assert [c.new for c in engine.sweep(T0 + 1 + timeout)] == [State.DOWN]


def test_each_device_is_judged_on_its_own_timeout() -> None:
    fast = camera("cam-fast", Heartbeat(5.0, 2))  # per-device override: 10 s
    slow = camera("cam-slow")  # the kind's default: 90 s
    engine = started(fast, slow)
    engine.beat(fast, T0 + 1)
    engine.beat(slow, T0 + 1)
    assert [c.device.id for c in engine.sweep(T0 + 11)] == ["cam-fast"]
    assert [c.device.id for c in engine.sweep(T0 + 91)] == ["cam-slow"]


@pytest.mark.parametrize("phase", [0.0, 0.25, 0.5, 0.999])
def test_device_is_judged_at_the_first_sweep_at_or_after_its_deadline(phase: float) -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 10.4)  # deadline T0 + 100.4
    changes = sweep_each_second(engine, T0 + 11 + phase, T0 + 200)
    [change] = changes
    expected = T0 + 100 + phase if phase >= 0.4 else T0 + 101 + phase
    assert change.time == pytest.approx(expected)
    assert change.time - (T0 + 100.4) < 1.0


def test_down_device_is_not_judged_again_by_later_sweeps() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    assert len(engine.sweep(T0 + 91)) == 1
    assert sweep_each_second(engine, T0 + 92, T0 + 1000) == []


# ---- status and faults ------------------------------------------------------------------------


def test_offline_marks_device_down_at_once() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    change = engine.offline(cam, T0 + 2)
    assert change is not None
    assert (change.old, change.new, change.reason, change.time) == (State.UP, State.DOWN, "offline", T0 + 2)


def test_offline_twice_is_one_change() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    assert engine.offline(cam, T0 + 2) is not None
    assert engine.offline(cam, T0 + 3) is None


def test_offline_unknown_device_goes_down_at_once() -> None:
    cam = camera()
    engine = started(cam)
    change = engine.offline(cam, T0 + 2)
    assert change is not None and (change.old, change.new) == (State.UNKNOWN, State.DOWN)


def test_next_heartbeat_after_offline_brings_device_back_and_it_is_watched_again() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    engine.offline(cam, T0 + 2)
    assert engine.sweep(T0 + 200) == []  # already down: nothing more to say
    change = engine.beat(cam, T0 + 300)
    assert change is not None and (change.old, change.new) == (State.DOWN, State.UP)
    assert engine.sweep(T0 + 389) == []
    assert [c.new for c in engine.sweep(T0 + 390)] == [State.DOWN]


def test_heartbeat_right_after_offline_keeps_the_device_watched() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    engine.offline(cam, T0 + 2)
    engine.beat(cam, T0 + 3)  # back before the old deadline popped
    assert engine.sweep(T0 + 92) == []
    assert [c.new for c in engine.sweep(T0 + 93)] == [State.DOWN]


def test_fault_heartbeat_keeps_device_alive_but_faulty() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    change = engine.beat(cam, T0 + 31, faulty=True)
    assert change is not None and (change.old, change.new, change.reason) == (State.UP, State.FAULTY, "fault")
    assert engine.sweep(T0 + 120) == []
    assert cam.state is State.FAULTY
    back = engine.beat(cam, T0 + 61)
    assert back is not None and (back.old, back.new) == (State.FAULTY, State.UP)


def test_faulty_device_that_goes_silent_is_down() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1, faulty=True)
    [change] = engine.sweep(T0 + 91)
    assert (change.old, change.new) == (State.FAULTY, State.DOWN)


def test_fault_heartbeat_revives_a_down_device_as_faulty() -> None:
    cam = camera()
    engine = started(cam)
    engine.offline(cam, T0 + 1)
    change = engine.beat(cam, T0 + 2, faulty=True)
    assert change is not None and (change.old, change.new) == (State.DOWN, State.FAULTY)


# ---- monitor blindness ------------------------------------------------------------------------


def test_no_device_is_judged_down_while_the_broker_link_is_down() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    engine.link_down(T0 + 50)
    assert sweep_each_second(engine, T0 + 50, T0 + 2000) == []
    assert cam.state is State.UP


def test_after_reconnecting_devices_get_one_full_timeout_of_grace() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    engine.link_down(T0 + 50)
    sweep_each_second(engine, T0 + 50, T0 + 500)
    engine.link_up(T0 + 500.5)
    assert sweep_each_second(engine, T0 + 501, T0 + 590) == []
    changes = sweep_each_second(engine, T0 + 591, T0 + 700)
    assert [(c.new, c.time) for c in changes] == [(State.DOWN, T0 + 591)]


def test_short_link_loss_still_gives_a_full_timeout_after_reconnecting() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)  # deadline would be T0 + 91
    engine.link_down(T0 + 80)
    engine.link_up(T0 + 85)
    assert sweep_each_second(engine, T0 + 86, T0 + 174) == []
    assert [c.time for c in engine.sweep(T0 + 175)] == [T0 + 175]


def test_device_heard_after_reconnecting_is_judged_from_its_heartbeat() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    engine.link_down(T0 + 50)
    engine.link_up(T0 + 100)
    engine.beat(cam, T0 + 150)
    assert engine.sweep(T0 + 239) == []
    assert [c.new for c in engine.sweep(T0 + 240)] == [State.DOWN]


def test_link_flapping_restarts_the_grace_each_time() -> None:
    cam = camera()
    engine = started(cam)
    for t in (T0 + 60, T0 + 120, T0 + 180):
        engine.link_down(t)
        engine.link_up(t + 1)
        assert engine.sweep(t + 59) == []
    assert engine.sweep(T0 + 270) == []
    assert [c.new for c in engine.sweep(T0 + 271)] == [State.DOWN]


# ---- restart ----------------------------------------------------------------------------------


def _restart(saved: dict[str, Restored], *devices: Device, now: float) -> Liveness:
    engine = Liveness(devices)
    by_id = {d.id: d for d in devices}
    engine.restore({by_id[i].spec.key: rec for i, rec in saved.items()}, now)
    return engine


def test_restored_down_device_stays_down_and_is_not_revived() -> None:
    cam = camera()
    engine = _restart({"cam-1": Restored(State.DOWN, T0 - 500, T0 - 400)}, cam, now=T0)
    engine.link_up(T0 + 1)
    assert cam.state is State.DOWN
    assert (cam.last_seen, cam.since) == (T0 - 500, T0 - 400)
    assert sweep_each_second(engine, T0, T0 + 300) == []
    assert cam.state is State.DOWN


def test_restored_up_device_with_time_left_keeps_its_state() -> None:
    cam = camera()
    _restart({"cam-1": Restored(State.UP, T0 - 30, T0 - 3000)}, cam, now=T0)
    assert cam.state is State.UP
    assert cam.since == T0 - 3000


def test_restored_up_device_is_judged_on_its_stored_deadline_when_that_is_later() -> None:
    # stored deadline: last_seen + 90 = T0 + 60; connected at T0 - 100 -> grace deadline T0 - 10
    cam = camera()
    engine = Liveness([cam])
    engine.link_up(T0 - 100)
    engine.restore({cam.spec.key: Restored(State.UP, T0 - 30, T0 - 3000)}, T0)
    assert engine.sweep(T0 + 59.9) == []
    assert [c.new for c in engine.sweep(T0 + 60)] == [State.DOWN]


def test_restored_up_device_is_judged_on_grace_plus_timeout_when_that_is_later() -> None:
    # stored deadline T0 + 60; the monitor connects at T0 + 20 -> grace deadline T0 + 110
    cam = camera()
    engine = _restart({"cam-1": Restored(State.UP, T0 - 30, T0 - 3000)}, cam, now=T0)
    engine.link_up(T0 + 20)
    assert sweep_each_second(engine, T0, T0 + 109) == []
    assert cam.state is State.UP
    assert [(c.old, c.new, c.time) for c in engine.sweep(T0 + 110)] == [(State.UP, State.DOWN, T0 + 110)]


def test_restored_faulty_device_with_time_left_stays_faulty() -> None:
    cam = camera()
    _restart({"cam-1": Restored(State.FAULTY, T0 - 10, T0 - 60)}, cam, now=T0)
    assert cam.state is State.FAULTY


@pytest.mark.parametrize("stored", [State.UP, State.FAULTY])
def test_restored_device_whose_deadline_passed_while_stopped_comes_back_unknown(stored: State) -> None:
    cam = camera()
    engine = _restart({"cam-1": Restored(stored, T0 - 600, T0 - 4000)}, cam, now=T0)
    assert cam.state is State.UNKNOWN  # never revived ...
    engine.link_up(T0 + 2)
    assert engine.sweep(T0 + 2) == []  # ... and never all declared down at boot
    assert sweep_each_second(engine, T0 + 3, T0 + 91) == []
    [change] = engine.sweep(T0 + 92)
    assert (change.old, change.new) == (State.UNKNOWN, State.DOWN)


def test_restart_with_many_stale_devices_declares_none_down_at_boot() -> None:
    cams = [camera(f"cam-{i}") for i in range(50)]
    engine = _restart({c.id: Restored(State.UP, T0 - 1000, T0 - 2000) for c in cams}, *cams, now=T0)
    engine.link_up(T0)
    assert sweep_each_second(engine, T0, T0 + 89) == []
    assert {c.state for c in cams} == {State.UNKNOWN}


def test_device_new_since_the_last_run_starts_unknown() -> None:
    old, new = camera("cam-old"), camera("cam-new")
    _restart({"cam-old": Restored(State.UP, T0 - 10, T0 - 100)}, old, new, now=T0)
    assert (old.state, new.state) == (State.UP, State.UNKNOWN)


def test_stored_state_of_a_device_gone_from_the_registry_is_ignored() -> None:
    cam = camera()
    engine = Liveness([cam])
    ghost = camera("cam-ghost")
    engine.restore({ghost.spec.key: Restored(State.DOWN, T0 - 10, T0 - 5)}, T0)
    assert list(engine.devices) == [cam.spec.key]


# ---- GPS units and service windows (T0 is local midnight in Asia/Shanghai) ----------------------

AT_0630 = T0 + 6.5 * HOUR
AT_0830 = T0 + 8.5 * HOUR
AT_1600 = T0 + 16 * HOUR


def test_gps_silent_outside_service_windows_is_not_judged() -> None:
    bus = gps()
    engine = started(bus)
    assert engine.sweep(T0 + 61) == []
    assert engine.sweep(T0 + 6 * HOUR) == []
    assert bus.state is State.UNKNOWN


def test_gps_is_judged_one_timeout_after_its_window_opens() -> None:
    bus = gps()
    engine = started(bus)
    assert engine.sweep(AT_0630 + 59) == []
    [change] = engine.sweep(AT_0630 + 60)
    assert (change.device, change.new, change.time) == (bus, State.DOWN, AT_0630 + 60)


def test_gps_heard_before_the_window_still_gets_a_timeout_from_the_opening() -> None:
    bus = gps()
    engine = started(bus)
    engine.beat(bus, AT_0630 - 600)
    assert engine.sweep(AT_0630 + 59) == []
    assert [c.new for c in engine.sweep(AT_0630 + 60)] == [State.DOWN]


def test_gps_silent_inside_a_window_is_down_after_its_timeout() -> None:
    bus = gps()
    engine = started(bus)
    engine.beat(bus, AT_0630 + 1800)
    assert engine.sweep(AT_0630 + 1859) == []
    assert [c.new for c in engine.sweep(AT_0630 + 1860)] == [State.DOWN]


def test_gps_whose_deadline_falls_after_the_window_closes_waits_for_the_next_window() -> None:
    bus = gps()
    engine = started(bus)
    engine.beat(bus, AT_0830 - 30)  # deadline 08:30:30, after the window closed
    assert engine.sweep(AT_0830 + 30) == []
    assert engine.sweep(AT_1600 - 1) == []
    assert engine.sweep(AT_1600 + 59) == []
    assert bus.state is State.UP
    [change] = engine.sweep(AT_1600 + 60)
    assert (change.new, change.time) == (State.DOWN, AT_1600 + 60)


def test_gps_window_ending_at_midnight_is_judged_until_midnight() -> None:
    spec = DeviceSpec("panhe-ms", DeviceKind.GPS, "bus-night", None, GPS_HB, "r")
    bus = Device(spec, (Window(22 * 60, 24 * 60),), "Asia/Shanghai")
    engine = started(bus)
    engine.beat(bus, T0 + 23.5 * HOUR)
    assert [c.new for c in engine.sweep(T0 + 23.5 * HOUR + 60)] == [State.DOWN]


# ---- cost -------------------------------------------------------------------------------------


def test_heap_holds_at_most_one_entry_per_device_after_many_heartbeats() -> None:
    cams = [camera(f"cam-{i}") for i in range(10)]
    engine = started(*cams)
    t = T0
    for i in range(10_000):
        t += 0.5
        cam = cams[i % 10]
        if i % 97 == 0:
            engine.offline(cam, t)
        else:
            engine.beat(cam, t, faulty=(i % 13 == 0))
        if i % 20 == 0:
            engine.sweep(t)
        assert len(engine._heap) <= len(cams)  # noqa: SLF001 - the cost guarantee is the point
    assert len(engine._heap) <= len(cams)  # noqa: SLF001


def test_heap_of_one_busy_device_stays_one_entry() -> None:
    cam = camera()
    engine = started(cam)
    for i in range(10_000):
        engine.beat(cam, T0 + i * 10.0)
        if i % 7 == 0:
            engine.sweep(T0 + i * 10.0)
    assert len(engine._heap) == 1  # noqa: SLF001
    assert cam.state is State.UP


def test_sweep_with_nothing_due_changes_nothing() -> None:
    cams = [camera(f"cam-{i}") for i in range(100)]
    engine = started(*cams)
    for c in cams:
        engine.beat(c, T0 + 1)
    assert engine.sweep(T0 + 2) == []
    assert engine.next_deadline() is not None and engine.next_deadline() > T0 + 2


# ---- registry changes and persistence ---------------------------------------------------------


def test_device_removed_from_the_registry_is_never_judged() -> None:
    cam = camera()
    engine = started(cam)
    engine.beat(cam, T0 + 1)
    assert engine.remove(cam.spec.key) is cam
    assert sweep_each_second(engine, T0 + 2, T0 + 200) == []
    assert cam.state is State.UP


def test_device_added_later_is_unknown_until_one_timeout_after_it_was_added() -> None:
    engine = started(camera("cam-1"))
    engine.sweep(T0 + 1000)  # cam-1, never heard, is down by now
    late = camera("cam-late")
    engine.add(late, T0 + 1000)
    assert engine.sweep(T0 + 1089) == []
    assert late.state is State.UNKNOWN
    assert [c.device for c in engine.sweep(T0 + 1090)] == [late]


def test_changed_devices_are_handed_out_once_for_persisting() -> None:
    a, b = camera("cam-a"), camera("cam-b")
    engine = started(a, b)
    engine.take_dirty()
    engine.beat(a, T0 + 1)
    engine.beat(a, T0 + 2)
    assert engine.take_dirty() == [a]
    assert engine.take_dirty() == []
    engine.offline(b, T0 + 3)
    assert engine.take_dirty() == [b]

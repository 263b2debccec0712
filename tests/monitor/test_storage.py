"""Storage on SQLite (a temporary file) and on a real PostgreSQL the tests start themselves."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from devices.events import AlarmEvent, Judgement, Rule, Severity
from devices.model import (
    Alarm,
    Bus,
    Camera,
    DeviceKind,
    Heartbeat,
    Registry,
    Route,
    School,
    SlowStretch,
    Window,
    Zone,
)
from monitor.storage import (
    Database,
    DatabaseError,
    DeviceStateRow,
    ImportResult,
    import_registry,
    latest_registry_source,
    list_judgements,
    load_device_states,
    save_device_states,
    store_alarm_event,
    store_judgements,
)
from monitor.storage.base import load_table_modules, table_module_names
from monitor.storage.db import alembic_config
from monitor.storage.tables import DeviceRecord, RegistryImportRecord, RouteRecord, ZoneRecord
from tests.integration.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.ports import free_port

CAM = Heartbeat(30.0, 3)
ALARM = Heartbeat(60.0, 3)
GPS = Heartbeat(10.0, 6)
SOURCE = "# registry v1\nschools: []\n"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/data/campus.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db(url: str) -> Iterator[Database]:
    database = Database(url)
    database.migrate()
    yield database
    database.dispose()


def district(cameras: int = 4, *, extra_zone: bool = True) -> Registry:
    zones = [Zone("dorm-girls", "女生宿舍", "dormitory", 2), Zone("canteen", "食堂", "canteen")]
    if extra_zone:
        zones.append(Zone("gate", "校门", "gate"))
    cams = tuple(Camera(f"cam-{i:02d}", "dorm-girls" if i % 2 else "canteen", CAM) for i in range(cameras))
    panhe = School("panhe-ms", "盘河中学", tuple(zones), cams, (Alarm("alarm-gate", "校门", ALARM),))
    other = School("beizha-ps", "北闸镇中心小学", (), (), (Alarm("alarm-1", "办公室", ALARM),))
    route = Route(
        "panhe-r1",
        150.0,
        60.0,
        ((103.7171, 27.3382), (103.7204, 27.3417)),
        (Window(390, 510), Window(960, 1440)),
        "Asia/Shanghai",
        (SlowStretch(100.0, 400.0, 30.0, "market"),),
    )
    bus = Bus("bus-023", "云C·12345", "panhe-ms", "panhe-r1", 19, GPS)
    return Registry((panhe, other), (route,), (bus,))


def count(db: Database, table: type) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


# ---- schema and migrations --------------------------------------------------------------------


def test_migrate_is_safe_to_repeat_and_keeps_data(db: Database) -> None:
    import_registry(db, district(), SOURCE, "/etc/campus/registry.yaml", now=1.0)
    db.migrate()
    Database(str(db.url.render_as_string(hide_password=False))).migrate()
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert db.revisions() == sorted(heads)
    assert count(db, DeviceRecord) == 7


def test_migrations_build_exactly_the_declared_tables(db: Database) -> None:
    metadata = load_table_modules()
    assert "monitor.storage.tables" in table_module_names()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_sqlite_file_gets_its_directory_wal_and_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "campus.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    with db.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    assert path.exists()
    db.dispose()


def test_database_made_on_one_thread_works_on_the_worker_thread(db: Database) -> None:
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(import_registry(db, district(), SOURCE, "r.yaml")))
    worker.start()
    worker.join()
    assert isinstance(result[0], ImportResult) and result[0].changed
    assert count(db, DeviceRecord) == 7


def test_ping_is_true_on_a_live_database(db: Database) -> None:
    assert db.ping() is True


def test_sqlite_ping_answers_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    import sqlite3
    import time

    db = Database(f"sqlite:///{tmp_path}/campus.db")
    db.migrate()
    writer = sqlite3.connect(tmp_path / "campus.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert db.ping() is True
        assert time.monotonic() - started < 1.0  # /readyz must not wait out the busy timeout
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        db.dispose()


def test_password_never_shows_in_logs_errors_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    port = _closed_port()
    db = Database(f"postgresql+psycopg://campus:s3cr3t-pw@127.0.0.1:{port}/campus?connect_timeout=2")
    with caplog.at_level(logging.DEBUG):
        assert db.ping() is False
        with pytest.raises(DatabaseError) as failure:
            db.migrate()
    assert "s3cr3t-pw" not in caplog.text
    assert "s3cr3t-pw" not in str(failure.value)
    assert "s3cr3t-pw" not in repr(db)
    assert "campus:***@127.0.0.1" in str(failure.value)
    db.dispose()


def test_plain_postgresql_url_means_psycopg() -> None:
    db = Database("postgresql://campus@127.0.0.1:1/campus")
    assert db.url.drivername == "postgresql+psycopg"
    db.dispose()


def _closed_port() -> int:
    return free_port()  # nothing listens on it


# ---- registry import --------------------------------------------------------------------------


def test_first_import_stores_the_whole_registry(db: Database) -> None:
    result = import_registry(db, district(), SOURCE, "/etc/campus/registry.yaml", now=100.0)
    # 2 schools + 3 zones + 1 route + 1 bus + 7 devices (4 cameras, 2 alarm panels, 1 GPS)
    assert result == ImportResult(changed=True, added=14, removed=0, updated=0)
    with db.session() as s:
        route = s.get_one(RouteRecord, "panhe-r1")
        zone = s.get_one(ZoneRecord, ("panhe-ms", "dorm-girls"))
        gps = s.get_one(DeviceRecord, ("panhe-ms", "gps", "bus-023"))
        cam = s.get_one(DeviceRecord, ("panhe-ms", "camera", "cam-01"))
        assert route.path == [[103.7171, 27.3382], [103.7204, 27.3417]]
        assert route.windows == ["06:30-08:30", "16:00-24:00"]
        assert route.slow_stretches == [
            {"from_m": 100.0, "to_m": 400.0, "speed_limit_kmh": 30.0, "name": "market"}
        ]
        assert (zone.name, zone.kind, zone.min_live) == ("女生宿舍", "dormitory", 2)
        assert (gps.route, gps.label, gps.interval_s, gps.missed) == ("panhe-r1", "云C·12345", 10.0, 6)
        assert (cam.zone, cam.state, cam.last_seen, cam.state_since) == ("dorm-girls", "unknown", None, None)


def test_importing_the_same_file_twice_changes_nothing(db: Database) -> None:
    import_registry(db, district(), SOURCE, "registry.yaml", now=100.0)
    save_device_states(db, [DeviceStateRow("panhe-ms", "camera", "cam-01", "up", 150.0, 120.0)])

    again = import_registry(db, district(), SOURCE, "registry.yaml", now=200.0)

    assert again == ImportResult(changed=False, added=0, removed=0, updated=0)
    assert count(db, RegistryImportRecord) == 1
    assert load_device_states(db)[("panhe-ms", DeviceKind.CAMERA, "cam-01")].last_seen == 150.0


def test_reimport_removes_adds_and_updates_but_keeps_runtime_state_of_remaining_devices(db: Database) -> None:
    import_registry(db, district(cameras=4), SOURCE, "registry.yaml", now=100.0)
    save_device_states(
        db,
        [
            DeviceStateRow("panhe-ms", "camera", "cam-00", "up", 150.0, 110.0),
            DeviceStateRow("panhe-ms", "camera", "cam-01", "down", 140.0, 145.0),
            DeviceStateRow("panhe-ms", "camera", "cam-03", "faulty", 151.0, 130.0),
        ],
    )
    old = district(cameras=4)
    panhe = old.schools[0]
    slower = dataclasses.replace(panhe.cameras[1], heartbeat=Heartbeat(60.0, 2))
    moved = dataclasses.replace(panhe.cameras[0], zone="gate")
    cams = (moved, slower, panhe.cameras[2], Camera("cam-new", None, CAM))  # cam-03 leaves
    new = dataclasses.replace(old, schools=(dataclasses.replace(panhe, cameras=cams), old.schools[1]))

    result = import_registry(db, new, SOURCE + "# v2\n", "registry.yaml", now=300.0)

    assert result == ImportResult(changed=True, added=1, removed=1, updated=2)
    states = load_device_states(db)
    assert ("panhe-ms", DeviceKind.CAMERA, "cam-03") not in states
    assert states[("panhe-ms", DeviceKind.CAMERA, "cam-new")].state == "unknown"
    assert states[("panhe-ms", DeviceKind.CAMERA, "cam-00")] == (
        "panhe-ms",
        "camera",
        "cam-00",
        "up",
        150.0,
        110.0,
    )
    assert states[("panhe-ms", DeviceKind.CAMERA, "cam-01")] == (
        "panhe-ms",
        "camera",
        "cam-01",
        "down",
        140.0,
        145.0,
    )
    with db.session() as s:
        assert s.get_one(DeviceRecord, ("panhe-ms", "camera", "cam-00")).zone == "gate"
        assert s.get_one(DeviceRecord, ("panhe-ms", "camera", "cam-01")).interval_s == 60.0
    assert latest_registry_source(db) == ("registry.yaml", SOURCE + "# v2\n")


def test_reimport_can_drop_a_zone_a_school_and_a_route_with_their_devices(db: Database) -> None:
    import_registry(db, district(), SOURCE, "registry.yaml", now=100.0)
    full = district()
    no_gate = dataclasses.replace(full.schools[0], zones=full.schools[0].zones[:2])
    smaller = Registry((no_gate,), (), ())  # beizha-ps, its alarm, the route, the bus and its GPS go

    result = import_registry(db, smaller, SOURCE + "# small\n", "registry.yaml", now=200.0)

    # removed: school beizha-ps, zone gate, route, bus, alarm-1, GPS bus-023
    assert result == ImportResult(changed=True, added=0, removed=6, updated=0)
    assert sorted(k[2] for k in load_device_states(db)) == [
        "alarm-gate",
        "cam-00",
        "cam-01",
        "cam-02",
        "cam-03",
    ]


def test_an_import_that_breaks_a_constraint_changes_nothing(db: Database) -> None:
    import_registry(db, district(), SOURCE, "registry.yaml", now=100.0)
    save_device_states(db, [DeviceStateRow("panhe-ms", "camera", "cam-01", "up", 150.0, 120.0)])
    full = district(cameras=2)
    stray = Bus("bus-999", "云C·99999", "no-such-school", "panhe-r1", 19, GPS)
    broken = dataclasses.replace(full, buses=(*full.buses, stray))

    with pytest.raises(IntegrityError):
        import_registry(db, broken, "# broken\n", "broken.yaml", now=200.0)

    assert latest_registry_source(db) == ("registry.yaml", SOURCE)
    states = load_device_states(db)
    assert len(states) == 7
    assert states[("panhe-ms", DeviceKind.CAMERA, "cam-01")].state == "up"


def test_a_registry_naming_a_device_twice_is_refused(db: Database) -> None:
    full = district(cameras=1)
    panhe = full.schools[0]
    twice = dataclasses.replace(panhe, cameras=panhe.cameras * 2)
    with pytest.raises(ValueError, match="cam-00"):
        import_registry(db, dataclasses.replace(full, schools=(twice,)), SOURCE, "r.yaml")
    assert latest_registry_source(db) is None


def test_a_new_source_with_the_same_registry_is_recorded_without_row_changes(db: Database) -> None:
    import_registry(db, district(), SOURCE, "registry.yaml", now=100.0)
    result = import_registry(db, district(), SOURCE + "# a comment\n", "registry.yaml", now=200.0)
    assert result == ImportResult(changed=True, added=0, removed=0, updated=0)
    assert latest_registry_source(db) == ("registry.yaml", SOURCE + "# a comment\n")


def test_latest_registry_source_is_none_before_any_import(db: Database) -> None:
    assert latest_registry_source(db) is None


# ---- device state -----------------------------------------------------------------------------


def big_registry(cameras: int) -> Registry:
    zone = Zone("all", "all", "other", 1)
    cams = tuple(Camera(f"cam-{i:06d}", "all", CAM) for i in range(cameras))
    return Registry((School("big", "Big school", (zone,), cams),), (), ())


def test_thousands_of_device_states_save_in_one_call_and_load_back(db: Database) -> None:
    import_registry(db, big_registry(5000), SOURCE, "r.yaml", now=1.0)
    rows = [
        DeviceStateRow(
            "big", DeviceKind.CAMERA, f"cam-{i:06d}", "up" if i % 3 else "down", 1000.0 + i, 900.0 + i / 7
        )
        for i in range(5000)
    ]
    assert save_device_states(db, rows) == 5000
    states = load_device_states(db)
    assert len(states) == 5000
    assert all(states[(r.school, DeviceKind.CAMERA, r.id)] == r for r in rows)


def test_saving_a_device_that_left_the_registry_is_skipped(db: Database) -> None:
    import_registry(db, district(), SOURCE, "r.yaml", now=1.0)
    saved = save_device_states(
        db,
        [
            DeviceStateRow("panhe-ms", "camera", "gone", "up", 5.0, 5.0),
            DeviceStateRow("panhe-ms", "alarm", "alarm-gate", "up", 6.0, 4.0),
        ],
    )
    assert saved == 2
    states = load_device_states(db)
    assert ("panhe-ms", "camera", "gone") not in states
    assert states[("panhe-ms", "alarm", "alarm-gate")].last_seen == 6.0


def test_device_states_survive_a_restart(url: str) -> None:
    first = Database(url)
    first.migrate()
    import_registry(first, district(), SOURCE, "r.yaml", now=1.0)
    save_device_states(
        first, [DeviceStateRow("panhe-ms", "gps", "bus-023", "faulty", 1764000000.25, 1763999990.5)]
    )
    first.dispose()

    second = Database(url)
    second.migrate()
    restored = load_device_states(second)[("panhe-ms", DeviceKind.GPS, "bus-023")]
    assert (restored.state, restored.last_seen, restored.state_since) == (
        "faulty",
        1764000000.25,
        1763999990.5,
    )
    assert restored.kind is DeviceKind.GPS
    second.dispose()


def test_saving_nothing_writes_nothing(db: Database) -> None:
    assert save_device_states(db, []) == 0


# ---- alarm events and judgements ------------------------------------------------------------


def press(event_id: str, device: str = "alarm-gate") -> AlarmEvent:
    return AlarmEvent("panhe-ms", device, event_id, "press", 1764000000.5, 1764000001.0)


def test_an_alarm_event_is_stored_once_per_event_id(db: Database) -> None:
    assert store_alarm_event(db, press("e-1")) is True
    assert store_alarm_event(db, press("e-1")) is False
    assert store_alarm_event(db, press("e-2")) is True
    assert store_alarm_event(db, press("e-1", device="alarm-2")) is True  # ids are per panel
    with db.begin() as conn:
        rows = conn.execute(
            text("SELECT device, event_id, type, ts, received FROM alarm_events ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("alarm-gate", "e-1", "press", 1764000000.5, 1764000001.0),
        ("alarm-gate", "e-2", "press", 1764000000.5, 1764000001.0),
        ("alarm-2", "e-1", "press", 1764000000.5, 1764000001.0),
    ]


def test_racing_stores_of_one_alarm_event_store_it_once(url: str) -> None:
    handles = [Database(url) for _ in range(4)]
    handles[0].migrate()
    barrier = threading.Barrier(len(handles))
    outcomes: list[bool] = []
    lock = threading.Lock()

    def store(db: Database) -> None:
        barrier.wait()
        new = store_alarm_event(db, press("race-1"))
        with lock:
            outcomes.append(new)

    threads = [threading.Thread(target=store, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [False, False, False, True]
    for h in handles:
        h.dispose()


def judgement(t: float, rule: Rule = Rule.CAMERA_DOWN, active: bool = True, **kw: object) -> Judgement:
    return Judgement(t, rule, Severity.CRITICAL, "panhe-ms", kw.pop("subject", "cam-01"), active, **kw)  # type: ignore[arg-type]


def test_judgements_are_stored_and_listed_in_time_order(db: Database) -> None:
    items = [
        judgement(100.0, zone="dorm-girls", detail={"reason": "silent", "last_seen": 10.5}),
        judgement(
            105.0, Rule.ZONE_DARK, subject="dorm-girls", zone="dorm-girls", detail={"live": 1, "min_live": 2}
        ),
        judgement(110.0, active=False, zone="dorm-girls"),
        judgement(120.0, Rule.SCHOOL_OFFLINE, subject="panhe-ms"),
    ]
    store_judgements(db, items[:2])
    store_judgements(db, items[2:])
    store_judgements(db, [])

    assert list_judgements(db, limit=100) == items
    assert list_judgements(db, limit=2) == items[2:]  # the newest two, oldest first
    assert list_judgements(db, since=105.0, limit=2) == items[1:3]
    assert list_judgements(db, since=121.0, limit=10) == []
    stored = list_judgements(db, limit=1)[0]
    assert stored.rule is Rule.SCHOOL_OFFLINE and stored.severity is Severity.CRITICAL and stored.zone is None


def test_a_device_given_twice_in_one_batch_keeps_its_last_row(db: Database) -> None:
    import_registry(db, district(), SOURCE, "r.yaml", now=1.0)
    saved = save_device_states(
        db,
        [
            DeviceStateRow("panhe-ms", "camera", "cam-02", "up", 5.0, 1.0),
            DeviceStateRow("panhe-ms", DeviceKind.CAMERA, "cam-02", "down", 5.0, 99.0),
        ],
    )
    assert saved == 1
    assert load_device_states(db)[("panhe-ms", DeviceKind.CAMERA, "cam-02")][3:] == ("down", 5.0, 99.0)


# ---- restart: the liveness engine's state through the database ---------------------------------


def test_after_a_restart_live_devices_keep_their_time_and_none_is_revived_or_declared_down(url: str) -> None:
    from devices.liveness import Device, Liveness, Restored, State

    reg = district(cameras=3)
    specs = [d for d in reg.devices() if d.kind is DeviceKind.CAMERA]  # timeout 90 s each
    before = Database(url)
    before.migrate()
    import_registry(before, reg, SOURCE, "r.yaml", now=0.0)

    def persist(engine: Liveness) -> None:
        rows = [
            DeviceStateRow(d.school, d.kind, d.id, str(d.state), d.last_seen, d.since)
            for d in engine.take_dirty()
        ]
        save_device_states(before, rows)

    engine = Liveness(Device(s) for s in specs)
    engine.link_up(1000.0)
    a, b, c = (engine.devices[s.key] for s in specs)
    for dev in (a, b, c):
        engine.beat(dev, 1000.0)
    engine.offline(c, 1001.0)
    persist(engine)
    engine.beat(a, 1080.0)
    persist(engine)
    engine.beat(b, 1100.0)  # heard after the last save: lost in the crash
    before.dispose()

    after = Database(url)
    after.migrate()
    saved = load_device_states(after)
    restarted = Liveness(Device(s) for s in specs)
    restarted.restore(
        {k: Restored(State(r.state), r.last_seen, r.state_since) for k, r in saved.items()}, 1120.0
    )
    a2, b2, c2 = (restarted.devices[s.key] for s in specs)

    assert (a2.state, a2.last_seen) == (State.UP, 1080.0)  # 50 s left of its 90 s: still up
    assert (b2.state, b2.last_seen) == (State.UNKNOWN, 1000.0)  # deadline 1090 passed while stopped
    assert c2.state is State.DOWN
    assert restarted.sweep(1120.0) == []  # nobody declared down at boot
    after.dispose()

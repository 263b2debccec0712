"""How long one batch of device states takes to save, on SQLite and on PostgreSQL.

    python bench/storage.py                 # 10,000 and 200,000 rows, SQLite and a throwaway PostgreSQL
    python bench/storage.py --sizes 50000 --backends sqlite
    python bench/storage.py --postgres-url postgresql+psycopg://user@host/db   # an existing server

Each figure is one `save_device_states` call (one transaction) updating every registered device, the
worst case of the app's periodic save; the best of `--repeat` runs is printed next to the median. The
throwaway PostgreSQL runs with fsync on (durable), like a real one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devices.model import Camera, DeviceKind, Heartbeat, Registry, School, Zone  # noqa: E402
from monitor.storage import (  # noqa: E402
    Database,
    DeviceStateRow,
    import_registry,
    load_device_states,
    save_device_states,
)

PER_SCHOOL = 200


def registry(devices: int) -> Registry:
    beat = Heartbeat(30.0, 3)
    schools = []
    for s in range(0, devices, PER_SCHOOL):
        school = f"school-{s // PER_SCHOOL:05d}"
        cams = tuple(Camera(f"cam-{i:04d}", "z", beat) for i in range(min(PER_SCHOOL, devices - s)))
        schools.append(School(school, school, (Zone("z", "z", "other"),), cams))
    return Registry(tuple(schools), (), ())


def rows(reg: Registry, t: float) -> list[DeviceStateRow]:
    return [
        DeviceStateRow(s.id, DeviceKind.CAMERA, c.id, "up", t + i * 1e-3, t - 60.0)
        for s in reg.schools
        for i, c in enumerate(s.cameras)
    ]


def bench(url: str, devices: int, repeat: int) -> dict[str, float]:
    db = Database(url)
    db.migrate()
    reg = registry(devices)
    t0 = time.perf_counter()
    import_registry(db, reg, f"# bench {devices}\n", "bench.yaml")
    imported = time.perf_counter() - t0
    times = []
    for n in range(repeat):
        batch = rows(reg, 1.764e9 + n)
        t0 = time.perf_counter()
        save_device_states(db, batch)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    loaded = load_device_states(db)
    load = time.perf_counter() - t0
    assert len(loaded) == devices
    db.dispose()
    return {"import": imported, "best": min(times), "median": statistics.median(times), "load": load}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--postgres-url", help="use this PostgreSQL (a fresh database) instead of a throwaway one"
    )
    args = parser.parse_args(argv)

    server = None
    print(
        f"{'backend':<11} {'rows':>8} {'save best':>10} {'median':>8} {'rows/s':>9} {'import':>8} {'load':>7}"
    )
    try:
        for backend in args.backends:
            for size in args.sizes:
                if backend == "sqlite":
                    tmp = tempfile.mkdtemp(prefix="campus-bench-")
                    url = f"sqlite:///{tmp}/bench.db"
                elif args.postgres_url:
                    url = args.postgres_url
                else:
                    if server is None:
                        from tests.integration.postgres import PostgresServer, find_bindir

                        server = PostgresServer(find_bindir(), durable=True).start()
                    url = server.create_database("bench")
                r = bench(url, size, args.repeat)
                print(
                    f"{backend:<11} {size:>8,} {r['best']:>9.3f}s {r['median']:>7.3f}s {size / r['best']:>9,.0f}"
                    f" {r['import']:>7.2f}s {r['load']:>6.2f}s",
                    flush=True,
                )
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

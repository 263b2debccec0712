"""How long the inspection report takes for a month of a 200-school district, from a stored history.

    python bench/report.py                       # 200 schools x 30 cameras, alarm, bus; 30 days; SQLite
    python bench/report.py --schools 50 --days 7
    python bench/report.py --postgres-url postgresql+psycopg://user@host/db   # an existing, empty database

The history is filled first (not timed): every device up at the start, each camera with `--outages`
outages a day on average (down then up), the monitor stopped and started once a day (every device
`unknown` at stop, its state again at start), a ticket, an alarm press and a keeper entry a day per
school. Then the whole report is timed: reading the rows (`read_report`), computing the figures
(`alerts.inspection`), and each answer: JSON (orjson), CSV, and the printable page (Jinja2). The best of
`--repeat` runs is printed with the CPU model.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jinja2  # noqa: E402
import orjson  # noqa: E402
from _common import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)

from alerts.inspection import ReportDevice, ReportSchool, as_csv, inspection, period  # noqa: E402
from devices.model import Alarm, Bus, Camera, DeviceKind, Heartbeat, Registry, Route, School, Zone  # noqa: E402
from monitor.http.pages import HERE  # noqa: E402
from monitor.http.pages.records import WORDS, duration  # noqa: E402
from monitor.storage.db import Database  # noqa: E402
from monitor.storage.history_store import HISTORY, HistoryRow  # noqa: E402
from monitor.storage.history_tables import WatchLogRecord  # noqa: E402
from monitor.storage.registry_store import import_registry  # noqa: E402
from monitor.storage.report_store import read_report  # noqa: E402
from monitor.storage.tables import AlarmEventRecord  # noqa: E402
from monitor.storage.ticket_tables import TicketRecord  # noqa: E402

DAY = 86400.0


def district(schools: int, cameras: int) -> Registry:
    beat = Heartbeat(30.0, 3)
    out, buses = [], []
    for n in range(schools):
        sid = f"school-{n:03d}"
        zones = (Zone("dorm-girls", "女生宿舍", "dormitory", 2), Zone("dorm-boys", "男生宿舍", "dormitory", 2),
                 Zone("canteen", "食堂", "canteen"))
        cams = tuple(Camera(f"cam-{i:02d}", zones[i % 3].id, beat, location=f"{zones[i % 3].name}{i}号")
                     for i in range(cameras))
        out.append(School(sid, f"学校{n:03d}", zones, cams, (Alarm("alarm-gate", "校门", beat),), keeper="王老师"))
        buses.append(Bus(f"bus-{n:03d}", f"云C·{n:05d}", sid, "r1", 19, Heartbeat(10.0, 6)))
    route = Route("r1", 150.0, 60.0, ((103.7171, 27.3382), (103.7204, 27.3417)))
    return Registry(tuple(out), (route,), tuple(buses))


def fill(db: Database, reg: Registry, start: float, days: int, outages: float, rng: random.Random) -> int:
    rows: list[HistoryRow] = []
    devices = [(spec.school, str(spec.kind), spec.id) for spec in reg.devices()]
    for d in range(days):
        day0 = start + d * DAY
        for school, kind, dev in devices:
            rows.append(HistoryRow(day0 + 60, school, kind, dev, "up", "monitor_start"))
            if kind == str(DeviceKind.CAMERA):
                for _ in range(int(outages) + (rng.random() < outages % 1)):
                    t = day0 + rng.uniform(600, DAY - 7200)
                    rows.append(HistoryRow(t, school, kind, dev, "down", "silent"))
                    rows.append(HistoryRow(t + rng.uniform(60, 3600), school, kind, dev, "up", "heartbeat"))
            rows.append(HistoryRow(day0 + DAY - 30, school, kind, dev, "unknown", "monitor_stop"))
    rows.sort(key=lambda r: r.time)
    with db.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(HISTORY.insert(), [r._asdict() for r in rows[i:i + 5000]])
    with db.session() as s:
        for school in reg.schools:
            for d in range(days):
                t = start + d * DAY + 3600
                s.add(TicketRecord(id=f"t-{school.id}-{d}", school=school.id, kind="camera", device="cam-00",
                                   zone="dorm-girls", status="closed", opened_at=t, updated_at=t + 7200,
                                   opened_by="system", down_since=t - 600, resolved_at=t + 3600, closed_at=t + 7200))
                s.add(AlarmEventRecord(school=school.id, device="alarm-gate", event_id=f"p-{d}", type="press",
                                       ts=t, received=t))
                s.add(WatchLogRecord(school=school.id, at=t, author="王老师", token_id=None, zones=["dorm-girls"],
                                     note="巡查", via="page"))
    return len(rows)


def page_renderer() -> Callable[[dict[str, Any], list[School]], str]:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined)
    template = env.get_template("report.html")

    def render(report: dict[str, Any], schools: list[School]) -> str:
        return template.render(
            report=report, w=lambda k: WORDS.get(k, (k, k))[0], t=lambda k: k, duration=duration, choices=schools,
            school="", first=report["from"], last=report["to"], lang="zh", static=lambda n: f"/static/{n}",
            request_path_lang=lambda code: "?lang=" + code, principal=type("P", (), {"role": "bureau"})(),
            zone_names={(s.id, z.id): z.name for s in schools for z in s.zones},
        )

    return render


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--schools", type=int, default=200)
    ap.add_argument("--cameras", type=int, default=30)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--outages", type=float, default=0.5, help="outages a camera has a day, on average")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--postgres-url", default=None)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres_url or f"sqlite:///{tmp}/bench.db"
        db = Database(url)
        db.migrate()
        reg = district(args.schools, args.cameras)
        import_registry(db, reg, "# bench\n", "bench.yaml")
        first = date(2026, 11, 1)
        last = first + timedelta(days=args.days - 1)
        start, end = period(first, last)
        t0 = time.perf_counter()
        n = fill(db, reg, start, args.days, args.outages, random.Random(14))
        print(f"CPU: {cpu_model()}; database: {db.dialect}")
        print(f"history: {n:,} state changes of {sum(1 for _ in reg.devices()):,} devices in {args.schools} schools, "
              f"{args.days} days (filled in {time.perf_counter() - t0:.1f} s, not timed)")
        plates = {b.id: b.plate for b in reg.buses}
        subjects = [ReportSchool(s.id, s.name, s.keeper, ("dorm-girls", "dorm-boys"), tuple(
            ReportDevice(str(spec.kind), spec.id, spec.zone, plates.get(spec.id, spec.location))
            for spec in reg.devices() if spec.school == s.id)) for s in reg.schools]
        render = page_renderer()
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            marks = [time.perf_counter()]
            rows = read_report(db, [s.id for s in reg.schools], start, end)
            marks.append(time.perf_counter())
            report = inspection(subjects, rows, first, last, end + 3600)
            marks.append(time.perf_counter())
            body = orjson.dumps(report)
            marks.append(time.perf_counter())
            text = as_csv(report)
            marks.append(time.perf_counter())
            html = render(report, list(reg.schools))
            marks.append(time.perf_counter())
            for name, a, b in zip(("read rows", "figures", "JSON", "CSV", "page"), marks, marks[1:], strict=False):
                best[name] = min(best.get(name, 1e9), b - a)
            best["JSON answer (read + figures + JSON)"] = min(best.get("JSON answer (read + figures + JSON)", 1e9),
                                                              marks[3] - marks[0])
            best["page (read + figures + page)"] = min(best.get("page (read + figures + page)", 1e9),
                                                       (marks[2] - marks[0]) + (marks[5] - marks[4]))
        for name, seconds in best.items():
            print(f"  {name:38s} {seconds:7.3f} s (best of {args.repeat})")
        print(f"sizes: JSON {len(body) / 1e6:.1f} MB, CSV {len(text) / 1e6:.1f} MB, page {len(html) / 1e6:.1f} MB")
        db.dispose()


if __name__ == "__main__":
    main()

"""bench/faults: presses lost and press-to-webhook delays for each fault of issue 10 (contract §4).

    python bench/faults.py [--presses 200] [--outage-s 60] [--flood-s 10] [--only normal,flood,...]

Real processes throughout: a Mosquitto and (for `pg-outage`) a PostgreSQL of its own, the monitor as a
child process (`python -m monitor.cli run`), a webhook receiver on its own thread. Each scenario
presses `--presses` times (event ids unique) and prints presses sent, presses lost (no alert at the
webhook), presses doubled (two alerts for one press, or one alert in two messages), messages resent
under the same Idempotency-Key (allowed), and the delay from publish to webhook (p50 / p99 / max). Each
press is matched by its event_id (the service's database names each alert's event), never by arrival
order: a press lost or overtaken would shift every later pairing.

- normal:         one press at a time, each after the last one arrived, nothing else going on
                  (contract: p99 100 ms)
- rate:           presses at 20/s whatever happens: more than the service clears on a loaded machine,
                  the delays then grow with the queue (a figure of throughput, not of latency)
- flood:          one press at a time while another process floods heartbeats as fast as it can
                  (contract: p99 500 ms)
- kill9:          the monitor killed (SIGKILL) halfway through, started again (contract: within 20 s of
                  the restart); delays of the presses after the kill are counted from the restart
- pg-outage:      PostgreSQL stopped for `--outage-s` (contract scenario: 60 s) while pressing; delays
                  counted from its return
- receiver-down:  the webhook answers 503 for 10 s while pressing (contract: within 10 s of recovery;
                  the outbox's backoff is issue 13's); delays counted from its return

Why the first figures were implausible (p50 1.5 s "normal"): its "normal" pressed at 20/s whatever
happened, faster than the service cleared presses on a loaded 2-core machine (each press is three
synchronous SQLite transactions: event+alert+outbox, the batch's key, sent), so the queue, not the
press, was measured; and presses were paired with arrivals by rank, so one lost press would have
shifted every later figure. Now "normal" presses one at a time and each press is found by event_id.

Run of 2026-11-30, AMD EPYC (2 cores shared with four other engineers' work; `uptime` load average
3.2 before, 4.4 after), `python bench/faults.py --presses 100 --outage-s 20`:

    normal         sent 100  lost 0  doubled 0  resent 0  p50   14.5 ms  p99   71.1 ms  max   71.1 ms
    rate           sent 100  lost 0  doubled 0  resent 0  p50   24.1 ms  p99  109.8 ms  max  109.8 ms
    flood          sent 100  lost 0  doubled 0  resent 0  p50  230.1 ms  p99  972.6 ms  max  972.6 ms
                   (1,006,656 heartbeats in 27.1 s from another process)
    kill9          sent 100  lost 0  doubled 0  resent 0  p50 2914.7 ms  p99 4716.2 ms  (from the restart)
    pg-outage      sent 100  lost 0  doubled 0  resent 0  p50 1731.6 ms  p99 3713.3 ms  (from PostgreSQL's return)
    receiver-down  sent 100  lost 0  doubled 0  resent 0  p50 4079.1 ms  p99 4616.4 ms  (from the receiver's return)

Against contract §4 on this loaded machine: normal p99 71 ms (limit 100 ms); the flood p99 973 ms is
over its 500 ms; kill -9 within 20 s; receiver-down within 10 s only because this outage (about 8 s)
kept the outbox's backoff short (a longer one: tests/integration/test_faults.py, xfail, issue 13).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import cpu_model, pct  # noqa: E402  (bench/ is on sys.path when run as a script)

from tests.integration.faults import Flooder, Panel, Service, Webhook, press_alerts, wait_until  # noqa: E402
from tests.integration.mosquitto import run_mosquitto  # noqa: E402
from tests.integration.postgres import PostgresServer, find_bindir  # noqa: E402

NODELAY = "set_tcp_nodelay true\nmax_queued_messages 100000\nmax_inflight_messages 100\n"


def report(name: str, panel: Panel, hook: Webhook, db_url: str, fault: tuple[float, float] | None = None) -> None:
    """One line per scenario. Each press is found by its event_id: the webhook names the alert, the
    service's database names the alert's event. Its delay is its alert's first arrival minus its publish,
    or minus the fault's end for a press not delivered before the fault began (`fault` = (start, end))."""
    event_of = press_alerts(db_url)
    arrivals = hook.presses()  # alert id -> first arrival
    keys = hook.firing_keys()
    alerts_of: dict[str, list[str]] = {}
    for alert_id in arrivals:
        alerts_of.setdefault(event_of.get(alert_id, "?" + alert_id), []).append(alert_id)
    lost = [eid for eid in panel.sent if eid not in alerts_of]
    doubled = sum(len(ids) - 1 for eid, ids in alerts_of.items() if eid in panel.sent)
    doubled += sum(len(keys[a]) - 1 for ids in alerts_of.values() for a in ids)  # one alert in two messages
    strays = sorted(eid for eid in alerts_of if eid not in panel.sent)  # alerts of no press we made
    delays = []
    for eid, at in panel.sent.items():
        if eid not in alerts_of:
            continue
        got = min(arrivals[a] for a in alerts_of[eid])
        start = at
        if fault is not None and got > fault[0]:
            start = max(at, fault[1])
        delays.append((got - start) * 1000)
    delays.sort()
    if delays:
        figures = (f"p50 {statistics.median(delays):8.1f} ms  p99 {pct(delays, 0.99):8.1f} ms  "
                   f"max {delays[-1]:8.1f} ms")
    else:
        figures = "no deliveries"
    extra = f"  strays {len(strays)}" if strays else ""
    print(f"{name:14s} sent {len(panel.sent):5d}  lost {len(lost):4d}  doubled {doubled:3d}  "
          f"resent (same key) {hook.duplicate_keys():3d}  {figures}{extra}", flush=True)


def press_all(panel: Panel, n: int, pace_s: float, during: Callable[[int], None] | None = None) -> None:
    for i in range(n):
        panel.press(f"p-{i}-{time.monotonic_ns()}", "alarm-gate" if i % 2 else "alarm-dorm")
        if during is not None:
            during(i)
        time.sleep(pace_s)  # the pace of the presses


def press_one_by_one(panel: Panel, hook: Webhook, n: int, timeout_s: float = 30.0) -> None:
    """Press, wait (at most `timeout_s`) for that press's alert at the webhook, press again."""
    for i in range(n):
        panel.press(f"p-{i}-{time.monotonic_ns()}", "alarm-gate" if i % 2 else "alarm-dorm")
        with contextlib.suppress(AssertionError):  # reported as lost
            wait_until(lambda i=i: len(hook.presses()) > i, timeout_s, "the press at the webhook", step=0.002)


def scenario(name: str, tmp: Path, db_url: str, presses: int, args: argparse.Namespace,
             pg: PostgresServer | None = None) -> None:
    hook = Webhook().start()
    with run_mosquitto(tmp / f"mosquitto-{name}", NODELAY) as port:
        svc = Service(tmp.joinpath(name), port, db_url, hook.url) if tmp.joinpath(name).mkdir() is None else None
        assert svc is not None
        svc.start()
        panel = Panel(port, f"bench-panel-{name}")
        try:
            wait_until(svc.ready, 60, "monitor ready")
            fault: tuple[float, float] | None = None
            if name == "normal":
                press_one_by_one(panel, hook, presses)
            elif name == "rate":  # presses at 20/s whether or not the last one arrived
                press_all(panel, presses, 0.05)
            elif name == "flood":
                flooder = Flooder(port, [f"campus/panhe-ms/camera/{cam}/heartbeat" for cam in ("cam-dg-01", "cam-dg-02")])
                time.sleep(1.0)  # let the flood build up before the first press
                flood_start = time.time()
                press_one_by_one(panel, hook, presses)
                flooded = flooder.stop()
                print(f"{'':14s} flood: {flooded} heartbeats in {time.time() - flood_start + 1:.1f} s", flush=True)
            elif name == "kill9":
                killed: list[float] = []

                def kill(i: int) -> None:
                    if i == presses // 2:
                        svc.kill()
                        killed.append(time.time())

                press_all(panel, presses, 0.02, kill)
                svc.start()
                restarted = time.time()
                fault = (killed[0], restarted)
            elif name == "pg-outage":
                assert pg is not None
                outage: list[float] = []

                def halt(i: int) -> None:
                    if i == presses // 4:
                        pg.halt()
                        outage.append(time.time())

                press_all(panel, presses, args.outage_s / presses, halt)
                pg.resume()
                back = time.time()
                fault = (outage[0], back)
            elif name == "receiver-down":
                down_at: list[float] = []

                def down(i: int) -> None:
                    if i == presses // 4:
                        hook.up = False
                        down_at.append(time.time())

                press_all(panel, presses, 10.0 / presses, down)
                hook.up = True
                back = time.time()
                fault = (down_at[0], back)
            try:
                wait_until(lambda: len(hook.presses()) >= len(panel.sent), 120, "every press delivered")
            except AssertionError:
                pass  # reported as lost
            report(name, panel, hook, db_url, fault)
        finally:
            panel.close()
            svc.stop()
            hook.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presses", type=int, default=200)
    p.add_argument("--outage-s", type=float, default=60.0)
    p.add_argument("--only", default="normal,rate,flood,kill9,pg-outage,receiver-down")
    args = p.parse_args()
    print(f"bench/faults on {cpu_model()}; {args.presses} presses per scenario", flush=True)
    with tempfile.TemporaryDirectory(prefix="campus-faults-") as d:
        tmp = Path(d)
        for name in args.only.split(","):
            if name == "pg-outage":
                pg = PostgresServer(find_bindir(), durable=True).start()
                try:
                    scenario(name, tmp, pg.create_database("faults"), args.presses, args, pg)
                finally:
                    pg.stop()
            else:
                scenario(name, tmp, f"sqlite:///{tmp / (name + '.db')}", args.presses, args)


if __name__ == "__main__":
    main()

"""bench/faults: presses lost and press-to-webhook delays for each fault of issue 10 (contract §4).

    python bench/faults.py [--presses 200] [--outage-s 60] [--flood-s 10] [--only normal,flood,...]

Real processes throughout: a Mosquitto and (for `pg-outage`) a PostgreSQL of its own, the monitor as a
child process (`python -m monitor.cli run`), a webhook receiver on its own thread. Each scenario
presses `--presses` times (event ids unique) and prints presses sent, presses lost (no alert at the
webhook), alerts sent twice, and the delay from publish to webhook (p50 / p99 / max):

- normal:         presses one by one, nothing else going on (contract: p99 100 ms)
- flood:          while another client floods heartbeats as fast as it can (contract: p99 500 ms)
- kill9:          the monitor killed (SIGKILL) halfway through, started again (contract: within 20 s of
                  the restart); delays of the presses after the kill are counted from the restart
- pg-outage:      PostgreSQL stopped for `--outage-s` (contract scenario: 60 s) while pressing; delays
                  counted from its return
- receiver-down:  the webhook answers 503 for 10 s while pressing (contract: within 10 s of recovery;
                  the outbox's backoff is issue 13's); delays counted from its return
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.faults import Panel, Service, Webhook, wait_until  # noqa: E402
from tests.integration.mosquitto import run_mosquitto  # noqa: E402
from tests.integration.postgres import PostgresServer, find_bindir  # noqa: E402

NODELAY = "set_tcp_nodelay true\nmax_queued_messages 100000\nmax_inflight_messages 100\n"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def report(name: str, panel: Panel, hook: Webhook, since: dict[str, float] | None = None) -> None:
    """One line per scenario. Delays are per press: arrival of its alert minus its publish (or minus
    the fault's end, for presses published while it lasted)."""
    arrivals = sorted(hook.presses().values())
    sent = sorted(panel.sent.items(), key=lambda kv: kv[1])
    lost = len(sent) - len(arrivals)
    # presses are published in order and alerted in order: pair the n-th sent with the n-th arrival
    delays = []
    for (eid, at), got in zip(sent, arrivals, strict=False):
        start = max(at, (since or {}).get(eid, at))
        delays.append((got - start) * 1000)
    delays.sort()
    if delays:
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        figures = f"p50 {statistics.median(delays):8.1f} ms  p99 {p99:8.1f} ms  max {delays[-1]:8.1f} ms"
    else:
        figures = "no deliveries"
    print(f"{name:14s} sent {len(sent):5d}  lost {lost:4d}  sent twice {hook.duplicate_keys():3d}  {figures}",
          flush=True)


def press_all(panel: Panel, n: int, pace_s: float, during: Callable[[int], None] | None = None) -> None:
    for i in range(n):
        panel.press(f"p-{i}-{time.monotonic_ns()}", "alarm-gate" if i % 2 else "alarm-dorm")
        if during is not None:
            during(i)
        time.sleep(pace_s)  # the pace of the presses


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
            since: dict[str, float] = {}
            if name == "normal":
                press_all(panel, presses, 0.05)
            elif name == "flood":
                stop = threading.Event()
                flooder = Panel(port, "bench-flooder")

                def flood() -> None:
                    body = b'{"ts": %f, "status": "ok"}' % time.time()
                    while not stop.is_set():
                        for cam in ("cam-dg-01", "cam-dg-02"):
                            flooder.publish(f"campus/panhe-ms/camera/{cam}/heartbeat", body)

                t = threading.Thread(target=flood, daemon=True)
                t.start()
                time.sleep(1.0)  # let the flood build up before the first press
                press_all(panel, presses, 0.05)
                stop.set()
                t.join()
                flooder.close()
            elif name == "kill9":
                killed: list[float] = []

                def kill(i: int) -> None:
                    if i == presses // 2:
                        svc.kill()
                        killed.append(time.time())

                press_all(panel, presses, 0.02, kill)
                svc.start()
                restarted = time.time()
                since = {eid: restarted for eid, at in panel.sent.items() if at >= killed[0]}
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
                since = {eid: back for eid, at in panel.sent.items() if at >= outage[0]}
            elif name == "receiver-down":
                down_at: list[float] = []

                def down(i: int) -> None:
                    if i == presses // 4:
                        hook.up = False
                        down_at.append(time.time())

                press_all(panel, presses, 10.0 / presses, down)
                hook.up = True
                back = time.time()
                since = {eid: back for eid, at in panel.sent.items() if at >= down_at[0]}
            try:
                wait_until(lambda: len(hook.presses()) >= len(panel.sent), 120, "every press delivered")
            except AssertionError:
                pass  # reported as lost
            report(name, panel, hook, since)
        finally:
            panel.close()
            svc.stop()
            hook.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presses", type=int, default=200)
    p.add_argument("--outage-s", type=float, default=60.0)
    p.add_argument("--only", default="normal,flood,kill9,pg-outage,receiver-down")
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

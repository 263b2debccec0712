"""`campus-monitor`: run, demo, simulate, registry, token and broker-config commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from devices.registry import RegistryError
from monitor.config import Config, ConfigError, load_config
from monitor.http.errors import CannotListen
from monitor.registry_file import load_registry
from monitor.tasks import stop_on_signals

if TYPE_CHECKING:
    from monitor.app import App

log = logging.getLogger("campus-monitor")


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _fail(message: str, code: int = 2) -> int:
    print(f"campus-monitor: {message}", file=sys.stderr)
    return code


# ---- run -------------------------------------------------------------------------------------------


async def _serve(app: App) -> None:
    stop = stop_on_signals()
    try:
        await app.start()
    except CannotListen:
        await app.stop()  # what did start stops again
        raise
    try:
        await stop.wait()
    finally:
        await app.stop()


def cmd_run(args: argparse.Namespace) -> int:
    from alerts.routing import ReceiverConfigError
    from monitor.app import App
    from monitor.registry_loader import STORED, load_in_child
    from monitor.storage.db import DatabaseError

    try:
        cfg = load_config(args.config)
        if args.config and not Path(args.config).exists():
            log.warning("config file %s does not exist: running on the defaults", args.config)
        # parsed and imported in a child process: the parse's peak never stays in this one's RSS
        registry, imported = load_in_child(args.registry or STORED, cfg.database.url)
        if imported:
            log.info("registry %s: %s", args.registry, imported)
        source: tuple[str, str] | None = None
    except RuntimeError as exc:
        return _fail(str(exc))
    except (ConfigError, RegistryError, DatabaseError) as exc:
        return _fail(str(exc))
    if args.listen:
        cfg = _with(cfg, "http", listen=args.listen)
    try:
        app = App(cfg, registry, source)
    except ReceiverConfigError as exc:
        return _fail(f"{cfg.source}: {exc}")
    try:
        asyncio.run(_serve(app))
    except (DatabaseError, CannotListen) as exc:
        return _fail(str(exc))
    return 0


def _with(cfg: Config, section: str, **changes: object) -> Config:
    from dataclasses import replace

    return replace(cfg, **{section: replace(getattr(cfg, section), **changes)})


# ---- demo ------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.tools.demo import run_demo

    try:
        return asyncio.run(run_demo(args))
    except KeyboardInterrupt:
        return 0
    except CannotListen as exc:
        return _fail(str(exc))


# ---- registry --------------------------------------------------------------------------------------


def cmd_registry_validate(args: argparse.Namespace) -> int:
    try:
        reg = load_registry(args.file)
    except RegistryError as exc:
        return _fail(str(exc), 1)
    n = sum(1 for _ in reg.devices())
    print(f"{args.file}: valid: {len(reg.schools)} schools, {len(reg.routes)} routes, {len(reg.buses)} buses, {n} devices")
    return 0


def cmd_registry_import(args: argparse.Namespace) -> int:
    from monitor.storage.db import Database
    from monitor.storage.registry_store import import_registry

    try:
        cfg = load_config(args.config)
        reg = load_registry(args.file)
    except (ConfigError, RegistryError) as exc:
        return _fail(str(exc), 1)
    from monitor.storage.db import DatabaseError

    try:
        db = Database(cfg.database.url)
        db.migrate()
    except DatabaseError as exc:
        return _fail(str(exc), 1)
    try:
        result = import_registry(db, reg, Path(args.file).read_text(encoding="utf-8"), str(Path(args.file).resolve()))
    finally:
        db.dispose()
    print(f"{args.file}: {'imported' if result.changed else 'unchanged'}: {result}")
    return 0


def cmd_registry_import_gtfs(args: argparse.Namespace) -> int:
    """A registry `routes:` snippet from a GTFS feed's route and shape, printed or written to `-o FILE`."""
    import yaml

    from devices.gtfs import GtfsError, route_from_gtfs, route_to_registry
    from devices.registry import _window

    try:
        windows = tuple(_window(w) for w in args.window or ())
    except ValueError as exc:
        return _fail(f"--window: {exc}", 1)
    if not args.corridor_m > 0 or not args.speed_limit_kmh > 0:
        return _fail("--corridor-m and --speed-limit-kmh must be positive", 1)
    try:
        route = route_from_gtfs(Path(args.feed_dir), args.route, args.shape, id=args.id, corridor_m=args.corridor_m,
                                speed_limit_kmh=args.speed_limit_kmh, windows=windows)
    except (GtfsError, OSError) as exc:
        return _fail(str(exc), 1)
    text = yaml.safe_dump({"routes": [route_to_registry(route)]}, allow_unicode=True, sort_keys=False,
                          default_flow_style=None, width=120)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"{args.output}: route {route.id} with {len(route.path)} points", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


# ---- tokens ----------------------------------------------------------------------------------------


def cmd_token(args: argparse.Namespace) -> int:
    from monitor.http.auth import parse_duration, validate_new
    from monitor.storage.auth_tables import create_token, list_tokens, revoke_token
    from monitor.storage.db import Database
    from monitor.storage.registry_store import latest_registry_source

    if args.config and not Path(args.config).exists():  # a typo must not make a token in some other database
        return _fail(f"config file {args.config} does not exist; pass the monitor's own --config", 1)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc), 1)
    if not args.config:
        print(f"(no --config: using the default database {cfg.database.url})", file=sys.stderr)
    db = Database(cfg.database.url)
    try:
        db.migrate()
        if args.token_cmd == "create":
            schools = [s for group in (args.school or []) for s in group.split(",") if s]
            stored = latest_registry_source(db)
            known: set[str] | None = None
            if stored is not None:
                from devices.registry import parse_registry

                known = {s.id for s in parse_registry(stored[1], stored[0]).schools}
            try:
                validate_new(args.role, schools, known if known is not None else set(schools))
                expires_in = parse_duration(args.expires_in) if args.expires_in else None
            except ValueError as exc:
                return _fail(str(exc), 1)
            info, token = create_token(db, args.role, schools, args.name or "", expires_in)
            until = f", expires {_iso(info.expires)}" if info.expires is not None else ""
            print(f"token {info.id} for {info.role} {','.join(info.schools) or '(all schools)'}{until}; "
                  "shown once, keep it:", file=sys.stderr)
            print(token)
        elif args.token_cmd == "list":
            now = time.time()
            for t in list_tokens(db):  # id, role, schools, name, state, expires (or "never")
                print(f"{t.id}\t{t.role}\t{','.join(t.schools) or '*'}\t{t.name}\t{t.state(now)}\t"
                      f"{_iso(t.expires) if t.expires is not None else 'never'}")
        elif args.token_cmd == "revoke":
            if not revoke_token(db, args.id):
                return _fail(f"no token {args.id}", 1)
            print(f"token {args.id} revoked")
    finally:
        db.dispose()
    return 0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- simulate ----------------------------------------------------------------------------------------


def cmd_simulate(argv: Sequence[str]) -> int:
    from monitor.tools.simulator import main as sim_main

    return int(sim_main(list(argv)) or 0)


# ---- the parser ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="campus-monitor", description=__doc__)
    p.add_argument("--log-level", default="info")
    sub = p.add_subparsers(dest="cmd", required=True)

    run = sub.add_parser("run", help="run the monitor")
    run.add_argument("--config", help="TOML config file (missing = all defaults)")
    run.add_argument("--registry", help="registry YAML; imported at start (else the last imported one)")
    run.add_argument("--listen", help="HTTP HOST:PORT (overrides [http] listen)")
    run.set_defaults(fn=cmd_run)

    demo = sub.add_parser("demo", help="run everything with a simulated district; no services needed")
    demo.add_argument("--listen", default="127.0.0.1:8080", help="HTTP HOST:PORT")
    demo.add_argument("--mqtt-listen", default="127.0.0.1:1883",
                      help="embedded broker HOST:PORT; a taken port falls back to a free one")
    demo.add_argument("--data-dir", help="where the demo keeps its SQLite database (default: user data dir)")
    demo.add_argument("--rate", type=float, default=1.0, help="simulator speed multiplier")
    demo.add_argument("--no-failures", action="store_true", help="do not kill the six 盘河中学 cameras")
    demo.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0 = run until Ctrl-C)")
    demo.set_defaults(fn=cmd_demo)

    sub.add_parser("simulate", help="the district simulator on its own (see `simulate --help`)", add_help=False)
    sub.add_parser("broker-config", help="Mosquitto password and ACL files from the registry "
                   "(see `broker-config --help`)", add_help=False)

    reg = sub.add_parser("registry", help="validate or import the registry")
    rsub = reg.add_subparsers(dest="registry_cmd", required=True)
    val = rsub.add_parser("validate", help="check a registry file")
    val.add_argument("file")
    val.set_defaults(fn=cmd_registry_validate)
    imp = rsub.add_parser("import", help="import a registry file into the database")
    imp.add_argument("file")
    imp.add_argument("--config")
    imp.set_defaults(fn=cmd_registry_import)
    gtfs = rsub.add_parser("import-gtfs", help="print a registry `routes:` snippet from a GTFS route and shape")
    gtfs.add_argument("feed_dir", metavar="FEED_DIR", help="an unpacked GTFS feed (routes.txt, trips.txt, shapes.txt)")
    gtfs.add_argument("--route", required=True, help="GTFS route_id")
    gtfs.add_argument("--shape", help="GTFS shape_id (needed when the route uses more than one)")
    gtfs.add_argument("--id", help="registry route id (default: a slug of the GTFS route id)")
    gtfs.add_argument("--corridor-m", type=float, default=150.0, help="corridor half-width in metres (150)")
    gtfs.add_argument("--speed-limit-kmh", type=float, default=60.0, help="speed limit (60)")
    gtfs.add_argument("--window", action="append", metavar="HH:MM-HH:MM", help="service window (repeat)")
    gtfs.add_argument("-o", "--output", metavar="FILE", help="write the snippet here instead of stdout")
    gtfs.set_defaults(fn=cmd_registry_import_gtfs)

    tok = sub.add_parser("token", help="API tokens")
    tsub = tok.add_subparsers(dest="token_cmd", required=True)
    tc = tsub.add_parser("create", help="make a token; prints it alone as the last line")
    tc.add_argument("--role", required=True, choices=["admin", "bureau", "officer", "maintenance"])
    tc.add_argument("--school", action="append",
                    help="school id (officer and maintenance; not bureau or admin); repeat or comma-separate")
    tc.add_argument("--expires-in", metavar="DURATION", help="the token expires after this: 30d, 12h, 45m, 90s")
    tc.add_argument("--name", help="who holds it (for the audit log)")
    tc.add_argument("--config")
    tc.set_defaults(fn=cmd_token)
    tl = tsub.add_parser("list", help="list tokens (never the secrets)")
    tl.add_argument("--config")
    tl.set_defaults(fn=cmd_token)
    tr = tsub.add_parser("revoke", help="revoke a token by id")
    tr.add_argument("id", type=int)
    tr.add_argument("--config")
    tr.set_defaults(fn=cmd_token)

    from bridges.cli import add_bridge_parser  # `bridge {jt808,gb28181,rtsp}`: the bridges' own package

    add_bridge_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        _setup_logging("info")
        return cmd_simulate(argv[1:])
    if argv and argv[0] == "broker-config":
        _setup_logging("info")
        from monitor.tools.broker_config import main as broker_config_main

        return int(broker_config_main(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())

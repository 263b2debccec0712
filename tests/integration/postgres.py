"""A throwaway PostgreSQL server for tests: its own data dir, a free port, trust auth, removed at the end.

Uses the server binaries (`initdb`, `pg_ctl`) of the Debian/Ubuntu `postgresql-NN` package (found in
`/usr/lib/postgresql/*/bin`, on PATH, or in `$CAMPUS_PG_BINDIR`); never the system server on 5432.
PostgreSQL refuses to run as root, so under root every command runs as the `postgres` user.

Fixtures (import them into a conftest or test module to use them):
- `postgres_server`, session-scoped: one server for the whole run;
- `postgres_url`: a fresh, empty database on it for each test, as a `postgresql+psycopg://` URL.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.ports import free_port

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin, on PATH or in "
    "$CAMPUS_PG_BINDIR. Install them: `apt-get install -y postgresql-15` (or `postgresql`, any version "
    ">= 13); the storage tests start their own server and do not use the system one."
)


class PostgresUnavailable(RuntimeError):
    pass


def find_bindir() -> Path:
    """The directory holding `initdb` and `pg_ctl`, the newest version first."""
    env = os.environ.get("CAMPUS_PG_BINDIR")
    candidates = [env] if env else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for cand in candidates:
        if (Path(cand) / "initdb").is_file() and (Path(cand) / "pg_ctl").is_file():
            return Path(cand)
    raise PostgresUnavailable(INSTALL_HINT)


class PostgresServer:
    """One running server; `create_database()` hands out fresh databases on it."""

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable  # fsync on; for benchmarks. Tests run with fsync off.
        self.as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="campus-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self._names = itertools.count(1)
        self.running = False
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def _check(self, proc: subprocess.CompletedProcess[str], what: str) -> None:
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{what} failed ({proc.returncode}): {proc.stderr.strip()}\n{tail}")

    def start(self) -> PostgresServer:
        self._check(
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ),
            "initdb",
        )
        options = "-c listen_addresses=127.0.0.1 -c max_connections=50"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = free_port()
            proc = self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.root / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {self.port} -k {self.root} {options}",
                "start",
            )
            if proc.returncode == 0:
                self.running = True
                return self
        self._check(proc, "pg_ctl start")
        return self

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"{prefix}_{next(self._names)}"
        with self._admin() as conn:
            conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def halt(self) -> None:
        """Stop the server (fast: connections are cut) and keep its data, to `resume` it later."""
        self._check(self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"), "pg_ctl stop")
        self.running = False

    def resume(self) -> None:
        """Start a halted server again on the same port."""
        options = "-c listen_addresses=127.0.0.1 -c max_connections=50"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._check(self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                              "-o", f"-p {self.port} -k {self.root} {options}", "start"), "pg_ctl start")
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)


_shared: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """The one server of this test process, started on first use and stopped at exit at the latest."""
    global _shared
    if _shared is None or not _shared.running:
        _shared = PostgresServer(find_bindir()).start()
        atexit.register(_shared.stop)
    return _shared


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = shared_server()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)

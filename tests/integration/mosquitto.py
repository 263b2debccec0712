"""A real Mosquitto broker for tests, on a free port of 127.0.0.1, with its own config file.

    with run_mosquitto(tmp_path) as port: ...

Never the system broker on 1883. `extra_conf` is appended to the config (e.g. `max_queued_messages 0`,
a password file, a TLS listener); the broker's log is `tmp_path/mosquitto.log`.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.ports import free_port
from tests.services import require_binary
from tests.waiting import wait_until

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _listening_or_exited(proc: subprocess.Popen[bytes], port: int) -> bool:
    return proc.poll() is not None or _accepting(port)


@contextlib.contextmanager
def run_mosquitto(tmp_path: Path, extra_conf: str = "", port: int | None = None) -> Iterator[int]:
    """Start Mosquitto with a config in `tmp_path`; yield its port; stop it (SIGTERM, then SIGKILL)."""
    mosquitto = require_binary("mosquitto", "mosquitto", also=(MOSQUITTO,))
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    log_path = tmp_path / "mosquitto.log"
    for attempt in range(5):
        chosen = port or free_port()
        conf = tmp_path / "mosquitto.conf"
        conf.write_text(
            f"listener {chosen} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_dest file {log_path}\nlog_type error\nlog_type warning\nlog_type notice\n{extra_conf}\n",
            encoding="utf-8",
        )
        proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with contextlib.suppress(AssertionError):  # checked just below
            wait_until(functools.partial(_listening_or_exited, proc, chosen), 10, "mosquitto to listen")
        if proc.poll() is None and _accepting(chosen):
            break
        _stop(proc)
        if port is not None or attempt == 4:  # a fixed port is taken, or something else is wrong
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            raise RuntimeError(f"mosquitto did not start on port {chosen}: {err}{log}")
    try:
        yield chosen
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stderr is not None:
        proc.stderr.close()

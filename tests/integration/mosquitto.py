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
        exited = proc.poll()
        _stop(proc, close=False)
        err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.stderr is not None:
            proc.stderr.close()
        log = log_path.read_text(errors="replace").strip() if log_path.exists() else ""
        taken = "Address already in use" in err + log  # another process took the free port: try another
        if port is not None or attempt == 4 or (exited is not None and not taken):
            # a fixed port is taken, or something else is wrong (a bad config line, a missing file)
            raise RuntimeError(
                f"mosquitto did not start on port {chosen} "
                f"({'exit code ' + str(exited) if exited is not None else 'not listening after 10 s'})\n"
                f"--- its stderr ---\n{err or '(empty)'}\n--- its log {log_path} ---\n{log or '(empty)'}\n"
                f"--- its config {conf} ---\n{conf.read_text(encoding='utf-8')}")
    try:
        yield chosen
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes], close: bool = True) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if close and proc.stderr is not None:
        proc.stderr.close()

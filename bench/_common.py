"""What the benchmark scripts share. Each script runs as `python bench/NAME.py`, so this directory is on
`sys.path` and `from _common import ...` finds this module."""

from __future__ import annotations

import platform
import socket
from pathlib import Path


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_model() -> str:
    """The CPU's model name, printed beside every figure (machines here differ by 2x)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def pct(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank; NaN for no values."""
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * q))] if v else float("nan")

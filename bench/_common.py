"""What the benchmark scripts share. Each script runs as `python bench/NAME.py`, so this directory is on
`sys.path` and `from _common import ...` finds this module."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

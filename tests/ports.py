"""The one `free_port` of the tests: a port of 127.0.0.1 that nothing listens on right now."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port the kernel just handed out and took back: free now, and closed (nothing listens on it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

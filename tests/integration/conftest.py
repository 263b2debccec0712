"""Fixtures for tests against real services (each starts its own; none uses a system service)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.mosquitto import run_mosquitto
from tests.integration.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A fresh Mosquitto on a free port of 127.0.0.1 (never the system one on 1883): yields (host, port)."""
    with run_mosquitto(tmp_path / "mosquitto") as port:
        yield ("127.0.0.1", port)

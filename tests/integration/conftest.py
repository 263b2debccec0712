"""Fixtures for tests against real services (each starts its own; none uses a system service)."""

from tests.integration.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)

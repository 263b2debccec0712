"""Instances starting together on an empty PostgreSQL import the same registry one after the other."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from devices.registry import parse_registry
from monitor.storage.db import Database
from monitor.storage.registry_store import import_registry
from tests.registries import SMALL_REGISTRY

pytestmark = pytest.mark.integration


def test_two_instances_importing_at_once_both_succeed_and_the_registry_is_imported_once(postgres_url: str) -> None:
    registry = parse_registry(SMALL_REGISTRY, "registry.yaml")
    first, second = Database(postgres_url), Database(postgres_url)
    try:
        first.migrate()
        second.migrate()
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda db: import_registry(db, registry, SMALL_REGISTRY, "/etc/registry.yaml"),
                                    (first, second)))
        assert sorted(r.changed for r in results) == [False, True]  # one imported, the other found it done
    finally:
        first.dispose()
        second.dispose()

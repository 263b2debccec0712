"""Partition leases on a real PostgreSQL: instances share the partitions, a killed one's are taken over
within lease_s + 5 s, a stale owner's writes are refused, and a short database outage changes no owner."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from monitor.cluster.keeper import LeaseKeeper
from monitor.config import ClusterConfig
from monitor.storage import lease_store
from monitor.storage.db import Database
from tests.integration.postgres import PostgresServer, find_bindir

pytestmark = pytest.mark.integration

LEASE_S = 3.0
PARTITIONS = 16


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


class Node:
    def __init__(self, name: str, url: str) -> None:
        self.changes: list[tuple[set[int], set[int]]] = []
        self.keeper = LeaseKeeper(ClusterConfig(node=name, partitions=PARTITIONS, lease_s=LEASE_S), url, self._changed)

    async def _changed(self, gained: set[int], lost: set[int]) -> None:
        self.changes.append((gained, lost))

    @property
    def held(self) -> set[int]:
        return set(self.keeper.held)


def _migrated(url: str) -> None:
    db = Database(url)
    db.migrate()
    db.dispose()


async def test_instances_share_partitions_and_a_killed_ones_are_taken_over(postgres_url: str) -> None:
    _migrated(postgres_url)
    nodes = [Node(n, postgres_url) for n in ("a", "b", "c")]
    for n in nodes:
        await n.keeper.start()
    try:
        await until(lambda: sorted(len(n.held) for n in nodes) == [5, 5, 6], 30, "fair shares")
        everyone = [p for n in nodes for p in n.held]
        assert sorted(everyone) == list(range(PARTITIONS))  # each partition once
        victim = nodes[2]
        taken = victim.held
        stale = dict(victim.keeper.held)
        await victim.keeper.stop(leave=False)  # as kill -9: nothing handed back
        waited = await until(lambda: taken <= nodes[0].held | nodes[1].held, LEASE_S + 5, "take-over")
        assert waited <= LEASE_S + 5
        assert sorted(len(n.held) for n in nodes[:2]) == [8, 8]
        db = Database(postgres_url)
        with pytest.raises(lease_store.Fenced), db.begin() as conn:  # the old owner's write is refused
            lease_store.check_fence(conn, "c", stale)
        survivor = nodes[0].keeper
        with db.begin() as conn:
            lease_store.check_fence(conn, "a", dict(survivor.held))  # the new owner's is not
        db.dispose()
    finally:
        for n in nodes[:2]:
            await n.keeper.stop()


async def test_a_new_instance_gets_partitions_handed_over(postgres_url: str) -> None:
    _migrated(postgres_url)
    first = Node("a", postgres_url)
    await first.keeper.start()
    second = Node("b", postgres_url)
    try:
        await until(lambda: len(first.held) == PARTITIONS, 10, "a lone instance owns every partition")
        await second.keeper.start()
        waited = await until(lambda: len(second.held) == PARTITIONS // 2, 30, "hand-over")
        assert waited < 30
        assert not first.held & second.held
        assert any(lost for _, lost in first.changes)  # the old owner was told to stop before the release
    finally:
        await second.keeper.stop()
        await first.keeper.stop()


async def test_a_short_database_outage_changes_no_owner() -> None:
    server = PostgresServer(find_bindir()).start()
    try:
        url = server.create_database("leases")
        _migrated(url)
        nodes = [Node(n, url) for n in ("a", "b")]
        for n in nodes:
            await n.keeper.start()
        await until(lambda: sorted(len(n.held) for n in nodes) == [8, 8], 30, "fair shares")
        before = [n.held for n in nodes]
        marks = [len(n.changes) for n in nodes]
        server._run("pg_ctl", "-D", str(server.data), "-m", "fast", "-w", "stop")
        await asyncio.sleep(LEASE_S * 1.5)  # longer than a lease: both let go locally, nobody can take over
        assert server._run("pg_ctl", "-D", str(server.data), "-l", str(server.root / "server.log"), "-w", "-o",
                           f"-p {server.port} -k {server.root} -c listen_addresses=127.0.0.1", "start").returncode == 0
        await until(lambda: [n.held for n in nodes] == before, 20, "each takes back its own")
        await asyncio.sleep(LEASE_S * 2)  # and it stays so: no flip-flop once both are steady again
        assert [n.held for n in nodes] == before
        for n, mine, mark in zip(nodes, before, marks, strict=True):
            assert {p for gained, _ in n.changes[mark:] for p in gained} == mine  # only its own came back
        for n in nodes:
            await n.keeper.stop()
    finally:
        server.stop()

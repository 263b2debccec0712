"""The lease keeper: this instance's share of the partitions, renewed every `lease_s / 3`.

Runs on the asyncio loop; every database call goes to its own thread and its own connection pool,
so a busy service database thread never delays a renewal. Each round: mark this node seen, read the
leases and the live nodes (`monitor.storage.lease_store.look`), plan (`monitor.cluster.partitions.plan`),
tell the owner of the judging to stop the partitions it hands over *before* they are released, carry
the plan out, then report what was gained and lost.

When the database cannot be reached, the instance keeps what it holds until its leases would have
run out (`lease_s` after the last renewal, on its own monotonic clock, minus a margin): nobody can
take a partition over without the database either. Past that it lets go of everything (it stops
judging those schools) and takes back what is still its own when the database answers: a short
outage changes no owner. After an outage it takes no one else's partitions for one `lease_s`
(see `plan(steady=...)`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.cluster.partitions import plan
from monitor.config import ClusterConfig
from monitor.storage import lease_store
from monitor.storage.db import Database

log = logging.getLogger(__name__)

Changed = Callable[[set[int], set[int]], Awaitable[None]]  # (gained, lost)
MARGIN = 0.2  # of lease_s: let go this much before a lease could be taken over


class LeaseKeeper:
    def __init__(self, cfg: ClusterConfig, database_url: str, on_change: Changed, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.node = cfg.node
        self.database = Database(database_url)
        self.on_change = on_change
        self.monotonic = monotonic
        self.held: dict[int, int] = {}  # partition -> epoch
        self.started_at = time.time()
        self.rounds = 0
        self._renewed_at: float | None = None  # monotonic time of the last successful round
        self._steady_since: float | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leases")
        self._task: asyncio.Task[None] | None = None

    @property
    def period_s(self) -> float:
        return self.cfg.lease_s / 3

    async def _db(self, fn: Callable[..., object], *args: object) -> object:
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(self.database, *args))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lease-keeper")

    async def stop(self, leave: bool = True) -> None:
        """Stop renewing; with `leave`, hand every partition back at once (a clean stop)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        if leave and self.held:
            lost = set(self.held)
            await self.on_change(set(), lost)
            try:
                await self._db(lease_store.leave, self.node, dict(self.held))
            except Exception:  # noqa: BLE001 - the leases then run out by themselves
                log.warning("cluster %s: could not hand back partitions on stop; they run out in %.0f s",
                            self.node, self.cfg.lease_s)
            self.held = {}
        self._pool.shutdown(wait=False)
        self.database.dispose()

    async def _run(self) -> None:
        while True:
            started = self.monotonic()
            try:
                await self.round()
            except Exception as exc:  # noqa: BLE001 - the database is away; keep what is ours for a while
                self._steady_since = None
                await self._fence_by_time(exc)
            await asyncio.sleep(max(0.0, self.period_s - (self.monotonic() - started)))

    async def round(self) -> None:
        cfg = self.cfg
        snap = await self._db(lease_store.look, self.node, self.started_at, cfg.lease_s)
        assert isinstance(snap, lease_store.Snapshot)
        now_m = self.monotonic()
        if self._steady_since is None:
            self._steady_since = now_m
        steady = self.rounds == 0 or now_m - self._steady_since >= cfg.lease_s
        todo = plan(self.node, cfg.partitions, snap.leases, snap.live, snap.now, steady=steady)
        if todo.release:
            await self.on_change(set(), set(todo.release))  # stop judging them first
        result = await self._db(lease_store.carry_out, self.node, todo, dict(self.held), snap.leases, cfg.lease_s)
        assert isinstance(result, tuple)
        held, _until = result
        gained = set(held) - set(self.held)
        lost = (set(self.held) - set(held)) - set(todo.release)
        self.held = held
        self._renewed_at = now_m
        self.rounds += 1
        if gained or lost:
            log.info("cluster %s: gained partitions %s, lost %s; holding %d of %d", self.node, sorted(gained),
                     sorted(lost), len(held), cfg.partitions)
            await self.on_change(gained, lost)

    async def _fence_by_time(self, exc: Exception) -> None:
        if not self.held:
            return
        since = self._renewed_at
        if since is not None and self.monotonic() - since < self.cfg.lease_s * (1 - MARGIN):
            log.warning("cluster %s: cannot renew leases (%s); keeping them for now", self.node, exc)
            return
        lost = set(self.held)
        log.error("cluster %s: leases not renewed for %.0f s (%s): letting go of %d partitions until the "
                  "database answers", self.node, self.cfg.lease_s, exc, len(lost))
        self.held = {}
        await self.on_change(set(), lost)

    def owns(self, partition: int) -> bool:
        return partition in self.held

    def metrics(self) -> Iterator[Metric]:
        owned = GaugeMetricFamily("campus_cluster_partitions_owned", "Partitions of the schools this instance owns",
                                  labels=["node"])
        owned.add_metric([self.node], len(self.held))
        yield owned

"""Partition leases in PostgreSQL (contract §9): one round of an instance, and the fencing check.

Every time here is the database's clock (`clock_timestamp()`), so instances never compare their own
clocks. A take is conditional on the lease row being as the plan saw it (same epoch, still free or
expired), so two instances planning on the same snapshot never both win; every change of owner
bumps the epoch. `check_fence` runs inside a caller's write transaction: it locks the lease rows
(FOR SHARE) and refuses the write when this instance no longer holds a partition under the epoch it
believes in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql import insert

from monitor.cluster.partitions import Lease, Plan
from monitor.storage.base import table_of
from monitor.storage.cluster_tables import ClusterNodeRecord, PartitionLeaseRecord
from monitor.storage.db import Database

LEASES = table_of(PartitionLeaseRecord)
NODES = table_of(ClusterNodeRecord)


class Fenced(RuntimeError):
    """A write for partitions this instance no longer holds under the epoch it believed in."""

    def __init__(self, message: str, partitions: Collection[int] = (), schools: Collection[str] = ()) -> None:
        super().__init__(message)
        self.partitions = frozenset(partitions)
        self.schools = frozenset(schools)  # the schools of the write that are refused (when the fence knows them)


#: Inside a write transaction, for the schools it writes: raise `Fenced` unless this instance still
#: owns them (`monitor.cluster.owner.PartitionOwner.fence`).
Fence = Callable[[Connection, Collection[str]], None]


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: float
    leases: dict[int, Lease]
    live: tuple[str, ...]


def _now(conn: Connection) -> float:
    return float(conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())


def look(db: Database, node: str, started_at: float, lease_s: float) -> Snapshot:
    """Mark this instance seen, and read every lease and the live instances."""
    with db.begin() as conn:
        now = _now(conn)
        conn.execute(insert(NODES).values(node=node, seen_at=now, started_at=started_at)
                     .on_conflict_do_update(index_elements=["node"], set_={"seen_at": now}))
        leases = {int(r.partition): Lease(int(r.partition), r.owner, int(r.epoch), float(r.expires))
                  for r in conn.execute(LEASES.select())}
        live = tuple(r.node for r in conn.execute(NODES.select().where(NODES.c.seen_at > now - lease_s)))
    return Snapshot(now, leases, live)


def carry_out(db: Database, node: str, plan: Plan, held: Mapping[int, int], seen: Mapping[int, Lease],
              lease_s: float) -> tuple[dict[int, int], float]:
    """Renew, take and release as planned, in one transaction; the partitions held afterwards
    (partition -> epoch) and the database time the leases now run to."""
    out: dict[int, int] = {}
    with db.begin() as conn:
        now = _now(conn)
        until = now + lease_s
        for p in plan.renew:
            epoch = held.get(p, seen[p].epoch if p in seen else -1)
            done = conn.execute(LEASES.update().where(LEASES.c.partition == p, LEASES.c.owner == node,
                                                      LEASES.c.epoch == epoch).values(expires=until))
            if done.rowcount == 1:
                out[p] = epoch
        for p in plan.take:
            before = seen.get(p)
            if before is None:
                got = conn.execute(insert(LEASES).values(partition=p, owner=node, epoch=1, expires=until)
                                   .on_conflict_do_nothing(index_elements=["partition"]).returning(LEASES.c.epoch))
            else:
                got = conn.execute(
                    LEASES.update()
                    .where(LEASES.c.partition == p, LEASES.c.epoch == before.epoch,
                           (LEASES.c.owner == "") | (LEASES.c.expires <= now))
                    .values(owner=node, epoch=LEASES.c.epoch + 1, expires=until).returning(LEASES.c.epoch))
            epoch_row = got.first()
            if epoch_row is not None:
                out[p] = int(epoch_row[0])
        for p in plan.release:
            if p in held:
                conn.execute(LEASES.update().where(LEASES.c.partition == p, LEASES.c.owner == node,
                                                   LEASES.c.epoch == held[p])
                             .values(owner="", epoch=LEASES.c.epoch + 1, expires=now))
    return out, until


def leave(db: Database, node: str, held: Mapping[int, int]) -> None:
    """A clean stop: free what this instance holds at once, and forget its node row."""
    with db.begin() as conn:
        now = _now(conn)
        for p, epoch in held.items():
            conn.execute(LEASES.update().where(LEASES.c.partition == p, LEASES.c.owner == node, LEASES.c.epoch == epoch)
                         .values(owner="", epoch=LEASES.c.epoch + 1, expires=now))
        conn.execute(NODES.delete().where(NODES.c.node == node))


def check_fence(conn: Connection, node: str, held: Mapping[int, int]) -> None:
    """Inside a write transaction: raise `Fenced` unless this instance still holds every partition
    of `held` under that epoch (the rows stay locked against a take-over until the commit)."""
    if not held:
        return
    rows = conn.execute(LEASES.select().where(LEASES.c.partition.in_(list(held))).with_for_update(read=True))
    current = {int(r.partition): (r.owner, int(r.epoch)) for r in rows}
    stale = sorted(p for p, epoch in held.items() if current.get(p) != (node, epoch))
    if stale:
        raise Fenced(f"{node} no longer holds partitions {stale}", stale)


def owners(db: Database) -> dict[int, str]:
    """Who owns each partition now (for the API and the pages of every instance)."""
    with db.begin() as conn:
        now = _now(conn)
        return {int(r.partition): r.owner for r in conn.execute(LEASES.select())
                if r.owner and float(r.expires) > now}

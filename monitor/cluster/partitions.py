"""Partitions and leases: the rules, pure (no database, no clock of its own).

- A school belongs to partition `blake2b(school id) mod partitions`: stable across processes,
  machines and Python versions (unlike `hash()`), so every instance agrees without asking.
- A partition is owned through a lease row: owner, epoch, expiry. The epoch grows by one at every
  change of owner; a write made for a partition carries the epoch its writer holds and is refused
  when the row's epoch moved on (fencing: a stale owner that wakes up cannot write).
- Each round (every `lease_s / 3`) an instance renews its leases and plans (`plan`) against the
  lease rows and the live instances (a node row seen within `lease_s`):
  - it keeps what it owns up to its fair share, `ceil(partitions / live instances)`;
  - above that share it releases its highest partitions while another live instance is below
    the floor share (`partitions // live`), so a newly started instance gets some within a round
    or two (the old owner stops first, then releases; the new one then takes);
  - below its share it takes partitions that are free (never owned, released) or whose lease
    expired and whose owner is not a live instance: up to the ceiling, but only up to the floor while
    another live instance is below the floor (what is released is left for it);
  - after it could not reach the database for a while (`steady` false), it renews its own but
    takes no one else's (free ones only) for one `lease_s`, so instances that come back from a database outage together
    all renew before anyone takes over: no ownership flip-flop after a short outage.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


def partition_of(school: str, partitions: int) -> int:
    digest = hashlib.blake2b(school.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


@dataclass(frozen=True, slots=True)
class Lease:
    partition: int
    owner: str  # "" when free
    epoch: int
    expires: float  # database time


@dataclass(frozen=True, slots=True)
class Plan:
    renew: tuple[int, ...] = ()
    take: tuple[int, ...] = ()
    release: tuple[int, ...] = ()


@dataclass(slots=True)
class Ownership:
    """What this instance holds: partition -> epoch."""

    held: dict[int, int] = field(default_factory=dict)

    def owns(self, partition: int) -> bool:
        return partition in self.held


def shares(partitions: int, live: int) -> tuple[int, int]:
    """(floor, ceiling) of the partitions each of `live` instances should own."""
    live = max(1, live)
    return partitions // live, math.ceil(partitions / live)


def plan(node: str, partitions: int, leases: Mapping[int, Lease], live: Iterable[str], now: float, *,
         steady: bool = True) -> Plan:
    live_nodes = set(live) | {node}
    floor, ceiling = shares(partitions, len(live_nodes))
    mine = sorted(p for p, lease in leases.items() if lease.owner == node)
    counts = {n: 0 for n in live_nodes}
    for lease in leases.values():
        if lease.owner in counts and lease.expires > now:
            counts[lease.owner] += 1
    release: list[int] = []
    keep = list(mine)
    if len(keep) > ceiling or (len(keep) > floor and any(counts[n] < floor for n in live_nodes if n != node)):
        excess = len(keep) - (ceiling if len(keep) > ceiling else floor)
        release = keep[len(keep) - excess:] if excess > 0 else []
        keep = keep[:len(keep) - len(release)]
    # while another live instance is below the floor, take up to the floor only: the free partitions are
    # for it (an instance at the floor taking them up to the ceiling raced the one below for every
    # partition released to it, and the shares could take many rounds to settle)
    target = floor if any(counts[n] < floor for n in live_nodes if n != node) else ceiling
    take: list[int] = []
    for p in range(partitions):
        if len(keep) + len(take) >= target:
            break
        found = leases.get(p)
        if found is None or found.owner == "":
            take.append(p)
        elif steady and found.owner != node and found.expires <= now and found.owner not in live_nodes:
            take.append(p)
    return Plan(tuple(keep), tuple(take), tuple(release))

"""Grouping: which queued notices of one receiver leave next, and together.

Pure. Grouping is done on the durable outbox (one row per alert change and receiver, written in the
same transaction as the change), so a crash inside a group window loses nothing. For one receiver:

- a batch already tried and failing is the head: nothing else leaves before it (order is kept);
- otherwise the oldest notice whose hold has ended leads the next batch; an urgent one (alarm press,
  tamper: held for 0 s) leaves alone; a grouped one takes along every other grouped notice of its
  school that arrived within its window (the first change of a school opens the window, and at
  `opened + group_window_s` all gathered leave as one message);
- with `group_window_s` 0 every notice leaves alone.

`next_batches` applies this per school, so several schools' batches may leave at once (the sender's
concurrent sends); the order that is kept is then each school's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Queued:
    """What grouping needs of one pending outbox row."""

    id: int
    school: str
    created: float
    hold_until: float  # created + group window; created for urgent notices
    urgent: bool
    batch: int | None = None  # the head row's id once the batch has been tried
    next_attempt: float = 0.0


@dataclass(frozen=True, slots=True)
class Pick:
    """`ids` leave now as one message led by `head`; or nothing leaves before `wake_at`."""

    head: int | None
    ids: tuple[int, ...] = ()
    wake_at: float | None = None


def next_batch(queue: Sequence[Queued], now: float, window_s: float) -> Pick:
    if not queue:
        return Pick(None)
    tried = [q for q in queue if q.batch is not None]
    if tried:
        head = min(q.batch for q in tried if q.batch is not None)
        members = sorted(q.id for q in tried if q.batch == head)
        due_at = max(q.next_attempt for q in tried if q.batch == head)
        if due_at <= now:
            return Pick(head, tuple(members))
        return Pick(None, wake_at=due_at)
    due = [q for q in queue if q.hold_until <= now]
    if not due:
        return Pick(None, wake_at=min(q.hold_until for q in queue))
    head_row = min(due, key=lambda q: q.id)
    if head_row.urgent or window_s <= 0:
        return Pick(head_row.id, (head_row.id,))
    members = sorted(
        q.id
        for q in queue
        if not q.urgent and q.school == head_row.school and head_row.created <= q.created <= head_row.hold_until
    )
    if head_row.id not in members:
        members = sorted({*members, head_row.id})
    return Pick(head_row.id, tuple(members))


def next_batches(queue: Sequence[Queued], now: float, window_s: float, limit: int) -> tuple[list[Pick], float | None]:
    """Up to `limit` batches that may leave now at once, each of another school: order is kept per
    school (each school's queue goes through `next_batch`, so a failing batch holds back only its own
    school), and schools take turns oldest first. Also when to look again if some school must wait."""
    by_school: dict[str, list[Queued]] = {}
    for q in sorted(queue, key=lambda q: q.id):
        by_school.setdefault(q.school, []).append(q)
    picks: list[Pick] = []
    wake_at: float | None = None
    for rows in by_school.values():
        pick = next_batch(rows, now, window_s)
        if pick.head is None:
            if pick.wake_at is not None and (wake_at is None or pick.wake_at < wake_at):
                wake_at = pick.wake_at
            continue
        if len(picks) < limit:
            picks.append(pick)
    return picks, wake_at

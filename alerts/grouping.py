"""Grouping: which queued notices of one receiver leave next, and together.

Pure. Grouping is done on the durable outbox (one row per alert change and receiver, written in the
same transaction as the change), so a crash inside a group window loses nothing. For one receiver:

- a batch already tried and failing is the head: nothing else leaves before it (order is kept);
- otherwise the oldest notice whose hold has ended leads the next batch; an urgent one (alarm press,
  tamper: held for 0 s) leaves alone; a grouped one takes along every other grouped notice of its
  school that arrived within its window (the first change of a school opens the window, and at
  `opened + group_window_s` all gathered leave as one message);
- with `group_window_s` 0 every notice leaves alone.
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

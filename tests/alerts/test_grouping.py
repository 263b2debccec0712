from __future__ import annotations

from alerts.grouping import Queued, next_batch

T0 = 1_764_000_000.0


def q(id_: int, created: float, school: str = "panhe-ms", urgent: bool = False, window: float = 10.0, **kw) -> Queued:
    return Queued(id_, school, created, created if urgent else created + window, urgent, **kw)


def test_changes_of_one_school_within_the_window_leave_together_when_it_closes():
    queue = [q(1, T0), q(2, T0 + 4), q(3, T0 + 9), q(4, T0 + 12), q(5, T0 + 5, school="other-ps")]
    assert next_batch(queue, T0 + 9.9, 10).wake_at == T0 + 10
    pick = next_batch(queue, T0 + 10, 10)
    assert (pick.head, pick.ids) == (1, (1, 2, 3))


def test_a_press_never_waits_for_a_group():
    queue = [q(1, T0), q(2, T0 + 1, urgent=True)]
    pick = next_batch(queue, T0 + 1, 10)
    assert (pick.head, pick.ids) == (2, (2,))


def test_a_window_of_zero_sends_each_change_on_its_own():
    queue = [q(1, T0, window=0), q(2, T0, window=0)]
    assert next_batch(queue, T0, 0).ids == (1,)


def test_a_failing_batch_blocks_later_ones_until_its_retry_is_due():
    queue = [q(1, T0, batch=1, next_attempt=T0 + 30), q(2, T0 + 1, batch=1, next_attempt=T0 + 30), q(3, T0 + 2, urgent=True)]
    assert next_batch(queue, T0 + 20, 10) .head is None
    assert next_batch(queue, T0 + 20, 10).wake_at == T0 + 30
    assert next_batch(queue, T0 + 30, 10).ids == (1, 2)


def test_nothing_queued_means_nothing_to_wait_for():
    pick = next_batch([], T0, 10)
    assert pick.head is None and pick.wake_at is None

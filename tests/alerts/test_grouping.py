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


def test_next_batches_takes_one_batch_per_school_oldest_school_first_up_to_the_limit() -> None:
    from alerts.grouping import next_batches

    queue = [Queued(1, "a", 0, 0, False), Queued(2, "b", 0, 0, False), Queued(3, "a", 0, 0, False),
             Queued(4, "c", 0, 0, False)]
    picks, _ = next_batches(queue, 1.0, 0.0, 2)
    assert [p.ids for p in picks] == [(1,), (2,)]


def test_next_batches_a_failing_school_holds_back_only_its_own_messages() -> None:
    from alerts.grouping import next_batches

    queue = [Queued(1, "a", 0, 0, False, batch=1, next_attempt=50.0), Queued(2, "a", 0, 0, False),
             Queued(3, "b", 0, 0, False)]
    picks, wake_at = next_batches(queue, 1.0, 0.0, 8)
    assert [p.ids for p in picks] == [(3,)]
    assert wake_at == 50.0

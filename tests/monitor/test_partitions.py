"""Partition and lease rules: stable hashing, fair shares, take-over of the dead, hand-over to the new."""

from __future__ import annotations

from monitor.cluster.partitions import Lease, partition_of, plan, shares


def test_a_school_hashes_to_the_same_partition_everywhere() -> None:
    assert partition_of("panhe-ms", 64) == partition_of("panhe-ms", 64)
    assert partition_of("panhe-ms", 64) == 53  # fixed across processes and versions: never change it
    spread = {partition_of(f"school-{i}", 64) for i in range(2000)}
    assert len(spread) == 64


def test_shares() -> None:
    assert shares(64, 3) == (21, 22)
    assert shares(64, 0) == (64, 64)


def _leases(owners: dict[int, str], expires: float = 100.0) -> dict[int, Lease]:
    return {p: Lease(p, o, 1, expires) for p, o in owners.items()}


def test_a_lone_instance_takes_every_free_partition() -> None:
    got = plan("a", 8, {}, ["a"], 0.0)
    assert got.take == tuple(range(8)) and not got.renew and not got.release


def test_live_owners_keep_theirs_and_the_dead_ones_are_taken_after_expiry() -> None:
    leases = _leases({p: ("a" if p < 4 else "b") for p in range(8)}, expires=10.0)
    assert plan("a", 8, leases, ["a", "b"], 5.0).renew == (0, 1, 2, 3)
    assert plan("a", 8, leases, ["a", "b"], 5.0).take == ()
    # b stopped: its node row is no longer live, and its leases expired
    got = plan("a", 8, leases, ["a"], 11.0)
    assert got.take == (4, 5, 6, 7) and got.renew == (0, 1, 2, 3)
    # b's leases have not expired yet: wait
    assert plan("a", 8, leases, ["a"], 9.0).take == ()


def test_an_owner_above_its_share_hands_partitions_to_a_new_instance() -> None:
    leases = _leases({p: "a" for p in range(8)})
    got = plan("a", 8, leases, ["a", "b"], 0.0)
    assert got.renew == (0, 1, 2, 3) and got.release == (4, 5, 6, 7)
    freed = {**leases, **{p: Lease(p, "", 2, 0.0) for p in got.release}}
    assert plan("b", 8, freed, ["a", "b"], 0.0).take == (4, 5, 6, 7)


def test_three_instances_settle_on_fair_shares() -> None:
    leases: dict[int, Lease] = {}
    nodes = ["a", "b", "c"]
    for _ in range(6):
        for n in nodes:
            got = plan(n, 64, leases, nodes, 0.0)
            for p in got.release:
                leases[p] = Lease(p, "", leases[p].epoch + 1, 0.0)
            for p in got.take:
                leases[p] = Lease(p, n, leases.get(p, Lease(p, "", 0, 0.0)).epoch + 1, 100.0)
    counts = sorted(sum(1 for lease in leases.values() if lease.owner == n) for n in nodes)
    assert counts == [21, 21, 22]


def test_an_instance_at_its_floor_leaves_the_released_partitions_to_one_below_it() -> None:
    # 16 partitions, 3 instances (floor 5, ceiling 6): a and b handed 3 each back for c, which joined late
    owners = {p: ("a" if p < 5 else "b") for p in range(10)}
    leases = {**_leases(owners), **{p: Lease(p, "", 2, 0.0) for p in range(10, 16)}}
    nodes = ["a", "b", "c"]
    assert plan("a", 16, leases, nodes, 0.0).take == (), "a at the floor takes nothing while c has none"
    assert plan("b", 16, leases, nodes, 0.0).take == ()
    assert len(plan("c", 16, leases, nodes, 0.0).take) == 6
    # once nobody is below the floor, one instance may still take a free one up to the ceiling
    settled = {**_leases({p: ("a" if p < 5 else "b" if p < 10 else "c") for p in range(15)}), 15: Lease(15, "", 2, 0.0)}
    assert plan("a", 16, settled, nodes, 0.0).take == (15,)


def test_shares_settle_in_one_round_whatever_order_the_instances_plan_in() -> None:
    import itertools

    for order in itertools.permutations(["a", "b", "c"]):
        # a and b hold 8 each; c just joined
        leases = _leases({p: ("a" if p < 8 else "b") for p in range(16)})
        for _ in range(3):  # release, then take
            for n in order:
                got = plan(n, 16, leases, ["a", "b", "c"], 0.0)
                for p in got.release:
                    leases[p] = Lease(p, "", leases[p].epoch + 1, 0.0)
                for p in got.take:
                    leases[p] = Lease(p, n, leases.get(p, Lease(p, "", 0, 0.0)).epoch + 1, 100.0)
        counts = sorted(sum(1 for lease in leases.values() if lease.owner == n) for n in "abc")
        assert counts == [5, 5, 6], (order, counts)


def test_after_a_database_outage_an_instance_renews_but_takes_nothing() -> None:
    leases = _leases({p: ("a" if p < 4 else "b") for p in range(8)}, expires=10.0)
    got = plan("a", 8, leases, ["a"], 30.0, steady=False)  # b's node row looks old: it could not write either
    assert got.renew == (0, 1, 2, 3) and got.take == ()

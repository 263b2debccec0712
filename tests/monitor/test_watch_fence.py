"""Several instances: a batch of device states of which one school is fenced (its partition went to
another instance) still writes the states of the schools that are ours."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pytest
from sqlalchemy import Connection

from devices.judge import Judge
from devices.registry import parse_registry
from monitor.config import BusesConfig
from monitor.services.buses import BusDesk
from monitor.services.tracks import TrackStore
from monitor.services.watch import DeviceWatch
from monitor.storage.db import Database
from monitor.storage.device_store import load_device_states
from monitor.storage.lease_store import Fenced
from monitor.storage.registry_store import import_registry
from monitor.storage.runner import DbThread
from tests.registries import SMALL_REGISTRY


async def test_a_fenced_school_in_a_batch_leaves_the_other_schools_states_written(tmp_path: Path) -> None:
    registry = parse_registry(SMALL_REGISTRY, "registry.yaml")
    db = Database(f"sqlite:///{tmp_path / 'campus.db'}")
    db.migrate()
    import_registry(db, registry, SMALL_REGISTRY, "registry.yaml")
    thread = DbThread(db)
    now = 1_000_000.0

    def fence(conn: Connection, schools: Collection[str]) -> None:  # other-ps went to another instance
        if "other-ps" in schools:
            raise Fenced("node-a no longer holds partitions [3]", [3], {"other-ps"})

    judge = Judge(registry)
    watch = DeviceWatch(judge, BusDesk(BusesConfig(), registry, TrackStore(BusesConfig(), thread, lambda: now),
                                       lambda: now), thread, lambda: now, persist_every_s=1, fence=fence)
    heard = [d for d in judge.devices() if d.school in ("panhe-ms", "other-ps") and str(d.kind) == "camera"]
    for dev in heard:
        judge.beat(dev, now)
    try:
        await watch.persist()
        stored = await thread.call(load_device_states, True)
    finally:
        thread.close()
    assert {key[0] for key in stored} == {"panhe-ms"}
    assert len(stored) == sum(1 for d in heard if d.school == "panhe-ms") > 0


def test_the_owners_fence_names_the_schools_of_the_partitions_it_no_longer_holds() -> None:
    from monitor.cluster.owner import PartitionOwner
    from monitor.cluster.partitions import partition_of
    from monitor.config import ClusterConfig, MqttConfig

    registry = parse_registry(SMALL_REGISTRY, "registry.yaml")
    schools = [s.id for s in registry.schools]
    cfg = ClusterConfig(node="node-a", partitions=64, lease_s=5)
    owner = PartitionOwner(cfg, MqttConfig(), registry, Judge(registry), None, lambda: 0.0)  # type: ignore[arg-type]
    held = partition_of(schools[0], 64)
    assert all(partition_of(s, 64) != held for s in schools[1:]), "the test needs the schools in other partitions"
    owner.epochs = lambda: {held: 1}
    with pytest.raises(Fenced) as refused:
        owner.fence(None, schools)  # type: ignore[arg-type]  (refused before the database is asked)
    assert refused.value.schools == frozenset(schools[1:])

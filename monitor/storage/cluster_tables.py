"""Cluster tables (contract §9): partition leases and the instances' own liveness rows.

Times are the database's clock (Unix seconds), never an instance's: instances with skewed clocks
still agree on when a lease expired.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Double, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from monitor.storage.base import Base


class PartitionLeaseRecord(Base):
    """Who owns a partition of the schools, under which epoch (fencing), until when."""

    __tablename__ = "partition_leases"

    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner: Mapped[str] = mapped_column(Text, default="")  # "" when free
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    expires: Mapped[float] = mapped_column(Double, default=0.0)


class ClusterNodeRecord(Base):
    """An instance, seen at its last lease round."""

    __tablename__ = "cluster_nodes"

    node: Mapped[str] = mapped_column(Text, primary_key=True)
    seen_at: Mapped[float] = mapped_column(Double)
    started_at: Mapped[float] = mapped_column(Double)

"""Cluster: partition leases (owner, epoch, expiry) and the instances' liveness rows.

Revision ID: 0009_cluster
Revises: 0008_token_expiry
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_cluster"
down_revision = "0008_token_expiry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partition_leases",
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("partition", name=op.f("pk_partition_leases")),
    )
    op.create_table(
        "cluster_nodes",
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("seen_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("node", name=op.f("pk_cluster_nodes")),
    )


def downgrade() -> None:
    op.drop_table("cluster_nodes")
    op.drop_table("partition_leases")

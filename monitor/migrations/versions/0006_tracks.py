"""The stored bus track.

Revision ID: 0006_tracks
Revises: 0005_detours
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_tracks"
down_revision = "0005_detours"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bus_fixes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("bus", sa.Text(), nullable=False),
        sa.Column("school", sa.Text(), nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("received", sa.Double(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("speed_kmh", sa.Double(), nullable=True),
        sa.Column("heading", sa.Double(), nullable=True),
        sa.Column("off_route", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bus_fixes")),
    )
    op.create_index("ix_bus_fixes_bus_ts", "bus_fixes", ["bus", "ts"])
    op.create_index("ix_bus_fixes_ts", "bus_fixes", ["ts"])


def downgrade() -> None:
    op.drop_index("ix_bus_fixes_ts", table_name="bus_fixes")
    op.drop_index("ix_bus_fixes_bus_ts", table_name="bus_fixes")
    op.drop_table("bus_fixes")

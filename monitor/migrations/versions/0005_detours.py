"""Declared bus detours.

Revision ID: 0005_detours
Revises: 0004_tickets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_detours"
down_revision = "0004_tickets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bus_detours",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("bus", sa.Text(), nullable=False),
        sa.Column("school", sa.Text(), nullable=False),
        sa.Column("starts", sa.Double(), nullable=False),
        sa.Column("ends", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bus_detours")),
    )
    op.create_index("ix_bus_detours_bus_starts", "bus_detours", ["bus", "starts"])
    op.create_index("ix_bus_detours_ends", "bus_detours", ["ends"])


def downgrade() -> None:
    op.drop_index("ix_bus_detours_ends", table_name="bus_detours")
    op.drop_index("ix_bus_detours_bus_starts", table_name="bus_detours")
    op.drop_table("bus_detours")

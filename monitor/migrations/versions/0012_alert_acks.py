"""Acknowledgements asked of another instance (contract §5, §9): an instance that does not own an
alert's school records the request here; the owning instance applies it on its next tick and
deletes the row once the acknowledgement is stored.

Revision ID: 0012_alert_acks
Revises: 0011_device_kinds
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_alert_acks"
down_revision = "0011_device_kinds"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_acks",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Text(), nullable=False),
        sa.Column("school", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_acks")),
    )
    op.create_index("ix_alert_acks_school", "alert_acks", ["school"])


def downgrade() -> None:
    op.drop_index("ix_alert_acks_school", table_name="alert_acks")
    op.drop_table("alert_acks")

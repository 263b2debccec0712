"""The state history, the monitor's runs and the monitoring-use record (issue 14).

Revision ID: 0010_records
Revises: 0009_cluster
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_records"
down_revision = "0009_cluster"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "device_history",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("school", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_history")),
    )
    op.create_index(op.f("ix_device_history_school_time"), "device_history", ["school", "time"])
    op.create_index(op.f("ix_device_history_school_kind_device_time"), "device_history",
                    ["school", "kind", "device", "time"])
    op.create_table(
        "monitor_runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("alive_at", sa.Double(), nullable=False),
        sa.Column("stopped_at", sa.Double(), nullable=True),
        sa.Column("ended", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_runs")),
    )
    op.create_table(
        "watch_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("school", sa.Text(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("via", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_log")),
    )
    op.create_index(op.f("ix_watch_log_school_at"), "watch_log", ["school", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_watch_log_school_at"), table_name="watch_log")
    op.drop_table("watch_log")
    op.drop_table("monitor_runs")
    op.drop_index(op.f("ix_device_history_school_kind_device_time"), table_name="device_history")
    op.drop_index(op.f("ix_device_history_school_time"), table_name="device_history")
    op.drop_table("device_history")

"""Core tables: registry, device states, alarm events, judgements.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "registry_imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.Double(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_imports")),
    )
    op.create_table(
        "schools",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schools")),
    )
    op.create_table(
        "routes",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("corridor_m", sa.Double(), nullable=False),
        sa.Column("speed_limit_kmh", sa.Double(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("slow_stretches", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
    )
    op.create_table(
        "zones",
        sa.Column("school", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("min_live", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["school"], ["schools.id"], name=op.f("fk_zones_school_schools")),
        sa.PrimaryKeyConstraint("school", "id", name=op.f("pk_zones")),
    )
    op.create_table(
        "buses",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("school", sa.Text(), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("plate", sa.Text(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["route"], ["routes.id"], name=op.f("fk_buses_route_routes")),
        sa.ForeignKeyConstraint(["school"], ["schools.id"], name=op.f("fk_buses_school_schools")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buses")),
    )
    op.create_table(
        "devices",
        sa.Column("school", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=True),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("interval_s", sa.Double(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("route", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("last_seen", sa.Double(), nullable=True),
        sa.Column("state_since", sa.Double(), nullable=True),
        sa.CheckConstraint("kind IN ('camera', 'alarm', 'gps')", name=op.f("ck_devices_kind")),
        sa.ForeignKeyConstraint(["route"], ["routes.id"], name=op.f("fk_devices_route_routes")),
        sa.ForeignKeyConstraint(["school"], ["schools.id"], name=op.f("fk_devices_school_schools")),
        sa.ForeignKeyConstraint(
            ["school", "zone"], ["zones.school", "zones.id"], name=op.f("fk_devices_school_zone_zones")
        ),
        sa.PrimaryKeyConstraint("school", "kind", "id", name=op.f("pk_devices")),
        postgresql_with={"fillfactor": 70},
    )
    op.create_table(
        "alarm_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("school", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("received", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_events")),
        sa.UniqueConstraint(
            "school", "device", "event_id", name=op.f("uq_alarm_events_school_device_event_id")
        ),
    )
    op.create_index(op.f("ix_alarm_events_received"), "alarm_events", ["received"])
    op.create_table(
        "judgements",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("school", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judgements")),
    )
    op.create_index(op.f("ix_judgements_time"), "judgements", ["time"])


def downgrade() -> None:
    op.drop_index(op.f("ix_judgements_time"), table_name="judgements")
    op.drop_table("judgements")
    op.drop_index(op.f("ix_alarm_events_received"), table_name="alarm_events")
    op.drop_table("alarm_events")
    op.drop_table("devices")
    op.drop_table("buses")
    op.drop_table("zones")
    op.drop_table("routes")
    op.drop_table("schools")
    op.drop_table("registry_imports")

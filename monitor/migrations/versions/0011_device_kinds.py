"""Face terminals and NVRs are devices too: the `devices.kind` check takes every kind.

Before this, importing a registry with `faces:` or `nvrs:` failed on the check constraint.

Revision ID: 0011_device_kinds
Revises: 0010_records
"""

from __future__ import annotations

from alembic import op

revision = "0011_device_kinds"
down_revision = "0010_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_constraint(op.f("ck_devices_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_devices_kind"), "kind IN ('camera', 'alarm', 'gps', 'face', 'nvr')")


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_constraint(op.f("ck_devices_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_devices_kind"), "kind IN ('camera', 'alarm', 'gps')")

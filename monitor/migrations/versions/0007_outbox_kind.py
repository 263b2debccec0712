"""Outbox rows carry their kind: an alert change, or a daily digest sent through the outbox.

Revision ID: 0007_outbox_kind
Revises: 0006_tracks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_outbox_kind"
down_revision = "0006_tracks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("kind", sa.Text(), nullable=False, server_default="alert"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("kind")

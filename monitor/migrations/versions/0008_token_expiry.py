"""API tokens may expire (`token create --expires-in`).

Revision ID: 0008_token_expiry
Revises: 0007_outbox_kind
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_token_expiry"
down_revision = "0007_outbox_kind"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires")

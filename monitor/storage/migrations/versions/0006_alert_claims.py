"""Alerts carry a sender's lease, so several Harken processes can share one outbox, and the
destinations a partly failed alert already reached, so a retry goes only to the others.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: nothing is copied, so no foreign key can cascade on SQLite.
    op.add_column("alerts", sa.Column("claimed_by", sa.String(100), nullable=True))
    op.add_column("alerts", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("alerts", sa.Column("delivered_to", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("delivered_to")
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")

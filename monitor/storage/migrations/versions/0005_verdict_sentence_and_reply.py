"""Verdicts keep the sentence that decided their sentiment and the reply template a rule chose.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: nothing is copied, so no foreign key can cascade on SQLite.
    op.add_column("verdicts", sa.Column("sentence", sa.Text(), server_default="", nullable=False))
    op.add_column("verdicts", sa.Column("reply", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_column("reply")
        batch.drop_column("sentence")

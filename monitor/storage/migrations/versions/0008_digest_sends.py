"""A digest's send is recorded before it is made: its period, Message-ID and recipients, so a
send that a crash cut short is repeated as the same message rather than a new, longer one.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "digest_sends",
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_digest_sends"),
    )


def downgrade() -> None:
    # A send under way is forgotten: the next digest covers its period from the watermark.
    op.drop_table("digest_sends")

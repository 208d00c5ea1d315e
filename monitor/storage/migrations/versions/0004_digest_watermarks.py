"""One watermark per scheduled digest: which digest ([digest] or a [[digests]] table) a row records.

Rows recorded before this revision get "": they were all sent by the [digest] section, so its
watermark carries on where it was.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: nothing is copied, so no foreign key can cascade on SQLite.
    op.add_column("digests", sa.Column("digest", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    # The [[digests]] rows go with the column: without it they would read as [digest]'s.
    op.execute("DELETE FROM digests WHERE digest <> ''")
    with op.batch_alter_table("digests") as batch:
        batch.drop_column("digest")

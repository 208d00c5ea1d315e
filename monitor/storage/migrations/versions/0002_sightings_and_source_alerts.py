"""Threads, raw payloads and canonical URLs on mentions; sightings; source health and alerts.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch copy: on SQLite, dropping the old mentions table while
    # foreign keys are on would cascade-delete every verdict and alert.
    op.add_column("mentions", sa.Column("thread_id", sa.Text(), server_default="", nullable=False))
    op.add_column("mentions", sa.Column("parent_id", sa.Text(), server_default="", nullable=False))
    op.add_column("mentions", sa.Column("raw", sa.JSON(), nullable=True))
    # Rows stored before this revision keep "": they take no part in cross-source matching.
    op.add_column(
        "mentions", sa.Column("canonical_url", sa.Text(), server_default="", nullable=False)
    )
    op.create_index("ix_mentions_canonical_url", "mentions", ["canonical_url"])

    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mention_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("seen_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mentions.id"],
            name="fk_sightings_mention_id_mentions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sightings"),
        sa.UniqueConstraint("source", "item_id", name="uq_sightings_source_item_id"),
    )
    op.create_index("ix_sightings_mention_id", "sightings", ["mention_id"])
    op.create_index("ix_sightings_source_seen_at", "sightings", ["source", "seen_at"])
    # Every stored mention was first seen by the source that stored it.
    op.execute(
        "INSERT INTO sightings (mention_id, source, item_id, url, seen_at) "
        "SELECT id, source, item_id, url, stored_at FROM mentions"
    )

    op.add_column(
        "source_health",
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("source_health", sa.Column("backoff_until", _utc(), nullable=True))
    op.add_column("source_health", sa.Column("disabled_reason", sa.Text(), nullable=True))
    op.add_column(
        "source_health",
        sa.Column("alerted", sa.Boolean(), server_default=sa.false(), nullable=False),
    )

    # Nothing refers to alerts, so SQLite may copy it to make mention_id nullable.
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), server_default="mention", nullable=False))
        batch.add_column(sa.Column("source", sa.Text(), nullable=True))
        batch.add_column(sa.Column("message", sa.Text(), nullable=True))
        batch.alter_column("mention_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM alerts WHERE kind <> 'mention'")
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("mention_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("message")
        batch.drop_column("source")
        batch.drop_column("kind")

    for column in ("alerted", "disabled_reason", "backoff_until", "consecutive_failures"):
        op.drop_column("source_health", column)

    op.drop_table("sightings")

    op.drop_index("ix_mentions_canonical_url", table_name="mentions")
    for column in ("canonical_url", "raw", "parent_id", "thread_id"):
        op.drop_column("mentions", column)

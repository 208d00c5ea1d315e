"""Alert lifecycle: a mention alert's state and escalation level, escalation deliveries, events.

Alerts stored before this revision keep no state (NULL): they predate acknowledgement, so they
neither escalate nor show in ``harken alerts list``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # Still nothing refers to alerts, so SQLite may copy it to add the foreign key; from here
    # on alert_events does, and later migrations must not copy alerts with foreign keys on.
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("state", sa.String(20), nullable=True))
        batch.add_column(sa.Column("level", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_alerts_parent_id_alerts", "alerts", ["parent_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_alerts_state", ["state"])
        batch.create_index("ix_alerts_parent_id", ["parent_id"])

    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("who", sa.Text(), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name="fk_alert_events_alert_id_alerts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
    )
    op.create_index("ix_alert_events_alert_id", "alert_events", ["alert_id"])


def downgrade() -> None:
    op.drop_table("alert_events")
    op.execute("DELETE FROM alerts WHERE kind = 'escalation'")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_parent_id")
        batch.drop_index("ix_alerts_state")
        batch.drop_constraint("fk_alerts_parent_id_alerts", type_="foreignkey")
        batch.drop_column("parent_id")
        batch.drop_column("level")
        batch.drop_column("state")

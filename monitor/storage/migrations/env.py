"""Alembic's entry point: migrate the connection that Storage hands over in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from monitor.storage.models import Base, described_by_models


def run_migrations() -> None:
    """Upgrade the connection passed as ``config.attributes["connection"]``; no alembic.ini."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection) or context.is_offline_mode():
        raise RuntimeError("Harken's migrations run only through monitor.storage.Storage")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        include_name=described_by_models,  # the search index is no model (0007)
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()

"""Full-text search over mentions, in the database's own index.

SQLite: an FTS5 table with external content (``mentions`` itself holds the text, the index
only its tokens), kept in step by triggers, so every writer (a poll, a purge, an older Harken
still running) updates it without knowing it exists. A later migration that copies
``mentions`` (batch_alter_table on SQLite) drops these triggers and must create them again.

PostgreSQL: a GIN index over the same expression ``search.py`` matches against; the planner
uses it only while the two expressions are identical, hence ``SEARCH_DOCUMENT`` in one place.

Neither is a model (``models.py``): ``models.described_by_models`` leaves them out of schema
comparisons.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

from monitor.storage.models import SEARCH_DOCUMENT, SEARCH_INDEX, SEARCH_TABLE

revision = "0007"
# Another branch adds 0007; the merge re-points this, so nothing here may depend on it.
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = "title, text, author"
_NEW = "new.title, new.text, new.author"
_OLD = "old.title, old.text, old.author"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX {SEARCH_INDEX} ON mentions USING gin ({SEARCH_DOCUMENT})")
        return
    # unicode61 with remove_diacritics 2: "cafe" finds "café", as PostgreSQL's 'simple' does not
    # but a person expects.
    op.execute(
        f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5({_COLUMNS}, content='mentions', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        f"CREATE TRIGGER {SEARCH_TABLE}_insert AFTER INSERT ON mentions BEGIN "
        f"INSERT INTO {SEARCH_TABLE}(rowid, {_COLUMNS}) VALUES (new.id, {_NEW}); END"
    )
    # External content: the index forgets a row only when told the values it indexed.
    op.execute(
        f"CREATE TRIGGER {SEARCH_TABLE}_delete AFTER DELETE ON mentions BEGIN "
        f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, {_COLUMNS}) "
        f"VALUES ('delete', old.id, {_OLD}); END"
    )
    op.execute(
        f"CREATE TRIGGER {SEARCH_TABLE}_update AFTER UPDATE OF {_COLUMNS} ON mentions BEGIN "
        f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, {_COLUMNS}) "
        f"VALUES ('delete', old.id, {_OLD}); "
        f"INSERT INTO {SEARCH_TABLE}(rowid, {_COLUMNS}) VALUES (new.id, {_NEW}); END"
    )
    # Mentions stored before this revision.
    op.execute(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX {SEARCH_INDEX}")
        return
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER {SEARCH_TABLE}_{trigger}")
    op.execute(f"DROP TABLE {SEARCH_TABLE}")

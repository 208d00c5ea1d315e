"""What every part of Storage shares: the engine, its transactions and the outage watch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage import database
from monitor.storage.availability import Availability


class StorageBase:
    """An open, migrated database; the per-domain parts of Storage build on it."""

    def __init__(self, url: str) -> None:
        parsed = database.parse_url(url)
        self._engine = database.create(parsed)
        try:
            database.upgrade(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self._engine.execution_options(**{database.READ_ONLY: True}), expire_on_commit=False
        )
        self.availability = Availability()

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Session]:
        with (
            self.availability.watch(writes=True),
            database.translate_errors(self._engine, doing),
            self._sessions.begin() as session,
        ):
            yield session

    @contextmanager
    def _read(self, doing: str) -> Iterator[Session]:
        with (
            self.availability.watch(writes=False),
            database.translate_errors(self._engine, doing),
            self._readers.begin() as session,
        ):
            yield session

    def _insert(self, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
        return database.insert(self._engine.dialect, model)

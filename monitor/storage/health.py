"""How each source's polls have gone: failures in a row, backoff, and its open health alert."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.storage import rows
from monitor.storage.base import StorageBase
from monitor.storage.models import SourceHealthRow
from monitor.storage.records import SourceHealth


class HealthStore(StorageBase):
    """One health row per source, changed by each poll's outcome."""

    def record_source_result(
        self,
        source: str,
        now: datetime,
        error: str | None,
        *,
        retry_at: datetime | None = None,
        disabled_reason: str | None = None,
    ) -> SourceHealth:
        """Record one poll's outcome; the result says if the source started failing or recovered.

        A failure counts one more consecutive failure and keeps ``retry_at`` (the earliest next
        poll) and ``disabled_reason``; a success clears all three.
        """
        with self._transaction(f"record the health of source {source!r}") as session:
            row = self._health_row(session, source)
            started_failing = recovered = False
            if error is None:
                recovered = row.failing_since is not None
                row.last_success_at = now
                row.failing_since = None
                row.consecutive_failures = 0
                row.backoff_until = None
                row.disabled_reason = None
            else:
                started_failing = row.failing_since is None
                row.last_error = error
                row.last_error_at = now
                if started_failing:
                    row.failing_since = now
                row.consecutive_failures += 1
                row.backoff_until = retry_at
                row.disabled_reason = disabled_reason
            session.flush()
            return rows.health(row, started_failing=started_failing, recovered=recovered)

    def set_source_alerted(self, source: str, alerted: bool) -> None:
        """Record whether an admin health alert about the source is open."""
        with self._transaction(f"record the health alert of source {source!r}") as session:
            self._health_row(session, source).alerted = alerted

    def health_of(self, source: str) -> SourceHealth | None:
        """One source's health, or None before its first poll."""
        with self._read("read source health") as session:
            row = session.get(SourceHealthRow, source)
            return rows.health(row) if row is not None else None

    def source_health(self) -> list[SourceHealth]:
        """Every source's health, by name."""
        with self._read("read source health") as session:
            found = session.scalars(select(SourceHealthRow).order_by(SourceHealthRow.source)).all()
            return [rows.health(row) for row in found]

    def _health_row(self, session: Session, source: str) -> SourceHealthRow:
        # Create the row first so the lock below has something to hold on PostgreSQL.
        session.execute(
            self._insert(SourceHealthRow).values(source=source).on_conflict_do_nothing()
        )
        return session.scalars(
            select(SourceHealthRow).where(SourceHealthRow.source == source).with_for_update()
        ).one()

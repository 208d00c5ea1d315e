"""Storage: everything Harken keeps between polls, behind one small interface."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from monitor.errors import StorageError
from monitor.mention import Poll, Severity, Verdict
from monitor.storage import database, rows
from monitor.storage.models import (
    AlertRow,
    CursorRow,
    DigestRow,
    MentionRow,
    SourceHealthRow,
    VerdictRow,
)
from monitor.storage.records import PendingAlert, SourceHealth, StoredVerdict

PENDING, SENT, FAILED = "pending", "sent", "failed"
_SEVERITY_RANK = case(
    {severity.value: severity.rank for severity in Severity},
    value=VerdictRow.severity,
    else_=-1,
)


class Storage:
    """Mentions, verdicts, cursors, source health, the alert outbox and digests, in SQL."""

    def __init__(self, url: str) -> None:
        parsed = database.parse_url(url)
        self._engine = database.create(parsed)
        try:
            database.upgrade(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[Session]:
        with database.translate_errors(self._engine, doing), self._sessions.begin() as session:
            yield session

    def _insert(self, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(model)
        return sqlite.insert(model)

    def cursor(self, source: str) -> dict[str, Any]:
        """The source's cursor as its last poll left it; {} if it was never polled."""
        with self._transaction(f"read the cursor of source {source!r}") as session:
            state = session.scalar(select(CursorRow.state).where(CursorRow.source == source))
        return dict(state) if state is not None else {}

    def save_poll(
        self,
        source: str,
        poll: Poll,
        verdicts: Sequence[Verdict],
        now: datetime,
        alert_if: Callable[[Verdict], bool],
    ) -> list[Verdict]:
        """Store the poll's new matched verdicts, its cursor and their alerts in one transaction.

        Returns the verdicts stored by this call, in input order; items already stored (by an
        earlier poll or a concurrent process) are skipped.
        """
        for verdict in verdicts:
            if verdict.mention.source != source:
                raise ValueError(
                    f"mention {verdict.mention.id!r} is from source {verdict.mention.source!r}, "
                    f"not {source!r}"
                )
        fresh: list[Verdict] = []
        with self._transaction(f"save a poll of source {source!r}") as session:
            for verdict in verdicts:
                if not verdict.matched:
                    continue
                mention_id = session.scalar(
                    self._insert(MentionRow)
                    .values(rows.mention_values(verdict.mention, now))
                    .on_conflict_do_nothing(index_elements=["source", "item_id"])
                    .returning(MentionRow.id)
                )
                if mention_id is None:
                    continue
                session.execute(insert(VerdictRow).values(rows.verdict_values(mention_id, verdict)))
                if alert_if(verdict):
                    session.execute(
                        insert(AlertRow).values(
                            mention_id=mention_id,
                            groups=list(verdict.notify),
                            status=PENDING,
                            attempts=0,
                            created_at=now,
                            next_attempt_at=now,
                        )
                    )
                fresh.append(verdict)
            upsert = self._insert(CursorRow).values(
                source=source, state=dict(poll.cursor), updated_at=now
            )
            session.execute(
                upsert.on_conflict_do_update(
                    index_elements=["source"],
                    set_={"state": upsert.excluded.state, "updated_at": upsert.excluded.updated_at},
                )
            )
        return fresh

    def verdicts_between(self, start: datetime, end: datetime) -> list[StoredVerdict]:
        """Matched mentions stored in [start, end): most severe first, then newest first."""
        query = (
            select(MentionRow, VerdictRow)
            .join(VerdictRow, VerdictRow.mention_id == MentionRow.id)
            .where(MentionRow.stored_at >= start, MentionRow.stored_at < end)
            .order_by(_SEVERITY_RANK.desc(), MentionRow.stored_at.desc(), MentionRow.id.desc())
        )
        with self._transaction("read stored verdicts") as session:
            found = session.execute(query).all()
        return [
            StoredVerdict(
                id=mention.id, verdict=rows.verdict(mention, verdict), stored_at=mention.stored_at
            )
            for mention, verdict in found
        ]

    def pending_alerts(self, now: datetime, limit: int = 100) -> list[PendingAlert]:
        """Alerts due for delivery at ``now``, oldest first."""
        query = (
            select(AlertRow, MentionRow, VerdictRow)
            .join(MentionRow, MentionRow.id == AlertRow.mention_id)
            .join(VerdictRow, VerdictRow.mention_id == MentionRow.id)
            .where(AlertRow.status == PENDING, AlertRow.next_attempt_at <= now)
            .order_by(AlertRow.created_at, AlertRow.id)
            .limit(limit)
        )
        with self._transaction("read pending alerts") as session:
            found = session.execute(query).all()
        return [
            PendingAlert(
                id=alert.id,
                verdict=rows.verdict(mention, verdict),
                groups=tuple(alert.groups),
                attempts=alert.attempts,
                created_at=alert.created_at,
            )
            for alert, mention, verdict in found
        ]

    def mark_alert_sent(self, alert_id: int, now: datetime, message_id: str) -> None:
        """Record that the alert was delivered."""
        self._update_alert(
            alert_id,
            "mark an alert sent",
            status=SENT,
            attempts=AlertRow.attempts + 1,
            last_attempt_at=now,
            sent_at=now,
            message_id=message_id,
        )

    def mark_alert_failed(
        self, alert_id: int, now: datetime, error: str, retry_at: datetime | None
    ) -> None:
        """Record a failed delivery: retry at ``retry_at``, or give up for good if it is None."""
        retry: dict[str, Any] = (
            {"status": FAILED} if retry_at is None else {"next_attempt_at": retry_at}
        )
        self._update_alert(
            alert_id,
            "mark an alert failed",
            attempts=AlertRow.attempts + 1,
            last_attempt_at=now,
            last_error=error,
            **retry,
        )

    def _update_alert(self, alert_id: int, doing: str, **values: Any) -> None:
        # Only a pending alert changes: a sent alert must never turn failed, nor the reverse.
        with self._transaction(doing) as session:
            result = session.execute(
                update(AlertRow)
                .where(AlertRow.id == alert_id, AlertRow.status == PENDING)
                .values(**values),
                execution_options={"synchronize_session": False},
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise StorageError(f"could not {doing}: there is no pending alert {alert_id}")

    def alert_counts(self) -> dict[str, int]:
        """How many alerts are pending, sent and failed for good."""
        counts = {PENDING: 0, SENT: 0, FAILED: 0}
        query = select(AlertRow.status, func.count()).group_by(AlertRow.status)
        with self._transaction("count alerts") as session:
            for status, count in session.execute(query):
                counts[status] = count
        return counts

    def first_stored_at(self) -> datetime | None:
        """When the oldest stored mention was stored, or None while there is none."""
        with self._transaction("read the oldest mention") as session:
            return session.scalar(select(func.min(MentionRow.stored_at)))

    def last_digest_end(self) -> datetime | None:
        """The end of the latest digest period recorded, or None before the first digest."""
        with self._transaction("read the last digest") as session:
            return session.scalar(
                select(DigestRow.period_end).order_by(DigestRow.period_end.desc()).limit(1)
            )

    def record_digest(
        self,
        start: datetime,
        end: datetime,
        sent_at: datetime,
        recipients: Sequence[str],
        mention_count: int,
    ) -> None:
        """Record a sent digest; its end becomes the next digest's start."""
        row = DigestRow(
            period_start=start,
            period_end=end,
            sent_at=sent_at,
            recipients=list(recipients),
            mention_count=mention_count,
        )
        with self._transaction("record a digest") as session:
            session.add(row)

    def record_source_result(self, source: str, now: datetime, error: str | None) -> SourceHealth:
        """Record one poll's outcome; the result says if the source started failing or recovered."""
        with self._transaction(f"record the health of source {source!r}") as session:
            # Create the row first so the lock below has something to hold on PostgreSQL.
            session.execute(
                self._insert(SourceHealthRow).values(source=source).on_conflict_do_nothing()
            )
            row = session.scalars(
                select(SourceHealthRow).where(SourceHealthRow.source == source).with_for_update()
            ).one()
            started_failing = recovered = False
            if error is None:
                recovered = row.failing_since is not None
                row.last_success_at = now
                row.failing_since = None
            else:
                started_failing = row.failing_since is None
                row.last_error = error
                row.last_error_at = now
                if started_failing:
                    row.failing_since = now
            session.flush()
            return rows.health(row, started_failing=started_failing, recovered=recovered)

    def source_health(self) -> list[SourceHealth]:
        """Every source's health, by name."""
        with self._transaction("read source health") as session:
            found = session.scalars(select(SourceHealthRow).order_by(SourceHealthRow.source)).all()
            return [rows.health(row) for row in found]

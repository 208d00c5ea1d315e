"""Storage: everything Harken keeps between polls, behind one small interface."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, sessionmaker

from monitor.errors import StorageError
from monitor.mention import Poll, Severity, Verdict
from monitor.storage import alert_history, database, rows, stories
from monitor.storage.availability import Availability
from monitor.storage.models import (
    ACKNOWLEDGED,
    CANCELLED,
    FAILED,
    MENTION_ALERT,
    NOTIFIED,
    PENDING,
    RESOLVED,
    SENT,
    SOURCE_ALERT,
    AlertEventRow,
    AlertRow,
    CursorRow,
    DigestRow,
    MentionRow,
    SightingRow,
    SourceHealthRow,
    VerdictRow,
)
from monitor.storage.records import (
    AlertChange,
    AlertEvent,
    AlertStatus,
    OpenAlert,
    PendingAlert,
    RuleFiring,
    Sighting,
    SourceHealth,
    StoredVerdict,
)
from monitor.urls import canonical_url

_SEVERITY_RANK = case(
    {severity.value: severity.rank for severity in Severity},
    value=VerdictRow.severity,
    else_=-1,
)


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    """No sender holds the alert: never claimed, or its claimant's lease has run out."""
    return or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until <= now)


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

    def cursor(self, source: str) -> dict[str, Any]:
        """The source's cursor as its last poll left it; {} if it was never polled."""
        return self.poll_state(source)[0]

    def poll_state(self, source: str) -> tuple[dict[str, Any], SourceHealth | None]:
        """The source's cursor and health, read together before a poll, without a lock."""
        with self._read(f"read the cursor of source {source!r}") as session:
            state = session.scalar(select(CursorRow.state).where(CursorRow.source == source))
            row = session.get(SourceHealthRow, source)
            health = rows.health(row) if row is not None else None
        return (dict(state) if state is not None else {}), health

    def save_poll(
        self,
        source: str,
        poll: Poll,
        verdicts: Sequence[Verdict],
        now: datetime,
    ) -> list[Verdict]:
        """Store the poll's new matched verdicts, its cursor and their alerts in one transaction.

        A story already stored under the same canonical URL, through any source, is not stored
        again: the item becomes one more sighting of it, with no alert. Returns the verdicts
        stored by this call, in input order; items already stored (by an earlier poll or a
        concurrent process) are skipped.
        """
        for verdict in verdicts:
            if verdict.mention.source != source:
                raise ValueError(
                    f"mention {verdict.mention.id!r} is from source {verdict.mention.source!r}, "
                    f"not {source!r}"
                )
        matched = [(v, canonical_url(v.mention.url)) for v in verdicts if v.matched]
        fresh: list[Verdict] = []
        with self._transaction(f"save a poll of source {source!r}") as session:
            stories.lock(session, {key for _, key in matched if key})
            for verdict, key in matched:
                if stories.save_verdict(session, verdict, key, now):
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

    def sightings(self, mention_id: int) -> list[Sighting]:
        """Every source item that reached the stored mention, first seen first."""
        query = (
            select(SightingRow)
            .where(SightingRow.mention_id == mention_id)
            .order_by(SightingRow.seen_at, SightingRow.id)
        )
        with self._transaction(f"read the sightings of mention {mention_id}") as session:
            return [rows.sighting(row) for row in session.scalars(query)]

    def mentions_stored_since(self, source: str, since: datetime) -> int:
        """Matched items of the source stored since ``since``, repeats of other sources' stories too."""
        query = select(func.count()).where(
            SightingRow.source == source, SightingRow.seen_at >= since
        )
        with self._transaction(f"count the mentions of source {source!r}") as session:
            count = session.scalar(query)
        return int(count or 0)

    def last_stored_at(self, source: str) -> datetime | None:
        """When the source's latest matched item was stored (or sighted as a repeat); None if never."""
        query = select(func.max(SightingRow.seen_at)).where(SightingRow.source == source)
        with self._transaction(f"read the latest mention of source {source!r}") as session:
            return session.scalar(query)

    def verdicts_between(self, start: datetime, end: datetime) -> list[StoredVerdict]:
        """Matched mentions stored in [start, end): most severe first, then newest first."""
        query = (
            select(MentionRow, VerdictRow)
            .join(VerdictRow, VerdictRow.mention_id == MentionRow.id)
            .where(MentionRow.stored_at >= start, MentionRow.stored_at < end)
            .order_by(_SEVERITY_RANK.desc(), MentionRow.stored_at.desc(), MentionRow.id.desc())
        )
        with self._read("read stored verdicts") as session:
            found = session.execute(query).all()
        return [
            StoredVerdict(
                id=mention.id, verdict=rows.verdict(mention, verdict), stored_at=mention.stored_at
            )
            for mention, verdict in found
        ]

    def rule_firings(self, start: datetime, end: datetime) -> list[RuleFiring]:
        """What spike rules count of the mentions stored in [start, end), in the order of
        ``verdicts_between``; only the columns they need, read without a lock, since the
        baseline spans days of mentions and is read every few minutes."""
        query = (
            select(
                MentionRow.stored_at,
                VerdictRow.rules,
                VerdictRow.label,
                MentionRow.title,
                MentionRow.url,
            )
            .join(VerdictRow, VerdictRow.mention_id == MentionRow.id)
            .where(MentionRow.stored_at >= start, MentionRow.stored_at < end)
            .order_by(_SEVERITY_RANK.desc(), MentionRow.stored_at.desc(), MentionRow.id.desc())
        )
        with self._read("read the rules fired on stored mentions") as session:
            found = session.execute(query).all()
        return [
            RuleFiring(stored_at, tuple(fired), label == "negative", title, url)
            for stored_at, fired, label, title, url in found
        ]

    def pending_alerts(self, now: datetime, limit: int = 100) -> list[PendingAlert]:
        """Alerts due for delivery at ``now`` that no sender holds, oldest first."""
        parent = aliased(AlertRow)
        query = (
            select(AlertRow, MentionRow, VerdictRow, parent.state)
            .outerjoin(MentionRow, MentionRow.id == AlertRow.mention_id)
            .outerjoin(VerdictRow, VerdictRow.mention_id == MentionRow.id)
            .outerjoin(parent, parent.id == AlertRow.parent_id)
            .where(AlertRow.status == PENDING, AlertRow.next_attempt_at <= now, _unclaimed(now))
            .order_by(AlertRow.created_at, AlertRow.id)
            .limit(limit)
        )
        with self._transaction("read pending alerts") as session:
            found = session.execute(query).all()
        return [
            rows.pending_alert(alert, mention, verdict, parent_state)
            for alert, mention, verdict, parent_state in found
        ]

    def claim_alerts(
        self, alert_ids: Sequence[int], claimant: str, now: datetime, until: datetime
    ) -> set[int]:
        """Lease the pending alerts among ``alert_ids`` that no other sender holds to
        ``claimant`` until ``until``; returns the ids it got.

        Several processes may share one outbox: only the claimant sends, and a claimant that
        dies leaves a lease that runs out, after which any sender takes the alert.
        """
        free = (
            select(AlertRow.id)
            .where(AlertRow.id.in_(alert_ids), AlertRow.status == PENDING, _unclaimed(now))
            # PostgreSQL: rows another sender is claiming right now are passed over, not waited
            # for. SQLite has no row locks: BEGIN IMMEDIATE already lets one claimant at a time.
            .with_for_update(skip_locked=True)
        )
        with self._transaction("claim alerts to send") as session:
            taken = list(session.scalars(free))
            if taken:
                session.execute(
                    update(AlertRow)
                    .where(AlertRow.id.in_(taken))
                    .values(claimed_by=claimant, claimed_until=until),
                    execution_options={"synchronize_session": False},
                )
        return set(taken)

    def claimants(self, now: datetime) -> set[str]:
        """Who holds a live claim on a pending alert (``alerts.claimed_by``)."""
        with self._read("read who is sending alerts") as session:
            held = session.scalars(
                select(AlertRow.claimed_by)
                .where(AlertRow.status == PENDING, AlertRow.claimed_until > now)
                .distinct()
            )
            return {claimant for claimant in held if claimant}

    def release_claims(self, claimants: Sequence[str]) -> int:
        """End the claims of ``claimants`` (senders known to be dead) at once; returns how many."""
        if not claimants:
            return 0
        with self._transaction("release dead senders' claims") as session:
            result = session.execute(
                update(AlertRow)
                .where(AlertRow.status == PENDING, AlertRow.claimed_by.in_(claimants))
                .values(claimed_by=None, claimed_until=None),
                execution_options={"synchronize_session": False},
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def enqueue_source_alert(
        self, source: str, now: datetime, message: str, groups: Sequence[str]
    ) -> int:
        """Queue an email about a source itself; returns the alert's id.

        ``message`` starts with a short state in Harken's own words, ended by a colon or a line
        break (``stopped hearing: HTTP 503 since 09:00``): only that state reaches the subject.
        The details after it, platform text included, only reach the body.
        """
        row = AlertRow(
            kind=SOURCE_ALERT,
            source=source,
            message=message,
            groups=list(groups),
            status=PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        with self._transaction(f"queue an alert about source {source!r}") as session:
            session.add(row)
            session.flush()
        return row.id

    def mark_alert_sent(
        self,
        alert_id: int,
        now: datetime,
        message_id: str,
        recipients: Sequence[str] = (),
        claimant: str | None = None,
    ) -> None:
        """Record that the alert was delivered (to ``recipients``, kept in its history).

        With ``claimant``, only while that sender still holds the alert's claim.
        """
        doing = "mark an alert sent"
        with self._transaction(doing) as session:
            self._update_pending(
                session,
                alert_id,
                doing,
                claimant,
                status=SENT,
                attempts=AlertRow.attempts + 1,
                last_attempt_at=now,
                sent_at=now,
                message_id=message_id,
            )
            sent = session.execute(
                select(AlertRow.state, AlertRow.parent_id, AlertRow.level).where(
                    AlertRow.id == alert_id
                )
            ).one()
            if sent.state is not None or sent.parent_id is not None:
                alert_history.record(
                    session,
                    sent.parent_id or alert_id,
                    NOTIFIED,
                    now,
                    level=sent.level,
                    note=", ".join(recipients) or None,
                )

    def mark_alert_cancelled(self, alert_id: int) -> bool:
        """Drop a pending escalation that is no longer needed; False if it was not pending."""
        with self._transaction("cancel an alert") as session:
            result = session.execute(
                update(AlertRow)
                .where(AlertRow.id == alert_id, AlertRow.status == PENDING)
                .values(status=CANCELLED),
                execution_options={"synchronize_session": False},
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def mark_alert_failed(
        self,
        alert_id: int,
        now: datetime,
        error: str,
        retry_at: datetime | None,
        claimant: str | None = None,
        delivered: Sequence[str] = (),
    ) -> None:
        """Record a failed delivery: retry at ``retry_at``, or give up for good if it is None.

        ``delivered`` are the destinations that did take it: the retry leaves them out. With
        ``claimant``, only while that sender still holds the alert's claim; the retry is then
        anyone's to take.
        """
        retry: dict[str, Any] = (
            {"status": FAILED} if retry_at is None else {"next_attempt_at": retry_at}
        )
        doing = "mark an alert failed"
        with self._transaction(doing) as session:
            if delivered:
                before = session.scalar(
                    select(AlertRow.delivered_to).where(AlertRow.id == alert_id)
                )
                retry["delivered_to"] = sorted({*(before or ()), *delivered})
            self._update_pending(
                session,
                alert_id,
                doing,
                claimant,
                attempts=AlertRow.attempts + 1,
                last_attempt_at=now,
                last_error=error,
                **retry,
            )

    @staticmethod
    def _update_pending(
        session: Session, alert_id: int, doing: str, claimant: str | None, **values: Any
    ) -> None:
        # Only a pending alert changes: a sent alert must never turn failed, nor the reverse.
        where = [AlertRow.id == alert_id, AlertRow.status == PENDING]
        if claimant is not None:
            where.append(AlertRow.claimed_by == claimant)
        result = session.execute(
            update(AlertRow).where(*where).values(claimed_by=None, claimed_until=None, **values),
            execution_options={"synchronize_session": False},
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            held = f" held by {claimant}" if claimant is not None else ""
            raise StorageError(f"could not {doing}: there is no pending alert {alert_id}{held}")

    # The alert lifecycle ----------------------------------------------------------------------

    def open_urgent_alerts(self) -> list[OpenAlert]:
        """Urgent mention alerts nobody has acknowledged yet, oldest first."""
        with self._transaction("read open alerts") as session:
            return alert_history.open_urgent(session)

    def escalate_alert(
        self,
        alert_id: int,
        from_level: int,
        levels: Sequence[tuple[int, Sequence[str]]],
        now: datetime,
    ) -> bool:
        """Queue a delivery to each (level, groups) and record it, if the alert is still open
        at ``from_level``; False if it was acknowledged or escalated meanwhile."""
        with self._transaction(f"escalate alert {alert_id}") as session:
            return alert_history.escalate(session, alert_id, from_level, levels, now)

    def acknowledge_alert(
        self, alert_id: int, now: datetime, *, who: str, via: str
    ) -> AlertChange | None:
        """Acknowledge an open alert; None if there is no mention alert ``alert_id``."""
        with self._transaction(f"acknowledge alert {alert_id}") as session:
            return alert_history.change(session, alert_id, ACKNOWLEDGED, now, who=who, via=via)

    def resolve_alert(
        self, alert_id: int, now: datetime, *, who: str, via: str, note: str
    ) -> AlertChange | None:
        """Resolve an open or acknowledged alert; None if there is no mention alert ``alert_id``."""
        with self._transaction(f"resolve alert {alert_id}") as session:
            return alert_history.change(
                session, alert_id, RESOLVED, now, who=who, via=via, note=note
            )

    def alert_status(self, alert_id: int) -> AlertStatus | None:
        """Where one mention alert stands; None if there is no such alert."""
        with self._transaction(f"read alert {alert_id}") as session:
            found = alert_history.statuses(session, [alert_id])
        return found[0] if found else None

    def alert_statuses(self, *, include_resolved: bool = False) -> list[AlertStatus]:
        """Mention alerts not resolved yet (or all of them), oldest first."""
        with self._transaction("read alerts") as session:
            return alert_history.statuses(session, include_resolved=include_resolved)

    def mention_alert_statuses(self, start: datetime, end: datetime) -> dict[int, AlertStatus]:
        """The status of the first alert of each mention stored in [start, end) that raised one,
        by the mention's id."""
        query = (
            select(AlertRow.id, AlertRow.mention_id)
            .join(MentionRow, MentionRow.id == AlertRow.mention_id)
            .where(
                MentionRow.stored_at >= start,
                MentionRow.stored_at < end,
                AlertRow.kind == MENTION_ALERT,
                AlertRow.state.is_not(None),
            )
        )
        with self._transaction("read the alerts of a period's mentions") as session:
            mention_of = {
                alert_id: mention_id
                for alert_id, mention_id in session.execute(query)
                if mention_id is not None
            }
            found = alert_history.statuses(session, list(mention_of)) if mention_of else []
        statuses: dict[int, AlertStatus] = {}
        for status in found:  # oldest first: a mention's first alert wins
            statuses.setdefault(mention_of[status.id], status)
        return statuses

    def alert_events(self, alert_id: int) -> list[AlertEvent]:
        """The alert's history: raised, notified, escalated, acknowledged, resolved."""
        with self._transaction(f"read the history of alert {alert_id}") as session:
            return alert_history.events(session, alert_id)

    def alert_counts(self) -> dict[str, int]:
        """How many alerts are pending, sent and failed for good."""
        counts = {PENDING: 0, SENT: 0, FAILED: 0}
        query = select(AlertRow.status, func.count()).group_by(AlertRow.status)
        with self._read("count alerts") as session:
            for status, count in session.execute(query):
                counts[status] = count
        return counts

    def first_stored_at(self) -> datetime | None:
        """When the oldest stored mention was stored, or None while there is none."""
        with self._transaction("read the oldest mention") as session:
            return session.scalar(select(func.min(MentionRow.stored_at)))

    def last_digest_end(self, digest: str | None = "") -> datetime | None:
        """The end of the latest period recorded for ``digest`` ("" is [digest]; None: any
        digest), or None before its first."""
        query = select(DigestRow.period_end).order_by(DigestRow.period_end.desc()).limit(1)
        if digest is not None:
            query = query.where(DigestRow.digest == digest)
        with self._read("read the last digest") as session:
            return session.scalar(query)

    def record_digest(
        self,
        start: datetime,
        end: datetime,
        sent_at: datetime,
        recipients: Sequence[str],
        mention_count: int,
        *,
        digest: str = "",
    ) -> None:
        """Record a sent digest; its end becomes the next start of the same ``digest``."""
        row = DigestRow(
            period_start=start,
            period_end=end,
            sent_at=sent_at,
            recipients=list(recipients),
            mention_count=mention_count,
            digest=digest,
        )
        with self._transaction("record a digest") as session:
            session.add(row)

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

    def _health_row(self, session: Session, source: str) -> SourceHealthRow:
        # Create the row first so the lock below has something to hold on PostgreSQL.
        session.execute(
            self._insert(SourceHealthRow).values(source=source).on_conflict_do_nothing()
        )
        return session.scalars(
            select(SourceHealthRow).where(SourceHealthRow.source == source).with_for_update()
        ).one()

    def channel_sends_since(self, channel: str, since: datetime) -> int:
        """Alerts delivered to the named channel since ``since`` (grouped alerts count each)."""
        tag = f"channel:{channel}"
        with self._read(f"count what channel {channel!r} was sent") as session:
            count = session.scalar(
                select(func.count())
                .select_from(AlertEventRow)
                .where(
                    AlertEventRow.action == NOTIFIED,
                    AlertEventRow.at >= since,
                    or_(
                        AlertEventRow.note == tag,
                        AlertEventRow.note.like(f"%, {tag}"),
                        AlertEventRow.note.like(f"{tag}, %"),
                        AlertEventRow.note.like(f"%, {tag}, %"),
                    ),
                )
            )
        return int(count or 0)

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

"""The alert outbox: deliveries waiting to be sent, leased to one sender at a time.

Several processes may share one outbox: only the claimant of an alert sends it, and a claimant
that dies leaves a lease that runs out, after which any sender takes the alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from monitor.errors import StorageError
from monitor.storage import alert_history, rows
from monitor.storage.base import StorageBase
from monitor.storage.models import (
    CANCELLED,
    FAILED,
    MENTION_ALERT,
    NOTIFIED,
    PENDING,
    SENT,
    SOURCE_ALERT,
    AlertEventRow,
    AlertRow,
    MentionRow,
    VerdictRow,
)
from monitor.storage.records import PendingAlert


def _unclaimed(now: datetime) -> ColumnElement[bool]:
    """No sender holds the alert: never claimed, or its claimant's lease has run out."""
    return or_(AlertRow.claimed_until.is_(None), AlertRow.claimed_until <= now)


class OutboxStore(StorageBase):
    """Alerts waiting to be sent, who holds them, and how each delivery went."""

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
        ``claimant`` until ``until``; returns the ids it got."""
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
            _update_pending(
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
            _update_pending(
                session,
                alert_id,
                doing,
                claimant,
                attempts=AlertRow.attempts + 1,
                last_attempt_at=now,
                last_error=error,
                **retry,
            )

    def thread_references(self, alert_id: int) -> list[str]:
        """The Message-IDs an alert's email answers, oldest first, so mail clients thread them:
        the first alert sent about the same story (the same thread, the story a comment is on,
        or the same canonical URL), then, for an escalation, the alert it escalates."""
        with self._read(f"read the thread of alert {alert_id}") as session:
            alert = session.get(AlertRow, alert_id)
            if alert is None:
                return []
            escalated = session.get(AlertRow, alert.parent_id) if alert.parent_id else None
            first = escalated or alert
            mention = session.get(MentionRow, first.mention_id) if first.mention_id else None
            references = []
            story = _same_story(mention) if mention is not None else []
            if story:
                earlier = session.scalar(
                    select(AlertRow.message_id)
                    .join(MentionRow, MentionRow.id == AlertRow.mention_id)
                    .where(
                        AlertRow.kind == MENTION_ALERT,
                        AlertRow.id < first.id,
                        AlertRow.message_id.is_not(None),
                        or_(*story),
                    )
                    .order_by(AlertRow.id)
                    .limit(1)
                )
                if earlier:
                    references.append(earlier)
            if escalated is not None and escalated.message_id:
                references.append(escalated.message_id)
        return list(dict.fromkeys(references))

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

    def alert_counts(self) -> dict[str, int]:
        """How many alerts are pending, sent and failed for good."""
        counts = {PENDING: 0, SENT: 0, FAILED: 0}
        query = select(AlertRow.status, func.count()).group_by(AlertRow.status)
        with self._read("count alerts") as session:
            for status, count in session.execute(query):
                counts[status] = count
        return counts


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


def _same_story(mention: MentionRow) -> list[ColumnElement[bool]]:
    """Conditions on MentionRow that hold for the mentions of ``mention``'s story."""
    story: list[ColumnElement[bool]] = []
    if mention.thread_id:
        story.append(
            and_(MentionRow.source == mention.source, MentionRow.thread_id == mention.thread_id)
        )
        # The story itself, when a comment on it comes first to be alerted on.
        story.append(
            and_(MentionRow.source == mention.source, MentionRow.item_id == mention.thread_id)
        )
    # Comments on this mention, when it is the story.
    story.append(and_(MentionRow.source == mention.source, MentionRow.thread_id == mention.item_id))
    if mention.canonical_url:
        story.append(MentionRow.canonical_url == mention.canonical_url)
    return story

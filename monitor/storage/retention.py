"""Forgetting old mentions: each with its verdict, sightings, labels, alerts and their history.

A purge deletes a batch of mentions per transaction, so a purge of millions never holds the
write lock (SQLite's is the whole database) for longer than one batch: polls and
acknowledgements get their turn in between. The search index follows by itself (the triggers
of migration 0007 on SQLite; PostgreSQL's index is over the table).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from monitor.storage.base import StorageBase
from monitor.storage.models import (
    MENTION_ALERT,
    AlertEventRow,
    AlertRow,
    LabelRow,
    MentionRow,
    SightingRow,
    VerdictRow,
)
from monitor.storage.records import Purged

PURGE_BATCH = 2000


class RetentionStore(StorageBase):
    """Deleting mentions stored before a cutoff, and everything that hangs on them."""

    def purge_mentions(
        self,
        before: datetime,
        *,
        only: Sequence[str] = (),
        sparing: Sequence[str] = (),
        batch: int = PURGE_BATCH,
    ) -> Purged:
        """Delete mentions stored before ``before``: only those of severity ``only`` when given,
        none of severity ``sparing`` (they have a retention of their own)."""
        # A mention without a verdict (none is stored so) has severity "" here, so it goes.
        severity = func.coalesce(VerdictRow.severity, "")
        chosen = (
            select(MentionRow.id)
            .outerjoin(VerdictRow, VerdictRow.mention_id == MentionRow.id)
            .where(MentionRow.stored_at < before)
            .order_by(MentionRow.id)
            .limit(batch)
        )
        if only:
            chosen = chosen.where(severity.in_(only))
        if sparing:
            chosen = chosen.where(severity.not_in(sparing))
        mentions = alerts = 0
        while True:
            with self._transaction("purge old mentions") as session:
                ids = list(session.scalars(chosen))
                if not ids:
                    break
                alerts += _delete_batch(session, ids)
            mentions += len(ids)
            if len(ids) < batch:
                break
        return Purged(mentions=mentions, alerts=alerts)


def _delete_batch(session: Session, ids: list[int]) -> int:
    """Delete the mentions ``ids`` and what hangs on them; how many mention alerts went."""
    # Children first, explicitly: the foreign keys cascade too, but a database whose SQLite
    # connection ran without foreign_keys=ON would otherwise keep orphans.
    their_alerts = select(AlertRow.id).where(AlertRow.mention_id.in_(ids))
    alerts = session.scalar(
        select(func.count()).where(AlertRow.mention_id.in_(ids), AlertRow.kind == MENTION_ALERT)
    )
    session.execute(delete(AlertEventRow).where(AlertEventRow.alert_id.in_(their_alerts)))
    # Escalations (parent_id) before the alerts they escalate: both carry the mention's id.
    session.execute(
        delete(AlertRow).where(AlertRow.mention_id.in_(ids), AlertRow.parent_id.is_not(None))
    )
    session.execute(delete(AlertRow).where(AlertRow.mention_id.in_(ids)))
    session.execute(delete(SightingRow).where(SightingRow.mention_id.in_(ids)))
    session.execute(delete(LabelRow).where(LabelRow.mention_id.in_(ids)))
    session.execute(delete(VerdictRow).where(VerdictRow.mention_id.in_(ids)))
    session.execute(delete(MentionRow).where(MentionRow.id.in_(ids)))
    return int(alerts or 0)

"""One story, many sources: a matched item is stored once per canonical URL, then only sighted."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from monitor.mention import Mention, Verdict
from monitor.storage import alert_history, database, rows
from monitor.storage.models import (
    MENTION_ALERT,
    OPEN,
    PENDING,
    RAISED,
    AlertRow,
    MentionRow,
    SightingRow,
    VerdictRow,
)

_LOCK_SPACE = 0x486B  # PostgreSQL advisory locks on canonical URLs are (space, hash) pairs


def lock(session: Session, keys: set[str]) -> None:
    """Hold the stories' canonical URLs until the transaction ends (PostgreSQL only).

    Two transactions storing one story through two sources would each find no earlier copy;
    the lock makes the second wait, then see the first. Sorted, so two polls sharing several
    stories cannot deadlock. SQLite writers already take turns (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(keys):
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"),
            {"space": _LOCK_SPACE, "key": _lock_key(key)},
        )


def save_verdict(
    session: Session,
    verdict: Verdict,
    key: str,
    now: datetime,
) -> bool:
    """Store one matched verdict under canonical URL ``key`` ("" for none); True if stored.

    An item already sighted is skipped; an item whose story is stored already becomes one more
    sighting of it, without an alert.
    """
    mention = verdict.mention
    seen = session.scalar(
        select(SightingRow.id).where(
            SightingRow.source == mention.source, SightingRow.item_id == mention.id
        )
    )
    if seen is not None:
        return False
    if key:
        story = session.scalar(
            select(MentionRow.id)
            .where(MentionRow.canonical_url == key)
            .order_by(MentionRow.id)
            .limit(1)
        )
        if story is not None:
            _add_sighting(session, story, mention, now)
            return False
    dialect = session.get_bind().dialect
    mention_id = session.scalar(
        database.insert(dialect, MentionRow)
        .values(rows.mention_values(mention, now, key))
        .on_conflict_do_nothing(index_elements=["source", "item_id"])
        .returning(MentionRow.id)
    )
    if mention_id is None:  # a concurrent process stored it first
        return False
    session.execute(insert(VerdictRow).values(rows.verdict_values(mention_id, verdict)))
    _add_sighting(session, mention_id, mention, now)
    if verdict.needs_alert:
        alert_id = session.scalar(
            insert(AlertRow)
            .values(
                kind=MENTION_ALERT,
                mention_id=mention_id,
                groups=list(verdict.notify),
                status=PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                state=OPEN,
                level=0,
            )
            .returning(AlertRow.id)
        )
        assert alert_id is not None  # an INSERT without ON CONFLICT returns its row
        alert_history.record(session, alert_id, RAISED, now, level=0)
    return True


def _add_sighting(session: Session, mention_id: int, mention: Mention, now: datetime) -> None:
    session.execute(
        database.insert(session.get_bind().dialect, SightingRow)
        .values(
            mention_id=mention_id,
            source=mention.source,
            item_id=mention.id,
            url=mention.url,
            seen_at=now,
        )
        .on_conflict_do_nothing(index_elements=["source", "item_id"])
    )


def _lock_key(key: str) -> int:
    """A stable signed 32-bit hash of a canonical URL: the same in every Harken process."""
    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)

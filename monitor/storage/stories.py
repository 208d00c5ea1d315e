"""One story, many sources: a matched item is stored once per canonical URL, then only sighted.

``save_verdict`` and ``lock`` run inside a poll's transaction (see polls.py); ``StoryStore``
reads the stored stories back.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import case, func, insert, select, text
from sqlalchemy.orm import Session

from monitor.mention import Mention, Severity, Verdict
from monitor.storage import alert_history, database, rows
from monitor.storage.base import StorageBase
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
from monitor.storage.records import RuleFiring, Sighting, StoredVerdict

_LOCK_SPACE = 0x486B  # PostgreSQL advisory locks on canonical URLs are (space, hash) pairs
_SEVERITY_RANK = case(
    {severity.value: severity.rank for severity in Severity},
    value=VerdictRow.severity,
    else_=-1,
)


class StoryStore(StorageBase):
    """The stored mentions, their verdicts and every source's sightings of them."""

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

    def first_stored_at(self) -> datetime | None:
        """When the oldest stored mention was stored, or None while there is none."""
        with self._transaction("read the oldest mention") as session:
            return session.scalar(select(func.min(MentionRow.stored_at)))

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

"""A source's cursor and what its polls store: the cursor moves in the same transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from monitor.mention import Poll, Verdict
from monitor.storage import rows, stories
from monitor.storage.base import StorageBase
from monitor.storage.models import CursorRow, SourceHealthRow
from monitor.storage.records import SourceHealth
from monitor.urls import canonical_url


class PollStore(StorageBase):
    """Cursors, and saving a poll's verdicts with the cursor that follows them."""

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

    def poll_states(self) -> dict[str, tuple[dict[str, Any], SourceHealth | None]]:
        """Every source's cursor and health in one read: what a cycle of polls starts from.

        A cycle of a thousand 304s would otherwise spend a read transaction per source on
        ``poll_state``. Both tables hold one row per source, so reading them whole is cheap and
        needs no bound on a list of names. A source never polled is missing.
        """
        with self._read("read the cursors of every source") as session:
            cursors: dict[str, dict[str, Any] | None] = {
                source: state
                for source, state in session.execute(select(CursorRow.source, CursorRow.state))
            }
            healths = {
                row.source: rows.health(row) for row in session.scalars(select(SourceHealthRow))
            }
        return {
            name: (dict(cursors.get(name) or {}), healths.get(name))
            for name in cursors.keys() | healths.keys()
        }

    def save_poll(
        self,
        source: str,
        poll: Poll,
        verdicts: Sequence[Verdict],
        now: datetime | Callable[[], datetime],
    ) -> list[Verdict]:
        """Store the poll's new matched verdicts, its cursor and their alerts in one transaction.

        ``now`` as a clock stamps them once the transaction holds SQLite's write lock: a digest
        whose period ends before the stamp then reads them in its next period, and one whose
        period ends after it reads them committed, never one stamped in its period but stored
        after it read.

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
            if callable(now):
                session.connection()  # SQLite's BEGIN IMMEDIATE: the write lock, then the stamp
                now = now()
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

"""Which digest periods were sent: each one's end is where the next of its kind starts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from monitor.storage.base import StorageBase
from monitor.storage.models import DigestRow


class DigestStore(StorageBase):
    """The sent digests, by digest name ("" is the [digest] table)."""

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

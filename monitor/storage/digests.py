"""Which digest periods were sent: each one's end is where the next of its kind starts.

A scheduled send is recorded before it is made (``digest_sends``), so its period and Message-ID
are fixed: a send a crash cut short is repeated as the same message, which mail clients drop
if the first one arrived, and the next period starts where it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Delete, delete, select
from sqlalchemy.orm import Session

from monitor.storage.base import StorageBase
from monitor.storage.models import DigestRow, DigestSendRow
from monitor.storage.records import DigestSend


class DigestStore(StorageBase):
    """The sent digests, by digest name ("" is the [digest] table), and the sends under way."""

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
        with self._transaction("record a digest") as session:
            _add_sent(session, digest, start, end, sent_at, recipients, mention_count)

    def digest_send(self, digest: str = "") -> DigestSend | None:
        """The send of ``digest`` recorded but not finished (a crash cut it short), if any."""
        with self._read("read the digest send under way") as session:
            row = session.get(DigestSendRow, digest)
            return _send(row) if row is not None else None

    def begin_digest_send(self, send: DigestSend) -> DigestSend:
        """Record ``send`` before it is made; if a send of the same digest is recorded already,
        that one is returned instead, unchanged: it must go out first, as it was."""
        insert = (
            self._insert(DigestSendRow)
            .values(
                digest=send.digest,
                period_start=send.start,
                period_end=send.end,
                message_id=send.message_id,
                recipients=list(send.recipients),
                created_at=send.created_at,
            )
            .on_conflict_do_nothing(index_elements=["digest"])
        )
        with self._transaction("record a digest send") as session:
            session.execute(insert)
            row = session.get(DigestSendRow, send.digest)
            assert row is not None  # inserted, or there already
            return _send(row)

    def finish_digest_send(
        self, send: DigestSend, sent_at: datetime, recipients: Sequence[str], mention_count: int
    ) -> None:
        """Record ``send`` as sent (to ``recipients``; none when a quiet digest was not sent):
        the watermark moves to its end and the send is no longer under way, together."""
        with self._transaction("record a digest") as session:
            _add_sent(
                session, send.digest, send.start, send.end, sent_at, recipients, mention_count
            )
            session.execute(_delete(send))

    def drop_digest_send(self, send: DigestSend) -> None:
        """Forget ``send``, which did not go out: the next digest covers its period too."""
        with self._transaction("forget a digest send") as session:
            session.execute(_delete(send))


def _add_sent(
    session: Session,
    digest: str,
    start: datetime,
    end: datetime,
    sent_at: datetime,
    recipients: Sequence[str],
    mention_count: int,
) -> None:
    session.add(
        DigestRow(
            period_start=start,
            period_end=end,
            sent_at=sent_at,
            recipients=list(recipients),
            mention_count=mention_count,
            digest=digest,
        )
    )


def _delete(send: DigestSend) -> Delete:
    # By Message-ID too: only this send, never a later one of the same digest.
    return delete(DigestSendRow).where(
        DigestSendRow.digest == send.digest, DigestSendRow.message_id == send.message_id
    )


def _send(row: DigestSendRow) -> DigestSend:
    return DigestSend(
        digest=row.digest,
        start=row.period_start,
        end=row.period_end,
        message_id=row.message_id,
        recipients=tuple(row.recipients),
        created_at=row.created_at,
    )

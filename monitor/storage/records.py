"""What Storage hands back besides Harken's own records: plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.mention import Verdict


@dataclass(frozen=True)
class StoredVerdict:
    """A matched mention's verdict as stored, with its row id and when it was stored."""

    id: int
    verdict: Verdict
    stored_at: datetime


@dataclass(frozen=True)
class Sighting:
    """One source's item that reached a stored mention (the first storer's own item included)."""

    source: str
    item_id: str
    url: str
    seen_at: datetime


@dataclass(frozen=True)
class PendingAlert:
    """An outbox entry due for delivery: a mention's verdict, or a message about a source."""

    id: int
    verdict: Verdict | None  # None for kind "source"
    groups: tuple[str, ...]
    attempts: int  # delivery attempts made so far
    created_at: datetime
    kind: str = "mention"  # mention | source
    source: str | None = None  # the source it concerns (for a mention, the one that stored it)
    message: str | None = None  # kind "source": "state: details" (enqueue_source_alert)


@dataclass(frozen=True)
class SourceHealth:
    """How a source's polls have gone; the flags say whether the latest result changed that."""

    source: str
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failing_since: datetime | None  # None while the source is healthy
    consecutive_failures: int = 0  # failed polls since the last success
    backoff_until: datetime | None = None  # no poll before then, as the last failure asked
    disabled_reason: str | None = None  # why polling stopped until someone acts, if it did
    alerted: bool = False  # an admin health alert about this source is open
    started_failing: bool = False
    recovered: bool = False

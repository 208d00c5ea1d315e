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
class PendingAlert:
    """An outbox entry due for delivery."""

    id: int
    verdict: Verdict
    groups: tuple[str, ...]
    attempts: int  # delivery attempts made so far
    created_at: datetime


@dataclass(frozen=True)
class SourceHealth:
    """How a source's polls have gone; the flags say whether the latest result changed that."""

    source: str
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failing_since: datetime | None  # None while the source is healthy
    started_failing: bool = False
    recovered: bool = False

"""What Storage hands back besides Harken's own records: plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.mention import Verdict


@dataclass(frozen=True)
class StoredVerdict:
    """A matched mention's verdict as stored, with its row id and when it was stored."""

    id: int
    verdict: Verdict
    stored_at: datetime


@dataclass(frozen=True)
class RuleFiring:
    """A stored mention cut to what spike rules count: when, which rules fired, how it read."""

    stored_at: datetime
    rules: tuple[str, ...]
    negative: bool
    title: str
    url: str


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
    level: int = 0  # kind "escalation": the level it goes to
    parent_id: int | None = None  # kind "escalation": the mention alert it escalates
    stale: bool = False  # kind "escalation": its alert was acknowledged since; do not send
    delivered: tuple[str, ...] = ()  # destinations an earlier, partly failed attempt reached

    @property
    def alert_id(self) -> int:
        """The alert people act on: the escalated alert for an escalation, else this one."""
        return self.parent_id if self.parent_id is not None else self.id


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


@dataclass(frozen=True)
class AlertEvent:
    """One change in an alert's life: raised, notified, escalated, acknowledged, resolved."""

    alert_id: int
    action: str
    at: datetime
    who: str  # a person's name, or "harken"
    via: str  # harken | cli | link
    level: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class AlertStatus:
    """Where a mention alert stands: its state, level and who answered it when."""

    id: int
    created_at: datetime  # when Harken raised it: the mention was stored
    severity: str
    source: str
    title: str  # the mention's title, or its text when it has none
    state: str  # open | acknowledged | resolved
    level: int
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None

    @property
    def first_response_at(self) -> datetime | None:
        """When someone first acknowledged or resolved it."""
        answered = [at for at in (self.acknowledged_at, self.resolved_at) if at is not None]
        return min(answered, default=None)

    @property
    def time_to_first_response(self) -> timedelta | None:
        """From Harken raising the alert to the first acknowledgement or resolution."""
        first = self.first_response_at
        return first - self.created_at if first is not None else None


@dataclass(frozen=True)
class AlertChange:
    """What acknowledging or resolving did: ``changed`` is False when it was done already."""

    changed: bool
    status: AlertStatus


@dataclass(frozen=True)
class OpenAlert:
    """An open urgent mention alert, as the escalation job sees it."""

    id: int
    created_at: datetime
    level: int


@dataclass(frozen=True)
class FoundMention:
    """A stored mention with its verdict and its alert's state, flat: a line of an export.

    Its fields, in order, are the export's columns (README, "harken mentions"): a contract.
    """

    id: int
    stored_at: datetime
    published: datetime | None
    source: str
    item_id: str
    url: str
    canonical_url: str
    title: str
    text: str
    author: str
    lang: str
    thread_id: str
    parent_id: str
    metrics: dict[str, float]
    brands: list[str]
    severity: str
    sentiment: str  # negative | neutral | positive
    compound: float
    sentence: str  # what sentiment was read from
    rules: list[str]  # the rules that fired
    tags: list[str]
    notify: list[str]
    reasons: list[str]
    reply: str
    state: str  # its alert's: open | acknowledged | resolved; "none" when it raised none


@dataclass(frozen=True)
class Purged:
    """What one purge removed."""

    mentions: int
    alerts: int  # mention alerts; their escalations and history went with them


@dataclass(frozen=True)
class DigestSend:
    """A scheduled digest's send, recorded before it is made: the period it covers, the
    Message-ID and recipients it goes out with, and when it was first due."""

    digest: str  # "" for [digest], else the [[digests]] key
    start: datetime
    end: datetime
    message_id: str
    recipients: tuple[str, ...]
    created_at: datetime

"""The database tables as typed SQLAlchemy models; migrations/versions/ must create exactly these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    types,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names, so later migrations can alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Alert statuses (of a delivery) and kinds as stored.
PENDING, SENT, FAILED = "pending", "sent", "failed"
CANCELLED = "cancelled"  # an escalation whose alert was acknowledged before it was sent
MENTION_ALERT, SOURCE_ALERT = "mention", "source"
ESCALATION_ALERT = "escalation"  # one more delivery of a mention alert, to its next level
# A mention alert's state: who owns it. NULL for source alerts, escalations and older rows.
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
# What alert_events records.
RAISED, NOTIFIED, ESCALATED = "raised", "notified", "escalated"

# Full-text search (migration 0007), which no model describes: SQLite's FTS5 table (and the
# shadow tables FTS5 keeps beside it, all named after it), PostgreSQL's GIN index over
# SEARCH_DOCUMENT. search.py matches against the very same expression, or the index goes unused.
SEARCH_TABLE = "mentions_fts"
SEARCH_INDEX = "ix_mentions_search"
SEARCH_DOCUMENT = """to_tsvector('simple', title || ' ' || "text" || ' ' || author)"""


def described_by_models(name: str | None, type_: str, _parents: object) -> bool:
    """False for the search objects above, True for the rest: an Alembic ``include_name`` hook,
    so comparing the schema with these models does not report the search index as a stray."""
    if type_ == "table":
        return not (name or "").startswith(SEARCH_TABLE)
    return not (type_ == "index" and name == SEARCH_INDEX)


class UtcDateTime(types.TypeDecorator[datetime]):
    """An aware UTC datetime on every backend; SQLite, which has no zones, stores it naive."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: Harken stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads it as a class attribute
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        float: Double(),
        str: Text(),
    }


class MentionRow(Base):
    __tablename__ = "mentions"
    __table_args__ = (UniqueConstraint("source", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    source: Mapped[str]
    item_id: Mapped[str]  # Mention.id, the platform's own id
    url: Mapped[str]
    title: Mapped[str]
    text: Mapped[str]
    author: Mapped[str]
    published: Mapped[datetime | None]
    lang: Mapped[str]
    metrics: Mapped[dict[str, Any]]
    stored_at: Mapped[datetime] = mapped_column(index=True)
    thread_id: Mapped[str] = mapped_column(server_default="")
    parent_id: Mapped[str] = mapped_column(server_default="")
    # SQL NULL for "no payload", not the JSON text null.
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    # monitor.urls.canonical_url(url): the story's key across sources; "" when there is none.
    canonical_url: Mapped[str] = mapped_column(server_default="", index=True)


class SightingRow(Base):
    """One source's item that reached a stored mention: the first that stored it, and repeats."""

    __tablename__ = "sightings"
    __table_args__ = (
        UniqueConstraint("source", "item_id"),
        Index("ix_sightings_source_seen_at", "source", "seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    mention_id: Mapped[int] = mapped_column(
        ForeignKey("mentions.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str]
    item_id: Mapped[str]
    url: Mapped[str]
    seen_at: Mapped[datetime]


class VerdictRow(Base):
    __tablename__ = "verdicts"

    mention_id: Mapped[int] = mapped_column(
        ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True
    )
    matched: Mapped[bool]
    brands: Mapped[list[str]]
    compound: Mapped[float]
    label: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(20))  # a Severity value
    rules: Mapped[list[str]]
    tags: Mapped[list[str]]
    notify: Mapped[list[str]]
    reasons: Mapped[list[str]]
    sentence: Mapped[str] = mapped_column(Text, server_default="", default="")
    reply: Mapped[str] = mapped_column(Text, server_default="", default="")


class CursorRow(Base):
    __tablename__ = "cursors"

    source: Mapped[str] = mapped_column(primary_key=True)
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class SourceHealthRow(Base):
    __tablename__ = "source_health"

    source: Mapped[str] = mapped_column(primary_key=True)
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None]
    last_error_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(server_default="0")
    backoff_until: Mapped[datetime | None]
    disabled_reason: Mapped[str | None]
    alerted: Mapped[bool] = mapped_column(server_default=false())  # an admin alert is open


class AlertRow(Base):
    """The outbox: one row per alert to deliver, kept after delivery as a record."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20), server_default=MENTION_ALERT)
    mention_id: Mapped[int | None] = mapped_column(  # kind "mention"
        ForeignKey("mentions.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str | None]  # kind "source": the configured source's name
    message: Mapped[str | None]  # kind "source": "state: details" (enqueue_source_alert)
    groups: Mapped[list[str]]
    status: Mapped[str] = mapped_column(String(20))  # PENDING | SENT | FAILED
    attempts: Mapped[int]
    last_error: Mapped[str | None]
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[str | None]
    state: Mapped[str | None] = mapped_column(String(20), index=True)  # OPEN | ACKNOWLEDGED | …
    level: Mapped[int] = mapped_column(server_default="0")  # escalation level reached (sent to)
    parent_id: Mapped[int | None] = mapped_column(  # kind "escalation": the alert it escalates
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    # A sender's lease: while claimed_until is ahead, no other sender takes the alert.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    # Destinations ("email", "channel:NAME") an alert that failed elsewhere already reached.
    delivered_to: Mapped[list[str] | None]


class AlertEventRow(Base):
    """Every change of an alert's state, with who made it and when: its history."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # RAISED, NOTIFIED, ESCALATED, ACKNOWLEDGED…
    at: Mapped[datetime]
    who: Mapped[str]  # a person's name, or "harken"
    via: Mapped[str] = mapped_column(String(20))  # harken | cli | link
    level: Mapped[int | None]
    note: Mapped[str | None]  # a resolution note; the addresses told, for NOTIFIED


class DigestRow(Base):
    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime] = mapped_column(index=True)
    sent_at: Mapped[datetime]
    recipients: Mapped[list[str]]
    mention_count: Mapped[int]
    # Which scheduled digest: "" for [digest], else the [[digests]] table's key (0004).
    digest: Mapped[str] = mapped_column(server_default="")


class DigestSendRow(Base):
    """A scheduled digest about to be sent: its period and Message-ID, fixed before the send,
    so a send cut short is repeated as the same message (0008). Gone once the send is recorded
    in ``digests``."""

    __tablename__ = "digest_sends"

    # One send under way per scheduled digest: "" for [digest], else the [[digests]] key.
    digest: Mapped[str] = mapped_column(primary_key=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    message_id: Mapped[str]
    recipients: Mapped[list[str]]
    created_at: Mapped[datetime]


class UserRow(Base):
    """Someone who signs in to the web inbox (0009); the password only as its argon2 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # admin | responder | viewer
    password_hash: Mapped[str]
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]


class SignInFailureRow(Base):
    """A refused sign-in, kept for the rate limit's window (0009). In the database, not in
    memory, so every `harken web` process behind a balancer counts the same failures."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (Index("ix_sign_in_failures_name_address", "name", "address"),)


class LabelRow(Base):
    """A person's correction of a verdict (0010): what they say the mention is, and what Harken
    said at the time, so agreement holds still when rules change later. Never updated: a newer
    label of the same kind supersedes it for current reads, and both stay as history."""

    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_mention_id_kind", "mention_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # relevance | sentiment | severity
    value: Mapped[str] = mapped_column(String(20))
    harken_value: Mapped[str] = mapped_column(String(20))  # the verdict's, when labelled
    who: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(index=True)
    note: Mapped[str | None]

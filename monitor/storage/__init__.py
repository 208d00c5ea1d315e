"""Harken's storage: the only code that talks to the database (SQLite or PostgreSQL).

``Storage`` is composed of one part per domain, each a class in its own module over the shared
``StorageBase``; code that needs only one part names that part as its parameter type. The
schema is created and upgraded by the Alembic migrations in ``migrations/`` whenever a
``Storage`` is opened; no alembic.ini is involved.
"""

from monitor.storage.alert_history import AlertHistoryStore
from monitor.storage.digests import DigestStore
from monitor.storage.health import HealthStore
from monitor.storage.labels import KINDS, Label, LabelledMention, LabelStore
from monitor.storage.outbox import OutboxStore
from monitor.storage.polls import PollStore
from monitor.storage.records import (
    AlertChange,
    AlertEvent,
    AlertStatus,
    DigestSend,
    FoundMention,
    OpenAlert,
    PendingAlert,
    Purged,
    RuleFiring,
    Sighting,
    SourceHealth,
    StoredVerdict,
)
from monitor.storage.retention import RetentionStore
from monitor.storage.search import MentionQuery, SearchStore
from monitor.storage.stories import StoryStore
from monitor.storage.users import ROLES, User, UserExists, UserStore


class Storage(
    PollStore,
    StoryStore,
    HealthStore,
    OutboxStore,
    AlertHistoryStore,
    DigestStore,
    SearchStore,
    RetentionStore,
    UserStore,
    LabelStore,
):
    """Mentions, verdicts, cursors, source health, the alert outbox, digests, search and
    retention, web users and their labels, in SQL."""


__all__ = [
    "KINDS",
    "ROLES",
    "AlertChange",
    "AlertEvent",
    "AlertStatus",
    "DigestSend",
    "FoundMention",
    "Label",
    "LabelledMention",
    "MentionQuery",
    "OpenAlert",
    "PendingAlert",
    "Purged",
    "RuleFiring",
    "Sighting",
    "SourceHealth",
    "Storage",
    "StoredVerdict",
    "User",
    "UserExists",
]

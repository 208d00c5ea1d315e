"""Harken's storage: the only code that talks to the database (SQLite or PostgreSQL).

The schema is created and upgraded by the Alembic migrations in ``migrations/`` whenever a
``Storage`` is opened; no alembic.ini is involved.
"""

from monitor.storage.records import (
    AlertChange,
    AlertEvent,
    AlertStatus,
    OpenAlert,
    PendingAlert,
    RuleFiring,
    Sighting,
    SourceHealth,
    StoredVerdict,
)
from monitor.storage.store import Storage

__all__ = [
    "AlertChange",
    "AlertEvent",
    "AlertStatus",
    "OpenAlert",
    "PendingAlert",
    "RuleFiring",
    "Sighting",
    "SourceHealth",
    "Storage",
    "StoredVerdict",
]

"""Times as platforms write them, made aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_time(value: object) -> datetime | None:
    """An ISO 8601 time as aware UTC (no offset is taken as UTC); None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

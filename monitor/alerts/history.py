"""Acknowledging and resolving alerts, in the words people see on the command line and the web."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.mail.templates import excerpt, localtime
from monitor.storage import AlertChange, AlertEvent, AlertStatus

NAME_LIMIT = 100  # characters of a name recorded as who acted
NOTE_LIMIT = 2000  # characters of a resolution note


def clean_text(text: str, limit: int) -> str:
    """Text a person typed, fit to record: no control characters, at most ``limit`` chars."""
    kept = "".join(char if char.isprintable() or char in "\n\t" else " " for char in text)
    return kept.strip()[:limit]


def format_duration(span: timedelta) -> str:
    """``45s``, ``4m 12s``, ``15m``, ``2h 05m``, ``3d 4h``: short, and exact enough for a person."""
    seconds = max(int(span.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes:02d}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {seconds:02d}s" if seconds else f"{minutes}m"
    return f"{seconds}s"


def when(moment: datetime, timezone: str) -> str:
    return localtime(moment, timezone)


def describe_state(status: AlertStatus, timezone: str) -> str:
    """``acknowledged by alice at 2026-11-20 08:05 GMT``, ``open``, …"""
    if status.state == "resolved" and status.resolved_at is not None:
        return f"resolved by {status.resolved_by} at {when(status.resolved_at, timezone)}"
    if status.state == "acknowledged" and status.acknowledged_at is not None:
        return (
            f"acknowledged by {status.acknowledged_by} at {when(status.acknowledged_at, timezone)}"
        )
    return status.state


def describe_change(change: AlertChange, action: str, timezone: str) -> str:
    """What acknowledging or resolving did, as one sentence."""
    status = change.status
    if not change.changed:
        return f"alert {status.id} was already {describe_state(status, timezone)}"
    told = f"alert {status.id} {describe_state(status, timezone)}"
    if action == "ack":
        told += "; it will not escalate further"
    response = status.time_to_first_response
    if response is not None:
        told += f" (first response {format_duration(response)} after Harken raised it)"
    return told


def _waiting(status: AlertStatus, now: datetime) -> str:
    response = status.time_to_first_response
    if response is not None:
        return format_duration(response)
    if status.state == "open":
        return f"(none for {format_duration(now - status.created_at)})"
    return "-"


def alert_table(statuses: list[AlertStatus], timezone: str, now: datetime) -> list[tuple[str, ...]]:
    """The table of ``harken alerts list``: a header, then one row per alert."""
    rows: list[tuple[str, ...]] = [
        ("id", "raised", "severity", "source", "state", "level", "owner", "response", "mention")
    ]
    for status in statuses:
        owner = status.acknowledged_by or status.resolved_by or "-"
        rows.append(
            (
                str(status.id),
                when(status.created_at, timezone),
                status.severity,
                status.source,
                status.state,
                str(status.level),
                excerpt(owner, 30),
                _waiting(status, now),
                excerpt(status.title, 60),
            )
        )
    return rows


def history_lines(events: list[AlertEvent], timezone: str) -> list[str]:
    """``harken alerts show``: one line per event, oldest first."""
    lines = []
    for event in events:
        line = f"{when(event.at, timezone)}  {event.action:<12} by {event.who} ({event.via})"
        if event.level is not None:
            line += f", level {event.level}"
        if event.note:
            label = "to" if event.action in ("notified", "escalated") else "note"
            line += f"; {label}: {excerpt(event.note, 300)}"
        lines.append(line)
    return lines

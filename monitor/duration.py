"""Human durations in config and on the command line: "90s", "5m", "2h", "7d"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse "30s", "5m", "2h", "7d" or "1w"; raise ValueError with the accepted forms."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f'"{text}" is not a duration; write a number and a unit, e.g. "90s", "5m", "2h", "7d"'
        )
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f'"{text}" must be longer than zero')
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f'"{text}" is longer than Harken can count') from None


def _parse_text(value: object) -> object:
    # "PT15M" is how a validated config writes a duration back out (harken demo's own config);
    # pydantic reads that form itself.
    if isinstance(value, str) and not value.startswith("P"):
        return parse_duration(value)
    return value


def _positive(value: timedelta) -> timedelta:
    # A bare number of seconds (timeout = 0) does not pass through parse_duration's check.
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_text), AfterValidator(_positive)]
"""A config value written as "90s", "5m", "2h", "7d" or a number of seconds."""


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 mention``, ``2 mentions``, ``1 failure``: a count and its noun, agreed."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def roughly(span: timedelta) -> str:
    """A span as people say it: ``less than a minute``, ``5 min``, ``2 h 10 min``, ``3 days``."""
    minutes = int(abs(span.total_seconds()) // 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return plural(hours // 24, "day")


def moment_for_people(moment: datetime, now: datetime) -> str:
    """``2026-12-07 06:42 UTC, 5 min ago`` or ``…, in 12 min``: when, and how far from now."""
    away = roughly(moment - now)
    relative = (
        "just now"
        if away == "less than a minute"
        else (f"{away} ago" if moment <= now else f"in {away}")
    )
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC, {relative}"


def parse_moment(text: str, now: datetime, timezone: str = "UTC") -> datetime:
    """A moment on the command line: ``7d`` (that long before ``now``), ``2026-01-01`` (its
    midnight in ``timezone``) or ``2026-01-01T09:30`` (in ``timezone`` unless it has an offset).
    Raise ValueError with the accepted forms."""
    from zoneinfo import ZoneInfo

    if _DURATION.match(text):
        return now - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f'"{text}" is neither a duration ("7d", "12h") nor a date ("2026-01-01", '
            '"2026-01-01T09:30")'
        ) from None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)

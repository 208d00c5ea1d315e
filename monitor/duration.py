"""Human durations in config and on the command line: "90s", "5m", "2h", "7d"."""

from __future__ import annotations

import re
from datetime import timedelta
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
    return parse_duration(value) if isinstance(value, str) else value


def _positive(value: timedelta) -> timedelta:
    # A bare number of seconds (timeout = 0) does not pass through parse_duration's check.
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_text), AfterValidator(_positive)]
"""A config value written as "90s", "5m", "2h", "7d" or a number of seconds."""

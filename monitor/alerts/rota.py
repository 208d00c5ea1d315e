"""The on-call rota: which shifts cover a moment, read from ``days`` and ``hours`` as people write
them ("mon-fri", "08:00-18:00"). Pure: no configuration, storage or clock of its own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
_DAYS_HINT = 'write days like "mon-fri", "sat,sun" or "fri-mon"'
_HOURS_HINT = 'write hours like "08:00-18:00", "18:00-08:00" (overnight) or "00:00-24:00"'
_WHOLE_DAY = 24 * 60


def _day(word: str, written: str) -> int:
    name = word.strip().lower()
    if name in DAY_NAMES:
        return DAY_NAMES.index(name)
    if name in _FULL_NAMES:
        return _FULL_NAMES[name]
    raise ValueError(f'unknown day "{word.strip()}" in "{written}"; {_DAYS_HINT}')


def parse_days(written: str) -> frozenset[int]:
    """Weekday numbers (Monday is 0) from "mon-fri", "sat,sun" or "fri-mon" (a range may wrap)."""
    days: set[int] = set()
    for part in written.split(","):
        if not part.strip():
            raise ValueError(f'"{written}" names no day; {_DAYS_HINT}')
        first, dash, last = part.partition("-")
        start = _day(first, written)
        end = _day(last, written) if dash else start
        days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return frozenset(days)


def _minutes(clock: str, written: str) -> int:
    hours, colon, minutes = clock.strip().partition(":")
    if not (colon and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f'"{clock.strip()}" in "{written}" is not a time; {_HOURS_HINT}')
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > _WHOLE_DAY:
        raise ValueError(f'"{clock.strip()}" in "{written}" is not a time of day; {_HOURS_HINT}')
    return value


def parse_hours(written: str) -> tuple[int, int]:
    """(start, end) in minutes after midnight; an end before the start runs overnight."""
    first, dash, last = written.partition("-")
    if not dash:
        raise ValueError(f'"{written}" is not a span of hours; {_HOURS_HINT}')
    start, end = _minutes(first, written), _minutes(last, written)
    if start == _WHOLE_DAY:
        raise ValueError(f'"{written}" starts at 24:00; start at 00:00 instead')
    if start == end:
        raise ValueError(f'"{written}" is empty; for the whole day write "00:00-24:00"')
    return start, end


@dataclass(frozen=True)
class Shift:
    """Who is on call on some days between two times, in the rota's timezone."""

    who: tuple[str, ...]
    days: frozenset[int]
    start: int  # minutes after midnight
    end: int  # minutes after midnight; before ``start`` for an overnight shift

    @classmethod
    def parse(cls, who: Iterable[str], days: str, hours: str) -> Shift:
        start, end = parse_hours(hours)
        return cls(tuple(who), parse_days(days), start, end)

    def covers(self, local: datetime) -> bool:
        """Whether the shift covers this local wall-clock time.

        An overnight shift belongs to the day it starts on: "fri" with "18:00-08:00" covers
        Saturday 07:00 but not Monday 07:00.
        """
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        if self.start < self.end:
            return weekday in self.days and self.start <= minute < self.end
        yesterday = (weekday - 1) % 7
        return (weekday in self.days and minute >= self.start) or (
            yesterday in self.days and minute < self.end
        )


def on_call(shifts: Sequence[Shift], moment: datetime, timezone: str) -> list[str]:
    """Everyone whose shift covers ``moment`` (aware), each once, in rota order."""
    local = moment.astimezone(ZoneInfo(timezone))
    found: dict[str, None] = {}
    for shift in shifts:
        if shift.covers(local):
            found.update(dict.fromkeys(shift.who))
    return list(found)

"""The one parser of hours ("22:00-06:00") and days ("mon-fri"), as people write them.

Config shifts and quiet hours and rule files all read them here, once, at load; what they hold
is a frozen ``Hours`` or ``Days`` that answers ``contains(moment)`` without reading text again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator
from pydantic_core import PydanticCustomError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAYS_HINT = (
    'write days like "mon-fri", "sat,sun" or "fri-mon", from mon, tue, wed, thu, fri, sat and sun'
)
_HOURS_HINT = 'write hours like "08:00-18:00", "22:00-06:00" (overnight) or "00:00-24:00"'
_WHOLE_DAY = 24 * 60


@dataclass(frozen=True)
class Hours:
    """A span of the day in minutes after midnight; an end before the start runs overnight."""

    start: int
    end: int  # up to 24:00; before ``start`` when the span runs overnight
    written: str = field(default="", compare=False)  # as the file wrote it, to show it back

    @property
    def overnight(self) -> bool:
        return self.end < self.start

    def contains(self, moment: datetime | time) -> bool:
        """Whether the wall-clock time of ``moment`` falls in the span, end excluded."""
        minute = moment.hour * 60 + moment.minute
        if self.overnight:
            return minute >= self.start or minute < self.end
        return self.start <= minute < self.end

    def __str__(self) -> str:
        return self.written or f"{_clock(self.start)}-{_clock(self.end)}"


@dataclass(frozen=True)
class Days:
    """A set of weekdays, Monday being 0."""

    weekdays: frozenset[int]
    written: str = field(default="", compare=False)

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` falls on one of the days."""
        return moment.weekday() in self.weekdays

    def __str__(self) -> str:
        return self.written or ",".join(DAY_NAMES[day] for day in sorted(self.weekdays))


WHOLE_DAY = Hours(0, _WHOLE_DAY, "00:00-24:00")
EVERY_DAY = Days(frozenset(range(7)), "mon-sun")


def parse_hours(written: str) -> Hours:
    """ "08:00-18:00" -> Hours; "22:00-06:00" runs overnight, "00:00-24:00" is the whole day."""
    first, dash, last = written.partition("-")
    if not dash:
        raise ValueError(f'"{written}" is not a span of hours; {_HOURS_HINT}')
    start, end = _minutes(first, written), _minutes(last, written)
    if start == _WHOLE_DAY:
        raise ValueError(f'"{written}" starts at 24:00; start at 00:00 instead')
    if start == end:
        raise ValueError(f'"{written}" is empty; for the whole day write "00:00-24:00"')
    return Hours(start, end, written)


def parse_days(written: str) -> Days:
    """ "mon-fri", "sat,sun" or "fri-mon" (a range may wrap) -> Days; full names work too."""
    weekdays: set[int] = set()
    for part in written.split(","):
        if not part.strip():
            raise ValueError(f'"{written}" names no day; {_DAYS_HINT}')
        first, dash, last = part.partition("-")
        start = _weekday(first, written)
        end = _weekday(last, written) if dash else start
        weekdays.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return Days(frozenset(weekdays), written)


def all_days(days: Iterable[Days]) -> Days | None:
    """The days any of ``days`` names, or None when there are none."""
    found = list(days)
    if not found:
        return None
    weekdays = frozenset().union(*(days.weekdays for days in found))
    return Days(weekdays, ",".join(str(days) for days in found))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(clock: str, written: str) -> int:
    hours, colon, minutes = clock.strip().partition(":")
    if not (colon and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f'"{clock.strip()}" in "{written}" is not a time; {_HOURS_HINT}')
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > _WHOLE_DAY:
        raise ValueError(f'"{clock.strip()}" in "{written}" is not a time of day; {_HOURS_HINT}')
    return value


def _weekday(word: str, written: str) -> int:
    # "tue", "tues" and "tuesday" all name Tuesday; "month" names nothing.
    name = word.strip().lower()
    for weekday, full in enumerate(_FULL_NAMES):
        if len(name) >= 3 and full.startswith(name):
            return weekday
    where = "" if word.strip() == written.strip() else f' in "{written}"'
    raise ValueError(f'unknown day "{word.strip()}"{where}; {_DAYS_HINT}')


# As config and rule-file fields: text in, typed value held, the text written back out.


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    return value


def _hours_field(value: object) -> Hours:
    return value if isinstance(value, Hours) else parse_hours(_text(value))


def _days_field(value: object) -> Days:
    return value if isinstance(value, Days) else parse_days(_text(value))


def _optional_hours_field(value: object) -> Hours | None:
    return None if value is None or value == "" else _hours_field(value)


def _written_or_blank(hours: Hours | None) -> str:
    return "" if hours is None else str(hours)


HoursField = Annotated[Hours, PlainValidator(_hours_field), PlainSerializer(str)]
DaysField = Annotated[Days, PlainValidator(_days_field), PlainSerializer(str)]
# "" (the default) means none: config.toml has no null to write instead.
OptionalHoursField = Annotated[
    Hours | None, PlainValidator(_optional_hours_field), PlainSerializer(_written_or_blank)
]

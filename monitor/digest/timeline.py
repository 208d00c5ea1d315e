"""When a period's mentions came: counts per time bucket, and the busiest hour. Pure, no I/O."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.storage import StoredVerdict

HOUR = timedelta(hours=1)
# Bar widths a chart may use, finest first; the first that needs at most MAX_BUCKETS bars wins.
BUCKET_SIZES = tuple(
    timedelta(minutes=minutes)
    for minutes in (5, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080, 20160, 43200)
)
MAX_BUCKETS = 36  # a day in hours, a week in 6 hours


@dataclass(frozen=True)
class Bucket:
    """Mentions heard in [start, end), by sentiment; the last bucket of a period may be short."""

    start: datetime
    end: datetime
    negative: int
    neutral: int
    positive: int

    @property
    def total(self) -> int:
        return self.negative + self.neutral + self.positive


@dataclass(frozen=True)
class BusiestHour:
    """The busiest hour of a period, next to the period's hourly average."""

    start: datetime
    end: datetime
    count: int
    negative: int
    average: float  # mentions per hour over the whole period
    top_source: str  # where most of that hour's mentions came from

    @property
    def ratio(self) -> float:
        """How many times the average hour this hour was."""
        return self.count / self.average if self.average else 0.0

    @property
    def compared(self) -> str:
        """The hour next to a usual one, as a reader says it: ``24 times the usual hourly
        volume (about 1 an hour)``."""
        times = f"{self.ratio:.0f}" if self.ratio >= 2 else f"{self.ratio:.1f}"
        if self.average >= 0.95:
            usual = f"about {self.average:.0f} an hour"
        elif self.average > 0:
            usual = f"about 1 every {max(round(1 / self.average), 2)} hours"
        else:
            usual = "none before"
        return f"{times} times the usual hourly volume ({usual})"


def heard_at(stored: StoredVerdict, start: datetime, end: datetime) -> datetime:
    """When a mention was said, as far as we know: its published time if that falls in the
    period, else when Harken stored it (a first poll stores a day's posts at once)."""
    published = stored.verdict.mention.published
    if published is not None and published.utcoffset() is not None and start <= published < end:
        return published
    return stored.stored_at


def bucket_size(start: datetime, end: datetime) -> timedelta:
    """The finest bar width that draws the period in at most MAX_BUCKETS bars."""
    length = end - start
    for size in BUCKET_SIZES:
        if length / size <= MAX_BUCKETS:
            return size
    return max(length / MAX_BUCKETS, BUCKET_SIZES[-1])


def _slots(start: datetime, end: datetime, size: timedelta) -> int:
    return max(1, math.ceil((end - start) / size))


Heard = Sequence[tuple[datetime, StoredVerdict]]  # each mention with its heard_at time


def timeline(heard: Heard, start: datetime, end: datetime, size: timedelta) -> tuple[Bucket, ...]:
    """Counts per ``size`` from ``start`` (the last bucket ends at ``end``), by sentiment."""
    slots = _slots(start, end, size)
    counts = [[0, 0, 0] for _ in range(slots)]
    lane = {"negative": 0, "positive": 2}
    for at, stored in heard:
        index = min(int((at - start) / size), slots - 1)
        counts[max(index, 0)][lane.get(stored.verdict.sentiment.label, 1)] += 1
    return tuple(
        Bucket(start + i * size, min(start + (i + 1) * size, end), *counts[i]) for i in range(slots)
    )


def busiest_hour(heard: Heard, start: datetime, end: datetime) -> BusiestHour | None:
    """The hour (counted from ``start``) with most mentions; None for periods of an hour or less."""
    if not heard or end - start <= HOUR:
        return None
    slots = _slots(start, end, HOUR)
    per_hour: list[list[StoredVerdict]] = [[] for _ in range(slots)]
    for at, stored in heard:
        index = min(int((at - start) / HOUR), slots - 1)
        per_hour[max(index, 0)].append(stored)
    # Earliest of equally busy hours, so the same data always names the same hour.
    index = max(range(slots), key=lambda i: (len(per_hour[i]), -i))
    hour = per_hour[index]
    sources = Counter(s.verdict.mention.source for s in hour)
    return BusiestHour(
        start=start + index * HOUR,
        end=min(start + (index + 1) * HOUR, end),
        count=len(hour),
        negative=sum(s.verdict.sentiment.label == "negative" for s in hour),
        average=len(heard) / ((end - start) / HOUR),
        top_source=min(sources, key=lambda name: (-sources[name], name)),
    )

"""Spikes: a pile-on reported once, as a count with examples, instead of fifty alerts. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


@dataclass(frozen=True)
class SpikeWatch:
    """A rule's ``spike = {…}`` table: when its mentions come faster, or angrier, than usual."""

    window: timedelta = timedelta(hours=1)  # the recent stretch that is compared
    baseline: timedelta = timedelta(
        days=7
    )  # the usual level is measured over this, before the window
    factor: float = 3.0  # a spike is this many times the usual level
    min_count: int = 10  # and at least this many mentions in the window
    measure: Literal["count", "negative_share"] = "count"


@dataclass(frozen=True)
class FiredMention:
    """One stored mention the rule fired on."""

    at: datetime
    negative: bool
    title: str
    url: str


@dataclass(frozen=True)
class Spike:
    count: int
    usual: float  # the baseline level scaled to one window (count), or the baseline share
    level: float  # this window's count or negative share
    examples: tuple[FiredMention, ...]

    def describe(self, rule: str, watch: SpikeWatch) -> str:
        if watch.measure == "count":
            head = f"spike: {self.count} mentions for rule {rule} in the last {_span(watch.window)}, usually {self.usual:.1f}"
        else:
            head = f"spike: {self.level:.0%} of {self.count} mentions for rule {rule} are negative in the last {_span(watch.window)}, usually {self.usual:.0%}"
        lines = [
            head,
            *(
                f"- {example.title or '(no title)'} {example.url}".rstrip()
                for example in self.examples
            ),
        ]
        return "\n".join(lines)


def detect(
    watch: SpikeWatch, sightings: Sequence[FiredMention], now: datetime, examples: int = 5
) -> Spike | None:
    """The spike in the window ending ``now``, if the rule's mentions exceed their usual level."""
    window_start = now - watch.window
    baseline_start = window_start - watch.baseline
    recent = [s for s in sightings if window_start <= s.at < now]
    before = [s for s in sightings if baseline_start <= s.at < window_start]
    if len(recent) < watch.min_count:
        return None
    if watch.measure == "count":
        usual = len(before) * (watch.window / watch.baseline)
        level = float(len(recent))
    else:
        usual = sum(s.negative for s in before) / len(before) if before else 0.0
        level = sum(s.negative for s in recent) / len(recent)
    # With no history every burst would look infinite: a spike must also beat min_count, above.
    if level <= watch.factor * usual:
        return None
    newest = sorted(recent, key=lambda s: s.at, reverse=True)[:examples]
    return Spike(count=len(recent), usual=usual, level=level, examples=tuple(newest))


def _span(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes % (60 * 24) == 0:
        return f"{minutes // (60 * 24)} days" if minutes != 60 * 24 else "day"
    if minutes % 60 == 0:
        return f"{minutes // 60} hours" if minutes != 60 else "hour"
    return f"{minutes} minutes"

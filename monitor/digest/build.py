"""The digest's view model: what happened over one period, counted and ranked. Pure, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.mention import Severity, Verdict
from monitor.storage import StoredVerdict

SENTIMENTS = ("negative", "neutral", "positive")
SHOWN_SEVERITIES = tuple(s for s in Severity if s is not Severity.IGNORE)


@dataclass(frozen=True)
class Count:
    """One row of a breakdown: a name (severity, source, brand, tag…) and how many mentions."""

    name: str
    count: int


@dataclass(frozen=True)
class Digest:
    """Everything a digest template shows about one period."""

    organisation: str
    start: datetime  # aware; the period is [start, end)
    end: datetime
    timezone: str  # IANA name the templates show times in
    total: int  # matched mentions not ignored by a rule
    ignored: int  # matched, but a rule said ignore
    by_severity: tuple[Count, ...]  # most pressing first, zeros included
    by_sentiment: tuple[Count, ...]  # negative, neutral, positive, zeros included
    by_source: tuple[Count, ...]  # most mentions first
    by_brand: tuple[Count, ...]
    by_tag: tuple[Count, ...]
    negative: tuple[Verdict, ...]  # urgent/high first, then most negative
    positive: tuple[Verdict, ...]  # most positive first
    others: tuple[Verdict, ...]  # in neither list above, newest first

    @property
    def quiet(self) -> bool:
        """Nothing worth showing happened."""
        return self.total == 0


def build_digest(
    stored: Sequence[StoredVerdict],
    start: datetime,
    end: datetime,
    *,
    organisation: str,
    timezone: str,
    top: int,
) -> Digest:
    """Count and rank the verdicts stored in [start, end); lists are capped at ``top``."""
    if start.utcoffset() is None or end.utcoffset() is None:
        raise ValueError("digest periods need aware datetimes")
    in_period = [s for s in stored if s.verdict.matched and start <= s.stored_at < end]
    shown = [s for s in in_period if s.verdict.severity is not Severity.IGNORE]
    verdicts = [s.verdict for s in shown]

    severities = Counter(v.severity for v in verdicts)
    sentiments = Counter(v.sentiment.label for v in verdicts)
    sentiment_names = list(SENTIMENTS) + sorted(set(sentiments) - set(SENTIMENTS))

    needs_attention = [
        s
        for s in shown
        if s.verdict.sentiment.label == "negative"
        or (
            s.verdict.severity.rank >= Severity.HIGH.rank
            and s.verdict.sentiment.label != "positive"
        )
    ]
    needs_attention.sort(
        key=lambda s: (
            -s.verdict.severity.rank,
            s.verdict.sentiment.compound,
            -s.stored_at.timestamp(),
            s.id,
        )
    )
    praise = [s for s in shown if s.verdict.sentiment.label == "positive"]
    praise.sort(
        key=lambda s: (
            -s.verdict.sentiment.compound,
            -s.verdict.severity.rank,
            -s.stored_at.timestamp(),
            s.id,
        )
    )
    listed = {s.id for s in needs_attention} | {s.id for s in praise}
    others = [s for s in shown if s.id not in listed]
    others.sort(key=lambda s: (-s.stored_at.timestamp(), s.id))
    return Digest(
        organisation=organisation,
        start=start,
        end=end,
        timezone=timezone,
        total=len(shown),
        ignored=len(in_period) - len(shown),
        by_severity=tuple(Count(s.value, severities[s]) for s in SHOWN_SEVERITIES),
        by_sentiment=tuple(Count(name, sentiments[name]) for name in sentiment_names),
        by_source=_ranked((v.mention.source for v in verdicts), top),
        by_brand=_ranked((brand for v in verdicts for brand in v.brands), top),
        by_tag=_ranked((tag for v in verdicts for tag in v.tags), top),
        negative=tuple(s.verdict for s in needs_attention[:top]),
        positive=tuple(s.verdict for s in praise[:top]),
        others=tuple(s.verdict for s in others[:top]),
    )


def _ranked(names: Iterable[str], top: int) -> tuple[Count, ...]:
    counts = Counter(names)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Count(name, count) for name, count in ordered[:top])

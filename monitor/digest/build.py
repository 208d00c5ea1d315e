"""The digest's view model: what happened over one period, counted and ranked. Pure, no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.digest.timeline import (
    Bucket,
    BusiestHour,
    bucket_size,
    busiest_hour,
    heard_at,
    timeline,
)
from monitor.mention import Severity, Verdict
from monitor.storage import SourceHealth, StoredVerdict

SENTIMENTS = ("negative", "neutral", "positive")
SHOWN_SEVERITIES = tuple(s for s in Severity if s is not Severity.IGNORE)


@dataclass(frozen=True)
class Count:
    """One row of a breakdown: a name (severity, source, brand, tag…) and how many mentions."""

    name: str
    count: int


@dataclass(frozen=True)
class Response:
    """What people did about a mention's alert: its status and how long until someone answered."""

    status: str = "open"  # open | acknowledged | resolved
    responded_in: timedelta | None = None  # alert queued -> first acknowledged; None: not yet


@dataclass(frozen=True)
class ActionItem:
    """A mention that needs action, with what has been done about it."""

    verdict: Verdict
    status: str  # open | acknowledged | resolved
    responded_in: timedelta | None

    @property
    def response_time(self) -> str:
        """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``; "" while nobody has answered."""
        if self.responded_in is None:
            return ""
        seconds = max(int(self.responded_in.total_seconds()), 0)
        if seconds < 60:
            return f"{seconds} s"
        minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
        if minutes < 60:
            return f"{minutes} min"
        if hours < 24:
            return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
        return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"


@dataclass(frozen=True)
class Author:
    """Someone who mentioned a brand in the period, by the reach the platform reported."""

    name: str
    source: str
    followers: int  # the most the platform reported in the period
    mentions: int
    compound: float  # mean sentiment of their mentions
    url: str  # their most recent mention's link ("" if it had none)


@dataclass(frozen=True)
class UnreadSource:
    """A source that could not be read in the period: mentions there went unheard."""

    source: str
    error: str  # the latest error, credentials already removed where it was recorded
    since: datetime  # failing since (or, once recovered, when it last failed)
    recovered_at: datetime | None = None  # read again since; None while still failing


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
    needs_action: tuple[ActionItem, ...] = ()  # ``negative`` with each one's alert status
    authors: tuple[Author, ...] = ()  # most followers first
    timeline: tuple[Bucket, ...] = ()  # the whole period in even buckets, oldest first
    bucket: timedelta = timedelta(hours=1)  # each bucket's length
    busiest: BusiestHour | None = None  # None when the period is quiet or an hour or less
    name: str = ""  # the scheduled digest's key; "" for [digest]
    unread: tuple[UnreadSource, ...] = ()  # sources that failed in the period, by name

    @property
    def quiet(self) -> bool:
        """Nothing was heard, and every source could be read: truly all quiet."""
        return self.total == 0 and not self.unread


def build_digest(
    stored: Sequence[StoredVerdict],
    start: datetime,
    end: datetime,
    *,
    organisation: str,
    timezone: str,
    top: int,
    responses: Mapping[int, Response] | None = None,
    name: str = "",
    health: Sequence[SourceHealth] = (),
) -> Digest:
    """Count and rank the verdicts stored in [start, end); lists are capped at ``top``.

    ``responses`` maps a stored mention's id to what was done about it; a mention missing from
    it shows as open, with no response time. ``health`` is every source's health: those that
    failed in the period are listed, so silence is not mistaken for quiet.
    """
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
    size = bucket_size(start, end)
    heard = [(heard_at(s, start, end), s) for s in shown]
    return Digest(
        organisation=organisation,
        start=start,
        end=end,
        timezone=timezone,
        total=len(shown),
        ignored=len(in_period) - len(shown),
        by_severity=tuple(Count(s.value, severities[s]) for s in SHOWN_SEVERITIES),
        by_sentiment=tuple(Count(label, sentiments[label]) for label in sentiment_names),
        by_source=_ranked((v.mention.source for v in verdicts), top),
        by_brand=_ranked((brand for v in verdicts for brand in v.brands), top),
        by_tag=_ranked((tag for v in verdicts for tag in v.tags), top),
        negative=tuple(s.verdict for s in needs_attention[:top]),
        positive=tuple(s.verdict for s in praise[:top]),
        others=tuple(s.verdict for s in others[:top]),
        needs_action=tuple(_action(s, responses) for s in needs_attention[:top]),
        authors=_top_authors(shown, top),
        timeline=timeline(heard, start, end, size),
        bucket=size,
        busiest=busiest_hour(heard, start, end),
        name=name,
        unread=unread_sources(health, start, end),
    )


def unread_sources(
    health: Sequence[SourceHealth], start: datetime, end: datetime
) -> tuple[UnreadSource, ...]:
    """The sources that failed during [start, end): failing before its end, or failed in it."""
    unread = []
    for source in health:
        if source.failing_since is not None and source.failing_since < end:
            unread.append(
                UnreadSource(source.source, source.last_error or "", source.failing_since)
            )
        elif source.last_error_at is not None and start <= source.last_error_at < end:
            unread.append(
                UnreadSource(
                    source.source,
                    source.last_error or "",
                    source.last_error_at,
                    recovered_at=source.last_success_at,
                )
            )
    return tuple(sorted(unread, key=lambda each: each.source))


def _action(stored: StoredVerdict, responses: Mapping[int, Response] | None) -> ActionItem:
    response = (responses or {}).get(stored.id, Response())
    return ActionItem(stored.verdict, response.status, response.responded_in)


def _top_authors(shown: Sequence[StoredVerdict], top: int) -> tuple[Author, ...]:
    """Authors whose platform reported followers, by the most followers seen in the period."""
    by_author: dict[tuple[str, str], list[StoredVerdict]] = {}
    for stored in shown:
        mention = stored.verdict.mention
        followers = mention.metrics.get("followers")
        if mention.author.strip() and isinstance(followers, int | float) and followers >= 0:
            by_author.setdefault((mention.source, mention.author.strip()), []).append(stored)
    authors = []
    for (source, name), mentions in by_author.items():
        latest = max(mentions, key=lambda s: (s.stored_at, s.id))
        authors.append(
            Author(
                name=name,
                source=source,
                followers=int(max(s.verdict.mention.metrics["followers"] for s in mentions)),
                mentions=len(mentions),
                compound=sum(s.verdict.sentiment.compound for s in mentions) / len(mentions),
                url=latest.verdict.mention.url,
            )
        )
    authors.sort(key=lambda a: (-a.followers, -a.mentions, a.name.casefold(), a.source))
    return tuple(authors[:top])


def _ranked(names: Iterable[str], top: int) -> tuple[Count, ...]:
    counts = Counter(names)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(Count(name, count) for name, count in ordered[:top])

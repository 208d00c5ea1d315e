"""The records that flow through Harken: plain frozen data, and what follows from it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Severity(enum.StrEnum):
    """How fast someone must look at a mention, most pressing first."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"
    IGNORE = "ignore"

    @property
    def rank(self) -> int:
        """Higher is more pressing: ``max(severities, key=rank)`` picks the most severe."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.IGNORE: 0,
    Severity.LOW: 1,
    Severity.NORMAL: 2,
    Severity.HIGH: 3,
    Severity.URGENT: 4,
}


@dataclass(frozen=True)
class Mention:
    """One public post, article or comment as a source saw it."""

    source: str  # the configured source's name, e.g. "hn_acme"
    id: str  # the platform's own id for the item (a feed's guid, a tweet id)
    text: str
    title: str = ""
    url: str = ""
    author: str = ""
    published: datetime | None = None  # aware UTC
    lang: str = ""
    # Engagement and reach as the platform counts them: followers, karma, likes, score, replies…
    metrics: Mapping[str, float] = field(default_factory=dict)
    thread_id: str = (
        ""  # the conversation or story this item belongs to, where the platform has one
    )
    parent_id: str = ""  # the item it replies to
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)  # as received


@dataclass(frozen=True)
class Sentiment:
    """VADER's reading of the text that names the brand."""

    compound: float  # -1 (hostile) .. 1 (glowing)
    label: str  # negative | neutral | positive
    sentence: str = ""  # the sentence that decided, as written; "" when none did


@dataclass(frozen=True)
class Verdict:
    """What triage decided about one mention, and why."""

    mention: Mention
    matched: bool
    brands: tuple[str, ...]
    sentiment: Sentiment
    severity: Severity
    rules: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()  # recipient groups the firing rules asked for
    reasons: tuple[str, ...] = ()
    reply: str = ""  # the suggested reply template a rule chose, if any

    @property
    def needs_alert(self) -> bool:
        """Whether someone must hear of it: triage named who (a rule's groups, or the on-call
        groups for urgent ones), and nothing told it to stay quiet."""
        return self.matched and bool(self.notify) and self.severity is not Severity.IGNORE


Cursor = Mapping[str, Any]
"""A source's opaque, JSON-serialisable memory of where it stopped."""


@dataclass(frozen=True)
class Poll:
    """One poll's result: the items new since the cursor, and the cursor to store with them."""

    mentions: tuple[Mention, ...]
    cursor: Cursor
    fetched: int  # items the source returned, new or not

"""Harken's records to table rows and back; what is read back equals what was saved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitor.mention import Mention, Sentiment, Severity, Verdict
from monitor.storage.models import MentionRow, SourceHealthRow, VerdictRow
from monitor.storage.records import SourceHealth


def mention_values(mention: Mention, now: datetime) -> dict[str, Any]:
    return {
        "source": mention.source,
        "item_id": mention.id,
        "url": mention.url,
        "title": mention.title,
        "text": mention.text,
        "author": mention.author,
        "published": mention.published,
        "lang": mention.lang,
        "metrics": dict(mention.metrics),
        "stored_at": now,
    }


def verdict_values(mention_id: int, verdict: Verdict) -> dict[str, Any]:
    return {
        "mention_id": mention_id,
        "matched": verdict.matched,
        "brands": list(verdict.brands),
        "compound": verdict.sentiment.compound,
        "label": verdict.sentiment.label,
        "severity": verdict.severity.value,
        "rules": list(verdict.rules),
        "tags": list(verdict.tags),
        "notify": list(verdict.notify),
        "reasons": list(verdict.reasons),
    }


def verdict(mention: MentionRow, verdict: VerdictRow) -> Verdict:
    return Verdict(
        mention=Mention(
            source=mention.source,
            id=mention.item_id,
            text=mention.text,
            title=mention.title,
            url=mention.url,
            author=mention.author,
            published=mention.published,
            lang=mention.lang,
            metrics=dict(mention.metrics),
        ),
        matched=verdict.matched,
        brands=tuple(verdict.brands),
        sentiment=Sentiment(compound=verdict.compound, label=verdict.label),
        severity=Severity(verdict.severity),
        rules=tuple(verdict.rules),
        tags=tuple(verdict.tags),
        notify=tuple(verdict.notify),
        reasons=tuple(verdict.reasons),
    )


def health(
    row: SourceHealthRow, *, started_failing: bool = False, recovered: bool = False
) -> SourceHealth:
    return SourceHealth(
        source=row.source,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        failing_since=row.failing_since,
        started_failing=started_failing,
        recovered=recovered,
    )

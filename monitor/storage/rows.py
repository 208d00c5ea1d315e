"""Harken's records to table rows and back; what is read back equals what was saved."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor.mention import Mention, Sentiment, Severity, Verdict
from monitor.storage.models import (
    OPEN,
    AlertRow,
    MentionRow,
    SightingRow,
    SourceHealthRow,
    VerdictRow,
)
from monitor.storage.records import PendingAlert, Sighting, SourceHealth


def mention_values(mention: Mention, now: datetime, canonical_url: str) -> dict[str, Any]:
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
        "thread_id": mention.thread_id,
        "parent_id": mention.parent_id,
        "raw": _json_safe(mention.raw),
        "canonical_url": canonical_url,
    }


def _json_safe(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # A payload as a library parsed it may hold dates or tuples; keep their text, not a failure
    # that would lose the whole poll.
    if raw is None:
        return None
    safe: dict[str, Any] = json.loads(json.dumps(dict(raw), default=str))
    return safe


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
        "sentence": verdict.sentiment.sentence,
        "reply": verdict.reply,
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
            thread_id=mention.thread_id,
            parent_id=mention.parent_id,
            raw=mention.raw,
        ),
        matched=verdict.matched,
        brands=tuple(verdict.brands),
        sentiment=Sentiment(
            compound=verdict.compound, label=verdict.label, sentence=verdict.sentence
        ),
        severity=Severity(verdict.severity),
        rules=tuple(verdict.rules),
        tags=tuple(verdict.tags),
        notify=tuple(verdict.notify),
        reasons=tuple(verdict.reasons),
        reply=verdict.reply,
    )


def sighting(row: SightingRow) -> Sighting:
    return Sighting(source=row.source, item_id=row.item_id, url=row.url, seen_at=row.seen_at)


def pending_alert(
    alert: AlertRow,
    mention: MentionRow | None,
    verdict_row: VerdictRow | None,
    parent_state: str | None = None,
) -> PendingAlert:
    stored = None
    if mention is not None and verdict_row is not None:
        stored = verdict(mention, verdict_row)
    return PendingAlert(
        id=alert.id,
        verdict=stored,
        groups=tuple(alert.groups),
        attempts=alert.attempts,
        created_at=alert.created_at,
        kind=alert.kind,
        source=alert.source if mention is None else mention.source,
        message=alert.message,
        level=alert.level,
        parent_id=alert.parent_id,
        stale=alert.parent_id is not None and parent_state != OPEN,
        delivered=tuple(alert.delivered_to or ()),
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
        consecutive_failures=row.consecutive_failures,
        backoff_until=row.backoff_until,
        disabled_reason=row.disabled_reason,
        alerted=row.alerted,
        started_failing=started_failing,
        recovered=recovered,
    )

"""The inbox's GET form read once into a MentionQuery: the same filters as `harken mentions`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from starlette.datastructures import QueryParams

from monitor.duration import parse_moment
from monitor.mention import Severity
from monitor.storage import MentionQuery

PERIODS = {"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days", "": "any time"}
SEVERITIES = tuple(severity.value for severity in Severity)
SENTIMENTS = ("negative", "neutral", "positive")
STATES = {
    "open": "open",
    "acknowledged": "acknowledged",
    "resolved": "resolved",
    "none": "no alert",
    "not_ours": "not ours",  # not an alert state: people's label, read from MentionQuery.relevance
}
FIELDS = ("period", "brand", "severity", "sentiment", "source", "tag", "state", "q")


@dataclass(frozen=True)
class InboxFilters:
    """What the form holds (to show it again and to carry into the next page's link)."""

    values: dict[str, str] = field(default_factory=dict)
    before: int | None = None

    def query(self, now: datetime, timezone: str) -> MentionQuery:
        period = self.values.get("period", "")
        state = self.values.get("state")
        return MentionQuery(
            since=parse_moment(period, now, timezone) if period else None,
            brands=_one(self.values.get("brand")),
            severities=_one(self.values.get("severity")),
            sentiments=_one(self.values.get("sentiment")),
            sources=_one(self.values.get("source")),
            tags=_one(self.values.get("tag")),
            states=() if state == "not_ours" else _one(state),
            relevance=("not_ours",) if state == "not_ours" else (),
            text=self.values.get("q", ""),
            before_id=self.before,
        )

    def page_after(self, last_id: int) -> str:
        """The query string of the page of mentions older than ``last_id``, same filters."""
        from urllib.parse import urlencode

        kept = {name: value for name, value in self.values.items() if value}
        return urlencode({**kept, "before": last_id})


def _one(value: str | None) -> tuple[str, ...]:
    return (value,) if value else ()


def read_filters(params: QueryParams) -> InboxFilters:
    """The filters a request asks for; a value outside a list's choices is dropped, not an
    error, since it can only come from a hand-edited address."""
    values = {name: params.get(name, "").strip()[:200] for name in FIELDS}
    choices = {"period": PERIODS, "severity": SEVERITIES, "sentiment": SENTIMENTS, "state": STATES}
    for name, allowed in choices.items():
        if values[name] not in allowed:
            values[name] = ""
    before = params.get("before", "")
    return InboxFilters(
        values={name: value for name, value in values.items() if value},
        before=int(before) if before.isdigit() and len(before) < 19 else None,
    )

"""The JSON Lines shapes of ``harken triage``: mentions in, verdicts out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.mention import Mention, Verdict


class MentionLine(BaseModel):
    """One input line. Unknown fields are ignored so exports from other tools can be piped in."""

    model_config = ConfigDict(extra="ignore")

    id: str | int
    text: str
    source: str = "stdin"
    title: str = ""
    url: str = ""
    author: str = ""
    published: datetime | None = None
    lang: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)


def read_mention(line: str) -> Mention:
    """Parse one JSON line into a Mention; raise ValueError saying what is wrong."""
    try:
        data = MentionLine.model_validate_json(line)
    except ValidationError as error:
        raise ValueError("; ".join(_describe(detail) for detail in error.errors())) from None
    published = data.published
    if published is not None:
        published = (
            published.replace(tzinfo=UTC) if published.tzinfo is None else published.astimezone(UTC)
        )
    return Mention(
        source=data.source,
        id=str(data.id),
        text=data.text,
        title=data.title,
        url=data.url,
        author=data.author,
        published=published,
        lang=data.lang,
        metrics=data.metrics,
    )


def _describe(detail: Any) -> str:
    where = ".".join(str(part) for part in detail["loc"])
    if detail["type"] == "json_invalid":
        return f"not valid JSON ({detail['ctx'].get('error', 'parse error')})"
    if detail["type"] == "missing":
        return f'missing required field "{where}"'
    return f'field "{where}": {detail["msg"]}' if where else str(detail["msg"])


def verdict_line(verdict: Verdict) -> str:
    """One output line for a verdict."""
    return json.dumps(
        {
            "id": verdict.mention.id,
            "matched": verdict.matched,
            "brands": list(verdict.brands),
            "sentiment": {"compound": verdict.sentiment.compound, "label": verdict.sentiment.label},
            "severity": verdict.severity.value,
            "rules": list(verdict.rules),
            "tags": list(verdict.tags),
            "reasons": list(verdict.reasons),
        },
        ensure_ascii=False,
    )

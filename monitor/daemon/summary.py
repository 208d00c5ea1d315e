"""What one poll did: for the summary table, the logs and /metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class PollSummary:
    """What one poll of one source did, for the summary table and the logs."""

    source: str
    fetched: int = 0  # items the source returned
    new: int = 0  # items not seen in an earlier poll
    matched: int = 0  # new items that name a brand
    stored: int = 0  # matched items stored for the first time
    urgent: int = 0  # stored items that are urgent
    severities: Mapping[str, int] = field(default_factory=dict)  # stored items by severity
    error: str | None = None
    error_kind: str | None = None  # what kind of failure (see error_kind), for /metrics
    retry_at: datetime | None = None  # when to try again, if sooner or later than the schedule
    disabled: bool = False  # retrying cannot help until someone acts

"""X bills per post read: the daily and monthly read budgets that keep that bill known."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.errors import RateLimited
from monitor.mention import Cursor
from sources.values import is_int

# X answers at least 10 posts per request, so a budget with fewer left cannot be kept.
SMALLEST_PAGE = 10


@dataclass
class ReadBudget:
    """Posts read this UTC day and month, against the budgets; kept in the cursor."""

    now: datetime
    day_reads: int
    month_reads: int
    daily: int | None
    monthly: int | None

    @classmethod
    def from_cursor(
        cls, cursor: Cursor, now: datetime, daily: int | None, monthly: int | None
    ) -> ReadBudget:
        now = now.astimezone(UTC)
        stored = cursor.get("budget")
        stored = stored if isinstance(stored, Mapping) else {}
        same_day = stored.get("day") == f"{now:%Y-%m-%d}"
        same_month = stored.get("month") == f"{now:%Y-%m}"
        return cls(
            now=now,
            day_reads=_count(stored.get("day_reads")) if same_day else 0,
            month_reads=_count(stored.get("month_reads")) if same_month else 0,
            daily=daily,
            monthly=monthly,
        )

    @property
    def left(self) -> int:
        """Posts that may still be read now (a large number when there is no budget)."""
        limits = [1_000_000]
        if self.daily is not None:
            limits.append(self.daily - self.day_reads)
        if self.monthly is not None:
            limits.append(self.monthly - self.month_reads)
        return max(min(limits), 0)

    def count(self, posts: int) -> None:
        self.day_reads += posts
        self.month_reads += posts

    def raise_if_spent(self, source: str) -> None:
        """RateLimited until the budget renews, when not even one page is left."""
        if self.left >= SMALLEST_PAGE:
            return
        tomorrow = datetime(self.now.year, self.now.month, self.now.day, tzinfo=UTC)
        tomorrow += timedelta(days=1)
        next_month = datetime(
            self.now.year + self.now.month // 12, self.now.month % 12 + 1, 1, tzinfo=UTC
        )
        spent, keys = [], []
        renews = self.now
        if self.daily is not None and self.daily - self.day_reads < SMALLEST_PAGE:
            spent.append(f"daily read budget ({self.day_reads:,} of {self.daily:,} posts read)")
            keys.append(f"sources.{source}.daily_read_budget")
            renews = tomorrow
        if self.monthly is not None and self.monthly - self.month_reads < SMALLEST_PAGE:
            spent.append(
                f"monthly read budget ({self.month_reads:,} of {self.monthly:,} posts read)"
            )
            keys.append(f"sources.{source}.monthly_read_budget")
            renews = next_month
        raise RateLimited(
            f"the {' and the '.join(spent)} {'are' if len(spent) > 1 else 'is'} spent; not asking X "
            f"again until {renews:%Y-%m-%d %H:%M} UTC (raise {' and '.join(keys)} to read more)",
            (renews - self.now).total_seconds(),
        )

    def describe(self) -> str:
        """e.g. "budget: 80/500 left today, 900/10,000 left this month"."""
        parts = []
        if self.daily is not None:
            parts.append(f"{max(self.daily - self.day_reads, 0):,}/{self.daily:,} left today")
        if self.monthly is not None:
            left = max(self.monthly - self.month_reads, 0)
            parts.append(f"{left:,}/{self.monthly:,} left this month")
        if not parts:
            return f"no read budget ({self.day_reads:,} posts read today)"
        return "budget: " + ", ".join(parts)

    def to_cursor(self) -> dict[str, Any]:
        return {
            "day": f"{self.now:%Y-%m-%d}",
            "day_reads": self.day_reads,
            "month": f"{self.now:%Y-%m}",
            "month_reads": self.month_reads,
        }


def _count(value: object) -> int:
    return value if is_int(value) and value > 0 else 0

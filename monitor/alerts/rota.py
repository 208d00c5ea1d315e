"""The on-call rota: which shifts cover a moment. Pure: no configuration, storage or clock of its own.

Days and hours arrive parsed (``monitor.config.hours``); nothing here reads text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config.hours import Days, Hours


@dataclass(frozen=True)
class Shift:
    """Who is on call on some days between two times, in the rota's timezone."""

    who: tuple[str, ...]
    days: Days
    hours: Hours

    def covers(self, local: datetime) -> bool:
        """Whether the shift covers this local wall-clock time.

        An overnight shift belongs to the day it starts on: "fri" with "18:00-08:00" covers
        Saturday 07:00 but not Monday 07:00.
        """
        if not self.hours.contains(local):
            return False
        started_yesterday = self.hours.overnight and local.hour * 60 + local.minute < self.hours.end
        return self.days.contains(local - timedelta(days=1) if started_yesterday else local)


def on_call(shifts: Sequence[Shift], moment: datetime, timezone: str) -> list[str]:
    """Everyone whose shift covers ``moment`` (aware), each once, in rota order."""
    local = moment.astimezone(ZoneInfo(timezone))
    found: dict[str, None] = {}
    for shift in shifts:
        if shift.covers(local):
            found.update(dict.fromkeys(shift.who))
    return list(found)

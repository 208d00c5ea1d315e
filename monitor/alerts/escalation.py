"""Escalation and the rota: who hears of an urgent alert first, and who next if nobody answers.

Level 0 is the first email: to whoever the rota has on shift (or ``alerts.notify`` when no shift
covers the moment, or no rota is configured). Level N goes to ``oncall.levels[N-1].notify`` once
``after`` has passed since the alert was raised without anyone acknowledging it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.alerts.history import format_duration
from monitor.alerts.rota import Shift, on_call
from monitor.config.settings import Config, EscalationLevel
from monitor.storage.alert_history import AlertHistoryStore

log = logging.getLogger(__name__)


def due_level(created_at: datetime, levels: Sequence[EscalationLevel], now: datetime) -> int:
    """The highest level whose ``after`` has passed since the alert was raised (0 for none)."""
    return sum(1 for level in levels if now - created_at >= level.after)


def escalate_due(storage: AlertHistoryStore, config: Config, now: datetime) -> int:
    """Queue the next level's email for every open urgent alert past its level's ``after``.

    Returns how many alerts were escalated. A job that ran late sends every level it missed,
    each with its own Message-ID, so no level goes untold.
    """
    levels = config.settings.oncall.levels
    if not levels:
        return 0
    escalated = 0
    for alert in storage.open_urgent_alerts():
        target = due_level(alert.created_at, levels, now)
        if target <= alert.level:
            continue
        steps = [
            (number, tuple(levels[number - 1].notify))
            for number in range(alert.level + 1, target + 1)
        ]
        if storage.escalate_alert(alert.id, alert.level, steps, now):
            escalated += 1
            log.warning(
                "alert %d: nobody acknowledged it within %s; escalated to level %d (%s)",
                alert.id,
                format_duration(levels[target - 1].after),
                target,
                ", ".join(steps[-1][1]),
            )
    return escalated


def level_after(config: Config, level: int) -> timedelta | None:
    """How long after raising an alert it reaches ``level``; None if the config has no such level."""
    levels = config.settings.oncall.levels
    return levels[level - 1].after if 0 < level <= len(levels) else None


def first_recipients(
    config: Config, groups: tuple[str, ...], urgent: bool, now: datetime
) -> list[str]:
    """The addresses of an alert's first email.

    With a rota, an urgent alert goes to whoever is on shift at ``now`` in place of
    ``alerts.notify``; groups a rule named are told as well. Outside every shift, and for
    other alerts, the groups are told as before.
    """
    settings = config.settings
    rota = settings.oncall
    if not (urgent and rota.shifts):
        return config.addresses(groups)
    shifts = [Shift(tuple(shift.who), shift.days, shift.hours) for shift in rota.shifts]
    who = on_call(shifts, now, rota.timezone or settings.organisation.timezone)
    if not who:
        return config.addresses(groups)
    addresses: dict[str, None] = {}
    for entry in who:
        addresses.update(dict.fromkeys([entry] if "@" in entry else config.addresses([entry])))
    named = [group for group in groups if group not in settings.alerts.notify]
    addresses.update(dict.fromkeys(config.addresses(named)))
    return list(addresses)

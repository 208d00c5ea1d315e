"""Replay stored mentions through a rule set and say what would change. Pure: no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from monitor.mention import Mention, Severity, Verdict


@dataclass
class Backtest:
    """What a new rule set would have decided differently about the same mentions."""

    replayed: int = 0
    newly_urgent: list[Verdict] = field(default_factory=list)
    no_longer_urgent: list[Verdict] = field(default_factory=list)  # the new verdicts
    severity_changed: int = 0
    fired_before: Counter[str] = field(default_factory=Counter)
    fired_after: Counter[str] = field(default_factory=Counter)


def backtest(
    stored: Iterable[Verdict],
    triage: Callable[[Mention], Verdict],
    on_progress: Callable[[], None] = lambda: None,
) -> Backtest:
    """Triage each stored mention again and compare with the verdict stored for it."""
    result = Backtest()
    for before in stored:
        after = triage(before.mention)
        result.replayed += 1
        result.fired_before.update(before.rules)
        result.fired_after.update(after.rules)
        if after.severity is not before.severity:
            result.severity_changed += 1
            if after.severity is Severity.URGENT:
                result.newly_urgent.append(after)
            elif before.severity is Severity.URGENT:
                result.no_longer_urgent.append(after)
        on_progress()
    return result

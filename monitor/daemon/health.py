"""When a source fails: how long to wait, when to stop, and when to tell the admins. Pure."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.errors import AccessDenied, RateLimited, SourceError, SourceGone


@dataclass(frozen=True)
class HealthPolicy:
    """The [health] section of the config, as the pipeline uses it."""

    notify: tuple[str, ...] = ()  # groups told when a source stops hearing, and when it recovers
    error_threshold: timedelta = timedelta(minutes=30)  # failing this long opens an alert
    backoff_cap: timedelta = timedelta(hours=1)  # the longest wait between retries
    jitter: Callable[[], float] = field(default=random.random, compare=False)  # 0..1


@dataclass(frozen=True)
class NextAttempt:
    """What to do after a failed poll."""

    retry_at: datetime | None  # None: wait for the regular schedule (or forever, if disabled)
    disabled_reason: str | None = None  # set when retrying cannot help (401/403, 410)


def after_failure(
    error: SourceError, failures: int, every: timedelta, now: datetime, policy: HealthPolicy
) -> NextAttempt:
    """Decide the next attempt after the ``failures``-th failure in a row."""
    if isinstance(error, AccessDenied | SourceGone):
        # Retrying a refused credential only hammers the platform: stop until someone acts.
        return NextAttempt(None, str(error))
    if isinstance(error, RateLimited):
        return NextAttempt(now + timedelta(seconds=error.retry_after))
    # Exponential from the poll interval, capped, with jitter so sources that failed together
    # (a network outage) do not all come back at the same second.
    delay = min(every * 2 ** min(failures - 1, 30), max(policy.backoff_cap, every))
    spread = 0.8 + 0.4 * policy.jitter()
    return NextAttempt(now + delay * spread)


def failing_alert(
    source: str,
    error: str,
    failing_since: datetime | None,
    disabled_reason: str | None,
    now: datetime,
    policy: HealthPolicy,
) -> str | None:
    """The alert to open for a failing source, or None if it is not yet worth waking anyone."""
    if disabled_reason:
        return f"stopped: {source} is disabled until Harken restarts: {disabled_reason}"
    if failing_since is not None and now - failing_since >= policy.error_threshold:
        return f"stopped hearing: {source} has failed since {failing_since:%Y-%m-%d %H:%M} UTC: {error}"
    return None


def silence_alert(
    source: str, last_stored: datetime | None, silent_after: timedelta | None, now: datetime
) -> str | None:
    """The alert for a source that answers but has brought nothing for longer than expected."""
    if silent_after is None or last_stored is None or now - last_stored < silent_after:
        return None
    return f"gone silent: {source} has brought no mention since {last_stored:%Y-%m-%d %H:%M} UTC"

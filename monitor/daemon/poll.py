"""The poll job, and one poll of one source stage by stage: poll -> triage -> store (with the
outbox) -> health.

A failure is recorded with when to try again (health.py decides), and opens an admin alert
once when it lasts; the first success after it closes the alert with one more message.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from monitor.daemon.deliver import deliver_alerts
from monitor.daemon.health import HealthPolicy, after_failure, failing_alert, silence_alert
from monitor.daemon.logs import REDACT
from monitor.daemon.summary import PollSummary
from monitor.daemon.wiring import App
from monitor.duration import moment_for_people
from monitor.errors import (
    AccessDenied,
    BadPayload,
    DatabaseUnavailable,
    FetchError,
    HarkenError,
    NotConfigured,
    RateLimited,
    SourceError,
    SourceGone,
)
from monitor.mention import Cursor, Severity
from monitor.source import Source
from monitor.storage import SourceHealth, Storage
from monitor.triage.verdict import Triage

log = logging.getLogger("harken.poll")


def poll_one(
    app: App, source: Source, state: tuple[Cursor, SourceHealth | None] | None = None
) -> PollSummary:
    """Poll one source, store what is new, then send any alerts it raised."""
    summary = poll_source(source, app.storage, app.triage, app.now, app.health_policy, state)
    app.metrics.record_poll(summary)
    # While the database is out, the outbox would only make this poll wait for it again.
    if (summary.stored or summary.error) and app.storage.availability.outage is None:
        deliver_alerts(app)
    return summary


def poll_all(app: App) -> list[PollSummary]:
    """Poll every source once, whatever its health (``harken poll``), in config order.

    One after another, not together: when two sources carry one story, the first in the config
    is the one stored (the other a sighting of it), whatever the network's timing.
    """
    try:
        # One read for the whole cycle; a source missing from it was never polled.
        states: dict[str, tuple[Cursor, SourceHealth | None]] | None = dict(
            app.storage.poll_states()
        )
    except HarkenError:
        states = None  # each poll reads its own state, and reports the database if it must

    def poll(source: Source) -> PollSummary:
        state = None if states is None else states.get(source.name, ({}, None))
        return poll_one(app, source, state)

    return [poll(source) for source in app.sources]


def scheduled_poll(app: App, source: Source) -> PollSummary | None:
    """The daemon's poll: skipped while the source backs off or is disabled.

    A source disabled in an earlier run gets one try after a restart: restarting is how an
    admin says "I fixed the credentials".
    """
    try:
        cursor, health = app.storage.poll_state(source.name)
    except HarkenError:
        return poll_one(app, source)  # the poll itself will report the database
    reason = waiting(app, source, health)
    app.tried_since_start.add(source.name)
    if reason:
        log.debug("source %s: skipped, %s", source.name, reason, extra={"source": source.name})
        return None
    return poll_one(app, source, (cursor, health))


def waiting(app: App, source: Source, health: SourceHealth | None) -> str | None:
    """Why a scheduled poll of ``source`` should not run now (backing off, disabled), if so."""
    if health is None:
        return None
    if health.disabled_reason and source.name in app.tried_since_start:
        return f"disabled: {health.disabled_reason}"
    if health.backoff_until and health.backoff_until > app.now():
        return f"backing off until {health.backoff_until:%H:%M:%S} UTC"
    return None


def poll_source(
    source: Source,
    storage: Storage,
    triage: Triage,
    now: Callable[[], datetime],
    policy: HealthPolicy | None = None,
    state: tuple[Cursor, SourceHealth | None] | None = None,
) -> PollSummary:
    """Poll one source and store what is new. Never raises: a failure is the summary's error.

    ``state`` is the source's cursor and health as the caller already read them.
    """
    policy = policy or HealthPolicy()
    before: SourceHealth | None = None
    try:
        cursor, before = state or storage.poll_state(source.name)
        poll = source.poll(cursor)
        verdicts = [triage(mention) for mention in poll.mentions]
        # A 304, or a page with nothing new, changes nothing: writing it back would only take
        # the database's write lock from the polls that do have something to store.
        unchanged = not poll.mentions and poll.cursor == cursor
        # The clock, not a time: the mentions are stamped under the database's write lock, so
        # a digest never ends its period after a stamp whose mentions it could not yet read.
        fresh = [] if unchanged else storage.save_poll(source.name, poll, verdicts, now)
    except SourceError as error:
        return _failed(source, storage, now, error, policy, before)
    except DatabaseUnavailable as error:
        return _database_down(source, now, error)
    except HarkenError as error:  # storage trouble: the cursor did not move, so nothing is lost
        return _failed(source, storage, now, FetchError(str(error)), policy, before, "storage")
    except Exception as error:  # a bug in one plugin must not stop the others
        log.exception("source %s: unexpected error", source.name, extra={"source": source.name})
        unexpected = FetchError(f"unexpected {type(error).__name__}: {error}")
        return _failed(source, storage, now, unexpected, policy, before, "unexpected")
    _succeeded(source, storage, now, policy, before)
    return PollSummary(
        source=source.name,
        fetched=poll.fetched,
        new=len(poll.mentions),
        matched=sum(verdict.matched for verdict in verdicts),
        stored=len(fresh),
        urgent=sum(verdict.severity is Severity.URGENT for verdict in fresh),
        severities=Counter(verdict.severity.value for verdict in fresh),
    )


# How soon a poll that could not store its items tries again, when its own schedule is slower.
DATABASE_RETRY = timedelta(seconds=15)


def _database_down(
    source: Source, now: Callable[[], datetime], error: DatabaseUnavailable
) -> PollSummary:
    # Not the source's fault, so its health is left alone (it could not be written anyway).
    # The cursor is saved with the items, in the same transaction, so it did not move either:
    # the retry fetches the same items again, whatever kind of cursor the source keeps.
    # Storage logs the outage once; a line per poll would bury it.
    log.debug("source %s: not stored: %s", source.name, error, extra={"source": source.name})
    retry_at = now() + DATABASE_RETRY if source.settings.every > DATABASE_RETRY else None
    return PollSummary(
        source=source.name, error=str(error), error_kind="database", retry_at=retry_at
    )


def _failed(
    source: Source,
    storage: Storage,
    now: Callable[[], datetime],
    error: SourceError,
    policy: HealthPolicy,
    before: SourceHealth | None,
    kind: str | None = None,
) -> PollSummary:
    name, at = source.name, now()
    kind = kind or error_kind(error)
    # What is stored, logged, alerted and shown names the feed without the credentials in it,
    # nor any configured secret a platform's error message might echo back.
    said = REDACT(str(error))
    try:
        failures = (before.consecutive_failures if before else 0) + 1
        attempt = after_failure(error, failures, source.settings.every, at, policy)
        health = storage.record_source_result(
            name, at, said, retry_at=attempt.retry_at, disabled_reason=attempt.disabled_reason
        )
        if health.started_failing:
            # A source that never answered has not stopped anything: it cannot be reached yet.
            what = "stopped hearing" if health.last_success_at else "cannot be reached"
            log.warning(
                "source %s %s: %s; %s",
                name,
                what,
                said,
                next_try(attempt.retry_at, attempt.disabled_reason, source.settings.every, at),
                extra={"source": name},
            )
        # Waiting out a rate limit or a spent read budget is the plan working, not an outage.
        message = None
        if not isinstance(error, RateLimited):
            message = failing_alert(
                name, said, health.failing_since, attempt.disabled_reason, at, policy
            )
        if message and not health.alerted:
            open_source_alert(storage, name, at, message, policy)
    except HarkenError as storage_error:
        _health_not_recorded(name, storage_error)
        return PollSummary(source=name, error=said, error_kind=kind)
    return PollSummary(
        source=name,
        error=said,
        error_kind=kind,
        retry_at=attempt.retry_at,
        disabled=attempt.disabled_reason is not None,
    )


def next_try(
    retry_at: datetime | None, disabled_reason: str | None, every: timedelta, now: datetime
) -> str:
    """When the source is tried again, in words: ``trying again at 06:54 UTC, in 5 min``."""
    if disabled_reason:
        return "not trying again until harken restarts; fix it, then restart"
    return f"trying again at {moment_for_people(retry_at or now + every, now)}"


def _health_not_recorded(name: str, storage_error: HarkenError) -> None:
    if not isinstance(storage_error, DatabaseUnavailable):  # an outage is logged once
        log.error(
            "source %s: could not record its health: %s",
            name,
            storage_error,
            extra={"source": name},
        )


_KINDS: tuple[tuple[type[SourceError], str], ...] = (
    (RateLimited, "rate_limited"),  # before FetchError, its parent
    (AccessDenied, "access_denied"),
    (SourceGone, "gone"),
    (BadPayload, "bad_payload"),
    (NotConfigured, "not_configured"),
    (FetchError, "fetch"),
)


def error_kind(error: SourceError) -> str:
    """A short, fixed name for the kind of failure: few enough to be a metric label."""
    return next((kind for cls, kind in _KINDS if isinstance(error, cls)), "source")


def _succeeded(
    source: Source,
    storage: Storage,
    now: Callable[[], datetime],
    policy: HealthPolicy,
    before: SourceHealth | None,
) -> None:
    name, at = source.name, now()
    if _steady(before, at):
        return
    try:
        health = storage.record_source_result(name, at, None)
        if health.recovered:
            log.info("source %s is hearing again", name, extra={"source": name})
        if health.alerted:
            silence = silence_alert(
                name, storage.last_stored_at(name), source.settings.silent_after, at
            )
            if silence is None:
                storage.enqueue_source_alert(
                    name, at, f"hearing again: {name} works again", policy.notify
                )
                storage.set_source_alerted(name, False)
    except HarkenError as storage_error:
        _health_not_recorded(name, storage_error)


# A healthy source's success is written at most this often: each write takes the database's
# write lock, and a warm cycle of 304s would otherwise spend most of its CPU on them.
RECORD_SUCCESS_EVERY = timedelta(minutes=1)


def _steady(before: SourceHealth | None, at: datetime) -> bool:
    """Whether a success changes nothing worth writing now."""
    return (
        before is not None
        and before.failing_since is None
        and not before.alerted
        and before.backoff_until is None
        and before.disabled_reason is None
        and before.last_success_at is not None
        and at - before.last_success_at < RECORD_SUCCESS_EVERY
    )


def open_source_alert(
    storage: Storage, name: str, at: datetime, message: str, policy: HealthPolicy
) -> None:
    """Log and queue an admin alert about source ``name``, and mark it open."""
    log.error("source %s: %s", name, message, extra={"source": name})
    storage.enqueue_source_alert(name, at, message, policy.notify)
    storage.set_source_alerted(name, True)

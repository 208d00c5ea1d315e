"""The digest job: each scheduled digest of everything since its last one, and its watermark.

Each scheduled digest has its own watermark (the end of its last sent period). A failed send
leaves it where it was, so the next digest covers the gap; a sent one is never repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from monitor.config.settings import ScheduledDigest
from monitor.daemon.wiring import App
from monitor.digest import Digest, Response, build_digest, send_digest
from monitor.errors import HarkenError

log = logging.getLogger("harken")

# A digest may go this late: when the scheduler was busy, or the daemon down, at its time.
DIGEST_LATE = timedelta(hours=1)


def send_scheduled_digest(app: App, key: str = "") -> None:
    """Email digest ``key`` ("" for [digest]) of everything since its last one sent, then move
    its watermark. Never raises: a failure is logged and counted."""
    scheduled = app.config.scheduled_digest(key)
    now = app.now()
    try:
        start = digest_start(app, scheduled, now)
        digest = send_digest(
            app.storage.verdicts_between(start, now),
            start,
            now,
            mailer=app.mailer,
            templates=app.templates,
            config=app.config,
            now=now,
            scheduled=scheduled,
            responses=alert_responses(app, start, now),
            health=app.storage.source_health(),
        )
        total = digest.total if digest else 0
        recipients = app.config.addresses(scheduled.to) if digest else []
        app.storage.record_digest(start, now, now, recipients, total, digest=scheduled.key)
    except HarkenError as error:
        app.metrics.record_digest(scheduled.label, sent=False)
        log.error(
            "digest %s: not sent, the next one will cover this period too: %s",
            scheduled.label,
            error,
        )
        return
    since = start.isoformat(timespec="minutes")
    if digest is None:
        log.info(
            "digest %s: nothing heard since %s; none sent (send_empty)", scheduled.label, since
        )
    else:
        app.metrics.record_digest(scheduled.label, sent=True)
        log.info("digest %s: %s mentions from %s sent", scheduled.label, total, since)


def digest_start(app: App, scheduled: ScheduledDigest, now: datetime) -> datetime:
    """Where the next ``scheduled`` digest starts: where its last sent one ended, if any."""
    last = app.storage.last_digest_end(scheduled.key)
    if last is not None:
        return last
    start = now - scheduled.first_period
    if app.storage.last_digest_end(None) is not None:
        # Another digest has reported what came before: a digest added later starts fresh.
        return start
    # Until one digest is sent, everything stored is unreported: reach back to the oldest
    # mention, so a first digest that fails for days still leaves no gap.
    oldest = app.storage.first_stored_at()
    return min(start, oldest) if oldest else start


def overdue_since(
    app: App,
    scheduled: ScheduledDigest,
    next_time: Callable[[datetime], datetime | None],
    now: datetime,
) -> datetime | None:
    """When ``scheduled`` was due while no daemon ran (a crash, a restart), within DIGEST_LATE
    and after its last send; None if it is not overdue. A digest never sent waits for its time.

    ``next_time(after)`` is the digest's schedule: its first time after ``after``.
    """
    try:
        last = app.storage.last_digest_end(scheduled.key)
    except HarkenError as error:
        log.error("digest %s: cannot tell whether one is overdue: %s", scheduled.label, error)
        return None
    if last is None:
        return None
    due = next_time(max(last, now - DIGEST_LATE))
    return due if due is not None and due <= now else None


def digest_of(
    app: App, start: datetime, end: datetime, scheduled: ScheduledDigest | None = None
) -> Digest:
    """The digest of [start, end) as ``scheduled`` (by default [digest]) would show it."""
    scheduled = scheduled or app.config.scheduled_digests[0]
    return build_digest(
        app.storage.verdicts_between(start, end),
        start,
        end,
        organisation=app.config.settings.organisation.name,
        timezone=scheduled.timezone,
        top=scheduled.top,
        responses=alert_responses(app, start, end),
        name=scheduled.key,
        health=app.storage.source_health(),
    )


def alert_responses(app: App, start: datetime, end: datetime) -> dict[int, Response]:
    """What was done about the alerts of the mentions stored in [start, end), by mention id."""
    return {
        mention_id: Response(status.state, status.time_to_first_response)
        for mention_id, status in app.storage.mention_alert_statuses(start, end).items()
    }

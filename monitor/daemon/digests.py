"""The digest job: each scheduled digest of everything since its last one, and its watermark.

Each scheduled digest has its own watermark (the end of its last sent period). A send is
recorded before it is made, with its period and Message-ID, like an alert in the outbox: a send
a crash cut short goes out again as the same message (mail clients drop the repeat), and only
then does a new period begin, where it ended. A send the mailer refused leaves the watermark
where it was, so the next digest covers the gap; a sent one is never extended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from monitor.config.settings import ScheduledDigest
from monitor.daemon.wiring import App
from monitor.digest import Digest, Response, build_digest, digest_message_id, send_digest
from monitor.errors import HarkenError
from monitor.storage import DigestSend

log = logging.getLogger("harken")

# A digest may go this late: when the scheduler was busy, or the daemon down, at its time.
DIGEST_LATE = timedelta(hours=1)


def send_scheduled_digest(app: App, key: str = "") -> None:
    """Email digest ``key`` ("" for [digest]) of everything since its last one sent, then move
    its watermark; a send cut short goes first, as it was. Never raises: a failure is logged
    and counted."""
    scheduled = app.config.scheduled_digest(key)
    now = app.now()
    try:
        send = app.storage.digest_send(scheduled.key) or app.storage.begin_digest_send(
            next_send(app, scheduled, now)
        )
    except HarkenError as error:
        _not_sent(app, scheduled, error)
        return
    if send.end != now:
        log.info(
            "digest %s: sending again the digest of %s to %s that was cut short, as %s",
            scheduled.label,
            send.start.isoformat(timespec="minutes"),
            send.end.isoformat(timespec="minutes"),
            send.message_id,
        )
    try:
        digest = send_digest(
            app.storage.verdicts_between(send.start, send.end),
            send.start,
            send.end,
            mailer=app.mailer,
            templates=app.templates,
            config=app.config,
            now=send.created_at,  # its Date: a repeat is the same message
            scheduled=scheduled,
            responses=alert_responses(app, send.start, send.end),
            health=app.storage.source_health(),
            message_id=send.message_id,
            addresses=send.recipients,
        )
    except HarkenError as error:
        # The mailer said it did not go out: the next digest may cover this period too, under
        # a Message-ID of its own. If even forgetting fails, it is simply sent again as it was.
        try:
            app.storage.drop_digest_send(send)
        except HarkenError as drop_error:
            log.error("digest %s: %s", scheduled.label, drop_error)
        _not_sent(app, scheduled, error)
        return
    total = digest.total if digest else 0
    try:
        app.storage.finish_digest_send(send, app.now(), send.recipients if digest else (), total)
    except HarkenError as error:
        log.error(
            "digest %s: sent, but not recorded as sent; it goes again as %s: %s",
            scheduled.label,
            send.message_id,
            error,
        )
    since = send.start.isoformat(timespec="minutes")
    if digest is None:
        log.info(
            "digest %s: nothing heard since %s; none sent (send_empty)", scheduled.label, since
        )
    else:
        app.metrics.record_digest(scheduled.label, sent=True)
        log.info("digest %s: %s mentions from %s sent", scheduled.label, total, since)


def _not_sent(app: App, scheduled: ScheduledDigest, error: HarkenError) -> None:
    app.metrics.record_digest(scheduled.label, sent=False)
    log.error(
        "digest %s: not sent, the next one will cover this period too: %s",
        scheduled.label,
        error,
    )


def next_send(app: App, scheduled: ScheduledDigest, now: datetime) -> DigestSend:
    """The send of ``scheduled``'s next period, which ends ``now``: its Message-ID and
    recipients fixed here, before anything is sent."""
    start = digest_start(app, scheduled, now)
    return DigestSend(
        digest=scheduled.key,
        start=start,
        end=now,
        message_id=digest_message_id(start, now, scheduled.key),
        recipients=tuple(app.config.addresses(scheduled.to)),
        created_at=now,
    )


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
    and after its last send, or when its send a crash cut short was due, however long ago; None
    if it is not overdue. A digest never sent waits for its time.

    ``next_time(after)`` is the digest's schedule: its first time after ``after``.
    """
    try:
        cut_short = app.storage.digest_send(scheduled.key)
        last = app.storage.last_digest_end(scheduled.key)
    except HarkenError as error:
        log.error("digest %s: cannot tell whether one is overdue: %s", scheduled.label, error)
        return None
    if cut_short is not None:
        return cut_short.created_at
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

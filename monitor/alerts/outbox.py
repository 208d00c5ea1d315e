"""Draining the alert outbox: send what is due, record each outcome at once, back off on failure."""

from __future__ import annotations

import logging
import os
import shlex
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from monitor.alerts.channels import AppriseChannels, Channels, channels_for
from monitor.alerts.compose import (
    Escalation,
    alert_message_id,
    compose_alert,
    compose_source_alert,
    escalation_message_id,
)
from monitor.alerts.escalation import first_recipients, level_after
from monitor.alerts.history import format_duration
from monitor.alerts.links import Links
from monitor.alerts.storm import group_alerts, grouped_email, in_quiet_hours, is_held
from monitor.config.load import DEFAULT_CONFIG
from monitor.config.settings import Config
from monitor.duration import plural
from monitor.errors import DeliveryError
from monitor.mail.mailer import Sender
from monitor.mail.templates import Templates
from monitor.mention import Severity
from monitor.storage import PendingAlert
from monitor.storage.outbox import OutboxStore

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = timedelta(hours=1)
EMAIL = "email"  # the destination of an alert's email, beside "channel:NAME"
# How long a sender holds an alert it is sending. It must outlast one delivery (SMTP and every
# channel timing out in turn); it is also how long an alert in flight when its sender died
# waits before another sender takes it.
CLAIM_LEASE = timedelta(minutes=5)


_HOST = socket.gethostname()[:64]


@dataclass(frozen=True)
class DeliveryReport:
    """What one pass over the outbox did."""

    sent: int = 0
    failed: int = 0  # given up on after the last attempt
    retrying: int = 0  # failed this time, scheduled again
    cancelled: int = 0  # escalations of alerts acknowledged before they were sent
    held: int = 0  # non-urgent alerts waiting for quiet hours to end


def retry_delay(attempt: int, every: timedelta, ceiling: timedelta = MAX_RETRY_DELAY) -> timedelta:
    """Wait after failed ``attempt`` (1-based): ``every`` doubled each time, at most ``ceiling``."""
    ceiling = max(ceiling, every)
    if attempt >= 32:  # 2**31 minutes is already far past any ceiling; avoid huge numbers
        return ceiling
    return min(every * (1 << (attempt - 1)), ceiling)


def deliver_pending(
    storage: OutboxStore,
    mailer: Sender,
    templates: Templates,
    config: Config,
    now: datetime,
    limit: int = 100,
    links: Links | None = None,
    channels: Channels | None = None,
    on_accepted: Callable[[datetime, datetime], None] | None = None,
) -> DeliveryReport:
    """Send every alert that is due; each is marked sent or failed before the next is tried.

    Email goes through ``mailer``; the ``[channels]`` that carry an alert's groups through
    ``channels`` (Apprise by default). With ``links``, mention alerts carry signed links to
    acknowledge and resolve them. ``on_accepted(stored_at, accepted_at)`` hears of each mention
    alert accepted (the daemon's latency metric).
    """
    channels = channels or AppriseChannels()
    started = time.monotonic()
    sent = failed = retrying = cancelled = held = 0
    settings = config.settings
    quiet = in_quiet_hours(settings.alerts.quiet_hours, settings.organisation.timezone, now)
    due: list[PendingAlert] = []
    for alert in storage.pending_alerts(now, limit):
        if alert.stale:
            cancelled += storage.mark_alert_cancelled(alert.id)
            log.info("alert %d: answered before level %d was told", alert.alert_id, alert.level)
        elif is_held(alert, quiet):
            held += 1  # still pending: the first delivery after quiet hours sends it
        else:
            due.append(alert)
    # Unique to this pass; the host and process say who holds a claim (alerts.claimed_by).
    claimant = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    for grouped in group_alerts(due, settings.alerts.group_window):
        # Another Harken sharing the database (or another thread of this one) may be sending
        # some of these already: send only what this pass holds the claim to.
        taken = storage.claim_alerts(
            [each.id for each in grouped], claimant, now, now + CLAIM_LEASE
        )
        batch = [each for each in grouped if each.id in taken]
        if not batch:
            continue
        alert = batch[0]
        if alert.parent_id is not None:
            message_id = escalation_message_id(alert.parent_id, alert.level)
        else:
            message_id = alert_message_id(alert.id)
        references = storage.thread_references(alert.id)
        try:
            recipients = _deliver(
                alert,
                mailer,
                channels,
                templates,
                config,
                message_id,
                now,
                links,
                batch,
                references=references,
                within_limit=lambda name: _within_limit(storage, config, name, now),
                already=frozenset.intersection(*(frozenset(each.delivered) for each in batch)),
            )
        except DeliveryError as error:
            for each in batch:
                attempt = each.attempts + 1
                if attempt >= settings.alerts.max_attempts:
                    retry_at = None
                    failed += 1
                    log.error("alert %d: giving up after %d attempts: %s", each.id, attempt, error)
                else:
                    retry_at = now + retry_delay(attempt, settings.alerts.retry_every)
                    retrying += 1
                    log.warning(
                        "alert %d: attempt %d failed, retrying at %s: %s",
                        each.id,
                        attempt,
                        retry_at.isoformat(),
                        error,
                    )
                storage.mark_alert_failed(
                    each.id, now, str(error), retry_at, claimant, error.delivered
                )
            continue
        # ``now`` is when this pass began; the channel accepted the alert only just now.
        accepted_at = now + timedelta(seconds=time.monotonic() - started)
        for each in batch:
            storage.mark_alert_sent(each.id, now, message_id, recipients, claimant)
            if each.kind == "mention" and on_accepted is not None:
                on_accepted(each.created_at, accepted_at)
            sent += 1
        if len(batch) > 1:
            log.info(
                "alerts %s: sent as one message about one story",
                ", ".join(str(each.id) for each in batch),
            )
    return DeliveryReport(
        sent=sent, failed=failed, retrying=retrying, cancelled=cancelled, held=held
    )


def _within_limit(storage: OutboxStore, config: Config, channel: str, now: datetime) -> bool:
    limit = config.settings.channels[channel].max_per_hour
    return limit is None or storage.channel_sends_since(channel, now - timedelta(hours=1)) < limit


def _deliver(
    alert: PendingAlert,
    mailer: Sender,
    channels: Channels,
    templates: Templates,
    config: Config,
    message_id: str,
    now: datetime,
    links: Links | None,
    batch: Sequence[PendingAlert] = (),
    within_limit: Callable[[str], bool] = lambda name: True,
    already: frozenset[str] = frozenset(),
    references: Sequence[str] = (),
) -> list[str]:
    """Send one alert to each destination not ``already`` reached; return the addresses and
    channels it went to.

    Every destination is tried even when one fails; the DeliveryError then names the ones that
    took it, so the retry leaves them out.
    """
    groups = alert.groups or tuple(config.settings.alerts.notify)
    if alert.parent_id is None and alert.verdict is not None:
        urgent = alert.verdict.severity is Severity.URGENT
        addresses = first_recipients(config, groups, urgent, now)
    else:
        addresses = config.addresses(groups)
    targets = channels_for(config, groups)
    limited = [name for name, _ in targets if not within_limit(name)]
    if limited:
        # Past a channel's hourly limit, the alert still goes by email and to other channels.
        log.warning(
            "alert %d: channels %s are at their hourly limit; not sent there",
            alert.id,
            ", ".join(limited),
        )
        targets = [(name, url) for name, url in targets if name not in limited]
        if not addresses and not targets:
            raise DeliveryError(
                f"alert {alert.id}: every channel for it is at its hourly limit ({', '.join(limited)}); retrying later"
            )
    if not addresses and not targets:
        raise DeliveryError(
            f"alert {alert.id}: recipient groups {', '.join(groups) or '(none)'} have no email addresses; add them under [recipients] in config.toml, or a [channels] table that notifies them"
        )
    organisation = config.settings.organisation
    if alert.verdict is not None:
        escalation = None
        if alert.parent_id is not None:
            after = level_after(config, alert.level)
            escalation = Escalation(
                level=alert.level,
                after=format_duration(after) if after else "",
                groups=alert.groups,
            )
        email = compose_alert(
            alert.verdict,
            templates,
            alert_id=alert.alert_id,
            created_at=alert.created_at,
            organisation=organisation.name,
            timezone=organisation.timezone,
            ack_url=links.url(alert.alert_id, "ack", now) if links else "",
            resolve_url=links.url(alert.alert_id, "resolve", now) if links else "",
            escalation=escalation,
            harken=terminal_command(config.path),
        )
    elif alert.source is not None and alert.message is not None:
        email = compose_source_alert(
            alert.source,
            alert.message,
            templates,
            alert_id=alert.id,
            created_at=alert.created_at,
            organisation=organisation.name,
            timezone=organisation.timezone,
        )
    else:
        raise DeliveryError(
            f"alert {alert.id}: a {alert.kind} alert without a mention or a source message; nothing to send"
        )
    email = grouped_email(email, batch)
    sends: list[tuple[str, Callable[[], None]]] = []
    if addresses and EMAIL not in already:
        subject, text, html = email.subject, email.text, email.html
        sends.append(
            (
                EMAIL,
                partial(
                    mailer.send,
                    addresses,
                    subject,
                    text,
                    html,
                    message_id,
                    date=now,
                    references=references,
                ),
            )
        )
    for name, url in targets:
        if f"channel:{name}" not in already:
            sends.append(
                (f"channel:{name}", partial(channels.notify, name, url, email.subject, email.text))
            )
    delivered: list[str] = []
    failures: list[str] = []
    for destination, send in sends:
        try:
            send()
        except DeliveryError as error:
            failures.append(str(error))
        else:
            delivered.append(destination)
    if failures:
        raise DeliveryError("; ".join(failures), delivered)
    return addresses + [f"channel:{name}" for name, _ in targets]


def terminal_command(config_path: Path) -> str:
    """How a person at a terminal reaches this config's alerts: ``harken``, with ``--config``
    unless the config is the one harken finds by itself (config.toml in the folder)."""
    if config_path == Path(DEFAULT_CONFIG):
        return "harken"
    return f"harken --config {shlex.quote(str(config_path))}"


def release_dead_claims(storage: OutboxStore, now: datetime) -> int:
    """Free at once the alerts that senders which died on this host had claimed; returns how many.

    Called as a Harken process starts, before it sends anything: a claim from this host by a
    process that is gone (or by an earlier process with our own pid, as after a container
    restart) can never be finished, and waiting out its lease would delay an urgent alert by
    CLAIM_LEASE after every crash. Claims from other hosts, or from live processes, are left
    to their lease.
    """
    dead = [claimant for claimant in storage.claimants(now) if _died_here(claimant)]
    released = storage.release_claims(dead)
    if released:
        log.warning("alerts: %s a stopped sender had claimed sent again", plural(released, "alert"))
    return released


def _died_here(claimant: str) -> bool:
    host, pid, _ = claimant.rsplit(":", 2) if claimant.count(":") >= 2 else ("", "", "")
    if host != _HOST or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False

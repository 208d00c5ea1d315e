"""Draining the alert outbox: send what is due, record each outcome at once, back off on failure."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from monitor.alerts.compose import alert_message_id, compose_alert, compose_source_alert
from monitor.config import Config
from monitor.errors import DeliveryError
from monitor.mailer import Sender
from monitor.storage import PendingAlert
from monitor.templating import Templates

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = timedelta(hours=1)


class Outbox(Protocol):
    """The part of Storage that holds alerts waiting to be sent."""

    def pending_alerts(self, now: datetime, limit: int = 100) -> list[PendingAlert]: ...

    def mark_alert_sent(self, alert_id: int, now: datetime, message_id: str) -> None: ...

    def mark_alert_failed(
        self, alert_id: int, now: datetime, error: str, retry_at: datetime | None
    ) -> None: ...


@dataclass(frozen=True)
class DeliveryReport:
    """What one pass over the outbox did."""

    sent: int = 0
    failed: int = 0  # given up on after the last attempt
    retrying: int = 0  # failed this time, scheduled again


def retry_delay(attempt: int, every: timedelta, ceiling: timedelta = MAX_RETRY_DELAY) -> timedelta:
    """Wait after failed ``attempt`` (1-based): ``every`` doubled each time, at most ``ceiling``."""
    ceiling = max(ceiling, every)
    if attempt >= 32:  # 2**31 minutes is already far past any ceiling; avoid huge numbers
        return ceiling
    return min(every * (1 << (attempt - 1)), ceiling)


def deliver_pending(
    storage: Outbox,
    mailer: Sender,
    templates: Templates,
    config: Config,
    now: datetime,
    limit: int = 100,
) -> DeliveryReport:
    """Email every alert that is due; each is marked sent or failed before the next is tried."""
    sent = failed = retrying = 0
    settings = config.settings
    for alert in storage.pending_alerts(now, limit):
        message_id = alert_message_id(alert.id)
        try:
            _deliver(alert, mailer, templates, config, message_id, now)
        except DeliveryError as error:
            attempt = alert.attempts + 1
            if attempt >= settings.alerts.max_attempts:
                retry_at = None
                failed += 1
                log.error("alert %d: giving up after %d attempts: %s", alert.id, attempt, error)
            else:
                retry_at = now + retry_delay(attempt, settings.alerts.retry_every)
                retrying += 1
                log.warning(
                    "alert %d: attempt %d failed, retrying at %s: %s",
                    alert.id,
                    attempt,
                    retry_at.isoformat(),
                    error,
                )
            storage.mark_alert_failed(alert.id, now, str(error), retry_at)
            continue
        storage.mark_alert_sent(alert.id, now, message_id)
        sent += 1
    return DeliveryReport(sent=sent, failed=failed, retrying=retrying)


def _deliver(
    alert: PendingAlert,
    mailer: Sender,
    templates: Templates,
    config: Config,
    message_id: str,
    now: datetime,
) -> None:
    groups = alert.groups or tuple(config.settings.alerts.notify)
    addresses = config.addresses(groups)
    if not addresses:
        raise DeliveryError(
            f"alert {alert.id}: recipient groups {', '.join(groups) or '(none)'} have no email addresses; add them under [recipients] in config.toml"
        )
    organisation = config.settings.organisation
    if alert.verdict is not None:
        email = compose_alert(
            alert.verdict,
            templates,
            alert_id=alert.id,
            created_at=alert.created_at,
            organisation=organisation.name,
            timezone=organisation.timezone,
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
    mailer.send(addresses, email.subject, email.text, email.html, message_id, date=now)

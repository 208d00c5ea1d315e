"""Alerts: urgent verdicts and source health emailed from the outbox, with retries and backoff."""

from monitor.alerts.compose import (
    alert_message_id,
    alert_subject,
    compose_alert,
    compose_source_alert,
    source_alert_subject,
)
from monitor.alerts.outbox import DeliveryReport, Outbox, deliver_pending, retry_delay

__all__ = [
    "DeliveryReport",
    "Outbox",
    "alert_message_id",
    "alert_subject",
    "compose_alert",
    "compose_source_alert",
    "deliver_pending",
    "retry_delay",
    "source_alert_subject",
]

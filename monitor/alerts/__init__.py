"""Alerts: urgent verdicts and source health emailed from the outbox, with retries and backoff;
the on-call rota, escalation, and acknowledging and resolving an alert."""

from monitor.alerts.compose import (
    Escalation,
    alert_message_id,
    alert_subject,
    compose_alert,
    compose_source_alert,
    escalation_message_id,
    source_alert_subject,
)
from monitor.alerts.escalation import due_level, escalate_due, first_recipients
from monitor.alerts.links import ACTIONS, LinkCheck, Links, configured_links
from monitor.alerts.outbox import DeliveryReport, deliver_pending, retry_delay

__all__ = [
    "ACTIONS",
    "DeliveryReport",
    "Escalation",
    "LinkCheck",
    "Links",
    "alert_message_id",
    "alert_subject",
    "compose_alert",
    "compose_source_alert",
    "configured_links",
    "deliver_pending",
    "due_level",
    "escalate_due",
    "escalation_message_id",
    "first_recipients",
    "retry_delay",
    "source_alert_subject",
]

"""The outbox delivery job: send the alerts that are due."""

from __future__ import annotations

import logging

from monitor.alerts import DeliveryReport, deliver_pending
from monitor.daemon.wiring import App
from monitor.errors import DatabaseUnavailable, HarkenError

log = logging.getLogger("harken")


def deliver_alerts(app: App) -> DeliveryReport:
    """Send what the outbox holds that is due; never raises."""
    # No lock: each alert is claimed in the database before it is sent, which keeps two
    # threads, or two Harken processes sharing the database, from sending it twice.
    try:
        return deliver_pending(
            app.storage,
            app.mailer,
            app.templates,
            app.config,
            app.now(),
            links=app.links,
            on_accepted=app.metrics.record_alert_accepted,
        )
    except DatabaseUnavailable:
        return DeliveryReport()  # logged once by storage; the outbox waits for it
    except HarkenError as error:
        log.error("alerts: could not read the outbox: %s", error)
        return DeliveryReport()

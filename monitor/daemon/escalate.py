"""The escalation job: urgent alerts nobody acknowledged in time go to their next level."""

from __future__ import annotations

import logging

from monitor.alerts import escalate_due
from monitor.daemon.deliver import deliver_alerts
from monitor.daemon.wiring import App
from monitor.errors import HarkenError

log = logging.getLogger("harken")


def escalate_alerts(app: App) -> int:
    """Send open urgent alerts nobody acknowledged in time to their next level; how many."""
    try:
        escalated = escalate_due(app.storage, app.config, app.now())
    except HarkenError as error:
        log.error("alerts: could not escalate: %s", error)
        return 0
    if escalated:
        deliver_alerts(app)
    return escalated

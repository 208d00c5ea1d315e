"""The silence job: alert on sources that work but have brought nothing for too long."""

from __future__ import annotations

import logging

from monitor.daemon.deliver import deliver_alerts
from monitor.daemon.health import silence_alert
from monitor.daemon.poll import open_source_alert
from monitor.daemon.wiring import App
from monitor.errors import HarkenError
from monitor.source import Source

log = logging.getLogger("harken.poll")


def check_silence(app: App) -> None:
    """Check every source with ``silent_after``, then send any alert that opened."""
    for source in app.sources:
        if source.settings.silent_after is not None:
            check_source_silence(app, source)
    deliver_alerts(app)


def check_source_silence(app: App, source: Source) -> None:
    """Open an alert for ``source`` if it works but has brought nothing for too long."""
    name, at = source.name, app.now()
    try:
        health = app.storage.health_of(name)
        if health is None or health.alerted:
            return
        message = silence_alert(
            name, app.storage.last_stored_at(name), source.settings.silent_after, at
        )
        if message:
            open_source_alert(app.storage, name, at, message, app.health_policy)
    except HarkenError as storage_error:
        log.error(
            "source %s: could not check its silence: %s",
            name,
            storage_error,
            extra={"source": name},
        )

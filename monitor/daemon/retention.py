"""The retention job: forget mentions older than ``[storage] keep`` (or their severity's own
``keep_by_severity``), with their alerts and history, and say how many went."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from monitor.config.settings import StorageSettings
from monitor.daemon.wiring import App
from monitor.duration import plural
from monitor.errors import HarkenError

log = logging.getLogger("harken.retention")

# Daily is plenty for a keep counted in days; the first run comes soon after start, so a
# daemon restarted every night still purges.
RETENTION_EVERY = timedelta(days=1)
FIRST_RUN_AFTER = timedelta(minutes=2)


def retention_configured(storage: StorageSettings) -> bool:
    """Whether anything is ever purged: unset ``keep`` (and no per-severity one) keeps all."""
    return storage.keep is not None or bool(storage.keep_by_severity)


def purge_old_mentions(app: App) -> int:
    """Purge what the retention settings no longer keep; how many mentions went."""
    settings = app.config.settings.storage
    now = app.now()
    purged = 0
    for severity, keep in sorted(settings.keep_by_severity.items()):
        purged += _purge(app, now - keep, f" (severity {severity.value})", only=(severity.value,))
    if settings.keep is not None:
        sparing = tuple(severity.value for severity in settings.keep_by_severity)
        purged += _purge(app, now - settings.keep, "", sparing=sparing)
    return purged


def _purge(
    app: App,
    before: datetime,
    which: str,
    only: tuple[str, ...] = (),
    sparing: tuple[str, ...] = (),
) -> int:
    when = f"{before:%Y-%m-%d %H:%M} UTC"
    try:
        purged = app.storage.purge_mentions(before, only=only, sparing=sparing)
    except HarkenError as error:  # the next run (or a partial batch already done) carries on
        log.error("retention: could not purge mentions older than %s%s: %s", when, which, error)
        return 0
    log.info(
        "retention: purged %s older than %s%s, with %s",
        plural(purged.mentions, "mention"),
        when,
        which,
        plural(purged.alerts, "alert"),
    )
    return purged.mentions

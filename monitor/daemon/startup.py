"""What ``harken run`` tells a person as it starts: hints, sources still waiting, the first poll.

Without these, the start-up line is followed by ten quiet minutes, and a restart says nothing of
the sources still backing off from an earlier run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from monitor.daemon.summary import PollSummary
from monitor.daemon.wiring import App
from monitor.duration import moment_for_people, plural
from monitor.errors import HarkenError

log = logging.getLogger("harken.run")


def log_start(app: App) -> None:
    """Say what is worth knowing at start-up: links that are off, sources still backing off."""
    if app.links_off_because:
        log.info("Hint: %s", app.links_off_because)
    now = app.now()
    names = {source.name for source in app.sources}
    try:
        health = app.storage.source_health()
    except HarkenError:
        return  # the first poll reports the database
    for entry in health:
        if entry.source in names and entry.backoff_until and entry.backoff_until > now:
            log.info(
                "source %s: still backing off after %s (%s); trying again at %s",
                entry.source,
                plural(entry.consecutive_failures, "failure"),
                entry.last_error or "no error recorded",
                moment_for_people(entry.backoff_until, now),
                extra={"source": entry.source},
            )


class FirstPoll:
    """Counts each source's first scheduled poll since start; says once how they went."""

    def __init__(self, names: Iterable[str]) -> None:
        self._waiting = set(names)
        self._total = len(self._waiting)
        self._heard = 0
        self._stored = 0
        self._skipped = 0
        self._lock = threading.Lock()

    def record(self, name: str, summary: PollSummary | None) -> None:
        """``summary`` is None when the poll was skipped (backing off, disabled)."""
        with self._lock:
            if name not in self._waiting:
                return
            self._waiting.discard(name)
            if summary is None:
                self._skipped += 1
            elif summary.error is None:
                self._heard += 1
                self._stored += summary.stored
            if self._waiting:
                return
        after = "see harken sources list"
        if not self._heard:
            after += " for why, or run harken demo to watch Harken work on sample posts"
        waiting = f" ({self._skipped} still backing off)" if self._skipped else ""
        log.info(
            "first poll: %d of %s heard%s, %s stored; %s",
            self._heard,
            plural(self._total, "source"),
            waiting,
            plural(self._stored, "mention"),
            after,
        )

"""Whether the database answers: one log line when it stops, one when it is back, not one a poll."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.errors import DatabaseUnavailable

log = logging.getLogger("harken.database")


@dataclass(frozen=True)
class Outage:
    """The database has failed every write since ``since``; ``error`` is the latest reason."""

    since: datetime
    error: str


class Availability:
    """Follows every transaction's outcome; shared by the threads of one Storage."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._outage: Outage | None = None

    @property
    def outage(self) -> Outage | None:
        """The outage under way, or None while the database answers."""
        return self._outage

    @contextmanager
    def watch(self, writes: bool) -> Iterator[None]:
        """Note how the transaction inside went.

        Only a committed write ends an outage: with SQLite locked by another process, reads
        still answer (WAL) while every write waits and fails.
        """
        try:
            yield
        except DatabaseUnavailable as error:
            self._failed(str(error))
            raise
        if writes:
            self._answered()

    def _failed(self, error: str) -> None:
        with self._lock:
            started = self._outage is None
            self._outage = Outage(self._outage.since if self._outage else self._now(), error)
        if started:
            log.error(
                "database unavailable: %s; polls keep their cursors and try again, "
                "alerts wait in the outbox",
                error,
            )

    def _answered(self) -> None:
        with self._lock:
            ended, self._outage = self._outage, None
        if ended is not None:
            seconds = (self._now() - ended.since).total_seconds()
            log.warning("database is back after %.0f s of outage", seconds)

"""APScheduler wiring for ``harken run``: polls on intervals, the digest on its cron, retries."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.service import Harken
from monitor.source import Source

log = logging.getLogger("harken.run")

# Spread polls of sources with equal intervals so they do not all hit the network at once.
MAX_JITTER = timedelta(seconds=30)


def build_scheduler(harken: Harken) -> BackgroundScheduler:
    """A scheduler with one job per source, one for alert retries and one for the digest."""
    settings = harken.config.settings
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone="UTC",
    )
    now = harken.now()
    for source in harken.sources:
        every = source.settings.every
        scheduler.add_job(
            _poll_and_log,
            IntervalTrigger(
                seconds=every.total_seconds(),
                jitter=int(min(every / 10, MAX_JITTER).total_seconds()),
            ),
            args=(harken, source, scheduler),
            id=f"poll:{source.name}",
            name=f"poll {source.name}",
            next_run_time=now,
        )
    scheduler.add_job(
        harken.deliver_alerts,
        IntervalTrigger(seconds=settings.alerts.retry_every.total_seconds()),
        id="alerts",
        name="deliver alerts",
    )
    scheduler.add_job(
        harken.check_silence, IntervalTrigger(minutes=5), id="silence", name="check silence"
    )
    scheduler.add_job(
        harken.send_scheduled_digest,
        CronTrigger.from_crontab(settings.digest.schedule, timezone=settings.digest.timezone),
        id="digest",
        name="send digest",
        misfire_grace_time=3600,
    )
    return scheduler


def _poll_and_log(harken: Harken, source: Source, scheduler: BaseScheduler) -> None:
    summary = harken.scheduled_poll(source)
    if summary is None:
        return
    if summary.retry_at is not None:
        # Retry exactly when the platform asked (429) or the backoff says, not at the next tick.
        scheduler.add_job(
            _poll_and_log,
            DateTrigger(run_date=summary.retry_at),
            args=(harken, source, scheduler),
            id=f"retry:{source.name}",
            name=f"retry {source.name}",
            replace_existing=True,
        )
    if summary.error is None:
        log.info(
            "source %s: fetched %d, new %d, matched %d, stored %d, urgent %d",
            source.name,
            summary.fetched,
            summary.new,
            summary.matched,
            summary.stored,
            summary.urgent,
            extra={"source": source.name},
        )


def run_until_stopped(harken: Harken, stop: threading.Event | None = None) -> None:
    """Run the schedule until SIGINT/SIGTERM (or ``stop`` is set); running jobs finish first."""
    stop = stop or threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the jobs under way", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _request_stop)
    scheduler = build_scheduler(harken)
    scheduler.start()
    log.info(
        "harken is running: %d sources, digest at %r (%s)",
        len(harken.sources),
        harken.config.settings.digest.schedule,
        harken.config.settings.digest.timezone,
    )
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        log.info("harken stopped")

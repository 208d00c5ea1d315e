"""APScheduler wiring for ``harken run``: polls on intervals, the digest on its cron, retries."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING, BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config.settings import ScheduledDigest
from monitor.daemon.service import Harken
from monitor.daemon.web import serve_links
from monitor.errors import HarkenError
from monitor.source import Source

log = logging.getLogger("harken.run")

# Spread polls of sources with equal intervals so they do not all hit the network at once.
MAX_JITTER = timedelta(seconds=30)
# A digest may go this late: when the scheduler was busy, or the daemon down, at its time.
DIGEST_LATE = timedelta(hours=1)
# How long a stop waits for the jobs under way; systemd's TimeoutStopSec (60 s) must be longer.
STOP_GRACE = timedelta(seconds=30)


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]  # apscheduler ships no types
    """A BackgroundScheduler that drops jobs added once its shutdown has begun.

    APScheduler's shutdown holds its job-store lock while it waits for the jobs under way, so a
    failed poll adding its retry job then would wait for ever, and the stop for its whole grace.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._adding = threading.Lock()
        self._stopping = False

    def add_job(self, *args: Any, **kwargs: Any) -> Any:
        with self._adding:
            if self._stopping:
                return None
            return super().add_job(*args, **kwargs)

    def shutdown(self, wait: bool = True) -> None:
        with self._adding:
            self._stopping = True
        super().shutdown(wait)


def build_scheduler(harken: Harken) -> BackgroundScheduler:
    """A scheduler with one job per source, one for alert retries and one per digest."""
    settings = harken.config.settings
    scheduler = _Scheduler(
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
        harken.reload_rules,
        IntervalTrigger(seconds=settings.rules.check_every.total_seconds()),
        id="rules",
        name="reload edited rules",
    )
    scheduler.add_job(
        harken.check_silence, IntervalTrigger(minutes=5), id="silence", name="check silence"
    )
    scheduler.add_job(
        harken.check_spikes, IntervalTrigger(minutes=5), id="spikes", name="check spikes"
    )
    if settings.oncall.levels:
        scheduler.add_job(
            harken.escalate_alerts, IntervalTrigger(minutes=1), id="escalate", name="escalate"
        )
    for digest in harken.config.scheduled_digests:
        # Each digest on its own cron, in its recipients' timezone, with its own watermark.
        trigger = crontab_trigger(digest.schedule, digest.timezone)
        scheduler.add_job(
            harken.send_scheduled_digest,
            trigger,
            args=(digest.key,),
            id=f"digest:{digest.key}" if digest.key else "digest",
            name=f"send digest {digest.label}",
            misfire_grace_time=int(DIGEST_LATE.total_seconds()),
            **_catch_up(harken, digest, trigger, now),
        )
    return scheduler


def _catch_up(
    harken: Harken, digest: ScheduledDigest, trigger: CronTrigger, now: datetime
) -> dict[str, Any]:
    """Run ``digest`` at once if its time came while no daemon ran (a crash, a restart) within
    DIGEST_LATE and after its last send. A digest never sent waits for its time."""
    try:
        last = harken.storage.last_digest_end(digest.key)
    except HarkenError as error:
        log.error("digest %s: cannot tell whether one is overdue: %s", digest.label, error)
        return {}
    if last is None:
        return {}
    due = trigger.get_next_fire_time(None, max(last, now - DIGEST_LATE))
    if due is None or due > now:
        return {}
    log.info(
        "digest %s: was due at %s while harken was not running; sending it now",
        digest.label,
        due.isoformat(timespec="minutes"),
    )
    return {"next_run_time": now}


def crontab_trigger(schedule: str, timezone: str) -> CronTrigger:
    """A trigger for a five-field crontab line, read as cron reads it.

    APScheduler 3 counts numeric weekdays from Monday = 0, cron from Sunday = 0 (7 is Sunday
    too), and ``from_crontab`` does not translate: "0 8 * * 1-5" would run Tuesday to Saturday.
    So numeric weekdays become day names first.
    """
    minute, hour, day, month, weekday = schedule.split()
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekday_names(weekday),
        timezone=timezone,
    )


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekday_names(field: str) -> str:
    """Cron's weekday field with every numeric part spelled as day names: "1-5" -> "mon,…,fri"."""
    if field in {"*", "?"}:
        return "*"
    names: list[str] = []
    for part in field.split(","):
        body, _, step = part.partition("/")
        if any(char.isalpha() for char in body):
            names.append(part)  # names mean the same to both
            continue
        first, _, last = body.partition("-")
        if body == "*":
            first, last = "0", "6"
        elif not last:
            last = "6" if step else first  # "1/2" is 1, 3, 5 in cron
        try:
            days = range(int(first), int(last) + 1, int(step or 1))
        except ValueError:
            names.append(part)  # not cron; APScheduler says what is wrong with it
            continue
        names += [_DAY_NAMES[day % 7] for day in days]
    return ",".join(dict.fromkeys(names))


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


def scheduler_alive(scheduler: BaseScheduler) -> bool:
    """Running, not paused or stopped, and (in the background) its thread has not died."""
    thread = getattr(scheduler, "_thread", None)  # BackgroundScheduler's; none documented
    return bool(scheduler.state == STATE_RUNNING) and (thread is None or thread.is_alive())


def run_until_stopped(
    harken: Harken, stop: threading.Event | None = None, grace: timedelta = STOP_GRACE
) -> bool:
    """Run the schedule until SIGINT/SIGTERM (or ``stop`` is set); running jobs finish first.

    Returns False when jobs were still under way ``grace`` after the stop: their threads
    cannot be interrupted, so the caller must end the process.
    """
    stop = stop or threading.Event()
    stopped_by = ["the stop request"]

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        stopped_by[0] = signal.Signals(signum).name
        log.info("received %s: stopping after the jobs under way", stopped_by[0])
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _request_stop)
    scheduler = build_scheduler(harken)
    scheduler.start()
    links = serve_links(harken, lambda: scheduler_alive(scheduler))
    log.info(
        "harken is running: %d sources, digest at %r (%s)",
        len(harken.sources),
        harken.config.settings.digest.schedule,
        harken.config.settings.digest.timezone,
    )
    try:
        stop.wait()
    finally:
        if links is not None:
            links.stop()
        # The shutdown waits for the jobs under way in a thread of its own, so the wait can end.
        waiting = threading.Thread(target=scheduler.shutdown, name="shutdown", daemon=True)
        waiting.start()
        waiting.join(grace.total_seconds())
    if waiting.is_alive():
        log.error(
            "jobs still under way %d s after %s; stopping without them: what they had not "
            "committed is rolled back, and polled or sent again on the next start",
            grace.total_seconds(),
            stopped_by[0],
        )
        return False
    log.info("harken stopped")
    return True

"""APScheduler wiring for ``harken run``: each job on its interval or cron, retries, liveness.

The jobs themselves are plain functions of the app (poll.py, deliver.py, digests.py…); this
module only says when they run.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
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
from monitor.daemon.deliver import deliver_alerts
from monitor.daemon.digests import DIGEST_LATE, overdue_since, send_scheduled_digest
from monitor.daemon.escalate import escalate_alerts
from monitor.daemon.poll import scheduled_poll
from monitor.daemon.retention import (
    FIRST_RUN_AFTER,
    RETENTION_EVERY,
    purge_old_mentions,
    retention_configured,
)
from monitor.daemon.rules import reload_rules
from monitor.daemon.silence import check_silence
from monitor.daemon.spikes import check_spikes
from monitor.daemon.startup import FirstPoll, log_start
from monitor.daemon.web import serve_web
from monitor.daemon.wiring import App
from monitor.duration import plural
from monitor.source import Source

log = logging.getLogger("harken.run")

# Spread polls of sources with equal intervals so they do not all hit the network at once.
MAX_JITTER = timedelta(seconds=30)
# How long a stop waits for the jobs under way; systemd's TimeoutStopSec (60 s) must be longer.
STOP_GRACE = timedelta(seconds=30)
# The scheduler proves it runs by stamping the time this often; three missed stamps and
# /healthz says it is dead.
HEARTBEAT_EVERY = timedelta(seconds=5)


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


def build_scheduler(app: App) -> BackgroundScheduler:
    """A scheduler with one job per source, one per digest and one per other job."""
    settings = app.config.settings
    scheduler = _Scheduler(
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone="UTC",
    )
    now = app.now()
    first_poll = FirstPoll(source.name for source in app.sources)
    for source in app.sources:
        every = source.settings.every
        scheduler.add_job(
            _poll_and_log,
            IntervalTrigger(
                seconds=every.total_seconds(),
                jitter=int(min(every / 10, MAX_JITTER).total_seconds()),
            ),
            args=(app, source, scheduler, first_poll),
            id=f"poll:{source.name}",
            name=f"poll {source.name}",
            next_run_time=now,
        )
    jobs: dict[str, tuple[Callable[[App], object], timedelta, str]] = {
        "alerts": (deliver_alerts, settings.alerts.retry_every, "deliver alerts"),
        "rules": (reload_rules, settings.rules.check_every, "reload edited rules"),
        "silence": (check_silence, timedelta(minutes=5), "check silence"),
        "spikes": (check_spikes, timedelta(minutes=5), "check spikes"),
    }
    if settings.oncall.levels:
        jobs["escalate"] = (escalate_alerts, timedelta(minutes=1), "escalate")
    for key, (job, interval, name) in jobs.items():
        scheduler.add_job(
            job,
            IntervalTrigger(seconds=interval.total_seconds()),
            args=(app,),
            id=key,
            name=name,
        )
    if retention_configured(settings.storage):
        scheduler.add_job(
            purge_old_mentions,
            IntervalTrigger(seconds=RETENTION_EVERY.total_seconds()),
            args=(app,),
            id="retention",
            name="purge old mentions",
            next_run_time=now + FIRST_RUN_AFTER,
        )
    for digest in app.config.scheduled_digests:
        # Each digest on its own cron, in its recipients' timezone, with its own watermark.
        trigger = crontab_trigger(digest.schedule, digest.timezone)
        scheduler.add_job(
            send_scheduled_digest,
            trigger,
            args=(app, digest.key),
            id=f"digest:{digest.key}" if digest.key else "digest",
            name=f"send digest {digest.label}",
            misfire_grace_time=int(DIGEST_LATE.total_seconds()),
            **_catch_up(app, digest, trigger, now),
        )
    return scheduler


def _catch_up(
    app: App, digest: ScheduledDigest, trigger: CronTrigger, now: datetime
) -> dict[str, Any]:
    """Run ``digest`` at once if its time came while no daemon ran."""
    due = overdue_since(app, digest, lambda after: trigger.get_next_fire_time(None, after), now)
    if due is None:
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


def _poll_and_log(
    app: App, source: Source, scheduler: BaseScheduler, first_poll: FirstPoll
) -> None:
    summary = scheduled_poll(app, source)
    first_poll.record(source.name, summary)
    if summary is None:
        return
    if summary.retry_at is not None:
        # Retry exactly when the platform asked (429) or the backoff says, not at the next tick.
        scheduler.add_job(
            _poll_and_log,
            DateTrigger(run_date=summary.retry_at),
            args=(app, source, scheduler, first_poll),
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


class Heartbeat:
    """The scheduler's proof of life: a job of its own that stamps the time.

    The job runs in an executor of its own, so polls that fill the pool do not silence it; if
    the scheduler's thread dies, the stamps stop.
    """

    def __init__(self, scheduler: BaseScheduler, every: timedelta = HEARTBEAT_EVERY) -> None:
        self._scheduler = scheduler
        self._every = every.total_seconds()
        self._last = time.monotonic()  # a scheduler just built counts as alive
        scheduler.add_executor(ThreadPoolExecutor(max_workers=1), "heartbeat")
        scheduler.add_job(
            self._beat,
            IntervalTrigger(seconds=self._every),
            id="heartbeat",
            name="heartbeat",
            executor="heartbeat",
        )

    def _beat(self) -> None:
        self._last = time.monotonic()

    def alive(self) -> bool:
        """Running, not paused or stopped, and stamping on time."""
        running = self._scheduler.state == STATE_RUNNING
        return bool(running) and time.monotonic() - self._last < 3 * self._every


def run_until_stopped(
    app: App, stop: threading.Event | None = None, grace: timedelta = STOP_GRACE
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
    scheduler = build_scheduler(app)
    heartbeat = Heartbeat(scheduler)
    # Paused until the start-up lines are out, so no poll's line comes before them.
    scheduler.start(paused=True)
    log.info(
        "harken is running: %s, digest at %r (%s)",
        plural(len(app.sources), "source"),
        app.config.settings.digest.schedule,
        app.config.settings.digest.timezone,
    )
    log_start(app)
    scheduler.resume()
    web = serve_web(app, heartbeat.alive)
    try:
        stop.wait()
    finally:
        if web is not None:
            web.stop()
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

"""The running service: storage, sources, triage and mail built from one config."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing import forkserver
from typing import Any, TypeVar

from monitor.alerts import DeliveryReport, configured_links, deliver_pending, escalate_due
from monitor.alerts.outbox import release_dead_claims
from monitor.config.settings import Config, ScheduledDigest
from monitor.daemon.health import HealthPolicy
from monitor.daemon.metrics import REGISTRY
from monitor.daemon.poll import PollSummary, check_silence, poll_source
from monitor.daemon.wiring import (
    build_fetcher,
    build_sources,
    build_triage,
    load_config_rules,
    rules_version,
    utc_now,
)
from monitor.digest import Digest, Response, build_digest, send_digest
from monitor.errors import DatabaseUnavailable, FetchError, HarkenError
from monitor.mail.mailer import Mailer, Sender
from monitor.mail.templates import Templates
from monitor.mention import Cursor
from monitor.source import Source, run_here
from monitor.storage import SourceHealth, Storage
from monitor.triage.spikes import FiredMention, detect

log = logging.getLogger("harken")

T = TypeVar("T")


def _parser_pool(processes: int) -> ProcessPoolExecutor:
    """Processes that parse feeds. Ctrl-C and systemd signal the whole process group; the
    parsers ignore that and finish the polls under way, and the daemon ends them after."""
    if threading.current_thread() is threading.main_thread():
        # The fork server starts with these ignored, and so does every parser it forks.
        stops = (signal.SIGINT, signal.SIGTERM)
        handlers = [signal.signal(signum, signal.SIG_IGN) for signum in stops]
        try:
            forkserver.ensure_running()
        finally:
            for signum, handler in zip(stops, handlers, strict=True):
                signal.signal(signum, handler)
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("forkserver"))


class Harken:
    """The running pieces built from one config: what ``poll``, ``run`` and ``digest`` drive."""

    def __init__(
        self,
        config: Config,
        now: Callable[[], datetime] = utc_now,
        mailer: Sender | None = None,
        parse_processes: int = 0,
    ) -> None:
        """``parse_processes`` > 1 parses feeds in that many processes (the daemon, with several
        polls under way at once); 0 or 1 parses in the polling thread."""
        self.config = config
        self.now = now
        # Rules first: a broken rule file stops start-up before anything else is touched.
        self._rules_version = rules_version(config)
        self.triage = build_triage(config, load_config_rules(config))
        self._broken_rules_version: tuple[tuple[str, int, int], ...] | None = None
        self.storage = Storage(config.storage_url)
        try:
            release_dead_claims(self.storage, now())
        except HarkenError as error:  # the outbox's own passes will say more
            log.error("alerts: could not check for alerts a stopped sender left: %s", error)
        self.fetcher = build_fetcher(config)
        self._parse_processes = parse_processes
        self._parsers = _parser_pool(parse_processes) if parse_processes > 1 else None
        self._replacing_parsers = threading.Lock()
        self.sources = build_sources(
            config, self.fetcher, now, self._offload if self._parsers else run_here
        )
        self.templates = Templates(config.templates_path)
        self.mailer: Sender = mailer or Mailer(config.settings.email)
        health = config.settings.health
        self.health_policy = HealthPolicy(
            notify=tuple(health.notify),
            error_threshold=health.error_threshold,
            backoff_cap=health.backoff_cap,
        )
        self._tried_since_start: set[str] = set()
        # Signed links in alert emails; None (with the reason logged) when [web] asks for none.
        self.links, why_no_links = configured_links(config.settings.web)
        if why_no_links:
            log.warning("web: %s", why_no_links)

    def close(self) -> None:
        if self._parsers is not None:
            self._parsers.shutdown(cancel_futures=True)
        self.fetcher.close()
        self.storage.close()

    def _offload(self, function: Callable[..., T], /, *args: Any) -> T:
        parsers = self._parsers
        assert parsers is not None
        try:
            return parsers.submit(function, *args).result()
        except BrokenProcessPool:
            # A worker died (the OOM killer, a crash in a C parser), and the pool with it: left
            # alone, every later parse of every source would fail until a restart.
            with self._replacing_parsers:
                if self._parsers is parsers:
                    log.error("a feed-parsing process died; starting new ones")
                    parsers.shutdown(wait=False)
                    self._parsers = _parser_pool(self._parse_processes)
            raise FetchError(
                "the process parsing the response died (out of memory?); it will be retried"
            ) from None

    def poll(
        self, source: Source, state: tuple[Cursor, SourceHealth | None] | None = None
    ) -> PollSummary:
        """Poll one source, store what is new, then send any alerts it raised."""
        summary = poll_source(
            source, self.storage, self.triage, self.now, self.health_policy, state
        )
        REGISTRY.record_poll(summary)
        # While the database is out, the outbox would only make this poll wait for it again.
        if (summary.stored or summary.error) and self.storage.availability.outage is None:
            self.deliver_alerts()
        return summary

    def waiting(self, source: Source, health: SourceHealth | None) -> str | None:
        """Why a scheduled poll of ``source`` should not run now (backing off, disabled), if so."""
        if health is None:
            return None
        if health.disabled_reason and source.name in self._tried_since_start:
            return f"disabled: {health.disabled_reason}"
        if health.backoff_until and health.backoff_until > self.now():
            return f"backing off until {health.backoff_until:%H:%M:%S} UTC"
        return None

    def scheduled_poll(self, source: Source) -> PollSummary | None:
        """The daemon's poll: skipped while the source backs off or is disabled.

        A source disabled in an earlier run gets one try after a restart: restarting is how an
        admin says "I fixed the credentials".
        """
        try:
            cursor, health = self.storage.poll_state(source.name)
        except HarkenError:
            return self.poll(source)  # the poll itself will report the database
        reason = self.waiting(source, health)
        self._tried_since_start.add(source.name)
        if reason:
            log.debug("source %s: skipped, %s", source.name, reason, extra={"source": source.name})
            return None
        return self.poll(source, (cursor, health))

    def reload_rules(self) -> bool:
        """Pick up edited rule files. A broken edit keeps the last good rules and tells the admins.

        Returns True when new rules were loaded.
        """
        version = rules_version(self.config)
        if version == self._rules_version or version == self._broken_rules_version:
            return False
        try:
            triage = build_triage(self.config, load_config_rules(self.config))
        except HarkenError as error:
            self._broken_rules_version = version
            log.error("rules: the edit is broken; the last good rules keep running:\n%s", error)
            problems = "\n".join(str(error).splitlines()[:10])
            try:
                self.storage.enqueue_source_alert(
                    "rules",
                    self.now(),
                    f"broken edit: the last good rules keep running until this is fixed:\n{problems}",
                    self.health_policy.notify,
                )
                self.deliver_alerts()
            except HarkenError as storage_error:
                log.error("rules: could not alert the admins: %s", storage_error)
            return False
        self.triage = triage
        self._rules_version = version
        self._broken_rules_version = None
        log.info(
            "rules: reloaded %d rules from %d files",
            len(triage.rules.rules),
            len(triage.rules.files),
        )
        return True

    def check_silence(self) -> None:
        for source in self.sources:
            if source.settings.silent_after is not None:
                check_silence(source, self.storage, self.now, self.health_policy)
        self.deliver_alerts()

    def check_spikes(self) -> int:
        """Open one alert per rule whose mentions pile up beyond their usual level; returns how many.

        The alert stays open (no repeat) until the pile-on subsides below the spike level.
        """
        watched = [rule for rule in self.triage.rules.rules if rule.spike is not None]
        if not watched:
            return 0
        now = self.now()
        opened = 0
        try:
            longest = max(rule.spike.window + rule.spike.baseline for rule in watched if rule.spike)
            fired = self.storage.rule_firings(now - longest, now)
            open_alerts = {
                health.source for health in self.storage.source_health() if health.alerted
            }
            for rule in watched:
                assert rule.spike is not None
                sightings = [
                    FiredMention(entry.stored_at, entry.negative, entry.title, entry.url)
                    for entry in fired
                    if rule.name in entry.rules
                ]
                spike = detect(rule.spike, sightings, now)
                key = f"spike:{rule.name}"
                if spike is None:
                    if key in open_alerts:
                        self.storage.set_source_alerted(key, False)
                    continue
                if key in open_alerts:
                    continue
                groups = rule.notify or self.config.settings.alerts.notify
                self.storage.enqueue_source_alert(
                    key, now, spike.describe(rule.name, rule.spike), groups
                )
                self.storage.set_source_alerted(key, True)
                log.warning(
                    "rule %s: %s", rule.name, spike.describe(rule.name, rule.spike).splitlines()[0]
                )
                opened += 1
        except HarkenError as error:
            log.error("spikes: could not check: %s", error)
            return opened
        if opened:
            self.deliver_alerts()
        return opened

    def poll_all(self) -> list[PollSummary]:
        return [self.poll(source) for source in self.sources]

    def deliver_alerts(self) -> DeliveryReport:
        # No lock: each alert is claimed in the database before it is sent, which keeps two
        # threads, or two Harken processes sharing the database, from sending it twice.
        try:
            return deliver_pending(
                self.storage,
                self.mailer,
                self.templates,
                self.config,
                self.now(),
                links=self.links,
            )
        except DatabaseUnavailable:
            return DeliveryReport()  # logged once by storage; the outbox waits for it
        except HarkenError as error:
            log.error("alerts: could not read the outbox: %s", error)
            return DeliveryReport()

    def escalate_alerts(self) -> int:
        """Send open urgent alerts nobody acknowledged in time to their next level."""
        try:
            escalated = escalate_due(self.storage, self.config, self.now())
        except HarkenError as error:
            log.error("alerts: could not escalate: %s", error)
            return 0
        if escalated:
            self.deliver_alerts()
        return escalated

    def digest_of(
        self, start: datetime, end: datetime, scheduled: ScheduledDigest | None = None
    ) -> Digest:
        """The digest of [start, end) as ``scheduled`` (by default [digest]) would show it."""
        scheduled = scheduled or self.config.scheduled_digests[0]
        return build_digest(
            self.storage.verdicts_between(start, end),
            start,
            end,
            organisation=self.config.settings.organisation.name,
            timezone=scheduled.timezone,
            top=scheduled.top,
            responses=self.alert_responses(start, end),
            name=scheduled.key,
        )

    def alert_responses(self, start: datetime, end: datetime) -> dict[int, Response]:
        """What was done about the alerts of the mentions stored in [start, end), by mention id."""
        return {
            mention_id: Response(status.state, status.time_to_first_response)
            for mention_id, status in self.storage.mention_alert_statuses(start, end).items()
        }

    def digest_start(self, scheduled: ScheduledDigest, now: datetime) -> datetime:
        """Where the next ``scheduled`` digest starts: where its last sent one ended, if any."""
        last = self.storage.last_digest_end(scheduled.key)
        if last is not None:
            return last
        start = now - scheduled.first_period
        if self.storage.last_digest_end(None) is not None:
            # Another digest has reported what came before: a digest added later starts fresh.
            return start
        # Until one digest is sent, everything stored is unreported: reach back to the oldest
        # mention, so a first digest that fails for days still leaves no gap.
        oldest = self.storage.first_stored_at()
        return min(start, oldest) if oldest else start

    def send_scheduled_digest(self, key: str = "") -> None:
        """Email digest ``key`` ("" for [digest]) of everything since its last one sent, then
        move its watermark.

        Each scheduled digest has its own watermark. A failed send leaves it where it was, so
        the next digest covers the gap; a sent one is never repeated.
        """
        scheduled = self.config.scheduled_digest(key)
        now = self.now()
        try:
            start = self.digest_start(scheduled, now)
            digest = send_digest(
                self.storage.verdicts_between(start, now),
                start,
                now,
                mailer=self.mailer,
                templates=self.templates,
                config=self.config,
                now=now,
                scheduled=scheduled,
                responses=self.alert_responses(start, now),
            )
            total = digest.total if digest else 0
            self.storage.record_digest(
                start,
                now,
                now,
                self.config.addresses(scheduled.to) if digest else [],
                total,
                digest=scheduled.key,
            )
        except HarkenError as error:
            REGISTRY.record_digest(scheduled.label, sent=False)
            log.error(
                "digest %s: not sent, the next one will cover this period too: %s",
                scheduled.label,
                error,
            )
            return
        since = start.isoformat(timespec="minutes")
        if digest is None:
            log.info(
                "digest %s: nothing heard since %s; none sent (send_empty)", scheduled.label, since
            )
        else:
            REGISTRY.record_digest(scheduled.label, sent=True)
            log.info("digest %s: %s mentions from %s sent", scheduled.label, total, since)

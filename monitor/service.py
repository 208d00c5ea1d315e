"""The running service: storage, sources, triage and mail built from one config."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from monitor.alerts import DeliveryReport, deliver_pending
from monitor.app import (
    build_fetcher,
    build_sources,
    build_triage,
    load_config_rules,
    rules_version,
    utc_now,
)
from monitor.config import Config
from monitor.digest import Digest, build_digest, send_digest
from monitor.errors import HarkenError
from monitor.health import HealthPolicy
from monitor.mailer import Mailer, Sender
from monitor.pipeline import PollSummary, check_silence, poll_source
from monitor.source import Source
from monitor.storage import Storage
from monitor.templating import Templates

log = logging.getLogger("harken")


class Harken:
    """The running pieces built from one config: what ``poll``, ``run`` and ``digest`` drive."""

    def __init__(
        self, config: Config, now: Callable[[], datetime] = utc_now, mailer: Sender | None = None
    ) -> None:
        self.config = config
        self.now = now
        # Rules first: a broken rule file stops start-up before anything else is touched.
        self._rules_version = rules_version(config.rules_path)
        self.triage = build_triage(config, load_config_rules(config))
        self._broken_rules_version: tuple[tuple[str, int, int], ...] | None = None
        self.storage = Storage(config.storage_url)
        self.fetcher = build_fetcher(config)
        self.sources = build_sources(config, self.fetcher, now)
        self.templates = Templates(config.templates_path)
        self.mailer: Sender = mailer or Mailer(config.settings.email)
        # One sender at a time in this process, so two finishing polls cannot send one alert twice.
        self._delivering = threading.Lock()
        health = config.settings.health
        self.health_policy = HealthPolicy(
            notify=tuple(health.notify),
            error_threshold=health.error_threshold,
            backoff_cap=health.backoff_cap,
        )
        self._tried_since_start: set[str] = set()

    def close(self) -> None:
        self.fetcher.close()
        self.storage.close()

    def poll(self, source: Source) -> PollSummary:
        """Poll one source, store what is new, then send any alerts it raised."""
        summary = poll_source(source, self.storage, self.triage, self.now, self.health_policy)
        if summary.stored or summary.error:
            self.deliver_alerts()
        return summary

    def waiting(self, source: Source) -> str | None:
        """Why a scheduled poll of ``source`` should not run now (backing off, disabled), if so."""
        try:
            health = {h.source: h for h in self.storage.source_health()}.get(source.name)
        except HarkenError:
            return None  # the poll itself will report the database
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
        reason = self.waiting(source)
        self._tried_since_start.add(source.name)
        if reason:
            log.debug("source %s: skipped, %s", source.name, reason, extra={"source": source.name})
            return None
        return self.poll(source)

    def reload_rules(self) -> bool:
        """Pick up edited rule files. A broken edit keeps the last good rules and tells the admins.

        Returns True when new rules were loaded.
        """
        version = rules_version(self.config.rules_path)
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

    def poll_all(self) -> list[PollSummary]:
        return [self.poll(source) for source in self.sources]

    def deliver_alerts(self) -> DeliveryReport:
        with self._delivering:
            try:
                return deliver_pending(
                    self.storage, self.mailer, self.templates, self.config, self.now()
                )
            except HarkenError as error:
                log.error("alerts: could not read the outbox: %s", error)
                return DeliveryReport()

    def digest_of(self, start: datetime, end: datetime) -> Digest:
        settings = self.config.settings
        return build_digest(
            self.storage.verdicts_between(start, end),
            start,
            end,
            organisation=settings.organisation.name,
            timezone=settings.digest.timezone,
            top=settings.digest.top,
        )

    def _first_digest_start(self, now: datetime) -> datetime:
        # Until one digest is sent, everything stored is unreported: reach back to the oldest
        # mention, so a first digest that fails for days still leaves no gap.
        start = now - self.config.settings.digest.first_period
        oldest = self.storage.first_stored_at()
        return min(start, oldest) if oldest else start

    def send_scheduled_digest(self) -> None:
        """Email the digest of everything since the last one sent, then move the watermark.

        A failed send leaves the watermark where it was, so the next digest covers the gap.
        """
        settings = self.config.settings
        now = self.now()
        try:
            start = self.storage.last_digest_end() or self._first_digest_start(now)
            digest = send_digest(
                self.storage.verdicts_between(start, now),
                start,
                now,
                mailer=self.mailer,
                templates=self.templates,
                config=self.config,
                now=now,
            )
            total = digest.total if digest else 0
            self.storage.record_digest(
                start, now, now, self.config.addresses(settings.digest.to), total
            )
        except HarkenError as error:
            log.error("digest: not sent, the next one will cover this period too: %s", error)
            return
        log.info("digest: %s mentions from %s sent", total, start.isoformat(timespec="minutes"))

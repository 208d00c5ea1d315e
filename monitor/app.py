"""Wiring: config -> rules, triage, storage, sources and mail, shared by the CLI and the daemon."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from monitor.alerts import DeliveryReport, deliver_pending
from monitor.config import Config
from monitor.digest import Digest, build_digest, send_digest
from monitor.errors import HarkenError, NotConfigured
from monitor.fetch import Fetcher
from monitor.mailer import Mailer, Sender
from monitor.pipeline import PollSummary, poll_source
from monitor.rules import RuleSet, load_rules
from monitor.source import Source, source_kinds
from monitor.storage import Storage
from monitor.templating import Templates
from monitor.triage import Triage

log = logging.getLogger("harken")


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_config_rules(config: Config, path: Path | None = None) -> RuleSet:
    """The rule files, checked against the brands, sources and recipient groups in the config."""
    settings = config.settings
    return load_rules(
        path or config.rules_path,
        brands=[brand.name for brand in settings.brands],
        sources=list(config.sources),
        recipient_groups=list(settings.recipients),
        display_root=Path.cwd(),
    )


def build_triage(config: Config, rules: RuleSet) -> Triage:
    settings = config.settings
    return Triage(
        settings.brands,
        rules,
        alert_groups=settings.alerts.notify,
        alert_from=settings.alerts.min_severity,
    )


def build_fetcher(config: Config) -> Fetcher:
    http = config.settings.http
    return Fetcher(timeout=http.timeout.total_seconds(), max_bytes=http.max_bytes)


def build_sources(config: Config, fetcher: Fetcher) -> list[Source]:
    """The enabled sources; one that declines to start is skipped with its reason logged."""
    kinds = source_kinds()
    sources = []
    for name, settings in config.sources.items():
        if not settings.enabled:
            continue
        try:
            sources.append(kinds[settings.type](name, settings, fetcher))
        except NotConfigured as reason:
            log.warning(
                "source %s is not configured and will not run: %s",
                name,
                reason,
                extra={"source": name},
            )
    return sources


class Harken:
    """The running pieces built from one config: what ``poll``, ``run`` and ``digest`` drive."""

    def __init__(
        self, config: Config, now: Callable[[], datetime] = utc_now, mailer: Sender | None = None
    ) -> None:
        self.config = config
        self.now = now
        # Rules first: a broken rule file stops start-up before anything else is touched.
        self.triage = build_triage(config, load_config_rules(config))
        self.storage = Storage(config.storage_url)
        self.fetcher = build_fetcher(config)
        self.sources = build_sources(config, self.fetcher)
        self.templates = Templates(config.templates_path)
        self.mailer: Sender = mailer or Mailer(config.settings.email)
        # One sender at a time in this process, so two finishing polls cannot send one alert twice.
        self._delivering = threading.Lock()

    def close(self) -> None:
        self.fetcher.close()
        self.storage.close()

    def poll(self, source: Source) -> PollSummary:
        """Poll one source, store what is new, then send any alerts it raised."""
        summary = poll_source(source, self.storage, self.triage, self.now)
        if summary.stored:
            self.deliver_alerts()
        return summary

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

    def send_scheduled_digest(self) -> None:
        """Email the digest of everything since the last one sent, then move the watermark.

        A failed send leaves the watermark where it was, so the next digest covers the gap.
        """
        settings = self.config.settings
        now = self.now()
        try:
            start = self.storage.last_digest_end() or now - settings.digest.first_period
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

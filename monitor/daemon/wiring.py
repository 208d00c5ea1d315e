"""Wiring: config -> rules, triage, sources, and the running app the daemon's jobs share.

Light on purpose: ``harken triage`` starts here, so storage, mail and httpx load only when
``open_app`` runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.alerts.compose import REPLY_FOLDER
from monitor.config.settings import Config
from monitor.errors import NotConfigured
from monitor.source import Offload, Source, SourceContext, run_here, source_kind
from monitor.triage.needles import brand_needles
from monitor.triage.rules.files import load_rules
from monitor.triage.rules.model import RuleSet
from monitor.triage.sentiment.lexicon import load_lexicon
from monitor.triage.sentiment.scorer import SentimentScorer
from monitor.triage.verdict import Triage

if TYPE_CHECKING:  # httpx costs a tenth of a second to import; `harken triage` never fetches
    from monitor.alerts.links import Links
    from monitor.daemon.health import HealthPolicy
    from monitor.daemon.metrics import Metrics
    from monitor.daemon.parsers import ParserPool
    from monitor.fetch import Fetcher
    from monitor.mail.mailer import Sender
    from monitor.mail.templates import Templates
    from monitor.storage import Storage

log = logging.getLogger("harken")

RulesVersion = tuple[tuple[str, int, int], ...]


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
        replies=config.templates_path / REPLY_FOLDER,
        display_root=Path.cwd(),
    )


def rules_version(config: Config) -> RulesVersion:
    """What changes when a rule file or the lexicon is edited, added or removed."""
    path = config.rules_path
    files = [path] if path.is_file() else sorted(path.glob("*.toml")) if path.is_dir() else []
    files.append(config.lexicon_path)
    version = []
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            continue
        version.append((file.name, stat.st_size, stat.st_mtime_ns))
    return tuple(version)


def build_triage(config: Config, rules: RuleSet) -> Triage:
    """Triage as the config describes it; a broken lexicon file raises RulesError."""
    settings = config.settings
    return Triage(
        settings.brands,
        rules,
        alert_groups=settings.alerts.notify,
        alert_from=settings.alerts.min_severity,
        timezone=settings.organisation.timezone,
        source_kinds={name: source.type for name, source in config.sources.items()},
        scorer=SentimentScorer(load_lexicon(config.lexicon_path)),
        max_text_chars=settings.triage.max_text_chars,
    )


def build_fetcher(config: Config) -> Fetcher:
    from monitor.fetch import Fetcher

    http = config.settings.http
    return Fetcher(timeout=http.timeout.total_seconds(), max_bytes=http.max_bytes)


def source_context(
    config: Config,
    fetcher: Fetcher,
    now: Callable[[], datetime] = utc_now,
    offload: Offload = run_here,
) -> SourceContext:
    """What every source gets besides its settings: the fetcher, all brand terms, the clock."""
    brands = config.settings.brands
    return SourceContext(
        fetcher=fetcher,
        terms=tuple(dict.fromkeys(term for brand in brands for term in brand.terms)),
        exclude=tuple(dict.fromkeys(term for brand in brands for term in brand.exclude)),
        needles=brand_needles(brands) if config.settings.polling.skip_before_parsing else None,
        now=now,
        offload=offload,
    )


def build_sources(
    config: Config,
    fetcher: Fetcher,
    now: Callable[[], datetime] = utc_now,
    offload: Offload = run_here,
) -> list[Source]:
    """The enabled sources; one that declines to start is skipped with its reason logged."""
    context = source_context(config, fetcher, now, offload)
    sources = []
    for name, settings in config.sources.items():
        if not settings.enabled:
            continue
        try:
            kind = source_kind(settings.type)
            assert kind is not None  # load_config accepted the type, so it loads
            sources.append(kind(name, settings, context))
        except NotConfigured as reason:
            log.warning(
                "source %s is not configured and will not run: %s",
                name,
                reason,
                extra={"source": name},
            )
    return sources


@dataclass
class App:
    """The running pieces built from one config: what every job of the daemon is handed.

    State, not behaviour: the jobs are functions in the modules beside this one.
    """

    config: Config
    now: Callable[[], datetime]
    storage: Storage
    fetcher: Fetcher
    sources: list[Source]
    triage: Triage  # replaced whole when edited rules load
    rules_version: RulesVersion  # of the rules ``triage`` runs
    templates: Templates
    mailer: Sender
    health_policy: HealthPolicy
    links: Links | None  # signed links in alert emails; None when [web] asks for none
    links_off_because: str | None  # why [web] asks for links and gets none, if it does
    metrics: Metrics
    parsers: ParserPool | None = None
    broken_rules_version: RulesVersion | None = None  # an edit already reported as broken
    tried_since_start: set[str] = field(default_factory=set)  # sources polled by this process

    def close(self) -> None:
        if self.parsers is not None:
            self.parsers.close()
        self.fetcher.close()
        self.storage.close()


def open_app(
    config: Config,
    now: Callable[[], datetime] = utc_now,
    mailer: Sender | None = None,
    parse_processes: int = 0,
) -> App:
    """Build the app ``config`` describes. ``parse_processes`` > 1 parses feeds in that many
    processes (the daemon, with several polls under way at once); 0 or 1 in the polling thread."""
    from monitor.alerts import configured_links
    from monitor.alerts.outbox import release_dead_claims
    from monitor.daemon.health import HealthPolicy
    from monitor.daemon.metrics import Metrics
    from monitor.daemon.parsers import ParserPool
    from monitor.errors import HarkenError
    from monitor.mail.mailer import Mailer
    from monitor.mail.templates import Templates
    from monitor.storage import Storage

    # Rules first: a broken rule file stops start-up before anything else is touched.
    version = rules_version(config)
    triage = build_triage(config, load_config_rules(config))
    storage = Storage(config.storage_url)
    try:
        release_dead_claims(storage, now())
    except HarkenError as error:  # the outbox's own passes will say more
        log.error("alerts: could not check for alerts a stopped sender left: %s", error)
    fetcher = build_fetcher(config)
    parsers = ParserPool(parse_processes) if parse_processes > 1 else None
    health = config.settings.health
    # Said once, by `harken run` (startup.py): the other commands serve no links.
    links, why_no_links = configured_links(config.settings.web)
    return App(
        config=config,
        now=now,
        storage=storage,
        fetcher=fetcher,
        sources=build_sources(config, fetcher, now, parsers.offload if parsers else run_here),
        triage=triage,
        rules_version=version,
        templates=Templates(config.templates_path),
        mailer=mailer or Mailer(config.settings.email),
        health_policy=HealthPolicy(
            notify=tuple(health.notify),
            error_threshold=health.error_threshold,
            backoff_cap=health.backoff_cap,
        ),
        links=links,
        links_off_because=why_no_links,
        metrics=Metrics(),
        parsers=parsers,
    )

"""Wiring: config -> rules, triage and sources. Light on purpose: ``harken triage`` starts here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config.settings import Config
from monitor.errors import NotConfigured
from monitor.source import Offload, Source, SourceContext, run_here, source_kind
from monitor.triage.rules.files import load_rules
from monitor.triage.rules.model import RuleSet
from monitor.triage.sentiment.lexicon import load_lexicon
from monitor.triage.sentiment.scorer import SentimentScorer
from monitor.triage.verdict import Triage

if TYPE_CHECKING:  # httpx costs a tenth of a second to import; `harken triage` never fetches
    from monitor.fetch import Fetcher

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


def rules_version(config: Config) -> tuple[tuple[str, int, int], ...]:
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

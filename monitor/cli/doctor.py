"""``harken doctor``: check everything the daemon needs, one line each, with how to fix it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from monitor.cli.app import state
from monitor.config.load import config_path, load_config
from monitor.config.secrets import secret_values
from monitor.config.settings import Config
from monitor.daemon import logs, wiring
from monitor.duration import plural
from monitor.errors import (
    AccessDenied,
    BadPayload,
    DeliveryError,
    HarkenError,
    NotConfigured,
    RateLimited,
    SourceError,
    SourceGone,
)
from monitor.source import Source, SourceSettings, source_kind
from monitor.triage.sentiment.lexicon import load_lexicon

if TYPE_CHECKING:  # httpx loads only when doctor runs, not for every harken command
    from monitor.fetch import Fetcher


@dataclass(frozen=True)
class Check:
    """The result of one check; ``fix`` says what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The line doctor prints; output people paste into tickets shows no secret."""
        if self.ok:
            return logs.REDACT(f"ok    {self.name}: {self.detail}")
        hint = f" (fix: {self.fix})" if self.fix else ""
        return logs.REDACT(f"FAIL  {self.name}: {self.detail}{hint}")


def doctor() -> None:
    """Check the config, rules, lexicon, database, SMTP, channels and that each source answers;
    exit 1 if any fails."""
    failed = False
    for check in run_checks(config_path(state.config_file)):
        print(check.line(), flush=True)
        failed = failed or not check.ok
    if failed:
        raise typer.Exit(1)


def run_checks(config_file: Path) -> Iterator[Check]:
    """Every check, in order; after a broken config nothing else can be checked."""
    try:
        config = load_config(config_file)
    except HarkenError as error:
        yield Check("config", False, str(error), f"edit {config_file}")
        return
    logs.REDACT.hide(secret_values(config))
    yield Check("config", True, str(config_file))
    yield check_rules(config)
    yield check_lexicon(config)
    yield check_database(config)
    yield check_smtp(config)
    yield from check_channels(config)
    yield from check_sources(config)


def check_rules(config: Config) -> Check:
    try:
        rules = wiring.load_config_rules(config)
    except HarkenError as error:
        return Check("rules", False, str(error), "run `harken rules check` and edit the files")
    return Check(
        "rules", True, f"{plural(len(rules.rules), 'rule')} from {plural(len(rules.files), 'file')}"
    )


def check_lexicon(config: Config) -> Check:
    try:
        load_lexicon(config.lexicon_path)
    except HarkenError as error:
        return Check("lexicon", False, str(error), "edit the lexicon file [rules] lexicon names")
    return Check("lexicon", True, str(config.lexicon_path))


def check_database(config: Config) -> Check:
    from monitor.storage import Storage  # SQLAlchemy loads only when it is needed

    try:
        storage = Storage(config.storage_url)  # opens it and applies any migrations
        try:
            storage.source_health()
        finally:
            storage.close()
    except HarkenError as error:
        return Check(
            "database",
            False,
            str(error),
            "check [storage] url, that the database runs and that Harken may write to it",
        )
    return Check("database", True, "opened, migrated and read")


def check_smtp(config: Config) -> Check:
    """Connect, EHLO (and STARTTLS) and log in if a username is set; send nothing."""
    from monitor.mail.mailer import Mailer  # ssl and smtplib load only when doctor runs

    settings = config.settings.email
    mailer = Mailer(settings)
    fix = "check [email] host, port and security, and that the mail server is running"
    try:
        mailer.check()
    except DeliveryError as error:
        return Check("smtp", False, str(error), fix)
    login = f", logged in as {settings.username}" if settings.username else ""
    return Check("smtp", True, f"{mailer.where} answered EHLO{login}")


def check_channels(config: Config) -> Iterator[Check]:
    """Each channel's ``{VARIABLE}`` must be set now, or its first alert would fail to go."""
    from monitor.alerts.channels import fill_url  # apprise loads only when doctor runs

    for name, channel in config.settings.channels.items():
        try:
            fill_url(name, channel.url, os.environ)
        except DeliveryError as error:
            fix = "set it in the environment harken runs in (for systemd: /etc/harken/harken.env)"
            yield Check(f"channel {name}", False, str(error), fix)
            continue
        yield Check(f"channel {name}", True, "every {VARIABLE} in its url is set")


# One short request per source: long enough for a slow feed, short enough that doctor answers
# in seconds. Sources are reached in parallel, so twenty of them take about as long as one.
PROBE_TIMEOUT = 5.0


def check_sources(config: Config) -> Iterator[Check]:
    """Build each enabled source as the daemon would, then reach it once, all at the same time.

    Building fails on missing credentials; reaching, on a wrong address, a refused token or a
    server that is down. A source still busy when the time is up fails as unreachable.
    """
    probes = [_start_probe(config, name, settings) for name, settings in config.sources.items()]
    deadline = time.monotonic() + PROBE_TIMEOUT + 2  # the fetch's own timeout ends it first
    for probe in probes:
        if isinstance(probe, Check):
            yield probe
            continue
        probe.thread.join(max(deadline - time.monotonic(), 0))
        yield probe.result()


class _Probe:
    """One source being reached in a thread of its own, with a fetcher of its own."""

    def __init__(self, name: str, source: Source, fetcher: Fetcher) -> None:
        self.name = name
        self.source = source
        self.fetcher = fetcher
        self.outcome: Check | None = None
        # A daemon thread: a source that hangs past the deadline must not keep doctor from exiting.
        self.thread = threading.Thread(target=self._run, name=f"doctor-{name}", daemon=True)

    def _run(self) -> None:
        label, started = f"source {self.name}", time.monotonic()
        try:
            poll = self.source.probe()
        except RateLimited as error:  # it answered: reachable, only not now
            self.outcome = Check(label, True, f"reachable, rate limited now: {error}")
        except SourceError as error:
            self.outcome = Check(label, False, f"cannot reach: {error}", _fix_for(self.name, error))
        except Exception as error:  # a plugin's bug is a failed check, not a doctor traceback
            self.outcome = Check(
                label, False, f"cannot reach: unexpected {type(error).__name__}: {error}"
            )
        else:
            took = (time.monotonic() - started) * 1000
            items = plural(poll.fetched, "item")
            self.outcome = Check(
                label, True, f"{self.source.settings.type}, answered in {took:.0f} ms ({items})"
            )
        finally:
            self.fetcher.close()

    def result(self) -> Check:
        if self.outcome is not None:
            return self.outcome
        return Check(
            f"source {self.name}",
            False,
            f"cannot reach: no answer within {PROBE_TIMEOUT:g} s",
            "check the address and that the server is up",
        )


def _start_probe(config: Config, name: str, settings: SourceSettings) -> _Probe | Check:
    label = f"source {name}"
    if not settings.enabled:
        return Check(label, True, "disabled (enabled = false)")
    kind = source_kind(settings.type)
    if kind is None:
        return Check(label, False, f'no source kind "{settings.type}" is installed')
    from monitor.fetch import Fetcher

    http = config.settings.http
    timeout = min(http.timeout.total_seconds(), PROBE_TIMEOUT)
    fetcher = Fetcher(timeout=timeout, max_bytes=http.max_bytes)
    try:
        source = kind(name, settings, wiring.source_context(config, fetcher))
    except NotConfigured as reason:
        fetcher.close()
        return Check(
            label,
            False,
            f"not configured: {reason}",
            f"set what it needs in [sources.{name}] or the environment",
        )
    except HarkenError as error:
        fetcher.close()
        return Check(label, False, str(error), f"edit [sources.{name}]")
    probe = _Probe(name, source, fetcher)
    probe.thread.start()
    return probe


def _fix_for(name: str, error: SourceError) -> str:
    if isinstance(error, AccessDenied):
        return f"check the credentials [sources.{name}] names in the environment"
    if isinstance(error, SourceGone):
        return f"update the address in [sources.{name}]"
    if isinstance(error, BadPayload):
        return f"check that [sources.{name}] points at what its type reads"
    return "check the address and that the server is up"

"""``harken doctor``: check everything the daemon needs, one line each, with how to fix it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import typer

from monitor.cli.app import state
from monitor.config.load import config_path, load_config
from monitor.config.secrets import secret_values
from monitor.config.settings import Config
from monitor.daemon import logs, wiring
from monitor.duration import plural
from monitor.errors import DeliveryError, HarkenError, NotConfigured
from monitor.source import source_kind
from monitor.triage.sentiment.lexicon import load_lexicon


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
    """Check the config, rules, lexicon, database, SMTP and each source; exit 1 if any fails."""
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


def check_sources(config: Config) -> Iterator[Check]:
    """Build each enabled source as the daemon would: missing credentials fail here."""
    fetcher = wiring.build_fetcher(config)
    try:
        context = wiring.source_context(config, fetcher)
        for name, settings in config.sources.items():
            label = f"source {name}"
            if not settings.enabled:
                yield Check(label, True, "disabled (enabled = false)")
                continue
            kind = source_kind(settings.type)
            if kind is None:
                yield Check(label, False, f'no source kind "{settings.type}" is installed')
                continue
            try:
                kind(name, settings, context)
            except NotConfigured as reason:
                yield Check(
                    label,
                    False,
                    f"not configured: {reason}",
                    f"set what it needs in [sources.{name}] or the environment",
                )
                continue
            except HarkenError as error:
                yield Check(label, False, str(error), f"edit [sources.{name}]")
                continue
            yield Check(label, True, f"{settings.type} source ready")
    finally:
        fetcher.close()

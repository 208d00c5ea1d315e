"""config.toml -> validated, frozen Settings. Secrets are named here and read from the environment."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from monitor.duration import Duration
from monitor.errors import ConfigError, Problem, ProblemsError
from monitor.mention import Severity
from monitor.source import SourceSettings, source_kinds
from monitor.tomlpos import key_positions, line_of, parse_toml, validation_problems

DEFAULT_CONFIG = "config.toml"


def _timezone(value: object) -> object:
    if not isinstance(value, str):
        return value  # the str type reports it
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown timezone "{value}"; use an IANA name such as "Europe/London" or "UTC"'
        ) from None
    return value


Timezone = Annotated[str, BeforeValidator(_timezone)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Organisation(_Section):
    name: str = "My organisation"
    timezone: Timezone = "UTC"


class Brand(_Section):
    name: str = Field(min_length=1)
    terms: list[str] = Field(min_length=1)
    exclude: list[str] = []

    @field_validator("terms", "exclude")
    @classmethod
    def _no_blank_terms(cls, terms: list[str]) -> list[str]:
        if any(not term.strip() for term in terms):
            raise ValueError("terms must not be empty strings")
        return terms


class StorageSettings(_Section):
    url: str = "sqlite:///harken.db"


class HttpSettings(_Section):
    timeout: Duration = timedelta(seconds=20)
    max_bytes: int = Field(default=10_000_000, gt=0)


class EmailSettings(_Section):
    host: str = "localhost"
    port: int = Field(default=25, gt=0, lt=65536)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str = ""
    password_env: str = ""  # the NAME of the environment variable holding the password
    sender: str = Field(default="harken@localhost", alias="from")
    timeout: Duration = timedelta(seconds=15)

    def password(self) -> str | None:
        """The SMTP password from the environment, or None if none is configured."""
        return os.environ.get(self.password_env) if self.password_env else None


class AlertSettings(_Section):
    notify: list[str] = ["oncall"]  # groups alerted when the firing rules name none
    min_severity: Severity = Severity.URGENT
    retry_every: Duration = timedelta(minutes=1)
    max_attempts: int = Field(default=20, gt=0)


class HealthSettings(_Section):
    notify: list[str] = ["oncall"]  # groups told when a source stops hearing and recovers
    error_threshold: Duration = timedelta(minutes=30)
    backoff_cap: Duration = timedelta(hours=1)


class DigestSettings(_Section):
    to: list[str] = ["marketing"]
    schedule: str = "0 8 * * *"  # cron: minute hour day-of-month month day-of-week
    timezone: Timezone = "UTC"
    first_period: Duration = timedelta(hours=24)
    send_empty: bool = True
    top: int = Field(default=20, gt=0)

    @field_validator("schedule")
    @classmethod
    def _five_fields(cls, schedule: str) -> str:
        if len(schedule.split()) != 5:
            raise ValueError(
                f'"{schedule}" is not a cron schedule; write five fields, e.g. "0 8 * * 1-5" for 08:00 on weekdays'
            )
        return schedule


class RulesSettings(_Section):
    path: str = "rules"
    check_every: Duration = timedelta(seconds=10)  # the daemon reloads edited rule files


class TemplatesSettings(_Section):
    path: str = "templates"


class Settings(_Section):
    """Everything config.toml says, validated. Paths are resolved against the file's folder."""

    organisation: Organisation = Organisation()
    brands: list[Brand] = Field(min_length=1)
    sources: dict[str, dict[str, Any]] = {}
    recipients: dict[str, list[str]] = {}
    storage: StorageSettings = StorageSettings()
    http: HttpSettings = HttpSettings()
    email: EmailSettings = EmailSettings()
    alerts: AlertSettings = AlertSettings()
    health: HealthSettings = HealthSettings()
    digest: DigestSettings = DigestSettings()
    rules: RulesSettings = RulesSettings()
    templates: TemplatesSettings = TemplatesSettings()


class Config:
    """Validated settings plus what is derived from where the file lives."""

    def __init__(self, settings: Settings, sources: dict[str, SourceSettings], path: Path) -> None:
        self.settings = settings
        self.sources = sources
        self.path = path
        self.directory = path.parent

    @property
    def rules_path(self) -> Path:
        return self.directory / self.settings.rules.path

    @property
    def templates_path(self) -> Path:
        return self.directory / self.settings.templates.path

    @property
    def storage_url(self) -> str:
        """The database URL, with a relative SQLite path made relative to the config's folder."""
        url = self.settings.storage.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.directory / url.removeprefix(prefix))
        return url

    def addresses(self, groups: list[str] | tuple[str, ...]) -> list[str]:
        """Email addresses of the recipient groups, each once, in order."""
        found: dict[str, None] = {}
        for group in groups:
            for address in self.settings.recipients.get(group, []):
                found[address] = None
        return list(found)


def config_path(explicit: str | None) -> Path:
    """--config wins, then HARKEN_CONFIG, then ./config.toml."""
    return Path(explicit or os.environ.get("HARKEN_CONFIG") or DEFAULT_CONFIG)


def load_config(path: Path) -> Config:
    """Read and validate config.toml; raise ConfigError listing every problem with its line."""
    shown = str(path)
    try:
        # utf-8-sig: Windows editors like to start the file with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ConfigError(
            [Problem(shown, 0, f"cannot read the config file: {error.strerror}")]
        ) from None
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise ConfigError(
            [Problem(shown, line, "the file is not UTF-8 text; save it as UTF-8")]
        ) from None
    try:
        raw = parse_toml(text, shown)
    except ProblemsError as error:
        raise ConfigError(error.problems) from None
    positions = key_positions(text)
    problems: list[Problem] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as error:
        problems += validation_problems(error, Settings, positions, shown)

    kinds = source_kinds()
    sources: dict[str, SourceSettings] = {}
    tables = raw.get("sources")
    for name, table in (tables if isinstance(tables, dict) else {}).items():
        if not isinstance(table, dict):
            continue  # already reported by the Settings model
        kind = kinds.get(str(table.get("type", "")))
        if kind is None:
            line, column = line_of(positions, ("sources", name, "type"))
            known = ", ".join(sorted(kinds)) or "none installed"
            if "type" in table:
                message = (
                    f'sources.{name}: unknown type "{table["type"]}"; installed kinds: {known}'
                )
            else:
                message = f'missing required key "sources.{name}.type"; installed kinds: {known}'
            problems.append(Problem(shown, line, message, column))
            continue
        try:
            sources[name] = kind.Settings.model_validate(table)
        except ValidationError as error:
            problems += validation_problems(
                error, kind.Settings, positions, shown, ("sources", name)
            )

    if settings is not None:
        groups = set(settings.recipients)
        for key, field, named in (
            ("alerts", "notify", settings.alerts.notify),
            ("digest", "to", settings.digest.to),
            ("health", "notify", settings.health.notify),
        ):
            written = (key, field) in positions
            line, column = line_of(positions, (key, field)) if written else (0, 0)
            default = "" if written else f" (the default of {key}.{field})"
            problems += [
                Problem(
                    shown,
                    line,
                    f'{key}.{field}: unknown recipient group "{group}"{default}; define it under [recipients]',
                    column,
                )
                for group in named
                if group not in groups
            ]
    if problems or settings is None:
        raise ConfigError(sorted(problems, key=lambda problem: problem.line))
    return Config(settings, sources, path.resolve())

"""What config.toml may say, as frozen pydantic models, and the Config built from them.

Secrets are named here and read from the environment; ``monitor.config.load`` reads the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from monitor.config.fields import BrandQuery, Timezone
from monitor.config.hours import (
    EVERY_DAY,
    WHOLE_DAY,
    DaysField,
    HoursField,
    OptionalHoursField,
)
from monitor.duration import Duration
from monitor.mention import Severity
from monitor.source import SourceSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Organisation(_Section):
    name: str = "My organisation"
    timezone: Timezone = "UTC"


class Brand(_Section):
    name: str = Field(min_length=1)
    terms: list[str] = Field(min_length=1)  # what searching sources ask for; names the brand
    exclude: list[str] = []
    query: BrandQuery | None = None  # when set, it alone decides which mentions name the brand

    @field_validator("terms", "exclude")
    @classmethod
    def _no_blank_terms(cls, terms: list[str]) -> list[str]:
        if any(not term.strip() for term in terms):
            raise ValueError("terms must not be empty strings")
        return terms


class StorageSettings(_Section):
    url: str = "sqlite:///harken.db"
    # Mentions stored longer ago than this are purged daily with their alerts; None keeps all.
    keep: Duration | None = None
    # A retention of their own for some severities (e.g. low = "30d"), in place of ``keep``.
    keep_by_severity: dict[Severity, Duration] = {}


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
    # Pending alerts about one story raised within this of each other go as one message.
    group_window: Duration | None = None
    # "22:00-07:00", organisation time: non-urgent alerts wait till it ends; "" means never.
    quiet_hours: OptionalHoursField = None


class ChannelSettings(_Section):
    """A chat or paging service, as an Apprise URL; ``{VAR}`` is filled from the environment."""

    url: str = Field(min_length=1)
    notify: list[str] = Field(min_length=1)  # recipient groups whose alerts also go here
    max_per_hour: int | None = Field(default=None, gt=0)  # beyond it, alerts skip this channel

    @field_validator("url")
    @classmethod
    def _looks_like_a_url(cls, url: str) -> str:
        if "://" not in url:
            raise ValueError(
                'not an Apprise URL; write it as "service://…", e.g. "slack://{SLACK_TOKEN}/#ops"'
            )
        return url


class HealthSettings(_Section):
    notify: list[str] = ["oncall"]  # groups told when a source stops hearing and recovers
    error_threshold: Duration = timedelta(minutes=30)
    backoff_cap: Duration = timedelta(hours=1)


def _cron(schedule: str) -> str:
    if len(schedule.split()) != 5:
        raise ValueError(
            f'"{schedule}" is not a cron schedule; write five fields, e.g. "0 8 * * 1-5" for 08:00 on weekdays'
        )
    return schedule


Cron = Annotated[str, AfterValidator(_cron)]  # minute hour day-of-month month day-of-week


class DigestSettings(_Section):
    """[digest]: the default digest, and the defaults of every [[digests]] table."""

    to: list[str] = ["marketing"]
    schedule: Cron = "0 8 * * *"
    timezone: Timezone = "UTC"
    first_period: Duration = timedelta(hours=24)
    send_empty: bool = True
    top: int = Field(default=20, gt=0)


class MoreDigestSettings(_Section):
    """One [[digests]] table: one more digest; the keys it leaves out take [digest]'s values."""

    name: str = ""  # tells digests to the same groups apart; by default the groups, joined by "+"
    to: list[str] = Field(min_length=1)
    schedule: Cron | None = None
    timezone: Timezone | None = None
    first_period: Duration | None = None
    send_empty: bool | None = None
    top: int | None = Field(default=None, gt=0)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if name and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", name):
            raise ValueError(
                f'"{name}" is not a digest name; use up to 40 letters, digits, "-", "_" or ".", e.g. "weekly-execs"'
            )
        if name == "default":
            raise ValueError('"default" names the [digest] section; choose another name')
        return name


@dataclass(frozen=True)
class ScheduledDigest:
    """One digest sent on its own schedule, with its own watermark: [digest] or a [[digests]]."""

    key: str  # "" for [digest]; else the table's name, or its groups joined by "+"
    to: tuple[str, ...]
    schedule: str  # cron, read in ``timezone``
    timezone: str  # IANA; the digest shows its times in it too
    first_period: timedelta
    send_empty: bool
    top: int

    @property
    def label(self) -> str:
        """How logs and the CLI name it: ``default`` for [digest]."""
        return self.key or "default"


class RulesSettings(_Section):
    path: str = "rules"
    check_every: Duration = timedelta(seconds=10)  # the daemon reloads edited rule files
    lexicon: str = (
        ""  # complaint words and patterns; "" = sentiment/lexicon.toml in the rules folder
    )


class TriageSettings(_Section):
    # Only this much of a post is read: a pasted log or a hostile payload of megabytes then
    # costs what a long article costs (the whole post is still stored).
    max_text_chars: int = Field(default=50_000, ge=1_000)


class PollingSettings(_Section):
    # Feed items that contain no brand term are read only for their id, not parsed whole
    # (sources/prefilter.py); false reads every item, as before, for comparison or distrust.
    skip_before_parsing: bool = True


class TemplatesSettings(_Section):
    path: str = "templates"


class ShiftSettings(_Section):
    who: list[str] = Field(min_length=1)  # email addresses, or recipient groups
    days: DaysField = EVERY_DAY  # "mon-fri", "sat,sun", "fri-mon"
    hours: HoursField = WHOLE_DAY  # "08:00-18:00"; "18:00-08:00" runs overnight


class EscalationLevel(_Section):
    after: Duration  # since the alert was raised, if nobody acknowledged it
    notify: list[str] = Field(min_length=1)  # recipient groups


class OncallSettings(_Section):
    timezone: Timezone | None = None  # the shifts' timezone; None: organisation.timezone
    shifts: list[ShiftSettings] = []
    levels: list[EscalationLevel] = []

    @field_validator("levels")
    @classmethod
    def _later_and_later(cls, levels: list[EscalationLevel]) -> list[EscalationLevel]:
        for before, level in pairwise(levels):
            if level.after <= before.after:
                raise ValueError(
                    "each level's after must be longer than the one before: they all count from when the alert was raised"
                )
        return levels


_LISTEN = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})$")


class WebSettings(_Section):
    listen: str = ""  # host:port the daemon serves alert links on; "" serves none
    base_url: str = ""  # how links start; "" means http://{listen}
    secret_env: str = "HARKEN_WEB_SECRET"  # the NAME of the variable holding the link key
    link_ttl: Duration = timedelta(days=7)

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, listen: str) -> str:
        match = _LISTEN.match(listen)
        if listen and (match is None or int(match["port"]) > 65535):
            raise ValueError(
                f'"{listen}" is not host:port; write e.g. "127.0.0.1:8765" (or "" to serve no links)'
            )
        return listen

    @field_validator("base_url")
    @classmethod
    def _web_address(cls, base_url: str) -> str:
        if base_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", base_url):
            raise ValueError(
                f'"{base_url}" is not an http(s) address; write e.g. "https://harken.example.com"'
            )
        return base_url.rstrip("/")

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) from ``listen``; only meaningful when it is set."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def link_base(self) -> str:
        """Where links point: base_url, else the listening address; "" when neither is set."""
        return self.base_url or (f"http://{self.listen}" if self.listen else "")


class Settings(_Section):
    """Everything config.toml says, validated. Paths are resolved against the file's folder."""

    organisation: Organisation = Organisation()
    brands: list[Brand] = Field(min_length=1)
    sources: dict[str, dict[str, Any]] = {}
    recipients: dict[str, list[str]] = {}
    channels: dict[str, ChannelSettings] = {}
    storage: StorageSettings = StorageSettings()
    http: HttpSettings = HttpSettings()
    email: EmailSettings = EmailSettings()
    alerts: AlertSettings = AlertSettings()
    health: HealthSettings = HealthSettings()
    digest: DigestSettings = DigestSettings()
    digests: list[MoreDigestSettings] = []
    rules: RulesSettings = RulesSettings()
    triage: TriageSettings = TriageSettings()
    polling: PollingSettings = PollingSettings()
    templates: TemplatesSettings = TemplatesSettings()
    oncall: OncallSettings = OncallSettings()
    web: WebSettings = WebSettings()


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
    def lexicon_path(self) -> Path:
        lexicon = self.settings.rules.lexicon
        return (
            self.directory / lexicon if lexicon else self.rules_path / "sentiment" / "lexicon.toml"
        )

    @property
    def templates_path(self) -> Path:
        return self.directory / self.settings.templates.path

    @property
    def scheduled_digests(self) -> tuple[ScheduledDigest, ...]:
        """[digest] first (key ""), then each [[digests]] table with [digest]'s values filled in."""
        default = self.settings.digest
        found = [
            ScheduledDigest(
                "",
                tuple(default.to),
                default.schedule,
                default.timezone,
                default.first_period,
                default.send_empty,
                default.top,
            )
        ]
        for more in self.settings.digests:
            found.append(
                ScheduledDigest(
                    more.name or "+".join(more.to),
                    tuple(more.to),
                    more.schedule or default.schedule,
                    more.timezone or default.timezone,
                    more.first_period or default.first_period,
                    default.send_empty if more.send_empty is None else more.send_empty,
                    more.top or default.top,
                )
            )
        return tuple(found)

    def scheduled_digest(self, key: str) -> ScheduledDigest:
        """The scheduled digest with this key ("" or "default" for [digest]); KeyError if none."""
        digests = self.scheduled_digests
        for digest in digests:
            if digest.key == key:
                return digest
        if key == "default":
            return digests[0]
        raise KeyError(key)

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

"""Channels: alerts reach chat and paging services through Apprise, secrets from the environment."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.alerts import DeliveryReport, deliver_pending
from monitor.config.load import load_config
from monitor.config.settings import Config, Settings
from monitor.errors import ConfigError
from monitor.mail.mailer import Mailer
from monitor.mail.templates import Templates
from monitor.storage import Storage
from tests.servers import HttpServer, Reply, SmtpServer
from tests.test_alerts import NOW, TEMPLATES, queue, urgent

SECRET = "s3cr3t-hook-token"


def channel_config(tmp_path: Path, smtp_port: int, http: HttpServer, **channel: object) -> Config:
    host = http.base_url.removeprefix("http://")
    settings = Settings.model_validate(
        {
            "organisation": {"name": "Acme Ltd", "timezone": "Europe/London"},
            "brands": [{"name": "Acme", "terms": ["acme"]}],
            "recipients": {"oncall": ["ops@example.org"], "pager": []},
            "channels": {
                "ops_hook": {
                    "url": f"json://{host}/hook/{{HOOK_TOKEN}}",
                    "notify": ["oncall"],
                    **channel,
                }
            },
            "email": {"host": "127.0.0.1", "port": smtp_port, "from": "harken@example.org"},
            "alerts": {"notify": ["oncall"], "retry_every": "1m"},
        }
    )
    return Config(settings, {}, tmp_path / "config.toml")


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = Storage(f"sqlite:///{tmp_path / 'harken.db'}")
    yield store
    store.close()


def deliver(storage: Storage, config: Config) -> DeliveryReport:
    return deliver_pending(
        storage, Mailer(config.settings.email), Templates(TEMPLATES), config, NOW
    )


def test_an_alert_reaches_the_webhook_and_the_mailbox_once_without_logging_the_secret(
    tmp_path: Path,
    smtp_server: SmtpServer,
    http_server: HttpServer,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    http_server.routes[f"/hook/{SECRET}"] = Reply(b"ok")
    config = channel_config(tmp_path, smtp_server.port, http_server)
    queue(storage, urgent("1"))

    with caplog.at_level(logging.DEBUG):
        report = deliver(storage, config)

    assert report == DeliveryReport(sent=1)
    assert len(smtp_server.inbox) == 1
    [posted] = http_server.bodies
    payload = json.loads(posted)
    assert payload["title"] == "[Harken] URGENT: Acme is down (negative mention of Acme on hn_acme)"
    assert "https://news.example.org/item?id=1" in payload["message"]
    assert caplog.records  # Apprise did log its work, only without the secret
    assert SECRET not in caplog.text

    assert deliver(storage, config) == DeliveryReport()  # sent once, not again
    assert len(http_server.bodies) == 1


def test_a_group_with_only_a_channel_needs_no_email_address(
    tmp_path: Path,
    smtp_server: SmtpServer,
    http_server: HttpServer,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    http_server.routes[f"/hook/{SECRET}"] = Reply(b"ok")
    config = channel_config(tmp_path, smtp_server.port, http_server, notify=["pager"])
    queue(storage, urgent("1", notify=("pager",)))

    assert deliver(storage, config) == DeliveryReport(sent=1)
    assert len(http_server.bodies) == 1
    assert smtp_server.inbox == []  # the rule named pager alone: no email to send


def test_a_failing_channel_is_retried_and_named(
    tmp_path: Path,
    smtp_server: SmtpServer,
    http_server: HttpServer,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    http_server.routes[f"/hook/{SECRET}"] = Reply(b"busy", status=503)
    config = channel_config(tmp_path, smtp_server.port, http_server)
    queue(storage, urgent("1"))

    with caplog.at_level(logging.DEBUG):
        report = deliver(storage, config)

    assert report == DeliveryReport(retrying=1)
    assert "channel ops_hook: the service did not accept the alert" in caplog.text
    assert SECRET not in caplog.text
    assert storage.alert_counts() == {"pending": 1, "sent": 0, "failed": 0}


def test_a_missing_variable_is_named_and_its_value_never_shown(
    tmp_path: Path,
    smtp_server: SmtpServer,
    http_server: HttpServer,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    config = channel_config(tmp_path, smtp_server.port, http_server)
    queue(storage, urgent("1"))

    with caplog.at_level(logging.WARNING, logger="monitor.alerts"):
        report = deliver(storage, config)

    assert report == DeliveryReport(retrying=1)
    assert "channel ops_hook: the environment variable HOOK_TOKEN is not set" in caplog.text
    assert http_server.bodies == []


def test_a_channel_naming_an_unknown_group_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[brands]]\nname = "Acme"\nterms = ["acme"]\n\n[recipients]\noncall = []\n\n'
        '[channels.slack]\nurl = "slack://{SLACK_TOKEN}/#ops"\nnotify = ["ops"]\n',
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert 'channels.slack.notify: unknown recipient group "ops"' in str(raised.value)


def test_a_channel_past_its_hourly_limit_is_skipped_while_email_still_goes(
    tmp_path: Path,
    smtp_server: SmtpServer,
    http_server: HttpServer,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    http_server.routes[f"/hook/{SECRET}"] = Reply(b"ok")
    config = channel_config(tmp_path, smtp_server.port, http_server, max_per_hour=2)
    for n in ("1", "2", "3"):
        queue(storage, urgent(n))

    report = deliver(storage, config)

    assert report.sent == 3
    assert len(smtp_server.inbox) == 3  # every alert by email
    assert len(http_server.bodies) == 2  # but only two to the rate-limited channel


def test_a_retry_goes_only_to_the_destinations_that_failed(
    tmp_path: Path,
    smtp_server: SmtpServer,
    http_server: HttpServer,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    config = channel_config(tmp_path, smtp_server.port, http_server)
    queue(storage, urgent("1"), urgent("2", title="Acme billing double-charges everyone"))
    mailer, templates = Mailer(config.settings.email), Templates(TEMPLATES)

    # Alert 1 reaches the mailbox but not the chat; alert 2 the chat but not the mailbox.
    http_server.routes[f"/hook/{SECRET}"] = lambda _: Reply(
        b"busy" if len(http_server.bodies) == 1 else b"ok",
        status=503 if len(http_server.bodies) == 1 else 200,
    )
    smtp_server.refusing = False
    first = deliver_pending(storage, mailer, templates, config, NOW, limit=1)
    smtp_server.refusing = True
    second = deliver_pending(storage, mailer, templates, config, NOW)
    assert first == second == DeliveryReport(retrying=1)
    assert len(smtp_server.inbox) == 1
    assert len(http_server.bodies) == 2

    smtp_server.refusing = False
    report = deliver_pending(storage, mailer, templates, config, NOW + timedelta(minutes=1))

    assert report == DeliveryReport(sent=2)
    assert sorted(str(message["Message-ID"]) for message in smtp_server.inbox) == [
        "<harken-alert-1@harken>",
        "<harken-alert-2@harken>",
    ]
    assert len(http_server.bodies) == 3  # alert 1 once more, alert 2 not again
    assert "item?id=1" in json.loads(http_server.bodies[-1])["message"]
    assert storage.alert_counts() == {"pending": 0, "sent": 2, "failed": 0}

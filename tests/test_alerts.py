"""Alerts: urgent mentions from the outbox reach a real SMTP server, retried when it is down."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor.alerts import (
    DeliveryReport,
    alert_subject,
    deliver_pending,
    retry_delay,
    source_alert_subject,
)
from monitor.alerts.outbox import terminal_command
from monitor.config.settings import Config, Settings
from monitor.mail.mailer import Mailer
from monitor.mail.templates import Templates
from monitor.mention import Mention, Poll, Sentiment, Severity, Verdict
from monitor.storage import Storage
from tests.servers import SmtpServer, free_port

TEMPLATES = Path(__file__).parent.parent / "templates"
NOW = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
HOSTILE_TITLE = "Acme is down\r\nBcc: evil@x"
HOSTILE_TEXT = "<script>alert(1)</script> Acme lost my data"


def make_config(tmp_path: Path, smtp_port: int, **alerts: object) -> Config:
    settings = Settings.model_validate(
        {
            "organisation": {"name": "Acme Ltd", "timezone": "Europe/London"},
            "brands": [{"name": "Acme", "terms": ["acme"]}],
            "recipients": {"oncall": ["ops@example.org", "cto@example.org"], "pr": []},
            "email": {"host": "127.0.0.1", "port": smtp_port, "from": "harken@example.org"},
            "alerts": {"notify": ["oncall"], "retry_every": "1m", **alerts},
        }
    )
    return Config(settings, {}, tmp_path / "config.toml")


def urgent(
    item_id: str,
    title: str = HOSTILE_TITLE,
    notify: tuple[str, ...] = ("oncall",),  # as triage fills in alerts.notify for urgent ones
    reply: str = "",
    author: str = "angry_user",
) -> Verdict:
    return Verdict(
        mention=Mention(
            source="hn_acme",
            id=item_id,
            text=HOSTILE_TEXT,
            title=title,
            url=f"https://news.example.org/item?id={item_id}",
            author=author,
            published=NOW - timedelta(minutes=5),
        ),
        matched=True,
        brands=("Acme",),
        sentiment=Sentiment(compound=-0.81, label="negative"),
        severity=Severity.URGENT,
        rules=("outage",),
        tags=("outage", "support"),
        notify=notify,
        reasons=('rule "outage": text contains "down"',),
        reply=reply,
    )


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = Storage(f"sqlite:///{tmp_path / 'harken.db'}")
    yield store
    store.close()


def queue(storage: Storage, *verdicts: Verdict) -> None:
    poll = Poll(mentions=tuple(v.mention for v in verdicts), cursor={}, fetched=len(verdicts))
    storage.save_poll("hn_acme", poll, verdicts, NOW)


def deliver(storage: Storage, config: Config, now: datetime = NOW) -> DeliveryReport:
    mailer = Mailer(config.settings.email)
    return deliver_pending(storage, mailer, Templates(TEMPLATES), config, now)


def test_an_urgent_mention_reaches_the_oncall_group_as_text_and_html(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(storage, urgent("1"))

    report = deliver(storage, config)

    assert report == DeliveryReport(sent=1)
    [message] = smtp_server.inbox
    assert message["X-Envelope-To"] == "ops@example.org, cto@example.org"
    # Only the hostile title's first line reaches the subject: its "Bcc:" line is left out.
    assert (
        message["Subject"] == "[Harken] URGENT: Acme is down (negative mention of Acme on hn_acme)"
    )
    assert message["Message-ID"].startswith("<harken-alert-")
    assert message["Bcc"] is None
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    plain = text.get_content()
    assert "Acme is down Bcc: evil@x" in plain
    assert "https://news.example.org/item?id=1" in plain
    assert "angry_user" in plain
    assert 'rule "outage": text contains "down"' in plain
    assert "2024-05-02 08:55 BST" in plain  # published, shown in the organisation's timezone
    markup = html.get_content()
    assert "<script>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert 'href="https://news.example.org/item?id=1"' in markup
    assert storage.alert_counts() == {"pending": 0, "sent": 1, "failed": 0}


def bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.iter_parts()
    assert isinstance(text, EmailMessage)
    assert isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


def test_an_alert_suggests_the_reply_its_rule_chose(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(storage, urgent("1", reply="outage"))

    assert deliver(storage, config) == DeliveryReport(sent=1)

    [message] = smtp_server.inbox
    plain, markup = bodies(message)
    assert "Suggested reply (edit before posting):" in plain
    assert "  Hi angry_user, thanks for flagging this" in plain
    assert "Acme isn't working as it should" in plain
    assert "The Acme Ltd team" in plain
    assert "Suggested reply" in markup
    assert "Hi angry_user, thanks for flagging this" in markup


def test_an_unknown_reply_is_left_out_and_warned_about_once(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(storage, urgent("1", reply="apology_never_written"), urgent("2", reply="../alert"))
    queue(storage, urgent("3", reply="apology_never_written"))

    with caplog.at_level(logging.WARNING, logger="monitor.alerts"):
        report = deliver(storage, config)

    assert report == DeliveryReport(sent=3)
    for message in smtp_server.inbox:
        plain, markup = bodies(message)
        assert "Suggested reply" not in plain
        assert "Suggested reply" not in markup
    warnings = [r.getMessage() for r in caplog.records if "apology_never_written" in r.getMessage()]
    assert len(warnings) == 1
    assert "replies/apology_never_written.txt.j2" in warnings[0]


def test_hostile_text_in_a_suggested_reply_is_escaped_in_html(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(storage, urgent("1", reply="complaint", author="<img src=x onerror=alert(1)>"))

    assert deliver(storage, config) == DeliveryReport(sent=1)

    [message] = smtp_server.inbox
    plain, markup = bodies(message)
    assert "Hi <img src=x onerror=alert(1)>, thank you for telling us" in plain
    assert "<img" not in markup
    assert "Hi &lt;img src=x onerror=alert(1)&gt;, thank you for telling us" in markup


def test_the_subject_holds_trusted_words_and_the_title_on_one_line() -> None:
    verdict = urgent("1", title="FREE MONEY\r\nBcc: evil@x")

    assert alert_subject(verdict) == (
        "[Harken] URGENT: FREE MONEY (negative mention of Acme on hn_acme)"
    )


def test_alerts_go_to_the_groups_their_rules_named(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    settings = make_config(tmp_path, smtp_server.port).settings
    config = Config(
        settings.model_copy(
            update={"recipients": {"oncall": ["ops@example.org"], "legal": ["law@example.org"]}}
        ),
        {},
        tmp_path / "config.toml",
    )
    queue(storage, urgent("1", notify=("legal",)))

    deliver(storage, config)

    [message] = smtp_server.inbox
    assert message["X-Envelope-To"] == "law@example.org"


def test_a_refusing_server_delays_the_alert_and_it_is_delivered_once_later(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(storage, urgent("1"))
    smtp_server.refusing = True

    assert deliver(storage, config) == DeliveryReport(retrying=1)
    assert smtp_server.inbox == []
    assert storage.alert_counts()["pending"] == 1
    assert deliver(storage, config, NOW + timedelta(seconds=30)) == DeliveryReport()

    smtp_server.refusing = False
    assert deliver(storage, config, NOW + timedelta(minutes=1)) == DeliveryReport(sent=1)
    assert deliver(storage, config, NOW + timedelta(hours=5)) == DeliveryReport()

    assert len(smtp_server.inbox) == 1
    assert storage.alert_counts() == {"pending": 0, "sent": 1, "failed": 0}


def test_a_stopped_server_loses_nothing(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    queue(storage, urgent("1"), urgent("2"))
    down = make_config(tmp_path, free_port())  # nothing listens there

    assert deliver(storage, down) == DeliveryReport(retrying=2)

    back = make_config(tmp_path, smtp_server.port)
    assert deliver(storage, back, NOW + timedelta(minutes=1)) == DeliveryReport(sent=2)
    assert sorted(m["Message-ID"] for m in smtp_server.inbox) == [
        "<harken-alert-1@harken>",
        "<harken-alert-2@harken>",
    ]


def test_retries_back_off_and_give_up_after_max_attempts(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port, max_attempts=3)
    queue(storage, urgent("1"))
    smtp_server.refusing = True

    assert deliver(storage, config) == DeliveryReport(retrying=1)
    assert deliver(storage, config, NOW + timedelta(minutes=1)) == DeliveryReport(retrying=1)
    # The second wait is twice the first: nothing is due one minute after the second attempt.
    assert deliver(storage, config, NOW + timedelta(minutes=2)) == DeliveryReport()
    assert deliver(storage, config, NOW + timedelta(minutes=3)) == DeliveryReport(failed=1)

    assert storage.alert_counts() == {"pending": 0, "sent": 0, "failed": 1}
    assert deliver(storage, config, NOW + timedelta(days=1)) == DeliveryReport()


def test_retry_delay_doubles_up_to_an_hour() -> None:
    minute = timedelta(minutes=1)

    delays = [retry_delay(attempt, minute) for attempt in (1, 2, 3, 4, 7, 100)]

    hour = timedelta(hours=1)
    assert delays == [minute, 2 * minute, 4 * minute, 8 * minute, hour, hour]
    assert retry_delay(5, timedelta(hours=2)) == timedelta(hours=2)


def test_a_group_without_addresses_fails_that_alert_only(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(storage, urgent("1", notify=("pr",)), urgent("2"))

    with caplog.at_level(logging.WARNING, logger="monitor.alerts"):
        report = deliver(storage, config)

    assert report == DeliveryReport(sent=1, retrying=1)
    assert len(smtp_server.inbox) == 1
    assert "recipient groups pr have no email addresses; add them under [recipients]" in (
        caplog.text
    )


def test_a_broken_template_delays_alerts_and_names_the_line(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "alert.txt.j2").write_text("fine\n{{ mention.titel }}\n")
    (folder / "alert.html.j2").write_text("<p>{{ mention.title }}</p>\n")
    queue(storage, urgent("1"))

    with caplog.at_level(logging.WARNING, logger="monitor.alerts"):
        report = deliver_pending(
            storage, Mailer(config.settings.email), Templates(folder), config, NOW
        )

    assert report == DeliveryReport(retrying=1)
    assert smtp_server.inbox == []
    assert f"{folder / 'alert.txt.j2'}:2: " in caplog.text
    assert "has no attribute 'titel'" in caplog.text


def test_a_source_alert_reaches_the_admins_with_a_subject_of_trusted_words(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    details = "HTTP 503 from news.example.org: <b>Bcc: evil@x</b>\r\nSubject: pwned"
    alert_id = storage.enqueue_source_alert(
        "hn_acme", NOW, f"stopped hearing: {details}\nHarken retries every 5 minutes.", ()
    )

    assert deliver(storage, config) == DeliveryReport(sent=1)

    [message] = smtp_server.inbox
    assert message["Subject"] == "[Harken] Source hn_acme: stopped hearing"
    assert message["Bcc"] is None
    assert message["X-Envelope-To"] == "ops@example.org, cto@example.org"  # alerts.notify
    assert message["Message-ID"] == f"<harken-alert-{alert_id}@harken>"
    text, html = message.iter_parts()
    plain = text.get_content()
    assert "Source hn_acme: stopped hearing" in plain
    assert "HTTP 503 from news.example.org: <b>Bcc: evil@x</b>" in plain
    assert "Harken retries every 5 minutes." in plain
    assert "2024-05-02 09:00 BST" in plain  # queued, in the organisation's timezone
    markup = html.get_content()
    assert "<b>" not in markup
    assert "&lt;b&gt;Bcc: evil@x&lt;/b&gt;" in markup
    assert storage.alert_counts() == {"pending": 0, "sent": 1, "failed": 0}


def test_a_source_alert_goes_to_the_groups_it_names_and_is_retried(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    settings = make_config(tmp_path, smtp_server.port).settings
    config = Config(
        settings.model_copy(
            update={"recipients": {"oncall": ["ops@example.org"], "admins": ["it@example.org"]}}
        ),
        {},
        tmp_path / "config.toml",
    )
    storage.enqueue_source_alert("reddit_acme", NOW, "disabled\n401 Unauthorized", ["admins"])
    smtp_server.refusing = True

    assert deliver(storage, config) == DeliveryReport(retrying=1)
    smtp_server.refusing = False
    assert deliver(storage, config, NOW + timedelta(minutes=1)) == DeliveryReport(sent=1)

    [message] = smtp_server.inbox
    assert message["X-Envelope-To"] == "it@example.org"
    assert message["Subject"] == "[Harken] Source reddit_acme: disabled"


@pytest.mark.parametrize(
    "message",
    [
        "down\rBcc: evil@x",
        "Bcc evil@x: hello",
        "<script>alert(1)</script>",
        "",
        "a state far too long to be one of the few words Harken itself writes here",
    ],
)
def test_a_source_alert_subject_never_carries_other_text(message: str) -> None:
    assert source_alert_subject("hn_acme", "silent: nothing for 3 days") == (
        "[Harken] Source hn_acme: silent"
    )
    assert source_alert_subject("hn_acme", message) == "[Harken] Source hn_acme: needs attention"
    assert source_alert_subject("hn\r\nBcc: x", "is hearing again") == (
        "[Harken] Source hn Bcc: x: is hearing again"
    )


def test_a_line_break_in_a_link_or_author_cannot_add_a_line_to_the_plain_text(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    hostile = urgent("1", author="mallory\r\nBcc: attacker@x")
    hostile = replace(
        hostile,
        mention=replace(
            hostile.mention, url="https://news.example.org/item?id=1\r\nBcc: attacker@x\x1b[2J"
        ),
    )
    queue(storage, hostile)

    assert deliver(storage, config) == DeliveryReport(sent=1)

    [message] = smtp_server.inbox
    plain, markup = bodies(message)
    lines = plain.splitlines()
    assert not [line for line in lines if line.lstrip().startswith("Bcc:")]
    assert "Link:      https://news.example.org/item?id=1%0D%0ABcc:%20attacker@x%1B[2J" in lines
    assert "\x1b" not in plain
    assert "\r" not in plain.replace("\r\n", "\n")
    assert 'href="https://news.example.org/item?id=1%0D%0ABcc:%20attacker@x%1B[2J"' in markup


def test_the_ack_command_in_an_alert_names_a_config_harken_would_not_find_by_itself() -> None:
    assert terminal_command(Path("config.toml")) == "harken"
    assert terminal_command(Path("/srv/my harken/config.toml")) == (
        "harken --config '/srv/my harken/config.toml'"
    )

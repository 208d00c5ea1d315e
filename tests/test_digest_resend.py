"""A digest send cut short, in process: it goes again as the same message, with the same
period, Message-ID and Date, and only then does a new period begin."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from monitor.config.load import load_config
from monitor.daemon.digests import send_scheduled_digest
from monitor.daemon.scheduler import build_scheduler
from monitor.daemon.wiring import App, open_app
from monitor.mail.mailer import Sender
from monitor.mention import Mention, Poll
from tests.harness import Clock, Harness
from tests.servers import SmtpServer

MONDAY = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)


class PowerCut(BaseException):
    """The process dying: nothing in Harken catches it, as nothing survives a SIGKILL."""


@dataclass
class CutAfterSending:
    """The real mailer, with the power cut the moment the SMTP server took the message."""

    mailer: Sender

    def send(self, *args: Any, **options: Any) -> None:
        self.mailer.send(*args, **options)
        raise PowerCut


@pytest.fixture
def harken(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[tuple[App, Clock]]:
    harness = Harness(tmp_path)
    harness.write_config({}, smtp_server.port)
    clock = Clock(MONDAY)
    service = open_app(load_config(harness.config), now=clock)
    service.storage.record_digest(MONDAY - timedelta(days=1), MONDAY, MONDAY, [], 0)
    yield service, clock
    service.close()


def test_a_send_cut_short_goes_again_as_the_same_message_before_a_new_period_begins(
    harken: tuple[App, Clock], smtp_server: SmtpServer
) -> None:
    app, clock = harken
    store(app, "first", MONDAY + timedelta(hours=1))
    clock.now = MONDAY + timedelta(days=1)  # [digest] is daily at 08:00 UTC
    mailer, app.mailer = app.mailer, CutAfterSending(app.mailer)
    with pytest.raises(PowerCut):
        send_scheduled_digest(app)
    app.mailer = mailer
    assert app.storage.last_digest_end() == MONDAY  # sent, but not recorded as sent

    # Restarted ten minutes later, and again after a new mention arrived: the same message.
    store(app, "second", MONDAY + timedelta(days=1, minutes=5))
    clock.now = MONDAY + timedelta(days=1, minutes=10)
    assert getattr(build_scheduler(app).get_job("digest"), "next_run_time", None) == clock.now
    send_scheduled_digest(app)
    first, again = smtp_server.inbox
    assert again["Message-ID"] == first["Message-ID"]
    assert again["Subject"] == first["Subject"]
    assert again["Date"] == first["Date"]
    assert "Acme first" in plain(again)
    assert "Acme second" not in plain(again)
    assert app.storage.last_digest_end() == MONDAY + timedelta(days=1)
    assert app.storage.digest_send() is None

    # The next period begins where the repeated one ended.
    clock.now = MONDAY + timedelta(days=2)
    send_scheduled_digest(app)
    latest = smtp_server.inbox[-1]
    assert latest["Message-ID"] == "<harken-digest-20261117T080000Z-20261118T080000Z@harken>"
    assert "Acme second" in plain(latest)


def test_a_send_cut_short_days_ago_still_goes_out_at_the_next_start(
    harken: tuple[App, Clock],
) -> None:
    app, clock = harken
    clock.now = MONDAY + timedelta(days=1)
    app.mailer = CutAfterSending(app.mailer)
    with pytest.raises(PowerCut):
        send_scheduled_digest(app)
    clock.now = MONDAY + timedelta(days=3, hours=5)  # long past DIGEST_LATE
    assert getattr(build_scheduler(app).get_job("digest"), "next_run_time", None) == clock.now


def store(app: App, title: str, at: datetime) -> None:
    """Store one matched mention as if a poll at ``at`` had found it."""
    mention = Mention(
        id=title,
        source="news",
        url=f"https://news.example/{title}",
        title=f"Acme {title}",
        text="",
        author="",
        published=at,
    )
    verdicts = app.triage(mention)
    app.storage.save_poll("news", Poll(mentions=(mention,), cursor={}, fetched=1), [verdicts], at)


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())

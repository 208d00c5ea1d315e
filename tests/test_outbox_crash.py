"""The outbox's crash window: a sender killed between the SMTP accept and the record of it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts import DeliveryReport, deliver_pending
from monitor.alerts.outbox import CLAIM_LEASE
from monitor.mail.mailer import InlineImage, Mailer
from monitor.mail.templates import Templates
from monitor.storage import Storage
from tests.servers import SmtpServer
from tests.test_alerts import NOW, TEMPLATES, make_config, queue, urgent

ALERTS = 5
CRASH_AFTER = 3  # the sender dies right after the server accepted the third message


class SimulatedCrash(Exception):
    """The process dying: not a DeliveryError, so nothing records the attempt."""


class CrashingSender:
    """The real Mailer, killed right after the SMTP server accepts the ``crash_after``-th message."""

    def __init__(self, mailer: Mailer, crash_after: int) -> None:
        self.mailer = mailer
        self.crash_after = crash_after
        self.accepted = 0

    def send(
        self,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str | None,
        message_id: str,
        *,
        date: datetime | None = None,
        images: Sequence[InlineImage] = (),
        references: Sequence[str] = (),
    ) -> None:
        self.mailer.send(
            to, subject, text, html, message_id, date=date, images=images, references=references
        )
        self.accepted += 1
        if self.accepted == self.crash_after:
            raise SimulatedCrash(f"killed after the server accepted {message_id}")


def item_of(text: str) -> str:
    """Which mention an alert email is about, read from its body's link."""
    found = re.search(r"item\?id=(\d+)", text)
    assert found is not None
    return found.group(1)


def test_a_crash_after_the_smtp_accept_repeats_that_one_alert_only(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    database = f"sqlite:///{tmp_path / 'harken.db'}"
    config = make_config(tmp_path, smtp_server.port)
    templates = Templates(TEMPLATES)
    storage = Storage(database)
    queue(storage, *(urgent(str(number)) for number in range(1, ALERTS + 1)))

    crashing = CrashingSender(Mailer(config.settings.email), CRASH_AFTER)
    with pytest.raises(SimulatedCrash):
        deliver_pending(storage, crashing, templates, config, NOW)
    storage.close()
    assert len(smtp_server.inbox) == CRASH_AFTER

    # The restart: a new process opens the same database and drains the outbox again. The alert
    # in flight is still claimed by the dead sender until its lease runs out.
    restarted = Storage(database)
    try:
        early = deliver_pending(
            restarted, Mailer(config.settings.email), templates, config, NOW + timedelta(minutes=1)
        )
        assert early == DeliveryReport(sent=ALERTS - CRASH_AFTER)
        report = deliver_pending(
            restarted,
            Mailer(config.settings.email),
            templates,
            config,
            NOW + CLAIM_LEASE + timedelta(minutes=1),
        )
        counts = restarted.alert_counts()
    finally:
        restarted.close()

    # Each alert is marked sent in its own transaction right after the server accepts it, before
    # the next is tried. So a crash can only lose the record of the one message in flight: the
    # alerts before it are recorded as sent and are not repeated, those after it were never sent.
    # Only that one is sent again, under its stable Message-ID, so a receiver can drop the repeat.
    assert report == DeliveryReport(sent=1)
    assert counts == {"pending": 0, "sent": ALERTS, "failed": 0}
    copies: dict[str, list[str]] = {}
    for message in smtp_server.inbox:
        text = message.get_body(("plain",))
        assert text is not None
        copies.setdefault(item_of(text.get_content()), []).append(message["Message-ID"])
    assert sorted(copies, key=int) == [str(number) for number in range(1, ALERTS + 1)]
    repeated = {item: ids for item, ids in copies.items() if len(ids) > 1}
    assert list(repeated) == [str(CRASH_AFTER)]
    [first, second] = repeated[str(CRASH_AFTER)]
    assert first == second
    assert len(smtp_server.inbox) == ALERTS + 1
    message_ids = Counter(message["Message-ID"] for message in smtp_server.inbox)
    assert [count for count in message_ids.values() if count > 1] == [2]

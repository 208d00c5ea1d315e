"""Several Harken processes sharing one outbox: each alert is sent once, and the alerts a dead
sender had claimed are sent by another once its lease runs out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts import DeliveryReport, deliver_pending
from monitor.alerts.outbox import CLAIM_LEASE, release_dead_claims
from monitor.config.settings import Config
from monitor.errors import StorageError
from monitor.mail.mailer import Mailer
from monitor.mail.templates import Templates
from monitor.storage import Storage
from tests.servers import SmtpServer
from tests.test_alerts import NOW, TEMPLATES, make_config, queue, urgent

ALERTS = 20
SENDERS = 2


@pytest.fixture
def senders(database_url: str) -> Iterator[list[Storage]]:
    """One Storage per Harken process: each with its own connections to the shared database."""
    opened = [Storage(database_url) for _ in range(SENDERS)]
    yield opened
    for storage in opened:
        storage.close()


def deliver(storage: Storage, config: Config, now: datetime) -> DeliveryReport:
    return deliver_pending(
        storage, Mailer(config.settings.email), Templates(TEMPLATES), config, now
    )


def test_two_senders_draining_one_outbox_at_once_send_each_alert_once(
    tmp_path: Path, smtp_server: SmtpServer, senders: list[Storage]
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(senders[0], *(urgent(str(n), title=f"Acme incident number {n}") for n in range(ALERTS)))
    start = threading.Barrier(SENDERS)
    reports: list[DeliveryReport] = []

    def drain(storage: Storage) -> None:
        start.wait(timeout=30)
        reports.append(deliver(storage, config, NOW))

    threads = [threading.Thread(target=drain, args=(storage,)) for storage in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(reports) == SENDERS
    assert sum(report.sent for report in reports) == ALERTS
    copies = Counter(str(message["Message-ID"]) for message in smtp_server.inbox)
    assert len(copies) == ALERTS
    assert set(copies.values()) == {1}
    assert senders[0].alert_counts() == {"pending": 0, "sent": ALERTS, "failed": 0}


def test_an_alert_claimed_by_a_sender_that_died_is_sent_by_another_after_the_lease(
    tmp_path: Path, smtp_server: SmtpServer, senders: list[Storage]
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    dead, survivor = senders
    queue(dead, urgent("1"))
    (alert,) = dead.pending_alerts(NOW)
    # The dead sender's last act: it claimed the alert, then died before sending or recording.
    assert dead.claim_alerts([alert.id], "dead-host:4242:cafe", NOW, NOW + CLAIM_LEASE) == {
        alert.id
    }

    assert deliver(survivor, config, NOW + CLAIM_LEASE - timedelta(seconds=1)) == DeliveryReport()
    assert smtp_server.inbox == []

    report = deliver(survivor, config, NOW + CLAIM_LEASE)
    assert report == DeliveryReport(sent=1)
    assert len(smtp_server.inbox) == 1
    assert survivor.alert_counts() == {"pending": 0, "sent": 1, "failed": 0}
    # Had the first sender only been slow, its late record is refused, not a second "sent".
    with pytest.raises(StorageError, match="held by dead-host"):
        dead.mark_alert_sent(alert.id, NOW, "<late@harken>", claimant="dead-host:4242:cafe")


def test_a_failed_attempt_leaves_the_retry_to_any_sender(
    tmp_path: Path, smtp_server: SmtpServer, senders: list[Storage]
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    first, second = senders
    queue(first, urgent("1"))
    smtp_server.refusing = True
    assert deliver(first, config, NOW) == DeliveryReport(retrying=1)

    smtp_server.refusing = False
    # The retry is due after retry_every (1 minute), long before the failed claim's lease ends.
    assert deliver(second, config, NOW + timedelta(minutes=1)) == DeliveryReport(sent=1)
    assert len(smtp_server.inbox) == 1


def test_a_restart_sends_at_once_what_a_sender_killed_on_this_host_had_claimed(
    tmp_path: Path, smtp_server: SmtpServer, senders: list[Storage]
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    storage = senders[0]
    queue(storage, urgent("1"), urgent("2", title="Acme is down again"))
    killed, alive = storage.pending_alerts(NOW)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    host = socket.gethostname()
    storage.claim_alerts([killed.id], f"{host}:{gone.stdout.strip()}:dead", NOW, NOW + CLAIM_LEASE)
    # A sender that is still running (our parent process stands in for one) keeps its claim.
    storage.claim_alerts([alive.id], f"{host}:{os.getppid()}:live", NOW, NOW + CLAIM_LEASE)

    assert release_dead_claims(storage, NOW) == 1

    assert deliver(storage, config, NOW) == DeliveryReport(sent=1)
    assert len(smtp_server.inbox) == 1
    # What the live sender holds waits for it (or for its lease), not sent a second time here.
    assert [alert.id for alert in storage.pending_alerts(NOW + CLAIM_LEASE)] == [alive.id]

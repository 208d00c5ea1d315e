"""``harken run`` stopped with SIGTERM while a poll or a digest send is under way."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from monitor.storage import Storage
from tests.daemon import Daemon, query, wait_until
from tests.harness import Harness, rss_feed
from tests.servers import HttpServer, Reply, free_port

ITEMS = (
    ("slow-1", "Post 1", "Acme support is useless, still waiting for my refund. Awful!"),
    ("slow-2", "Post 2", "Acme Cloud is great, thanks team"),
    ("slow-3", "Post 3", "Tried Acme Cloud for a side project today"),
)
STOPPING = "received SIGTERM: stopping after the jobs under way"


class HeldFeed:
    """A feed whose server holds each response ``hold`` seconds: a poll stays under way."""

    def __init__(self, hold: float, *items: tuple[str, str, str]) -> None:
        self.hold = hold
        self.items = list(items)
        self.asked = threading.Event()

    def __call__(self, _request: BaseHTTPRequestHandler) -> Reply:
        self.asked.set()
        return Reply(rss_feed(*self.items), delay=self.hold)


class HeldSmtp:
    """aiosmtpd handler that holds each message ``hold`` seconds before its answer to DATA."""

    def __init__(self, hold: float, answer: str = "250 OK") -> None:
        self.hold = hold
        self.answer = answer
        self.inbox: list[EmailMessage] = []
        self.receiving = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        import email
        import email.policy

        self.receiving.set()
        await asyncio.sleep(self.hold)
        if self.answer.startswith("250"):
            message = email.message_from_bytes(
                envelope.original_content or b"", policy=email.policy.default
            )
            assert isinstance(message, EmailMessage)
            self.inbox.append(message)
        return self.answer


@pytest.fixture
def held_smtp() -> Iterator[tuple[HeldSmtp, int]]:
    handler = HeldSmtp(hold=0)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, int(controller.port)
    controller.stop()


def configure(harness: Harness, http_server: HttpServer, smtp_port: int, extra: str = "") -> None:
    harness.write_config({"slow": http_server.url("/slow.xml")}, smtp_port, extra=extra)


def patient_http(harness: Harness) -> None:
    """Wait 30 s for a feed, so a held response outlasts the stop grace, not the timeout."""
    text = harness.config.read_text()
    assert 'timeout = "2s"' in text
    harness.config.write_text(text.replace('timeout = "2s"', 'timeout = "30s"', 1))


def stored_items(database: Path) -> list[str]:
    return sorted(
        str(url).rsplit("/", 1)[1] for (url,) in query(database, "SELECT url FROM mentions")
    )


def remembered(database: Path) -> list[str]:
    """The item ids the source's cursor says it has seen."""
    rows = query(database, "SELECT state FROM cursors WHERE source = 'slow'")
    if not rows:
        return []
    cursor = rows[0][0]
    return sorted(json.loads(str(cursor)).get("seen", []))


@pytest.mark.slow
def test_a_stop_grace_that_is_not_a_duration_is_refused_before_anything_starts(
    tmp_path: Path, http_server: HttpServer
) -> None:
    harness = Harness(tmp_path)
    configure(harness, http_server, free_port())
    result = harness.harken("run", "--stop-grace", "soon")
    assert result.returncode == 2
    assert '--stop-grace: "soon" is not a duration' in result.stderr
    assert not harness.database.exists()


@pytest.mark.slow
def test_sigterm_during_a_poll_lets_it_finish_and_exits_0(
    tmp_path: Path, http_server: HttpServer, held_smtp: tuple[HeldSmtp, int]
) -> None:
    smtp, smtp_port = held_smtp
    feed = HeldFeed(1.5, *ITEMS)
    http_server.routes["/slow.xml"] = feed
    harness = Harness(tmp_path)
    configure(harness, http_server, smtp_port)
    daemon = Daemon(harness, tmp_path / "run.log")
    try:
        assert feed.asked.wait(60), daemon.output()
        status = daemon.stop(timeout=30)
    finally:
        daemon.close()
    output = daemon.output()
    assert status == 0, output
    assert STOPPING in output
    assert "harken stopped" in output
    assert "Traceback" not in output, output
    assert "ERROR" not in output, output
    # The poll under way finished as one piece: its mentions, the cursor past them, the alert.
    assert stored_items(harness.database) == ["slow-1", "slow-2", "slow-3"]
    assert len(remembered(harness.database)) == 3
    [alert] = smtp.inbox
    assert "https://news.example/slow-1" in alert.as_string()

    # A restart carries on from there: the old items are not stored or alerted again.
    feed.hold = 0
    feed.items.append(("slow-4", "Post 4", "Acme Cloud is great, thanks again"))
    restarted = Daemon(harness, tmp_path / "restart.log")
    try:
        assert wait_until(lambda: len(stored_items(harness.database)) == 4, timeout=60)
        assert restarted.stop(timeout=30) == 0
    finally:
        restarted.close()
    assert stored_items(harness.database) == ["slow-1", "slow-2", "slow-3", "slow-4"]
    assert len(smtp.inbox) == 1


@pytest.mark.slow
def test_a_poll_stuck_past_the_stop_grace_is_left_unwritten_and_redone_after_a_restart(
    tmp_path: Path, http_server: HttpServer, held_smtp: tuple[HeldSmtp, int]
) -> None:
    smtp, smtp_port = held_smtp
    feed = HeldFeed(20, *ITEMS)
    http_server.routes["/slow.xml"] = feed
    harness = Harness(tmp_path)
    configure(harness, http_server, smtp_port)
    patient_http(harness)
    daemon = Daemon(harness, tmp_path / "run.log", "--stop-grace", "1s")
    try:
        assert feed.asked.wait(60), daemon.output()
        status = daemon.stop(timeout=15)  # well before the feed answers
    finally:
        daemon.close()
    output = daemon.output()
    assert status == 1, output
    assert STOPPING in output
    assert "still under way 1 s after SIGTERM" in output, output
    assert stored_items(harness.database) == []
    assert remembered(harness.database) == []

    feed.hold = 0
    restarted = Daemon(harness, tmp_path / "restart.log")
    try:
        assert wait_until(lambda: len(smtp.inbox) == 1, timeout=60), restarted.output()
        assert restarted.stop(timeout=30) == 0
    finally:
        restarted.close()
    assert stored_items(harness.database) == ["slow-1", "slow-2", "slow-3"]
    assert len(remembered(harness.database)) == 3
    assert len(smtp.inbox) == 1


def missed_digest(harness: Harness) -> tuple[str, datetime]:
    """A daily digest schedule whose time passed two minutes ago, with yesterday's one recorded
    as sent: the daemon starting now owes today's. Returns the [digest] table and the watermark."""
    due = (datetime.now(UTC) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    yesterday = due - timedelta(days=1) + timedelta(seconds=1)
    storage = Storage(f"sqlite:///{harness.database}")
    try:
        storage.record_digest(
            yesterday - timedelta(days=1), yesterday, yesterday, ["marketing@example.com"], 0
        )
    finally:
        storage.close()
    return f'schedule = "{due.minute} {due.hour} * * *"\n', yesterday


def digest_starts(database: Path) -> list[str]:
    return [
        str(start) for (start,) in query(database, "SELECT period_start FROM digests ORDER BY id")
    ]


def with_digest_schedule(harness: Harness, schedule: str) -> None:
    text = harness.config.read_text()
    table = '[digest]\nto = ["marketing"]\n'
    assert table in text
    harness.config.write_text(text.replace(table, table + schedule))


@pytest.mark.slow
def test_sigterm_during_a_digest_send_waits_for_it_and_records_it(
    tmp_path: Path, http_server: HttpServer, held_smtp: tuple[HeldSmtp, int]
) -> None:
    smtp, smtp_port = held_smtp
    smtp.hold = 2
    http_server.routes["/slow.xml"] = HeldFeed(0, ITEMS[1])
    harness = Harness(tmp_path)
    configure(harness, http_server, smtp_port)
    schedule, watermark = missed_digest(harness)
    with_digest_schedule(harness, schedule)
    before = digest_starts(harness.database)
    daemon = Daemon(harness, tmp_path / "run.log")
    try:
        assert smtp.receiving.wait(60), daemon.output()
        status = daemon.stop(timeout=30)
    finally:
        daemon.close()
    output = daemon.output()
    assert status == 0, output
    assert "sending it now" in output
    assert STOPPING in output
    assert "harken stopped" in output
    [digest] = smtp.inbox
    assert digest["Subject"].startswith("[Harken] Digest for Acme Inc.")
    # Sent, so recorded: the next digest starts where this one ended.
    starts = digest_starts(harness.database)
    assert len(starts) == len(before) + 1
    assert starts[-1].startswith(watermark.strftime("%Y-%m-%d %H:%M:%S"))


@pytest.mark.slow
def test_a_digest_send_stuck_past_the_stop_grace_is_not_recorded_and_the_restart_sends_it(
    tmp_path: Path, http_server: HttpServer, held_smtp: tuple[HeldSmtp, int]
) -> None:
    smtp, smtp_port = held_smtp
    smtp.hold, smtp.answer = 20, "451 Try again later"
    http_server.routes["/slow.xml"] = HeldFeed(0, ITEMS[1])
    harness = Harness(tmp_path)
    configure(harness, http_server, smtp_port)
    schedule, watermark = missed_digest(harness)
    with_digest_schedule(harness, schedule)
    before = digest_starts(harness.database)
    daemon = Daemon(harness, tmp_path / "run.log", "--stop-grace", "1s")
    try:
        assert smtp.receiving.wait(60), daemon.output()
        status = daemon.stop(timeout=15)
    finally:
        daemon.close()
    output = daemon.output()
    assert status == 1, output
    assert "still under way 1 s after SIGTERM" in output
    assert smtp.inbox == []
    assert digest_starts(harness.database) == before  # not sent, so not recorded

    # The restart owes the same digest still, from the same start: no period goes unreported.
    smtp.hold, smtp.answer = 0, "250 OK"
    restarted = Daemon(harness, tmp_path / "restart.log")
    try:
        assert wait_until(lambda: len(digest_starts(harness.database)) > len(before), timeout=60)
        assert restarted.stop(timeout=30) == 0
    finally:
        restarted.close()
    [digest] = smtp.inbox
    assert digest["Subject"].startswith("[Harken] Digest for Acme Inc.")
    assert digest_starts(harness.database)[-1].startswith(watermark.strftime("%Y-%m-%d %H:%M:%S"))

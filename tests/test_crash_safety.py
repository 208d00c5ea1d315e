"""``harken run`` killed with SIGKILL at random moments, over and over, while mentions keep coming."""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from tests.daemon import Daemon, query, read_only, wait_until
from tests.growing import FEEDS, GrowingFeeds
from tests.harness import Harness
from tests.servers import HttpServer, SmtpServer

KILLS = 22
MAX_ITEMS = 240  # enough to keep every kill busy
LINK = re.compile(r"https://news\.example/((?:alpha|beta|gamma)-\d+)")


@pytest.fixture
def feeds(http_server: HttpServer) -> GrowingFeeds:
    # 40% complaints: the shipped rules make them urgent, so kills also cut alert sends short.
    growing = GrowingFeeds(MAX_ITEMS, urgent_share=0.4)
    growing.serve_on(http_server)
    return growing


def quick_retries(harness: Harness) -> None:
    """Retry alerts every second, so an alert whose send a kill cut short goes out soon after."""
    text = harness.config.read_text()
    alerts = '[alerts]\nnotify = ["oncall"]\n'
    assert alerts in text
    harness.config.write_text(text.replace(alerts, alerts + 'retry_every = "1s"\n'))


def stored(database: Path) -> list[tuple[str, str, int]]:
    """(source, url, copies) for every stored mention."""
    return [
        (str(source), str(url), int(str(copies)))
        for source, url, copies in query(
            database, "SELECT source, url, count(*) FROM mentions GROUP BY source, url"
        )
    ]


def guids_of(database: Path) -> set[str]:
    return {url.rsplit("/", 1)[1] for _, url, _ in stored(database)}


def alert_guid(message_text: str) -> str:
    found = LINK.search(message_text)
    assert found is not None, message_text
    return found.group(1)


@pytest.mark.timeout(600)  # about a minute alone; a loaded machine makes each cycle slower
@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_mention_and_no_alert(
    tmp_path: Path, feeds: GrowingFeeds, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    seed = int(os.environ.get("HARKEN_CRASH_SEED") or random.randrange(2**32))
    print(f"seed {seed} (rerun with HARKEN_CRASH_SEED={seed})")  # pytest shows it on failure
    rng = random.Random(seed)
    harness = Harness(tmp_path)
    harness.write_config(
        {feed: http_server.url(f"/{feed}.xml") for feed in FEEDS}, smtp_server.port
    )
    quick_retries(harness)

    arriving = threading.Event()
    arriving.set()
    item_rng = random.Random(rng.random())

    def keep_adding() -> None:
        while arriving.is_set():
            feeds.add(item_rng)
            time.sleep(item_rng.uniform(0.05, 0.3))

    producer = threading.Thread(target=keep_adding, daemon=True)
    producer.start()
    work_under_kills = []
    try:
        for cycle in range(KILLS):
            daemon = Daemon(harness, tmp_path / f"run-{cycle}.log")
            try:
                if rng.random() < 0.2:
                    time.sleep(rng.uniform(0.0, 1.5))  # during start-up and migrations
                else:
                    daemon.wait_for_log("harken is running")
                    time.sleep(rng.uniform(0.3, 2.5))
            finally:
                daemon.kill()
            work_under_kills.append((len(guids_of(harness.database)), len(smtp_server.inbox)))
    finally:
        arriving.clear()
        producer.join()

    # The last run is left alone until everything served is stored and every alert is out.
    final = Daemon(harness, tmp_path / "final.log")
    try:
        final.wait_for_log("harken is running")

        delivered: set[str] = set()
        read = 0

        def settled() -> bool:
            nonlocal read
            arrived = smtp_server.inbox[read:]
            delivered.update(alert_guid(_text(message)) for message in arrived)
            read += len(arrived)
            pending = query(
                harness.database, "SELECT count(*) FROM alerts WHERE status = 'pending'"
            )
            return (
                # Items added just before the kills stopped may not have been served yet.
                feeds.served == feeds.all()
                and feeds.served <= guids_of(harness.database)
                and feeds.urgent <= delivered
                and pending == [(0,)]
            )

        wait_until(settled, timeout=90, every=0.2)
        assert final.stop() == 0, final.output()
        assert "harken stopped" in final.output()
    finally:
        final.close()

    stored_under_kills, sent_under_kills = work_under_kills[-1]
    assert stored_under_kills > 0, work_under_kills
    assert sent_under_kills > 0, work_under_kills
    with closing(read_only(harness.database)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]

    # Every served mention stored exactly once, under the feed that served it.
    assert feeds.served == feeds.all()
    rows = stored(harness.database)
    assert sorted(url.rsplit("/", 1)[1] for _, url, _ in rows) == sorted(feeds.served)
    assert all(copies == 1 for _, _, copies in rows)
    assert all(url.rsplit("/", 1)[1].startswith(source) for source, url, _ in rows)
    urgent_stored = query(
        harness.database,
        "SELECT m.url FROM mentions m JOIN verdicts v ON v.mention_id = m.id"
        " WHERE v.severity = 'urgent'",
    )
    assert {str(url).rsplit("/", 1)[1] for (url,) in urgent_stored} == feeds.urgent

    # Every urgent mention alerted; a repeat only for a send a kill cut short between the SMTP
    # server's accept and the outbox's record of it, under the same Message-ID, so mail
    # clients show it once.
    message_ids: dict[str, set[str]] = {}
    for message in smtp_server.inbox:
        message_ids.setdefault(alert_guid(_text(message)), set()).add(message["Message-ID"])
    assert set(message_ids) == feeds.urgent
    assert all(len(ids) == 1 for ids in message_ids.values()), message_ids
    copies = Counter(message["Message-ID"] for message in smtp_server.inbox)
    repeats = sum(count - 1 for count in copies.values())
    print(
        f"{len(rows)} mentions stored, {len(feeds.urgent)} urgent, {len(smtp_server.inbox)} emails,"
        f" {repeats} repeated after {KILLS} kills; stored/emailed after each kill: {work_under_kills}"
    )
    assert repeats <= KILLS, copies
    assert query(harness.database, "SELECT status, count(*) FROM alerts GROUP BY status") == [
        ("sent", len(feeds.urgent))
    ]


def _text(message: object) -> str:
    from email.message import EmailMessage

    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())

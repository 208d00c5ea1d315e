"""The daemon's scheduled work, driven with a controllable clock against real local servers."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config.load import load_config
from monitor.daemon.digests import send_scheduled_digest
from monitor.daemon.poll import poll_all
from monitor.daemon.rules import reload_rules
from monitor.daemon.spikes import check_spikes
from monitor.daemon.wiring import App, open_app
from monitor.mention import Mention, Severity
from tests.harness import Clock, Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer

START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def harken(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> Iterator[App]:
    http_server.routes["/feed.xml"] = Reply(
        rss_feed(("a", "Acme ships v2", "Acme shipped version two."))
    )
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/feed.xml")}, smtp_server.port)
    service = open_app(load_config(harness.config), now=clock)
    yield service
    service.close()


def digest_subjects(smtp_server: SmtpServer) -> list[str]:
    return [
        str(message["Subject"])
        for message in smtp_server.inbox
        if "Digest" in str(message["Subject"])
    ]


def test_each_digest_covers_the_time_since_the_last_one_sent(
    harken: App, smtp_server: SmtpServer, http_server: HttpServer, clock: Clock
) -> None:
    clock.now = START + timedelta(hours=1)
    poll_all(harken)
    clock.now = START + timedelta(hours=2)
    send_scheduled_digest(harken)
    assert harken.storage.last_digest_end() == START + timedelta(hours=2)
    first = smtp_server.inbox[-1]
    assert "1 mention" in str(first["Subject"])
    assert first["To"] == "marketing@example.com"
    assert first.get_body(("html",)) is not None
    assert first.get_body(("plain",)) is not None

    http_server.routes["/feed.xml"] = Reply(rss_feed(("b", "Acme hires", "Acme opened an office.")))
    clock.now = START + timedelta(hours=3)
    poll_all(harken)
    clock.now = START + timedelta(hours=26)
    send_scheduled_digest(harken)
    second = smtp_server.inbox[-1]
    assert "1 mention" in str(second["Subject"])  # only the new one: no period is repeated
    assert "Acme hires" in second.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_failed_digest_leaves_no_gap(harken: App, smtp_server: SmtpServer, clock: Clock) -> None:
    clock.now = START + timedelta(hours=1)
    poll_all(harken)
    smtp_server.refusing = True
    clock.now = START + timedelta(hours=2)
    send_scheduled_digest(harken)
    assert harken.storage.last_digest_end() is None  # nothing recorded as sent

    smtp_server.refusing = False
    clock.now = START + timedelta(hours=26)
    send_scheduled_digest(harken)
    assert harken.storage.last_digest_end() == START + timedelta(hours=26)
    assert "Acme ships v2" in smtp_server.inbox[-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_an_edited_rule_file_is_picked_up_and_a_broken_edit_keeps_the_last_good_rules(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    rule_file = rules / "mine.toml"
    rule_file.write_text(
        '[[rule]]\nname = "calm"\ndescription = "all low"\nseverity = "low"\n', encoding="utf-8"
    )
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/feed.xml")}, smtp_server.port, rules=rules)
    service = open_app(load_config(harness.config), now=clock)
    try:
        post = Mention(source="news", id="1", text="Acme ships v2")
        assert service.triage(post).severity is Severity.LOW
        assert not reload_rules(service)  # nothing changed

        rule_file.write_text(
            '[[rule]]\nname = "loud"\ndescription = "all high"\nseverity = "high"\n',
            encoding="utf-8",
        )
        assert reload_rules(service)
        assert service.triage(post).severity is Severity.HIGH

        rule_file.write_text('[[rule]]\nname = "loud"\nseverity = "hgh"\n', encoding="utf-8")
        assert not reload_rules(service)
        assert not reload_rules(service)  # the same broken edit is reported once
        assert service.triage(post).severity is Severity.HIGH  # the last good rules keep running
        alerts = [
            message for message in smtp_server.inbox if "Rule files" in str(message["Subject"])
        ]
        assert len(alerts) == 1
        body = alerts[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert 'mine.toml:3:1: rule "loud": severity: "hgh" is not one of' in body
        assert 'missing required key "description"' in body
    finally:
        service.close()


def test_a_pile_on_alerts_once_as_a_spike_with_a_count_and_examples(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "wave.toml").write_text(
        '[[rule]]\nname = "refund-wave"\ndescription = "many people asking for refunds at once"\n'
        'any_words = ["refund"]\nseverity = "urgent"\ntags = ["billing"]\n'
        'spike = { window = "1h", baseline = "7d", factor = 3, min_count = 10 }\n',
        encoding="utf-8",
    )
    posts = [(f"r{n}", f"Acme refund problem {n}", "Acme owes me a refund.") for n in range(12)]
    http_server.routes["/feed.xml"] = Reply(rss_feed(*posts))
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/feed.xml")}, smtp_server.port, rules=rules)
    service = open_app(load_config(harness.config), now=clock)
    try:
        summary = poll_all(service)[0]
        assert summary.stored == 12
        assert smtp_server.inbox == []  # no alert per mention: the rule watches for a spike
        clock.now += timedelta(minutes=5)
        assert check_spikes(service) == 1
        assert check_spikes(service) == 0  # one alert per pile-on
        (spike,) = smtp_server.inbox
        assert spike["Subject"] == "[Harken] Rule refund-wave: spike"
        body = spike.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "12 mentions for rule refund-wave in the last hour" in body
        assert "Acme refund problem 11" in body
    finally:
        service.close()


def test_harken_poll_reads_every_cursor_at_once_and_each_source_fails_alone(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> None:
    names = [f"news{n}" for n in range(6)]
    for n, name in enumerate(names):
        http_server.routes[f"/{name}.xml"] = Reply(
            rss_feed((f"{name}-a", f"Acme story {n}", "Acme shipped something."))
        )
    http_server.routes["/news3.xml"] = Reply(b"gone", status=404)
    harness = Harness(tmp_path)
    harness.write_config(
        {name: http_server.url(f"/{name}.xml") for name in names}, smtp_server.port
    )
    service = open_app(load_config(harness.config), now=clock)
    try:
        first = poll_all(service)
        assert [summary.source for summary in first] == names  # the config's order
        assert [summary.stored for summary in first] == [1, 1, 1, 0, 1, 1]
        assert [summary.error is not None for summary in first] == [
            False, False, False, True, False, False
        ]  # fmt: skip
        assert "404" in (first[3].error or "")

        http_server.routes["/news0.xml"] = Reply(
            rss_feed(("news0-b", "Acme hires", "Acme opened an office."), ("news0-a", "x", "y"))
        )
        clock.now += timedelta(minutes=5)
        second = poll_all(service)
        # Each cursor came from the cycle's one read: only news0's new item is new.
        assert [summary.new for summary in second] == [1, 0, 0, 0, 0, 0]
        assert [summary.stored for summary in second] == [1, 0, 0, 0, 0, 0]
        assert second[3].error is not None
    finally:
        service.close()


def test_feeds_parsed_in_worker_processes_store_the_same_mentions(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> None:
    http_server.routes["/feed.xml"] = Reply(
        rss_feed(("a", "Acme ships v2", "Acme shipped version two."))
    )
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/feed.xml")}, smtp_server.port)
    service = open_app(load_config(harness.config), now=clock, parse_processes=2)
    try:
        (summary,) = poll_all(service)
        assert summary.error is None
        assert summary.stored == 1
        (stored,) = service.storage.verdicts_between(START, clock.now + timedelta(seconds=1))
        assert stored.verdict.mention.title == "Acme ships v2"
        http_server.routes["/feed.xml"] = Reply(
            b"<html>not a feed</html>", headers={"Content-Type": "text/html"}
        )
        (broken,) = poll_all(service)
        assert "HTML" in (broken.error or "")  # the worker's error comes back as the source's
    finally:
        service.close()


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def test_a_parse_worker_that_dies_fails_one_poll_and_is_replaced(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> None:
    http_server.routes["/feed.xml"] = Reply(rss_feed(("a", "Acme ships v2", "Version two.")))
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/feed.xml")}, smtp_server.port)
    service = open_app(load_config(harness.config), now=clock, parse_processes=2)
    try:
        assert poll_all(service)[0].stored == 1
        # As the OOM killer would.
        workers = [
            pid
            for pid in children_of(os.getpid())
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert workers
        for worker in workers:
            os.kill(worker, signal.SIGKILL)
        http_server.routes["/feed.xml"] = Reply(
            rss_feed(("a", "Acme ships v2", "Version two."), ("b", "Acme ships v3", "Three."))
        )

        (failed,) = poll_all(service)
        (recovered,) = poll_all(service)

        assert failed.error == (
            "the process parsing the response died (out of memory?); it will be retried"
        )
        assert recovered.error is None
        assert recovered.stored == 1
    finally:
        service.close()

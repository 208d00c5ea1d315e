"""``harken alerts list/ack/resolve/show`` as a person on call runs them, against real servers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.config.load import load_config
from monitor.daemon.poll import poll_all
from monitor.daemon.wiring import open_app
from tests.harness import Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer

# Each test runs ``harken alerts`` in subprocesses, several times.
pytestmark = pytest.mark.slow

RULE = """
[[rule]]
name = "outage"
description = "Someone says Acme is down"
any_words = ["down"]
severity = "urgent"
"""
FEED = rss_feed(
    ("down-1", "Acme is down", "Acme has been down for an hour."),
    ("down-2", "Acme down again", "Acme is down, again, for everyone."),
    ("calm-1", "Acme ships v2", "Acme shipped version two."),
)


@pytest.fixture
def harness(tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer) -> Harness:
    http_server.routes["/news.xml"] = Reply(FEED)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "outage.toml").write_text(RULE, encoding="utf-8")
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/news.xml")}, smtp_server.port, rules=rules)
    # Arrange in-process (quicker than one more subprocess): two urgent alerts, emailed.
    harken = open_app(load_config(harness.config))
    try:
        poll_all(harken)
    finally:
        harken.close()
    assert len(smtp_server.inbox) == 2
    return harness


def rows(output: str) -> dict[str, str]:
    """The lines of ``alerts list`` by alert id."""
    return {line.split()[0]: line for line in output.splitlines()[1:] if line.strip()}


def test_list_shows_the_open_alerts_with_who_owns_them(harness: Harness) -> None:
    listed = harness.harken("alerts", "list")

    assert listed.returncode == 0, listed.stderr
    header, *_ = listed.stdout.splitlines()
    assert header.split() == [
        "id",
        "raised",
        "severity",
        "source",
        "state",
        "level",
        "owner",
        "response",
        "mention",
    ]
    first = rows(listed.stdout)["1"]
    assert re.search(r"^1\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC\s+urgent\s+news\s+open\s+0\s+-\s+", first)
    assert "(none for " in first  # nobody has answered yet, and it says for how long
    assert first.rstrip().endswith("Acme is down")
    assert set(rows(listed.stdout)) == {"1", "2"}


def test_ack_records_who_and_when_and_the_time_to_first_response(harness: Harness) -> None:
    acked = harness.harken("alerts", "ack", "1", "--by", "alice")

    assert acked.returncode == 0, acked.stderr
    assert re.fullmatch(
        r"alert 1 acknowledged by alice at \d{4}-\d\d-\d\d \d\d:\d\d UTC; it will not escalate "
        r"further \(first response (\d+m )?\d+s after Harken raised it\)\n",
        acked.stdout,
    ), acked.stdout
    line = rows(harness.harken("alerts", "list").stdout)["1"]
    assert re.search(r"\sacknowledged\s+0\s+alice\s+(\d+m )?\d+s\s+Acme is down", line), line


def test_a_second_ack_says_who_was_first_and_changes_nothing(harness: Harness) -> None:
    harness.harken("alerts", "ack", "1", "--by", "alice")

    again = harness.harken("alerts", "ack", "1", "--by", "bob")

    assert again.returncode == 1
    assert re.match(r"alert 1 was already acknowledged by alice at \d{4}-", again.stderr)
    assert "bob" not in harness.harken("alerts", "list").stdout


def test_resolve_after_ack_closes_it_and_keeps_the_whole_history(harness: Harness) -> None:
    harness.harken("alerts", "ack", "1", "--by", "alice")

    resolved = harness.harken(
        "alerts", "resolve", "1", "--note", "Status page updated; replied on HN", "--by", "carol"
    )

    assert resolved.returncode == 0, resolved.stderr
    assert resolved.stdout.startswith("alert 1 resolved by carol at ")
    assert set(rows(harness.harken("alerts", "list").stdout)) == {"2"}
    everything = rows(harness.harken("alerts", "list", "--all").stdout)
    assert re.search(r"\sresolved\s+0\s+alice\s", everything["1"])  # alice owned it first
    shown = harness.harken("alerts", "show", "1")
    assert shown.returncode == 0, shown.stderr
    history = shown.stdout.split("\n\n", 1)[1].splitlines()
    assert [line.split()[3] for line in history] == [
        "raised",
        "notified",
        "acknowledged",
        "resolved",
    ]
    assert "by harken (harken), level 0; to: oncall@example.com" in history[1]
    assert "by alice (cli), level 0" in history[2]
    assert "by carol (cli), level 0; note: Status page updated; replied on HN" in history[3]
    twice = harness.harken("alerts", "resolve", "1", "--note", "again", "--by", "dave")
    assert twice.returncode == 1
    assert "was already resolved by carol at" in twice.stderr


def test_an_alert_can_be_resolved_without_an_ack_and_that_is_its_first_response(
    harness: Harness,
) -> None:
    resolved = harness.harken("alerts", "resolve", "2", "--note", "duplicate of 1", "--by", "al")

    assert resolved.returncode == 0, resolved.stderr
    assert "(first response " in resolved.stdout
    line = rows(harness.harken("alerts", "list", "--all").stdout)["2"]
    assert re.search(r"\sresolved\s+0\s+al\s+(\d+m )?\d+s\s", line), line


def test_ack_without_by_records_the_login_name(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "erin")
    monkeypatch.setenv("USER", "erin")

    acked = harness.harken("alerts", "ack", "2")

    assert acked.returncode == 0, acked.stderr
    assert "acknowledged by erin at" in acked.stdout


def test_mistakes_are_explained(harness: Harness) -> None:
    unknown = harness.harken("alerts", "ack", "99", "--by", "alice")
    assert unknown.returncode == 1
    assert "no alert 99; `harken alerts list` shows the open ones" in unknown.stderr

    no_note = harness.harken("alerts", "resolve", "1", "--by", "alice")
    assert no_note.returncode == 2
    assert "--note" in no_note.stderr

    blank = harness.harken("alerts", "resolve", "1", "--note", "  ", "--by", "alice")
    assert blank.returncode == 2
    assert "--note: say what was done" in blank.stderr
    assert "open" in rows(harness.harken("alerts", "list").stdout)["1"]


def test_list_says_so_when_nothing_is_open(tmp_path: Path, smtp_server: SmtpServer) -> None:
    harness = Harness(tmp_path)
    harness.write_config({}, smtp_server.port)

    listed = harness.harken("alerts", "list")

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "no open alerts\n"

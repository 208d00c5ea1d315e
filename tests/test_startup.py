"""The first hour with `harken run`: what it says at start, after its first poll, and on restart."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.daemon import Daemon
from tests.harness import Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer

NEWS = rss_feed(("n1", "Acme Cloud ships a new region", "Acme Cloud opened a region in Oslo."))
# [web] asks for links; the daemon serves them on a free port. No secret is set.
WEB = '[web]\nlisten = "127.0.0.1:0"\nsecret_env = "HARKEN_TEST_NO_SUCH_SECRET"\n'


def harness_with_a_dead_source(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> Harness:
    http_server.routes["/news.xml"] = Reply(NEWS, headers={"Content-Type": "application/rss+xml"})
    http_server.routes["/dead.xml"] = Reply(b"down", status=503)
    harness = Harness(tmp_path)
    harness.write_config(
        {"news": http_server.url("/news.xml"), "dead": http_server.url("/dead.xml")},
        smtp_server.port,
        extra=WEB,
    )
    # Polled hourly, the dead source still backs off when the daemon is restarted.
    dead = f'url = "{http_server.url("/dead.xml")}"\nevery = "1s"'
    text = harness.config.read_text(encoding="utf-8")
    harness.config.write_text(text.replace(dead, dead.replace('"1s"', '"1h"')), encoding="utf-8")
    return harness


@pytest.mark.slow
def test_run_says_what_is_happening_and_what_to_try_next(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    harness = harness_with_a_dead_source(tmp_path, http_server, smtp_server)

    daemon = Daemon(harness, tmp_path / "run.log")
    try:
        daemon.wait_for_log("first poll:")
    finally:
        daemon.close()
    log = daemon.output()

    assert "WARNING" not in log.split("harken is running")[0]
    assert "INFO harken.run: Hint: alert emails carry no acknowledge links" in log
    assert "HARKEN_TEST_NO_SUCH_SECRET is not set" in log
    assert "source dead cannot be reached: " in log
    assert "stopped hearing" not in log
    assert "; trying again at " in log.split("source dead cannot be reached: ")[1].split("\n")[0]
    assert "first poll: 1 of 2 sources heard, 1 mention stored; see harken sources list\n" in log

    # Restarted, it says which sources still back off, and when they are tried again.
    again = Daemon(harness, tmp_path / "again.log")
    try:
        again.wait_for_log("first poll:")
    finally:
        again.close()
    log = again.output()
    assert "source dead: still backing off after 1 failure (" in log
    assert "first poll: 1 of 2 sources heard (1 still backing off), 0 mentions stored" in log

    # `sources list` says when, as people read it, and counts in words that agree.
    listed = harness.harken("sources", "list")
    dead = next(line for line in listed.stdout.splitlines() if line.startswith("dead "))
    assert "backing off (1 failure)" in dead
    # The first retry is an hour away, give or take its jitter: "in 52 min" or "in 1 h 4 min".
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC, in (\d+ h )?\d+ min", dead), dead
    news = next(line for line in listed.stdout.splitlines() if line.startswith("news "))
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC, (just now|\d+ min ago)", news), news


@pytest.mark.slow
def test_other_commands_say_nothing_of_the_link_secret(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    harness = harness_with_a_dead_source(tmp_path, http_server, smtp_server)

    for command in (["poll"], ["sources", "list"], ["alerts", "list"]):
        result = harness.harken(*command)

        assert "HARKEN_TEST_NO_SUCH_SECRET" not in result.stderr, command
        assert "acknowledge links" not in result.stderr, command
    assert "HARKEN_TEST_NO_SUCH_SECRET" not in os.environ

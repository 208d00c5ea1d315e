"""`harken doctor` notices what would fail later: a channel whose {VARIABLE} is unset, a source
that cannot be reached."""

from __future__ import annotations

import re
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.harness import Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer, free_port

FEED = rss_feed(("a-1", "Acme ships v2", "Acme shipped."), ("a-2", "Acme again", "Acme."))

CHANNELS = """
[channels.ops]
url = "json://127.0.0.1:9/{HARKEN_TEST_UNSET_TOKEN}"
notify = ["oncall"]
"""


@pytest.mark.slow
def test_doctor_fails_a_channel_whose_variable_is_unset(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    http_server.routes["/news.xml"] = Reply(b"<rss/>")
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/news.xml")}, smtp_server.port, extra=CHANNELS)

    result = harness.harken("doctor")

    assert result.returncode == 1
    assert (
        "FAIL  channel ops: channel ops: the environment variable HARKEN_TEST_UNSET_TOKEN is not"
        " set; [channels.ops] url needs it (fix: set it in the environment harken runs in"
    ) in result.stdout


@pytest.mark.slow
def test_doctor_passes_a_channel_whose_variable_is_set(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http_server.routes["/news.xml"] = Reply(FEED)
    monkeypatch.setenv("HARKEN_TEST_UNSET_TOKEN", "now-it-is-set-0123")
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/news.xml")}, smtp_server.port, extra=CHANNELS)

    result = harness.harken("doctor")

    assert "ok    channel ops: every {VARIABLE} in its url is set" in result.stdout
    assert "now-it-is-set-0123" not in result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_doctor_reaches_each_source_once_and_fails_those_it_cannot_reach(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    http_server.routes["/news.xml"] = Reply(FEED)
    http_server.routes["/broken.xml"] = Reply(b"oops", status=500)
    refused = f"http://127.0.0.1:{free_port()}/feed.xml"  # nothing listens there
    harness = Harness(tmp_path)
    harness.write_config(
        {
            "news": http_server.url("/news.xml"),
            "refused": refused,
            "broken": http_server.url("/broken.xml"),
        },
        smtp_server.port,
    )

    result = harness.harken("doctor")

    assert result.returncode == 1
    lines = {line.split(":")[0]: line for line in result.stdout.splitlines()}
    assert re.fullmatch(
        r"ok    source news: rss, answered in \d+ ms \(2 items\)", lines["ok    source news"]
    )
    assert lines["FAIL  source refused"].startswith(
        f"FAIL  source refused: cannot reach: {refused}: ConnectError"
    )
    assert lines["FAIL  source broken"] == (
        f"FAIL  source broken: cannot reach: {http_server.url('/broken.xml')}: HTTP 500"
        " Internal Server Error (fix: check the address and that the server is up)"
    )
    asked = [path for path, _ in http_server.requests]
    assert sorted(asked) == ["/broken.xml", "/news.xml"]  # one short request each


@pytest.mark.slow
def test_doctor_reaches_the_sources_at_the_same_time(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    arrived: list[float] = []

    def slow(request: BaseHTTPRequestHandler) -> Reply:
        arrived.append(time.monotonic())
        return Reply(FEED, delay=1.5)

    feeds = {f"feed{number}": http_server.url(f"/feed{number}.xml") for number in range(6)}
    for number in range(6):
        http_server.routes[f"/feed{number}.xml"] = slow
    harness = Harness(tmp_path)
    harness.write_config(feeds, smtp_server.port)

    result = harness.harken("doctor")

    assert result.returncode == 0, result.stdout + result.stderr
    assert len(arrived) == 6
    # One after another, the last would arrive 7.5 s after the first.
    assert max(arrived) - min(arrived) < 1.5

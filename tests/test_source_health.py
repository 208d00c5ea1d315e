"""Stories of failing sources: the daemon waits, backs off or stops, and tells the admins once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config.load import load_config
from monitor.daemon.poll import poll_one, scheduled_poll
from monitor.daemon.wiring import App, open_app
from monitor.source import Source
from tests.harness import Clock, Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
FEED = rss_feed(("a", "Acme ships v2", "Acme shipped version two."))


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def harken(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> Iterator[App]:
    http_server.routes["/feed.xml"] = Reply(FEED)
    http_server.routes["/other.xml"] = Reply(
        rss_feed(("o", "Acme hires", "Acme opened an office."))
    )
    harness = Harness(tmp_path)
    harness.write_config(
        {"news": http_server.url("/feed.xml"), "other": http_server.url("/other.xml")},
        smtp_server.port,
        extra='[health]\nnotify = ["oncall"]\nerror_threshold = "10m"\nbackoff_cap = "1h"\n',
    )
    service = open_app(load_config(harness.config), now=clock)
    yield service
    service.close()


def source(harken: App, name: str) -> Source:
    return next(source for source in harken.sources if source.name == name)


def health_mail(smtp_server: SmtpServer) -> list[str]:
    return [
        str(message["Subject"])
        for message in smtp_server.inbox
        if "Source" in str(message["Subject"])
    ]


def requests_for(http_server: HttpServer, path: str) -> int:
    return sum(1 for seen, _ in http_server.requests if seen == path)


def test_refused_credentials_stop_the_source_and_alert_once(
    harken: App, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> None:
    http_server.routes["/feed.xml"] = Reply(b"no", status=401)
    summary = scheduled_poll(harken, source(harken, "news"))
    assert summary is not None
    assert summary.disabled
    assert "401" in (summary.error or "")
    for _ in range(5):  # no retry storm: later scheduled polls do not reach the platform
        clock.advance(minutes=10)
        assert scheduled_poll(harken, source(harken, "news")) is None
    assert requests_for(http_server, "/feed.xml") == 1
    assert len(health_mail(smtp_server)) == 1
    assert scheduled_poll(harken, source(harken, "other")) is not None  # the others go on


def test_a_rate_limit_is_waited_out_exactly(
    harken: App, http_server: HttpServer, clock: Clock
) -> None:
    http_server.routes["/feed.xml"] = Reply(
        b"slow down", status=429, headers={"Retry-After": "120"}
    )
    summary = scheduled_poll(harken, source(harken, "news"))
    assert summary is not None
    assert summary.retry_at == START + timedelta(seconds=120)
    http_server.routes["/feed.xml"] = Reply(FEED)
    clock.advance(seconds=119)
    assert scheduled_poll(harken, source(harken, "news")) is None
    clock.advance(seconds=1)
    recovered = scheduled_poll(harken, source(harken, "news"))
    assert recovered is not None
    assert recovered.error is None
    assert recovered.stored == 1


def test_a_lasting_outage_alerts_once_and_its_end_once_more(
    harken: App, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> None:
    http_server.routes["/feed.xml"] = Reply(b"oops", status=503)
    waits = []
    for _ in range(4):
        summary = poll_one(harken, source(harken, "news"))
        assert summary.retry_at is not None
        waits.append(summary.retry_at - clock.now)
        clock.advance(minutes=4)
    # Backing off from the 1-second interval: 1, 2, 4, 8 seconds, give or take a fifth.
    assert [round(wait / timedelta(seconds=1)) for wait in waits] == [
        pytest.approx(expected, rel=0.25) for expected in (1, 2, 4, 8)
    ]
    assert len(health_mail(smtp_server)) == 1  # failing beyond 10 minutes: one alert, not four
    assert "stopped hearing" in health_mail(smtp_server)[0]

    http_server.routes["/feed.xml"] = Reply(FEED)
    poll_one(harken, source(harken, "news"))
    poll_one(harken, source(harken, "news"))
    subjects = health_mail(smtp_server)
    assert len(subjects) == 2
    assert "hearing again" in subjects[1]


def test_a_short_blip_wakes_nobody(
    harken: App, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> None:
    http_server.routes["/feed.xml"] = Reply(b"oops", status=500)
    poll_one(harken, source(harken, "news"))
    clock.advance(minutes=2)
    http_server.routes["/feed.xml"] = Reply(FEED)
    poll_one(harken, source(harken, "news"))
    assert health_mail(smtp_server) == []

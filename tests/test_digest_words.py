"""A digest reads as a marketing reader talks, fits a phone, and never calls silence quiet."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from monitor.daemon import digests
from monitor.daemon.wiring import App
from monitor.digest import render_digest, send_digest
from monitor.mail.mailer import Mailer
from monitor.mail.templates import Templates
from monitor.storage import SourceHealth
from tests.servers import SmtpServer
from tests.test_digest import (
    END,
    HOUR,
    MONDAY,
    START,
    TEMPLATES,
    clock,
    digest_of,
    harken,
    harness,
    make_config,
    parts,
    verdict,
)

__all__ = ["clock", "harken", "harness"]  # fixtures shared with test_digest

TOKEN = "https://news.example.org/" + "a" * 71  # 95 characters, no space to break at
HN_DOWN = "HTTP 503 from hn.algolia.com; retrying"


def failing(source: str, since: timedelta, error: str = HN_DOWN) -> SourceHealth:
    return SourceHealth(
        source=source,
        last_success_at=START - timedelta(days=1),
        last_error=error,
        last_error_at=END - HOUR,
        failing_since=START + since,
        consecutive_failures=40,
    )


def test_scores_read_as_words_a_marketing_reader_uses() -> None:
    digest = digest_of(
        verdict("1", title="Acme is a scam", label="negative", compound=-0.98),
        verdict("2", title="Acme is slow", label="negative", compound=-0.3),
        verdict("3", title="Love Acme", label="positive", compound=0.9),
    )

    email = render_digest(digest, Templates(TEMPLATES))

    assert email.html is not None
    for shown in (email.text, email.html):
        assert "very negative" in shown
        assert "very positive" in shown.lower()
        assert "-0.98" not in shown
        assert "+0.90" not in shown


def test_the_busiest_hour_is_compared_with_a_usual_hour_in_words() -> None:
    quiet = [
        verdict(f"q{n}", title="fine", label="neutral", compound=0.0, published=START + n * HOUR)
        for n in range(0, 24, 3)
    ]
    spike = [
        verdict(f"s{n}", title="down", label="negative", compound=-0.6, published=START + 14 * HOUR)
        for n in range(16)
    ]

    email = render_digest(digest_of(*quiet, *spike), Templates(TEMPLATES))

    assert email.html is not None
    for shown in (email.text, email.html):
        assert "16 times the usual hourly volume (about 1 an hour)" in shown
        assert "hourly average" not in shown


def test_a_95_character_token_can_wrap_on_a_phone() -> None:
    digest = digest_of(
        verdict("1", title=f"Acme {TOKEN} is down", label="negative", compound=-0.7),
        verdict("2", title="Acme", text=f"Acme {TOKEN}", label="neutral", compound=0.0),
    )

    html = render_digest(digest, Templates(TEMPLATES)).html

    assert html is not None
    assert TOKEN not in html.replace(f'href="{TOKEN}', "")  # never shown unbroken
    assert TOKEN[:20] + "<wbr>" + TOKEN[20:40] + "<wbr>" in html
    headline = re.search(r'<p class="headline" style="([^"]*)"', html)
    assert headline is not None
    assert "overflow-wrap: anywhere" in headline.group(1)  # inlined: clients that drop <style>


def test_a_digest_with_every_source_failing_says_so_not_all_quiet() -> None:
    digest = digest_of(
        health=[
            failing("hn_acme", timedelta(hours=3)),
            failing("news", timedelta(hours=5), error="HTTP 401 from news.example.org"),
        ]
    )

    email = render_digest(digest, Templates(TEMPLATES))

    assert not digest.quiet
    assert email.html is not None
    for shown in (email.text, email.html):
        assert "All quiet" not in shown
        assert "2 sources could not be read" in shown
        assert "hn_acme: failing since 01 May 11:00. HTTP 503 from hn.algolia.com" in re.sub(
            "<[^>]+>", "", shown
        )
        assert "news: failing since 01 May 13:00" in re.sub("<[^>]+>", "", shown)
    assert "(2 sources could not be read)" in email.subject


def test_a_source_that_failed_and_recovered_in_the_period_is_named_beside_the_mentions() -> None:
    recovered = SourceHealth(
        source="hn_acme",
        last_success_at=START + 6 * HOUR,
        last_error="timed out",
        last_error_at=START + 4 * HOUR,
        failing_since=None,
    )
    long_ago = SourceHealth("news", START, "old error", START - HOUR, None)

    digest = digest_of(
        verdict("1", title="Acme ok", label="neutral", compound=0.0),
        health=[recovered, long_ago],
    )

    text = render_digest(digest, Templates(TEMPLATES)).text
    assert "hn_acme: failed at 01 May 12:00, read again since 01 May 14:00. timed out" in text
    assert "news:" not in text
    assert "1 source could not be read" in text


def test_a_failing_source_is_reported_even_when_empty_digests_are_not_sent(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = make_config(tmp_path, smtp_server.port, send_empty=False)

    send_digest(
        [],
        START,
        END,
        mailer=Mailer(config.settings.email),
        templates=Templates(TEMPLATES),
        config=config,
        now=END,
        health=[failing("hn_acme", timedelta(hours=3))],
    )

    [message] = smtp_server.inbox
    text, html, pictures = parts(message)
    assert "could not be read" in text
    assert "All quiet" not in html
    assert pictures == []


def test_the_daemon_builds_the_digest_with_the_stored_source_health(harken: App) -> None:
    harken.storage.record_source_result("hn_acme", MONDAY + HOUR, "HTTP 503; retrying")

    digest = digests.digest_of(harken, MONDAY, MONDAY + 24 * HOUR)

    assert [gap.source for gap in digest.unread] == ["hn_acme"]
    assert digest.unread[0].since == MONDAY + HOUR

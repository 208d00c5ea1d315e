"""Digests: a period's mentions counted, ranked, rendered and emailed to a real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Config, Settings
from monitor.digest import (
    Count,
    Digest,
    build_digest,
    digest_message_id,
    render_digest,
    send_digest,
)
from monitor.mailer import Mailer
from monitor.mention import Mention, Poll, Sentiment, Severity, Verdict
from monitor.storage import Storage, StoredVerdict
from monitor.templating import Templates
from tests.servers import SmtpServer

TEMPLATES = Path(__file__).parent.parent / "templates"
END = datetime(2024, 5, 2, 7, 0, tzinfo=UTC)  # 08:00 in London
START = END - timedelta(days=1)


def verdict(
    item_id: str,
    *,
    title: str,
    label: str,
    compound: float,
    severity: Severity = Severity.NORMAL,
    source: str = "hn_acme",
    brands: tuple[str, ...] = ("Acme",),
    tags: tuple[str, ...] = (),
    text: str = "",
    url: str | None = None,
) -> Verdict:
    return Verdict(
        mention=Mention(
            source=source,
            id=item_id,
            text=text or f"{title} (full text)",
            title=title,
            url=f"https://news.example.org/item?id={item_id}" if url is None else url,
            author="someone",
            published=START + timedelta(hours=1),
        ),
        matched=True,
        brands=brands,
        sentiment=Sentiment(compound=compound, label=label),
        severity=severity,
        tags=tags,
    )


THREE = (
    verdict(
        "1",
        title="Acme outage <script>alert(1)</script>",
        label="negative",
        compound=-0.7,
        severity=Severity.URGENT,
        tags=("outage",),
    ),
    verdict("2", title="Acme released version 3", label="neutral", compound=0.0),
    verdict(
        "3",
        title="I love Acme & its support",
        label="positive",
        compound=0.9,
        source="reddit_acme",
        tags=("praise",),
    ),
)


def make_config(tmp_path: Path, smtp_port: int, **digest: object) -> Config:
    settings = Settings.model_validate(
        {
            "organisation": {"name": "Acme Ltd"},
            "brands": [{"name": "Acme", "terms": ["acme"]}],
            "recipients": {"marketing": ["comms@example.org"]},
            "email": {"host": "127.0.0.1", "port": smtp_port, "from": "harken@example.org"},
            "digest": {"to": ["marketing"], "timezone": "Europe/London", **digest},
        }
    )
    return Config(settings, {}, tmp_path / "config.toml")


def stored(*verdicts: Verdict) -> list[StoredVerdict]:
    return [
        StoredVerdict(id=n, verdict=v, stored_at=START + timedelta(hours=n))
        for n, v in enumerate(verdicts, start=1)
    ]


def digest_of(*verdicts: Verdict, top: int = 20) -> Digest:
    return build_digest(
        stored(*verdicts), START, END, organisation="Acme Ltd", timezone="Europe/London", top=top
    )


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = Storage(f"sqlite:///{tmp_path / 'harken.db'}")
    yield store
    store.close()


def test_the_digest_counts_by_severity_sentiment_source_brand_and_tag() -> None:
    digest = digest_of(*THREE)

    assert digest.total == 3
    assert digest.by_severity == (
        Count("urgent", 1),
        Count("high", 0),
        Count("normal", 2),
        Count("low", 0),
    )
    assert digest.by_sentiment == (Count("negative", 1), Count("neutral", 1), Count("positive", 1))
    assert digest.by_source == (Count("hn_acme", 2), Count("reddit_acme", 1))
    assert digest.by_brand == (Count("Acme", 3),)
    assert digest.by_tag == (Count("outage", 1), Count("praise", 1))
    assert [v.mention.id for v in digest.negative] == ["1"]
    assert [v.mention.id for v in digest.positive] == ["3"]
    assert [v.mention.id for v in digest.others] == ["2"]


def test_urgent_mentions_lead_then_the_most_negative_and_lists_are_capped() -> None:
    digest = digest_of(
        verdict("mild", title="meh", label="negative", compound=-0.2),
        verdict("angry", title="awful", label="negative", compound=-0.9),
        verdict("urgent", title="down", label="negative", compound=-0.3, severity=Severity.URGENT),
        verdict("high", title="outage", label="neutral", compound=0.0, severity=Severity.HIGH),
        verdict("good", title="nice", label="positive", compound=0.4),
        verdict("great", title="superb", label="positive", compound=0.95),
        verdict("best", title="wow", label="positive", compound=0.99),
        top=3,
    )

    assert [v.mention.id for v in digest.negative] == ["urgent", "high", "angry"]
    assert [v.mention.id for v in digest.positive] == ["best", "great", "good"]


def test_unmatched_ignored_and_out_of_period_verdicts_are_not_shown() -> None:
    kept = verdict("kept", title="kept", label="neutral", compound=0.0)
    ignored = verdict("ign", title="spam", label="neutral", compound=0.0, severity=Severity.IGNORE)
    unmatched = Verdict(
        mention=kept.mention,
        matched=False,
        brands=(),
        sentiment=kept.sentiment,
        severity=Severity.LOW,
    )
    late = StoredVerdict(id=99, verdict=kept, stored_at=END)

    digest = build_digest(
        [*stored(kept, ignored, unmatched), late],
        START,
        END,
        organisation="Acme Ltd",
        timezone="UTC",
        top=5,
    )

    assert (digest.total, digest.ignored) == (1, 1)


def test_the_html_digest_links_every_mention_and_escapes_their_text() -> None:
    hostile_link = verdict(
        "4", title="click me", label="neutral", compound=0.0, url="javascript:alert(1)"
    )
    email = render_digest(digest_of(*THREE, hostile_link), Templates(TEMPLATES))

    assert email.html is not None
    for item_id in ("1", "2", "3"):
        assert f'href="https://news.example.org/item?id={item_id}"' in email.html
        assert f"https://news.example.org/item?id={item_id}" in email.text
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "I love Acme &amp; its support" in email.html
    assert "javascript:" not in email.html
    assert "click me" in email.html


def test_the_empty_digest_says_all_quiet() -> None:
    email = render_digest(digest_of(), Templates(TEMPLATES))

    assert (
        email.subject
        == "[Harken] Digest for Acme Ltd: 0 mentions, 1 May 08:00\N{EN DASH}2 May 08:00"
    )
    assert "All quiet" in email.text
    assert email.html is not None
    assert "All quiet" in email.html


def test_the_digest_arrives_by_email_as_text_and_html(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    for n, item in enumerate(THREE, start=1):
        poll = Poll(mentions=(item.mention,), cursor={}, fetched=1)
        storage.save_poll(
            item.mention.source, poll, [item], START + timedelta(hours=n), alert_if=lambda v: False
        )

    sent = send_digest(
        storage.verdicts_between(START, END),
        START,
        END,
        mailer=Mailer(config.settings.email),
        templates=Templates(TEMPLATES),
        config=config,
        now=END,
    )

    assert sent is not None
    assert sent.total == 3
    [message] = smtp_server.inbox
    assert message["X-Envelope-To"] == "comms@example.org"
    assert message["Subject"] == (
        "[Harken] Digest for Acme Ltd: 3 mentions, 1 May 08:00\N{EN DASH}2 May 08:00"
    )
    assert message["Message-ID"] == digest_message_id(START, END)
    assert message["Message-ID"] == "<harken-digest-20240501T070000Z-20240502T070000Z@harken>"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert "Acme released version 3" in text.get_content()
    assert html.get_content_type() == "text/html"
    assert "&lt;script&gt;" in html.get_content()


def test_a_quiet_period_sends_nothing_when_send_empty_is_off(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = make_config(tmp_path, smtp_server.port, send_empty=False)

    sent = send_digest(
        [],
        START,
        END,
        mailer=Mailer(config.settings.email),
        templates=Templates(TEMPLATES),
        config=config,
        now=END,
    )

    assert sent is None
    assert smtp_server.inbox == []


def test_a_quiet_period_sends_all_quiet_by_default(tmp_path: Path, smtp_server: SmtpServer) -> None:
    config = make_config(tmp_path, smtp_server.port)

    send_digest(
        [],
        START,
        END,
        mailer=Mailer(config.settings.email),
        templates=Templates(TEMPLATES),
        config=config,
        now=END,
    )

    [message] = smtp_server.inbox
    text, html = message.iter_parts()
    assert "All quiet" in text.get_content()
    assert "All quiet" in html.get_content()

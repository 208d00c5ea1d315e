"""Digests: a period's mentions counted, ranked, charted, rendered and emailed to a real SMTP server."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor.config.load import load_config
from monitor.config.settings import Config, Settings
from monitor.daemon import digests
from monitor.daemon.digests import send_scheduled_digest
from monitor.daemon.scheduler import build_scheduler
from monitor.daemon.wiring import App, open_app
from monitor.digest import (
    Count,
    Digest,
    Response,
    build_digest,
    digest_message_id,
    render_digest,
    send_digest,
)
from monitor.digest.chart import HEIGHT, SCALE, WIDTH, volume_chart
from monitor.errors import ConfigError
from monitor.mail.mailer import Mailer
from monitor.mail.templates import Templates
from monitor.mention import Mention, Poll, Sentiment, Severity, Verdict
from monitor.storage import Storage, StoredVerdict
from tests.harness import Clock, Harness
from tests.servers import SmtpServer

TEMPLATES = Path(__file__).parent.parent / "templates"
END = datetime(2024, 5, 2, 7, 0, tzinfo=UTC)  # 08:00 in London
START = END - timedelta(days=1)
HOUR = timedelta(hours=1)
HOSTILE = '<img src=x onerror="alert(1)"> & <script>alert(2)</script>'


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
    author: str = "someone",
    followers: float | None = None,
    published: datetime | None = None,
) -> Verdict:
    return Verdict(
        mention=Mention(
            source=source,
            id=item_id,
            text=text or f"{title} (full text)",
            title=title,
            url=f"https://news.example.org/item?id={item_id}" if url is None else url,
            author=author,
            published=published or START + timedelta(hours=1),
            metrics={} if followers is None else {"followers": followers},
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


def digest_of(*verdicts: Verdict, top: int = 20, **options: object) -> Digest:
    return build_digest(
        stored(*verdicts),
        START,
        END,
        organisation="Acme Ltd",
        timezone="Europe/London",
        top=top,
        **options,  # type: ignore[arg-type]
    )


def parts(message: EmailMessage) -> tuple[str, str, list[EmailMessage]]:
    """The text, the HTML and the pictures of a received digest."""
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    pictures = [part for part in message.walk() if part.get_content_maintype() == "image"]
    return text.get_content(), html.get_content(), pictures


def image_sources(html: str) -> list[str]:
    return re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", html)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = Storage(f"sqlite:///{tmp_path / 'harken.db'}")
    yield store
    store.close()


# ---- what a digest counts and ranks ------------------------------------------------------------


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
    assert [item.verdict.mention.id for item in digest.needs_action] == ["urgent", "high", "angry"]
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


def test_needs_action_shows_each_alerts_status_and_response_time() -> None:
    digest = digest_of(
        *THREE,
        verdict("4", title="still broken", label="negative", compound=-0.5, severity=Severity.HIGH),
        responses={1: Response("acknowledged", timedelta(minutes=12, seconds=30))},
    )

    [acknowledged, untouched] = digest.needs_action
    assert (acknowledged.status, acknowledged.response_time) == ("acknowledged", "12 min")
    assert (untouched.status, untouched.response_time) == ("open", "")
    email = render_digest(digest, Templates(TEMPLATES))
    assert email.html is not None
    assert "answered in 12 min" in email.html
    assert "response: —" in email.html
    assert "urgent, acknowledged, answered in 12 min" in email.text


def test_the_volume_is_counted_per_hour_and_the_busiest_hour_is_named() -> None:
    quiet_hours = [
        verdict(f"q{n}", title="fine", label="neutral", compound=0.0, published=START + n * HOUR)
        for n in range(24)
    ]
    spike = [
        verdict(
            f"s{n}",
            title="down",
            label="negative",
            compound=-0.6,
            published=START + 14 * HOUR + timedelta(minutes=n),
            source="x_acme",
        )
        for n in range(11)
    ]

    heard = [
        StoredVerdict(id=n, verdict=v, stored_at=END - timedelta(seconds=1))
        for n, v in enumerate([*quiet_hours, *spike])
    ]  # stored late, all at once: the chart follows when they were published

    digest = build_digest(
        heard, START, END, organisation="Acme Ltd", timezone="Europe/London", top=5
    )

    assert digest.bucket == HOUR
    assert len(digest.timeline) == 24
    assert sum(bucket.total for bucket in digest.timeline) == digest.total == 35
    assert (digest.timeline[14].negative, digest.timeline[14].neutral) == (11, 1)
    busiest = digest.busiest
    assert busiest is not None
    assert (busiest.start, busiest.count, busiest.negative) == (START + 14 * HOUR, 12, 11)
    assert busiest.top_source == "x_acme"
    assert busiest.ratio == pytest.approx(12 / (35 / 24))
    email = render_digest(digest, Templates(TEMPLATES))
    assert "Busiest hour: Wed 01 May 22:00\N{EN DASH}23:00" in email.text  # London time
    assert "8 times the usual hourly volume (about 1 an hour)" in email.text


def test_top_authors_are_ranked_by_the_followers_their_platform_reported() -> None:
    digest = digest_of(
        verdict("1", title="a", label="neutral", compound=0, author="@big", followers=90_000),
        verdict("2", title="b", label="negative", compound=-1, author="@big", followers=91_000),
        verdict("3", title="c", label="neutral", compound=0, author="@small", followers=120),
        verdict("4", title="d", label="neutral", compound=0, author="@nobody"),  # no metric
        verdict(
            "5", title="e", label="positive", compound=1, author="@big", source="x", followers=5
        ),
    )

    assert [(a.name, a.source, a.followers, a.mentions) for a in digest.authors] == [
        ("@big", "hn_acme", 91_000, 2),
        ("@small", "hn_acme", 120, 1),
        ("@big", "x", 5, 1),
    ]
    email = render_digest(digest, Templates(TEMPLATES))
    assert "91,000" in (email.html or "")
    assert "@big (hn_acme): 91,000 followers, 2 mentions" in email.text


def test_the_chart_is_a_png_drawn_here() -> None:
    png = volume_chart(digest_of(*THREE))

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (WIDTH * SCALE, HEIGHT * SCALE)
    assert len(png) < 20_000


# ---- what the email looks like -----------------------------------------------------------------


def test_the_html_digest_links_every_mention_and_escapes_their_text() -> None:
    hostile_link = verdict(
        "4", title="click me", label="neutral", compound=0.0, url="javascript:alert(1)"
    )
    hostile_author = verdict(
        "5", title=HOSTILE, label="negative", compound=-0.9, author=HOSTILE, followers=10
    )
    email = render_digest(digest_of(*THREE, hostile_link, hostile_author), Templates(TEMPLATES))

    assert email.html is not None
    for item_id in ("1", "2", "3"):
        assert f'href="https://news.example.org/item?id={item_id}"' in email.html
        assert f"https://news.example.org/item?id={item_id}" in email.text
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "<img src=x" not in email.html
    assert "&lt;img src=x onerror=" in email.html
    assert image_sources(email.html) == [f"cid:{email.images[0].cid}"]  # the chart, nothing else
    assert "I love Acme &amp; its support" in email.html
    assert "javascript:" not in email.html
    assert "click me" in email.html


def test_a_line_break_in_a_link_cannot_add_a_line_to_the_plain_text() -> None:
    hostile = verdict(
        "4",
        title="Acme\r\nBcc: attacker@x",
        label="negative",
        compound=-0.9,
        url="https://news.example.org/item?id=4\r\nBcc: attacker@x",
    )
    email = render_digest(digest_of(*THREE, hostile), Templates(TEMPLATES))

    assert not [line for line in email.text.splitlines() if line.lstrip().startswith("Bcc:")]
    assert "https://news.example.org/item?id=4%0D%0ABcc:%20attacker@x" in email.text


def test_the_html_has_its_css_inlined_and_fetches_nothing() -> None:
    email = render_digest(digest_of(*THREE), Templates(TEMPLATES))
    html = email.html or ""

    # Rules from <style> now sit on the elements, where every mail client keeps them.
    assert re.search(r'<td class="top" style="[^"]*background-color: ?#24292f', html)
    assert re.search(r'<a class="link" [^>]*style="[^"]*color: ?#0550ae', html)
    # Only @media rules (dark mode, phones) stay in <style>, for the clients that read them.
    [style] = re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.S)
    assert style.count("@media") == 2
    assert "background-color: #ffffff" not in re.sub(r"@media[^{]*\{.*\}", "", style, flags=re.S)
    assert not re.search(r"""(src|href)=["']?https?://(?!news\.example\.org/item)""", html)
    assert "<link" not in html
    assert "url(" not in html
    assert "prefers-color-scheme: dark" in html


def test_the_empty_digest_says_all_quiet() -> None:
    email = render_digest(digest_of(), Templates(TEMPLATES))

    assert (
        email.subject
        == "[Harken] Digest for Acme Ltd: 0 mentions, 1 May 08:00\N{EN DASH}2 May 08:00"
    )
    assert "All quiet" in email.text
    assert email.html is not None
    assert "All quiet" in email.html
    assert email.images == ()
    assert image_sources(email.html) == []


def test_a_digest_of_thousands_of_mentions_stays_small() -> None:
    many = [
        verdict(
            str(n),
            title=f"Post number {n} about Acme",
            label=("negative", "neutral", "positive")[n % 3],
            compound=(-0.5, 0.0, 0.5)[n % 3],
            author=f"@user{n % 300}",
            followers=float(n),
            published=START + timedelta(seconds=n * 40),
        )
        for n in range(2000)
    ]

    email = render_digest(digest_of(*many), Templates(TEMPLATES))

    assert email.html is not None
    assert len(email.html.encode()) < 200_000
    assert email.html.count("<a ") < 120  # top lists with links, not everything


# ---- sending -----------------------------------------------------------------------------------


def test_the_digest_arrives_as_text_and_html_with_the_chart_inside(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    for n, item in enumerate(THREE, start=1):
        poll = Poll(mentions=(item.mention,), cursor={}, fetched=1)
        storage.save_poll(item.mention.source, poll, [item], START + timedelta(hours=n))

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
    text_part, related = message.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    text, html, [chart] = parts(message)
    assert "Acme released version 3" in text
    assert "&lt;script&gt;" in html
    assert chart.get_content_type() == "image/png"
    assert chart.get_content_disposition() == "inline"
    assert chart.get_payload(decode=True).startswith(b"\x89PNG")  # type: ignore[union-attr]
    assert image_sources(html) == [f"cid:{chart['Content-ID'].strip('<>')}"]


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
    text, html, pictures = parts(message)
    assert "All quiet" in text
    assert "All quiet" in html
    assert pictures == []


# ---- digests per recipient group, each on its own schedule and watermark -----------------------

MONDAY = datetime(2026, 11, 16, 14, 0, tzinfo=UTC)  # 09:00 in New York
EXECS = """
[[digests]]
name = "execs"
to = ["oncall"]
schedule = "0 9 * * 1"               # Mondays 09:00
timezone = "America/New_York"
first_period = "7d"
top = 5
"""


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY)


@pytest.fixture
def harness(tmp_path: Path, smtp_server: SmtpServer) -> Harness:
    harness = Harness(tmp_path)
    harness.write_config({}, smtp_server.port, extra=EXECS)
    return harness


@pytest.fixture
def harken(harness: Harness, clock: Clock) -> Iterator[App]:
    service = open_app(load_config(harness.config), now=clock)
    yield service
    service.close()


def hear(harken: App, item_id: str, title: str, at: datetime, *, urgent: bool = False) -> None:
    """Store one mention as if a poll at ``at`` had found it."""
    item = verdict(
        item_id,
        title=title,
        label="negative" if urgent else "neutral",
        compound=-0.8 if urgent else 0.0,
        severity=Severity.URGENT if urgent else Severity.NORMAL,
        published=at,
    )
    if urgent:  # as triage hands an urgent verdict to the on-call groups
        item = replace(item, notify=("oncall",))
    poll = Poll(mentions=(item.mention,), cursor={}, fetched=1)
    harken.storage.save_poll("hn_acme", poll, [item], at)


def sent_to(smtp_server: SmtpServer, address: str) -> list[EmailMessage]:
    return [m for m in smtp_server.inbox if m["X-Envelope-To"] == address]


def test_each_digest_runs_on_its_own_cron_in_its_recipients_timezone(harken: App) -> None:
    scheduler = build_scheduler(harken)
    default, execs = scheduler.get_job("digest"), scheduler.get_job("digest:execs")

    friday = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert default.trigger.get_next_fire_time(None, friday) == datetime(
        2026, 11, 21, 8, 0, tzinfo=UTC
    )
    # 09:00 on Monday in New York is 14:00 UTC in November.
    assert execs.trigger.get_next_fire_time(None, friday) == datetime(
        2026, 11, 23, 14, 0, tzinfo=UTC
    )
    assert execs.args == (harken, "execs")


@pytest.mark.parametrize(
    ("last_sent_end", "started", "sent_at_start"),
    [
        (None, 18.5, False),  # never sent: the first waits for its time
        (-5.99, 18.5, True),  # Monday's sent; down at Tuesday 08:00, back at 08:30
        (18.01, 18.5, False),  # Tuesday's went out before the restart
        (-5.99, 19.5, False),  # back more than an hour late: the next one covers the gap
    ],
)
def test_a_digest_due_while_the_daemon_was_down_goes_out_when_it_starts(
    harken: App, clock: Clock, last_sent_end: float | None, started: float, sent_at_start: bool
) -> None:
    if last_sent_end is not None:
        end = MONDAY + last_sent_end * HOUR
        harken.storage.record_digest(end - 24 * HOUR, end, end, ["marketing@example.com"], 0)
    clock.now = MONDAY + started * HOUR  # [digest] goes daily at 08:00 UTC, Tuesday is +18 h
    job = build_scheduler(harken).get_job("digest")
    assert (getattr(job, "next_run_time", None) == clock.now) is sent_at_start


def test_each_digest_has_its_own_watermark_so_no_period_is_missed_or_repeated(
    harken: App, smtp_server: SmtpServer, clock: Clock
) -> None:
    hear(harken, "a", "Acme ships v2", MONDAY + HOUR)  # Monday 15:00 UTC
    clock.now = MONDAY + 18 * HOUR  # Tuesday 08:00 UTC
    send_scheduled_digest(harken)
    hear(harken, "b", "Acme hires", MONDAY + 20 * HOUR)
    clock.now = MONDAY + 42 * HOUR  # Wednesday 08:00 UTC
    send_scheduled_digest(harken)

    first, second = sent_to(smtp_server, "marketing@example.com")
    assert "Acme ships v2" in parts(first)[0]
    assert "Acme hires" in parts(second)[0]
    assert "Acme ships v2" not in parts(second)[0]  # the default digest never repeats a period
    assert harken.storage.last_digest_end() == MONDAY + 42 * HOUR
    assert harken.storage.last_digest_end("execs") is None  # its own watermark, still unset

    # The weekly digest for the executives: its first covers its first_period, in New York time.
    clock.now = MONDAY + 7 * 24 * HOUR
    send_scheduled_digest(harken, "execs")
    [weekly] = sent_to(smtp_server, "oncall@example.com")
    assert str(weekly["Subject"]).endswith("2 mentions, 16 Nov 09:00\N{EN DASH}23 Nov 09:00")
    assert weekly["Message-ID"].startswith("<harken-digest-execs-20261116T140000Z-")
    assert harken.storage.last_digest_end("execs") == MONDAY + 7 * 24 * HOUR
    assert harken.storage.last_digest_end() == MONDAY + 42 * HOUR  # the default's is untouched


def test_a_failed_send_leaves_that_digests_watermark_so_the_next_one_covers_the_gap(
    harken: App, smtp_server: SmtpServer, clock: Clock
) -> None:
    hear(harken, "a", "Acme ships v2", MONDAY + HOUR)
    clock.now = MONDAY + 7 * 24 * HOUR
    send_scheduled_digest(harken, "execs")
    assert harken.storage.last_digest_end("execs") == MONDAY + 7 * 24 * HOUR

    hear(harken, "b", "Acme is down", MONDAY + 8 * 24 * HOUR, urgent=True)
    smtp_server.refusing = True
    clock.now = MONDAY + 14 * 24 * HOUR
    send_scheduled_digest(harken, "execs")  # logged, not raised
    assert harken.storage.last_digest_end("execs") == MONDAY + 7 * 24 * HOUR

    smtp_server.refusing = False
    hear(harken, "c", "Acme fixed it", MONDAY + 15 * 24 * HOUR)
    clock.now = MONDAY + 21 * 24 * HOUR
    send_scheduled_digest(harken, "execs")
    assert harken.storage.last_digest_end("execs") == MONDAY + 21 * 24 * HOUR
    weekly = [m for m in sent_to(smtp_server, "oncall@example.com") if "Digest" in m["Subject"]]
    assert [str(m["Subject"]).split(": ", 1)[1] for m in weekly] == [
        "1 mention, 16 Nov 09:00\N{EN DASH}23 Nov 09:00",
        "2 mentions, 23 Nov 09:00\N{EN DASH}7 Dec 09:00",  # two weeks: the failed one's too
    ]
    text = parts(weekly[-1])[0]
    assert "Acme is down" in text
    assert "Acme fixed it" in text
    assert "Acme ships v2" not in text


def test_the_digest_shows_what_was_done_about_each_alert(harken: App, clock: Clock) -> None:
    hear(harken, "a", "Acme is down", MONDAY + HOUR, urgent=True)
    hear(harken, "b", "Acme is slow", MONDAY + 2 * HOUR, urgent=True)
    first, _ = harken.storage.pending_alerts(MONDAY + 3 * HOUR)
    harken.storage.acknowledge_alert(
        first.id, MONDAY + HOUR + timedelta(minutes=7), who="sam", via="cli"
    )

    digest = digests.digest_of(harken, MONDAY, MONDAY + 24 * HOUR)

    assert [
        (item.verdict.mention.title, item.status, item.response_time)
        for item in digest.needs_action
    ] == [
        ("Acme is slow", "open", ""),
        ("Acme is down", "acknowledged", "7 min"),
    ]


def test_digest_tables_must_name_known_groups_and_differ(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    harness.write_config(
        {},
        25,
        extra='[[digests]]\nto = ["marketing"]\n\n[[digests]]\nto = ["marketing", "ceo"]\n'
        '\n[[digests]]\nto = ["marketing"]\n',
    )

    with pytest.raises(ConfigError) as raised:
        load_config(harness.config)

    messages = [problem.message for problem in raised.value.problems]
    assert messages == [
        'digests.1.to: unknown recipient group "ceo"; define it under [recipients]',
        'digests.2: another [[digests]] table (digests.0) is also called "marketing"; give each a different name = "…", so each keeps its own watermark',
    ]


# ---- the command line --------------------------------------------------------------------------


@pytest.mark.slow
def test_preview_writes_the_next_digest_to_files_and_sends_nothing(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    storage = Storage(f"sqlite:///{harness.database}")
    try:
        item = verdict("a", title=f"Acme ships v2 {HOSTILE}", label="neutral", compound=0.0)
        poll = Poll(mentions=(item.mention,), cursor={}, fetched=1)
        storage.save_poll("hn_acme", poll, [item], datetime.now(UTC))
    finally:
        storage.close()

    result = harness.harken("digest", "--preview")

    assert result.returncode == 0, result.stderr
    html = (harness.folder / "digest-preview.html").read_text(encoding="utf-8")
    text = (harness.folder / "digest-preview.txt").read_text(encoding="utf-8")
    assert "Acme ships v2 &lt;img src=x" in html
    assert f"Acme ships v2 {HOSTILE}"[:60] in text
    [chart] = image_sources(html)
    assert chart.startswith("data:image/png;base64,")  # a file a browser can show on its own
    assert "cid:" not in html
    assert smtp_server.inbox == []
    reopened = Storage(f"sqlite:///{harness.database}")
    try:
        assert reopened.last_digest_end(None) is None  # a preview moves no watermark
    finally:
        reopened.close()

    weekly = harness.harken("digest", "--preview", "--digest", "execs", "--out", "execs.html")
    assert weekly.returncode == 0, weekly.stderr
    assert "Harken digest · execs" in (harness.folder / "execs.html").read_text(encoding="utf-8")
    assert (harness.folder / "execs.txt").exists()


def test_an_unknown_digest_name_lists_the_configured_ones(harness: Harness) -> None:
    result = harness.harken("digest", "--preview", "--digest", "weekly")

    assert result.returncode == 2
    assert 'no digest called "weekly"; configured: default, execs' in result.stderr

"""Storage on real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.pool import NullPool

from monitor.errors import StorageError
from monitor.mention import Mention, Poll, Sentiment, Severity, Verdict
from monitor.storage import PendingAlert, Sighting, SourceHealth, Storage, StoredVerdict
from monitor.storage.models import Base, described_by_models

NOW = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
SOURCE = "acme_news"


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    opened = Storage(database_url)
    yield opened
    opened.close()


def verdict(
    item_id: str,
    severity: Severity = Severity.NORMAL,
    *,
    matched: bool = True,
    notify: tuple[str, ...] | None = None,
) -> Verdict:
    if notify is None:  # as triage does: only urgent verdicts go to the default groups
        notify = ("comms",) if severity is Severity.URGENT else ()
    return Verdict(
        mention=Mention(source=SOURCE, id=item_id, text=f"Acme mentioned in {item_id}"),
        matched=matched,
        brands=("acme",) if matched else (),
        sentiment=Sentiment(compound=-0.25, label="negative"),
        severity=severity,
        notify=notify,
    )


def save(
    storage: Storage,
    verdicts: list[Verdict],
    now: datetime = NOW,
    cursor: dict[str, str] | None = None,
) -> list[Verdict]:
    poll = Poll(
        mentions=tuple(v.mention for v in verdicts),
        cursor=cursor if cursor is not None else {"etag": "v1"},
        fetched=len(verdicts),
    )
    return storage.save_poll(SOURCE, poll, verdicts, now)


def item_id(alert: PendingAlert) -> str:
    assert alert.verdict is not None, f"alert {alert.id} is about a source, not a mention"
    return alert.verdict.mention.id


def test_second_poll_of_the_same_items_stores_and_alerts_nothing_twice(storage: Storage) -> None:
    first = [verdict("1", Severity.URGENT), verdict("2")]

    assert save(storage, first) == first
    assert save(storage, [*first, verdict("3")], now=NOW + timedelta(minutes=5)) == [verdict("3")]

    stored = storage.verdicts_between(NOW, NOW + timedelta(hours=1))
    assert sorted(s.verdict.mention.id for s in stored) == ["1", "2", "3"]
    assert [item_id(a) for a in storage.pending_alerts(NOW)] == ["1"]
    assert storage.alert_counts() == {"pending": 1, "sent": 0, "failed": 0}


def test_unmatched_verdicts_are_not_stored_but_the_cursor_moves(storage: Storage) -> None:
    fresh = save(storage, [verdict("noise", matched=False)], cursor={"after": "noise"})

    assert fresh == []
    assert storage.verdicts_between(NOW, NOW + timedelta(days=1)) == []
    assert storage.cursor(SOURCE) == {"after": "noise"}


def test_the_cursor_survives_a_restart(database_url: str) -> None:
    first = Storage(database_url)
    assert first.cursor(SOURCE) == {}
    save(first, [verdict("1")], cursor={"etag": "v1"})
    save(first, [verdict("2")], cursor={"etag": "v2"})
    first.close()

    second = Storage(database_url)
    try:
        assert second.cursor(SOURCE) == {"etag": "v2"}
        assert second.cursor("never_polled") == {}
    finally:
        second.close()


def test_one_read_gives_every_source_s_state_as_its_own_read_does(storage: Storage) -> None:
    save(storage, [verdict("1")], cursor={"etag": "v1"})
    storage.record_source_result("failing", NOW, error="HTTP 503 from news.example")

    states = storage.poll_states()

    assert states.keys() == {SOURCE, "failing"}  # a source never polled is missing
    assert states[SOURCE] == storage.poll_state(SOURCE)
    assert states["failing"] == storage.poll_state("failing")
    assert states["failing"][0] == {}
    assert states["failing"][1] is not None
    assert states["failing"][1].failing_since == NOW


def test_a_verdict_reads_back_equal_to_what_was_saved(storage: Storage) -> None:
    plus_two = timezone(timedelta(hours=2))
    full = Verdict(
        mention=Mention(
            source=SOURCE,
            id="https://news.example/item?id=42",
            text="Ünïcode kept intact 🚀 — Acme's outage again",
            title="Acme down",
            url="https://news.example/42",
            author="dana",
            published=datetime(2024, 4, 30, 23, 59, 58, 999999, tzinfo=plus_two),
            lang="en",
            metrics={"score": 12.5, "comments": 3},
            thread_id="41",
            parent_id="41.7",
            raw={"id": 42, "kids": [43, 44], "by": "dana", "deleted": None},
        ),
        matched=True,
        brands=("acme", "acme cloud"),
        sentiment=Sentiment(compound=-0.4939, label="negative", sentence="Acme's outage again"),
        severity=Severity.URGENT,
        rules=("outage",),
        tags=("outage", "cloud"),
        notify=("oncall", "comms"),
        reasons=('rule "outage" fired', "sentiment -0.49"),
        reply="outage",
    )
    bare = verdict("bare", Severity.IGNORE, notify=())
    save(storage, [full, bare])

    stored = storage.verdicts_between(NOW, NOW + timedelta(seconds=1))
    assert [s.verdict for s in stored] == [full, bare]
    assert stored[0].verdict.mention.raw == full.mention.raw  # raw takes no part in ==
    assert stored[1].verdict.mention.raw is None
    published = stored[0].verdict.mention.published
    assert published is not None
    assert published.tzinfo is UTC
    assert stored[0].stored_at == NOW
    assert stored[0].stored_at.tzinfo is UTC
    assert stored[1].verdict.mention.published is None
    alert = storage.pending_alerts(NOW)[0]
    assert alert.verdict == full
    assert alert.groups == ("oncall", "comms")


def test_only_verdicts_that_name_someone_to_tell_are_alerted(storage: Storage) -> None:
    save(storage, [verdict("urgent", Severity.URGENT), verdict("high", Severity.HIGH)])
    save(storage, [verdict("quiet", Severity.URGENT, notify=())])

    pending = storage.pending_alerts(NOW)
    assert [(item_id(a), a.groups, a.attempts) for a in pending] == [("urgent", ("comms",), 0)]
    assert pending[0].created_at == NOW


def test_outbox_retries_a_failed_alert_then_marks_it_sent(storage: Storage) -> None:
    save(storage, [verdict("1", Severity.URGENT)])
    save(storage, [verdict("2", Severity.URGENT)], now=NOW + timedelta(seconds=1))
    first, second = storage.pending_alerts(NOW + timedelta(seconds=1))
    assert isinstance(first, PendingAlert)
    assert (item_id(first), item_id(second)) == ("1", "2")
    assert storage.pending_alerts(NOW) == [first]  # the second is not due yet

    retry_at = NOW + timedelta(minutes=2)
    storage.mark_alert_failed(first.id, NOW, "SMTP 451 try later", retry_at=retry_at)
    assert storage.alert_counts() == {"pending": 2, "sent": 0, "failed": 0}
    assert [a.id for a in storage.pending_alerts(NOW + timedelta(minutes=1))] == [second.id]

    due = storage.pending_alerts(retry_at)
    assert [(a.id, a.attempts) for a in due] == [(first.id, 1), (second.id, 0)]

    storage.mark_alert_sent(first.id, retry_at, message_id="<1@harken>")
    storage.mark_alert_failed(second.id, retry_at, "recipient refused", retry_at=None)
    assert storage.pending_alerts(retry_at + timedelta(days=1)) == []
    assert storage.alert_counts() == {"pending": 0, "sent": 1, "failed": 1}


def test_only_a_pending_alert_can_be_marked(storage: Storage) -> None:
    save(storage, [verdict("1", Severity.URGENT)])
    (alert,) = storage.pending_alerts(NOW)
    storage.mark_alert_sent(alert.id, NOW, message_id="<1@harken>")

    with pytest.raises(StorageError, match=f"no pending alert {alert.id}"):
        storage.mark_alert_failed(alert.id, NOW, "late failure", retry_at=None)
    with pytest.raises(StorageError, match="no pending alert 999"):
        storage.mark_alert_sent(999, NOW, message_id="<x@harken>")
    assert storage.alert_counts() == {"pending": 0, "sent": 1, "failed": 0}


def test_pending_alerts_honours_the_limit(storage: Storage) -> None:
    save(storage, [verdict(str(n), Severity.URGENT) for n in range(5)])

    assert [item_id(a) for a in storage.pending_alerts(NOW, limit=2)] == ["0", "1"]


def test_source_health_reports_when_a_source_starts_failing_and_recovers(
    storage: Storage,
) -> None:
    later = [NOW + timedelta(minutes=n) for n in range(5)]

    ok = storage.record_source_result(SOURCE, later[0], error=None)
    assert (ok.started_failing, ok.recovered, ok.failing_since) == (False, False, None)

    broken = storage.record_source_result(SOURCE, later[1], error="HTTP 503 from news.example")
    still = storage.record_source_result(SOURCE, later[2], error="timed out after 20 s")
    back = storage.record_source_result(SOURCE, later[3], error=None)
    fine = storage.record_source_result(SOURCE, later[4], error=None)

    assert [(h.started_failing, h.recovered) for h in (broken, still, back, fine)] == [
        (True, False),
        (False, False),
        (False, True),
        (False, False),
    ]
    assert still.failing_since == later[1]
    assert still.last_error == "timed out after 20 s"
    assert back.failing_since is None
    assert back.last_success_at == later[3]
    assert storage.source_health() == [
        SourceHealth(
            source=SOURCE,
            last_success_at=later[4],
            last_error="timed out after 20 s",
            last_error_at=later[2],
            failing_since=None,
        )
    ]


def test_a_source_failing_on_its_first_poll_starts_failing(storage: Storage) -> None:
    first = storage.record_source_result("reddit", NOW, error="401 Unauthorized")
    storage.record_source_result("rss", NOW, error=None)

    assert first.started_failing
    assert first.failing_since == NOW
    assert first.last_success_at is None
    assert [(h.source, h.failing_since) for h in storage.source_health()] == [
        ("reddit", NOW),
        ("rss", None),
    ]


def test_verdicts_between_lists_most_severe_then_newest_within_bounds(storage: Storage) -> None:
    hour = timedelta(hours=1)
    save(storage, [verdict("before", Severity.URGENT)], now=NOW - timedelta(microseconds=1))
    save(storage, [verdict("old-normal"), verdict("old-urgent", Severity.URGENT)], now=NOW)
    save(storage, [verdict("new-low", Severity.LOW)], now=NOW + hour)
    save(storage, [verdict("new-normal"), verdict("new-high", Severity.HIGH)], now=NOW + 2 * hour)
    save(storage, [verdict("at-end", Severity.URGENT)], now=NOW + 3 * hour)

    stored = storage.verdicts_between(NOW, NOW + 3 * hour)

    assert all(isinstance(s, StoredVerdict) for s in stored)
    assert [s.verdict.mention.id for s in stored] == [
        "old-urgent",
        "new-high",
        "new-normal",
        "old-normal",
        "new-low",
    ]
    assert [s.stored_at for s in stored] == [NOW, NOW + 2 * hour, NOW + 2 * hour, NOW, NOW + hour]
    assert len({s.id for s in stored}) == 5


def test_the_digest_watermark_is_the_latest_period_end(storage: Storage) -> None:
    day = timedelta(days=1)
    assert storage.last_digest_end() is None

    storage.record_digest(NOW - day, NOW, NOW + timedelta(minutes=1), ["ceo@acme.example"], 7)
    storage.record_digest(NOW, NOW + day, NOW + day, ("comms@acme.example",), 0)

    end = storage.last_digest_end()
    assert end == NOW + day
    assert end is not None
    assert end.tzinfo is UTC


def test_reopening_a_database_keeps_its_data(database_url: str) -> None:
    first = Storage(database_url)
    save(first, [verdict("1", Severity.URGENT)])
    first.record_digest(NOW, NOW, NOW, [], 1)
    first.close()

    for _ in range(2):
        reopened = Storage(database_url)
        try:
            assert [s.verdict for s in reopened.verdicts_between(NOW, NOW + timedelta(1))] == [
                verdict("1", Severity.URGENT)
            ]
            assert reopened.alert_counts()["pending"] == 1
            assert reopened.last_digest_end() == NOW
        finally:
            reopened.close()


def test_the_migrations_create_exactly_the_models(storage: Storage, database_url: str) -> None:
    engine = sqlalchemy.create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_name": described_by_models}
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()

    assert differences == []


def test_two_daemons_racing_on_the_same_items_store_each_once(database_url: str) -> None:
    items = [verdict(str(n), Severity.URGENT) for n in range(40)]
    storages = [Storage(database_url), Storage(database_url)]
    start = threading.Barrier(len(storages))
    results: list[list[Verdict]] = []
    errors: list[BaseException] = []

    def poll(storage: Storage) -> None:
        start.wait()
        try:
            results.append(save(storage, items))
        except BaseException as error:  # the assertion below reports it
            errors.append(error)

    threads = [threading.Thread(target=poll, args=(s,)) for s in storages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in storages:
        opened.close()

    assert errors == []
    assert sorted(v.mention.id for result in results for v in result) == sorted(
        v.mention.id for v in items
    )
    check = Storage(database_url)
    try:
        assert check.alert_counts()["pending"] == len(items)
    finally:
        check.close()


def test_saving_a_mention_under_another_source_is_refused(storage: Storage) -> None:
    stray = verdict("1")
    poll = Poll(mentions=(stray.mention,), cursor={}, fetched=1)

    with pytest.raises(ValueError, match="from source 'acme_news', not 'other'"):
        storage.save_poll("other", poll, [stray], NOW)


def test_a_naive_time_is_refused(storage: Storage) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        storage.record_source_result(SOURCE, datetime(2024, 5, 1, 12), error=None)


def test_sqlite_databases_use_write_ahead_logging(tmp_path: Path) -> None:
    path = tmp_path / "harken.db"
    Storage(f"sqlite:///{path}").close()

    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()


def test_a_database_from_a_newer_harken_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "harken.db"
    Storage(f"sqlite:///{path}").close()
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.close()

    with pytest.raises(StorageError, match="upgraded by a newer Harken"):
        Storage(f"sqlite:///{path}")


def test_an_unreachable_server_is_a_plain_error_without_the_password() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(StorageError) as caught:
        Storage(f"postgresql://harken:s3cret@127.0.0.1:{port}/harken")

    message = str(caught.value)
    assert f"postgresql+psycopg://harken:***@127.0.0.1:{port}/harken" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "invalid database URL"),
        ("mysql://harken:s3cret@db/harken", "Harken supports SQLite and PostgreSQL"),
        ("sqlite:///{tmp}/missing/dir/harken.db", "unable to open database file"),
    ],
)
def test_a_bad_url_is_a_plain_error(url: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=expected) as caught:
        Storage(url.format(tmp=tmp_path))

    assert "s3cret" not in str(caught.value)


# One story, many sources -------------------------------------------------------------------

STORY_URL = "https://news.example/2024/05/acme-outage"
GOOGLE_ALERT_URL = (
    "https://www.google.com/url?rct=j&sa=t"
    "&url=https://www.news.example/2024/05/acme-outage%3Futm_source%3Dgoogle&ct=ga"
)


def story(source: str, item_id: str, url: str, severity: Severity = Severity.URGENT) -> Verdict:
    return Verdict(
        mention=Mention(source=source, id=item_id, text=f"Acme outage, via {source}", url=url),
        matched=True,
        brands=("acme",),
        sentiment=Sentiment(compound=-0.6, label="negative"),
        severity=severity,
        notify=("oncall",),
    )


def save_from(
    storage: Storage, source: str, verdicts: list[Verdict], now: datetime = NOW
) -> list[Verdict]:
    poll = Poll(mentions=tuple(v.mention for v in verdicts), cursor={}, fetched=len(verdicts))
    return storage.save_poll(source, poll, verdicts, now)


def test_one_story_through_two_sources_is_stored_and_alerted_once(storage: Storage) -> None:
    direct = story("acme_news", "guid-1", STORY_URL)
    via_hn = story("hn_acme", "8863", STORY_URL + "/?utm_source=hn#comments")

    assert save_from(storage, "acme_news", [direct]) == [direct]
    assert save_from(storage, "hn_acme", [via_hn], now=NOW + timedelta(minutes=3)) == []

    (stored,) = storage.verdicts_between(NOW, NOW + timedelta(hours=1))
    assert stored.verdict == direct
    assert storage.sightings(stored.id) == [
        Sighting(source="acme_news", item_id="guid-1", url=STORY_URL, seen_at=NOW),
        Sighting(
            source="hn_acme",
            item_id="8863",
            url=via_hn.mention.url,
            seen_at=NOW + timedelta(minutes=3),
        ),
    ]
    assert [item_id(a) for a in storage.pending_alerts(NOW + timedelta(hours=1))] == ["guid-1"]
    # Seen again by either source, it is still one story with two sightings.
    assert save_from(storage, "hn_acme", [via_hn], now=NOW + timedelta(minutes=9)) == []
    assert save_from(storage, "acme_news", [direct], now=NOW + timedelta(minutes=9)) == []
    assert len(storage.sightings(stored.id)) == 2


def test_a_google_alerts_redirect_and_the_direct_link_are_one_story(storage: Storage) -> None:
    from_alerts = story(
        "google_alerts", "tag:google.com,2013:googlealerts/feed:1", GOOGLE_ALERT_URL
    )
    direct = story("acme_news", "guid-1", STORY_URL)

    assert save_from(storage, "google_alerts", [from_alerts]) == [from_alerts]
    assert save_from(storage, "acme_news", [direct]) == []

    (stored,) = storage.verdicts_between(NOW, NOW + timedelta(hours=1))
    assert stored.verdict.mention.url == GOOGLE_ALERT_URL  # stored as the first source saw it
    assert [s.source for s in storage.sightings(stored.id)] == ["google_alerts", "acme_news"]
    assert storage.alert_counts()["pending"] == 1


def test_two_items_of_one_poll_on_the_same_story_are_one_mention(storage: Storage) -> None:
    first = story("forum", "post-1", STORY_URL)
    repost = story("forum", "post-2", "http://www.news.example/2024/05/acme-outage/")

    assert save_from(storage, "forum", [first, repost]) == [first]

    (stored,) = storage.verdicts_between(NOW, NOW + timedelta(hours=1))
    assert [s.item_id for s in storage.sightings(stored.id)] == ["post-1", "post-2"]
    assert storage.alert_counts()["pending"] == 1


def test_items_without_a_web_link_are_never_merged(storage: Storage) -> None:
    bare = [story("x_acme", "1", ""), story("x_acme", "2", ""), story("x_acme", "3", "mailto:a@b")]

    assert save_from(storage, "x_acme", bare) == bare
    assert storage.alert_counts()["pending"] == 3


def test_an_item_seen_as_a_repeat_stays_a_repeat_when_its_link_changes(storage: Storage) -> None:
    save_from(storage, "acme_news", [story("acme_news", "guid-1", STORY_URL)])
    save_from(storage, "hn_acme", [story("hn_acme", "8863", STORY_URL)])

    edited = story("hn_acme", "8863", "https://news.example/2024/05/acme-outage-update")
    assert save_from(storage, "hn_acme", [edited], now=NOW + timedelta(hours=1)) == []
    assert len(storage.verdicts_between(NOW, NOW + timedelta(days=1))) == 1


def test_unmatched_items_do_not_claim_a_story(storage: Storage) -> None:
    noise = Verdict(
        mention=Mention(source="acme_news", id="guid-1", text="not about us", url=STORY_URL),
        matched=False,
        brands=(),
        sentiment=Sentiment(compound=0.0, label="neutral"),
        severity=Severity.IGNORE,
    )
    save_from(storage, "acme_news", [noise])
    via_hn = story("hn_acme", "8863", STORY_URL)

    assert save_from(storage, "hn_acme", [via_hn]) == [via_hn]


def test_two_sources_racing_on_the_same_stories_store_each_once(database_url: str) -> None:
    urls = [f"https://news.example/story/{n}" for n in range(30)]
    polls = {
        "acme_news": [story("acme_news", f"guid-{n}", url) for n, url in enumerate(urls)],
        # Reversed, so the two transactions meet the stories in opposite orders.
        "hn_acme": [story("hn_acme", str(n), url + "?ref=hn") for n, url in enumerate(urls)][::-1],
    }
    storages = {name: Storage(database_url) for name in polls}
    start = threading.Barrier(len(storages))
    fresh: list[Verdict] = []
    errors: list[BaseException] = []

    def poll(name: str) -> None:
        start.wait()
        try:
            fresh.extend(save_from(storages[name], name, polls[name]))
        except BaseException as error:  # the assertion below reports it
            errors.append(error)

    threads = [threading.Thread(target=poll, args=(name,)) for name in polls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for opened in storages.values():
        opened.close()

    assert errors == []
    assert len(fresh) == len(urls)
    check = Storage(database_url)
    try:
        stored = check.verdicts_between(NOW, NOW + timedelta(hours=1))
        assert len(stored) == len(urls)
        assert all(len(check.sightings(s.id)) == 2 for s in stored)
        assert check.alert_counts()["pending"] == len(urls)
    finally:
        check.close()


def test_counts_per_source_include_stories_first_stored_elsewhere(storage: Storage) -> None:
    assert storage.last_stored_at("hn_acme") is None
    assert storage.mentions_stored_since("hn_acme", NOW - timedelta(days=1)) == 0
    hour = timedelta(hours=1)
    save_from(storage, "acme_news", [story("acme_news", "guid-1", STORY_URL)], now=NOW)
    save_from(storage, "hn_acme", [story("hn_acme", "1", STORY_URL)], now=NOW + hour)
    save_from(storage, "hn_acme", [story("hn_acme", "2", "")], now=NOW + 2 * hour)
    save_from(storage, "hn_acme", [story("hn_acme", "2", "")], now=NOW + 3 * hour)  # a repeat

    assert storage.mentions_stored_since("hn_acme", NOW) == 2
    assert storage.mentions_stored_since("hn_acme", NOW + 2 * hour) == 1
    assert storage.mentions_stored_since("hn_acme", NOW + 2 * hour + timedelta(seconds=1)) == 0
    assert storage.mentions_stored_since("acme_news", NOW) == 1
    assert storage.last_stored_at("hn_acme") == NOW + 2 * hour
    assert storage.last_stored_at("acme_news") == NOW


# Source health and source alerts -----------------------------------------------------------


def test_failures_count_up_keep_their_backoff_and_a_success_clears_them(
    storage: Storage,
) -> None:
    retry = NOW + timedelta(minutes=15)
    first = storage.record_source_result("reddit", NOW, error="HTTP 429", retry_at=retry)
    second = storage.record_source_result(
        "reddit",
        NOW + timedelta(minutes=15),
        error="401 Unauthorized",
        disabled_reason="credentials refused; fix REDDIT_CLIENT_SECRET and restart",
    )

    assert (first.consecutive_failures, first.backoff_until, first.disabled_reason) == (
        1,
        retry,
        None,
    )
    assert (second.consecutive_failures, second.backoff_until) == (2, None)
    assert second.disabled_reason == "credentials refused; fix REDDIT_CLIENT_SECRET and restart"
    assert second.failing_since == NOW
    (stored,) = storage.source_health()
    assert stored == SourceHealth(
        source="reddit",
        last_success_at=None,
        last_error="401 Unauthorized",
        last_error_at=NOW + timedelta(minutes=15),
        failing_since=NOW,
        consecutive_failures=2,
        backoff_until=None,
        disabled_reason="credentials refused; fix REDDIT_CLIENT_SECRET and restart",
    )

    back = storage.record_source_result("reddit", NOW + timedelta(hours=1), error=None)
    assert back.recovered
    assert (back.consecutive_failures, back.backoff_until, back.disabled_reason) == (0, None, None)


def test_an_open_health_alert_is_remembered_across_results(storage: Storage) -> None:
    storage.set_source_alerted("never_polled", True)
    storage.record_source_result(SOURCE, NOW, error="timed out")
    storage.set_source_alerted(SOURCE, True)
    still = storage.record_source_result(SOURCE, NOW + timedelta(minutes=5), error="timed out")
    back = storage.record_source_result(SOURCE, NOW + timedelta(minutes=10), error=None)

    assert still.alerted
    assert back.alerted  # closing it is the caller's decision, once the recovery mail is queued
    storage.set_source_alerted(SOURCE, False)
    assert [(h.source, h.alerted) for h in storage.source_health()] == [
        (SOURCE, False),
        ("never_polled", True),
    ]


def test_source_alerts_wait_in_the_outbox_beside_mention_alerts(storage: Storage) -> None:
    save(storage, [verdict("1", Severity.URGENT)])
    alert_id = storage.enqueue_source_alert(
        "hn_acme",
        NOW + timedelta(seconds=1),
        "stopped hearing\nHTTP 503 from hn.algolia.com three times since 12:00",
        ("admins",),
    )

    mention_alert, source_alert = storage.pending_alerts(NOW + timedelta(seconds=1))
    assert (mention_alert.kind, mention_alert.source, mention_alert.message) == (
        "mention",
        SOURCE,
        None,
    )
    assert source_alert == PendingAlert(
        id=alert_id,
        verdict=None,
        groups=("admins",),
        attempts=0,
        created_at=NOW + timedelta(seconds=1),
        kind="source",
        source="hn_acme",
        message="stopped hearing\nHTTP 503 from hn.algolia.com three times since 12:00",
    )
    storage.mark_alert_failed(alert_id, NOW, "SMTP 451", retry_at=NOW + timedelta(minutes=1))
    storage.mark_alert_sent(alert_id, NOW + timedelta(minutes=1), "<x@harken>")
    assert storage.alert_counts() == {"pending": 1, "sent": 1, "failed": 0}


# Upgrading a database made by an older Harken ------------------------------------------------


def test_a_database_from_revision_0001_upgrades_without_losing_data(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from monitor.storage import database
    from monitor.storage.models import UtcDateTime

    engine = database.create(database.parse_url(database_url))
    config = Config()
    config.set_main_option("script_location", str(database.MIGRATIONS).replace("%", "%%"))
    utc = UtcDateTime()
    mentions = sqlalchemy.table(
        "mentions",
        *[sqlalchemy.column(name) for name in ("id", "source", "item_id", "url", "title")],
        *[sqlalchemy.column(name) for name in ("text", "author", "lang")],
        sqlalchemy.column("metrics", sqlalchemy.JSON()),
        sqlalchemy.column("published", utc),
        sqlalchemy.column("stored_at", utc),
    )
    verdicts = sqlalchemy.table(
        "verdicts",
        *[sqlalchemy.column(name) for name in ("mention_id", "matched", "compound", "label")],
        sqlalchemy.column("severity"),
        *[
            sqlalchemy.column(name, sqlalchemy.JSON())
            for name in ("brands", "rules", "tags", "notify", "reasons")
        ],
    )
    alerts = sqlalchemy.table(
        "alerts",
        *[sqlalchemy.column(name) for name in ("mention_id", "status", "attempts")],
        sqlalchemy.column("groups", sqlalchemy.JSON()),
        sqlalchemy.column("created_at", utc),
        sqlalchemy.column("next_attempt_at", utc),
    )
    health = sqlalchemy.table(
        "source_health", sqlalchemy.column("source"), sqlalchemy.column("failing_since", utc)
    )
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            connection.execute(
                mentions.insert().values(
                    id=1,
                    source=SOURCE,
                    item_id="old-1",
                    url=STORY_URL,
                    title="",
                    text="Acme mentioned in old-1",
                    author="",
                    lang="",
                    metrics={},
                    published=None,
                    stored_at=NOW,
                )
            )
            connection.execute(
                verdicts.insert().values(
                    mention_id=1,
                    matched=True,
                    compound=-0.25,
                    label="negative",
                    severity="urgent",
                    brands=["acme"],
                    rules=[],
                    tags=[],
                    notify=["comms"],
                    reasons=[],
                )
            )
            connection.execute(
                alerts.insert().values(
                    mention_id=1,
                    status="pending",
                    attempts=0,
                    groups=["comms"],
                    created_at=NOW,
                    next_attempt_at=NOW,
                )
            )
            connection.execute(health.insert().values(source=SOURCE, failing_since=NOW))
    finally:
        engine.dispose()

    upgraded = Storage(database_url)
    try:
        old = verdict("old-1", Severity.URGENT)
        (stored,) = upgraded.verdicts_between(NOW, NOW + timedelta(hours=1))
        assert stored.verdict == Verdict(
            mention=Mention(source=SOURCE, id="old-1", text=old.mention.text, url=STORY_URL),
            matched=True,
            brands=("acme",),
            sentiment=old.sentiment,
            severity=Severity.URGENT,
            notify=("comms",),
        )
        assert stored.verdict.mention.raw is None
        assert upgraded.sightings(stored.id) == [
            Sighting(source=SOURCE, item_id="old-1", url=STORY_URL, seen_at=NOW)
        ]
        (alert,) = upgraded.pending_alerts(NOW)
        assert (item_id(alert), alert.kind, alert.groups) == ("old-1", "mention", ("comms",))
        (old_health,) = upgraded.source_health()
        assert (old_health.failing_since, old_health.consecutive_failures) == (NOW, 0)
        assert (old_health.alerted, old_health.backoff_until) == (False, None)
        # The item polled again is known; a new item on the same story is not merged with a row
        # stored before canonical URLs existed.
        assert save(upgraded, [verdict("old-1", Severity.URGENT)]) == []
        assert upgraded.last_stored_at(SOURCE) == NOW
    finally:
        upgraded.close()

    engine = sqlalchemy.create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_name": described_by_models}
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []

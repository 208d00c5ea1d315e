"""Finding stored mentions by filters and full-text search, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool

from monitor.errors import SearchError
from monitor.mention import Mention, Poll, Sentiment, Severity, Verdict
from monitor.storage import MentionQuery, Storage
from monitor.storage.search import parse_search

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def mention_verdict(
    item_id: str,
    text: str,
    *,
    source: str = "news",
    title: str = "",
    author: str = "",
    brands: tuple[str, ...] = ("Acme",),
    severity: Severity = Severity.NORMAL,
    label: str = "neutral",
    tags: tuple[str, ...] = (),
    rules: tuple[str, ...] = (),
) -> Verdict:
    return Verdict(
        mention=Mention(
            source=source,
            id=item_id,
            text=text,
            title=title,
            author=author,
            url=f"https://{source}.example/{item_id}",
        ),
        matched=True,
        brands=brands,
        sentiment=Sentiment(
            compound={"negative": -0.6, "positive": 0.6}.get(label, 0.0), label=label
        ),
        severity=severity,
        rules=rules,
        tags=tags,
        notify=("oncall",) if severity is Severity.URGENT else (),
    )


def store(storage: Storage, at: datetime, *verdicts: Verdict) -> None:
    by_source: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        by_source.setdefault(verdict.mention.source, []).append(verdict)
    for source, theirs in by_source.items():
        poll = Poll(mentions=tuple(v.mention for v in theirs), cursor={}, fetched=len(theirs))
        storage.save_poll(source, poll, theirs, at)


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    """A month of mentions: an outage complaint, praise, a rival's post, older chatter."""
    opened = Storage(database_url)
    store(
        opened,
        NOW - timedelta(days=40),
        mention_verdict("old", "Acme was down last winter too", author="Oldtimer"),
    )
    store(
        opened,
        NOW - timedelta(days=2),
        mention_verdict(
            "outage",
            "Acme is down again and support will not answer",
            title="Acme outage",
            author="Dana",
            severity=Severity.URGENT,
            label="negative",
            tags=("outage",),
            rules=("outage",),
        ),
        mention_verdict(
            "praise",
            "Loving the new Acme dashboard, the café mode is great",
            author="Eve",
            label="positive",
            tags=("praise",),
        ),
    )
    store(
        opened,
        NOW - timedelta(hours=1),
        mention_verdict(
            "rival",
            "Globex beats Acme on price; Acme support is down the hall",
            source="forum",
            author="dana",
            brands=("Acme", "Globex"),
            severity=Severity.HIGH,
            label="negative",
            tags=("Competitor",),
        ),
        mention_verdict(
            "urgent-2",
            "Refund please, charged twice",
            source="forum",
            author="Frank",
            severity=Severity.URGENT,
            label="negative",
        ),
    )
    yield opened
    opened.close()


def item_ids(storage: Storage, query: MentionQuery, limit: int = 100) -> list[str]:
    return [found.item_id for found in storage.find_mentions(query, limit)]


def test_without_filters_every_mention_comes_newest_first(storage: Storage) -> None:
    found = item_ids(storage, MentionQuery())
    assert set(found) == {"old", "outage", "praise", "rival", "urgent-2"}
    assert found[-1] == "old"
    assert set(found[:2]) == {"rival", "urgent-2"}
    assert item_ids(storage, MentionQuery(), limit=2) == found[:2]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (MentionQuery(since=NOW - timedelta(days=7)), {"outage", "praise", "rival", "urgent-2"}),
        (MentionQuery(until=NOW - timedelta(days=7)), {"old"}),
        (
            MentionQuery(since=NOW - timedelta(days=3), until=NOW - timedelta(days=1)),
            {"outage", "praise"},
        ),
        (MentionQuery(brands=("globex",)), {"rival"}),
        (MentionQuery(severities=("urgent",)), {"outage", "urgent-2"}),
        (MentionQuery(severities=("urgent", "high")), {"outage", "urgent-2", "rival"}),
        (MentionQuery(sentiments=("positive",)), {"praise"}),
        (MentionQuery(sources=("forum",)), {"rival", "urgent-2"}),
        (MentionQuery(tags=("competitor",)), {"rival"}),
        (MentionQuery(tags=("outage", "praise")), {"outage", "praise"}),
        (MentionQuery(authors=("DANA",)), {"outage", "rival"}),
        (MentionQuery(states=("open",)), {"outage", "urgent-2"}),
        (MentionQuery(states=("none",)), {"old", "praise", "rival"}),
        (
            MentionQuery(severities=("urgent",), sources=("news",), sentiments=("negative",)),
            {"outage"},
        ),
    ],
)
def test_each_filter_narrows_the_mentions(
    storage: Storage, query: MentionQuery, expected: set[str]
) -> None:
    assert set(item_ids(storage, query)) == expected
    assert storage.count_mentions(query) == len(expected)


def test_the_state_filter_follows_acknowledgement_and_resolution(storage: Storage) -> None:
    (outage,) = storage.find_mentions(MentionQuery(text="outage"), 10)
    (alert_id,) = storage.mention_alert_ids(outage.id)
    storage.acknowledge_alert(alert_id, NOW, who="ann", via="cli")
    assert set(item_ids(storage, MentionQuery(states=("acknowledged",)))) == {"outage"}
    assert set(item_ids(storage, MentionQuery(states=("open",)))) == {"urgent-2"}
    storage.resolve_alert(alert_id, NOW, who="ann", via="cli", note="status page updated")
    assert set(item_ids(storage, MentionQuery(states=("resolved",)))) == {"outage"}
    (again,) = storage.find_mentions(MentionQuery(states=("resolved",)), 10)
    assert again.state == "resolved"


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("down", {"old", "outage", "rival"}),
        ("DOWN support", {"outage", "rival"}),  # every word, any case
        ('"is down"', {"outage", "rival"}),  # a phrase as written
        ('"down again"', {"outage"}),
        ('"support is down"', {"rival"}),
        ('acme "will not answer"', {"outage"}),
        ("Dana", {"outage", "rival"}),  # authors are searched too
        ("outage", {"outage"}),  # and titles
        ("refund twice", {"urgent-2"}),
        ("nowhere", set()),
        # FTS5 operators and stray syntax are plain words here, never query grammar.
        ("AND OR NEAR(", set()),
        ("down OR refund", set()),
        ("down NOT", {"outage"}),  # "will not answer"
        ("down*", {"old", "outage", "rival"}),
        ("acme -down", {"old", "outage", "rival"}),
    ],
)
def test_search_finds_by_word_and_phrase(storage: Storage, search: str, expected: set[str]) -> None:
    assert set(item_ids(storage, MentionQuery(text=search))) == expected


def test_search_combines_with_filters(storage: Storage) -> None:
    query = MentionQuery(text="down", since=NOW - timedelta(days=7), sources=("news",))
    assert item_ids(storage, query) == ["outage"]


def test_search_ignores_accents_on_sqlite(storage: Storage, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's 'simple' configuration keeps accents (README, Searching)")
    assert set(item_ids(storage, MentionQuery(text="cafe"))) == {"praise"}


@pytest.mark.parametrize(
    ("search", "says"),
    [
        ('"AND OR NEAR(', "the quote at column 1 is never closed"),
        ('down "is down', "the quote at column 6 is never closed"),
        ("", "give at least one word"),
        ("  ( ) * ", "give at least one word"),
        ('""', "give at least one word"),
    ],
)
def test_hostile_searches_get_a_clear_error(storage: Storage, search: str, says: str) -> None:
    with pytest.raises(SearchError, match=r"^search .*") as raised:
        storage.find_mentions(MentionQuery(text=search or " "), 10)
    assert says in str(raised.value)


def test_search_parsing_reads_words_and_phrases() -> None:
    terms = parse_search('acme  "is   down" NEAR( -x')
    assert terms.words == ("acme", "NEAR(", "-x")
    assert terms.phrases == ("is down",)


def test_new_and_purged_mentions_reach_the_search_index(storage: Storage) -> None:
    store(storage, NOW, mention_verdict("late", "Acme announces a zeppelin"))
    assert item_ids(storage, MentionQuery(text="zeppelin")) == ["late"]
    storage.purge_mentions(NOW - timedelta(days=30))
    assert item_ids(storage, MentionQuery(text="winter")) == []
    assert set(item_ids(storage, MentionQuery(text="down"))) == {"outage", "rival"}


def test_one_mention_reads_back_whole(storage: Storage) -> None:
    (rival,) = storage.find_mentions(MentionQuery(brands=("Globex",)), 10)
    again = storage.mention(rival.id)
    assert again == rival
    assert (again.source, again.author, again.brands) == ("forum", "dana", ["Acme", "Globex"])
    assert (again.severity, again.sentiment, again.compound) == ("high", "negative", -0.6)
    assert again.state == "none"
    assert again.stored_at == NOW - timedelta(hours=1)
    assert (again.published, again.metrics, again.tags) == (None, {}, ["Competitor"])
    assert storage.mention(rival.id + 1000) is None


def test_an_export_streams_oldest_first_and_agrees_with_the_list(storage: Storage) -> None:
    exported = list(storage.each_mention(MentionQuery()))
    assert exported[0].item_id == "old"
    assert sorted(exported, key=lambda m: m.id) == sorted(
        storage.find_mentions(MentionQuery(), 100), key=lambda m: m.id
    )


@pytest.mark.postgresql
def test_postgresql_search_uses_the_gin_index(empty_postgresql_url: str) -> None:
    storage = Storage(empty_postgresql_url)
    try:
        posts = [mention_verdict(str(n), f"Acme post {n}") for n in range(200)]
        store(storage, NOW, *posts, mention_verdict("z", "Acme zeppelin"))
    finally:
        storage.close()
    engine = sqlalchemy.create_engine(empty_postgresql_url, poolclass=NullPool)
    try:
        # The very statement `harken mentions search zeppelin` runs.
        statement = storage._select(MentionQuery(text="zeppelin"))[0].compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE mentions")
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}"))
    finally:
        engine.dispose()
    assert "ix_mentions_search" in plan

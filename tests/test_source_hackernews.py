"""The hackernews source against a local stand-in for the Algolia HN Search API."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from monitor.errors import AccessDenied, BadPayload, FetchError, NotConfigured, RateLimited
from monitor.fetch import Fetcher
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, source_kinds
from tests.servers import HttpServer, Reply

SEARCH_PATH = "/api/v1/search_by_date"
NOW = datetime(2025, 6, 3, 12, 0, tzinfo=UTC)
NOW_I = 1748952000  # NOW as a Unix timestamp
HOUR = 3600
DAY = 86400

# A story and a comment as the API returns them, fields and all.
STORY_HIT: dict[str, Any] = {
    "objectID": "44170001",
    "created_at": "2025-06-03T10:00:00Z",
    "created_at_i": NOW_I - 2 * HOUR,
    "title": "Acme Cloud is down for <everyone>",
    "url": "https://status.acme.example/incidents/42",
    "author": "jdoe",
    "points": 412,
    "num_comments": 3,
    "story_id": 44170001,
    "parent_id": None,
    "comment_text": None,
    "story_text": None,
    "story_title": None,
    "_tags": ["story", "author_jdoe", "story_44170001", "front_page"],
}
COMMENT_HIT: dict[str, Any] = {
    "objectID": "44170123",
    "created_at": "2025-06-03T11:00:00Z",
    "created_at_i": NOW_I - HOUR,
    "title": None,
    "url": None,
    "author": "pat",
    "points": None,
    "num_comments": None,
    "story_id": 44170001,
    "parent_id": 44170050,
    "comment_text": '<p>Acme&#x27;s status page was green the whole time.</p><p>See <a href="https:&#x2F;&#x2F;acme.example">acme.example</a></p>',
    "story_text": None,
    "story_title": "Acme Cloud is down for <everyone>",
    "_tags": ["comment", "author_pat", "story_44170001"],
}


def story(
    object_id: int, created_at_i: int, title: str = "Acme launches a thing"
) -> dict[str, Any]:
    return {
        "objectID": str(object_id),
        "created_at_i": created_at_i,
        "title": title,
        "url": f"https://acme.example/{object_id}",
        "author": "someone",
        "points": 1,
        "num_comments": 0,
        "story_id": object_id,
        "_tags": ["story", "author_someone", f"story_{object_id}"],
    }


class SearchApi:
    """Answers search_by_date like Algolia: filters, sorts newest first, pages; keeps queries."""

    def __init__(self, hits: Sequence[dict[str, Any]] = ()) -> None:
        self.hits = list(hits)
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: BaseHTTPRequestHandler) -> Reply:
        query = {key: values[0] for key, values in parse_qs(urlsplit(request.path).query).items()}
        self.queries.append(query)
        words = query.get("query", "").lower().split()
        tags = set(query.get("tags", "").strip("()").split(","))
        since = int(query["numericFilters"].removeprefix("created_at_i>="))
        per_page, page = int(query.get("hitsPerPage", 20)), int(query.get("page", 0))
        found = [
            hit
            for hit in self.hits
            if tags & set(hit["_tags"]) and hit["created_at_i"] >= since and _names(hit, words)
        ]
        found.sort(key=lambda hit: hit["created_at_i"], reverse=True)
        body = {
            "hits": found[page * per_page : (page + 1) * per_page],
            "nbHits": len(found),
            "page": page,
            "nbPages": -(-len(found) // per_page),
            "hitsPerPage": per_page,
        }
        return Reply(json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    def searched(self, key: str) -> list[str]:
        return [query[key] for query in self.queries]


def _names(hit: dict[str, Any], words: list[str]) -> bool:
    text = " ".join(str(hit.get(key) or "") for key in ("title", "story_text", "comment_text"))
    return all(word in text.lower() for word in words)


def serve(server: HttpServer, *hits: dict[str, Any]) -> SearchApi:
    api = SearchApi(hits)
    server.routes[SEARCH_PATH] = api
    return api


def hackernews_source(
    server: HttpServer, fetcher: Fetcher, terms: tuple[str, ...] = ("Acme",), **settings: object
) -> Source:
    """The hackernews source as the daemon builds it, pointed at the local server."""
    kind = source_kinds()["hackernews"]
    return kind(
        "hn_acme",
        kind.Settings.model_validate(
            {"type": "hackernews", "api_url": server.base_url, **settings}
        ),
        SourceContext(fetcher, terms=terms, now=lambda: NOW),
    )


def poll(source: Source, cursor: Cursor | None = None) -> Poll:
    return source.poll({} if cursor is None else cursor)


def ids(result: Poll) -> list[str]:
    return [mention.id for mention in result.mentions]


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What this source logged (not, say, other plugins failing to load on first use)."""
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("source hn_acme:")]


def test_each_brand_term_is_searched_for_stories_and_comments(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    api = serve(http_server)

    poll(hackernews_source(http_server, fetcher, terms=("Acme", "Acme Cloud")))

    assert api.queries == [
        {
            "query": term,
            "tags": "(story,comment)",
            "numericFilters": f"created_at_i>={NOW_I - DAY}",
            "hitsPerPage": "100",
            "page": "0",
        }
        for term in ("Acme", "Acme Cloud")
    ]
    assert all(path.startswith(SEARCH_PATH + "?") for path, _ in http_server.requests)


def test_a_configured_query_and_tags_replace_the_defaults(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    api = serve(http_server)

    poll(hackernews_source(http_server, fetcher, query="acme.example", tags=["story"]))

    assert api.searched("query") == ["acme.example"]
    assert api.searched("tags") == ["story"]


def test_stories_and_comments_become_mentions(http_server: HttpServer, fetcher: Fetcher) -> None:
    serve(http_server, STORY_HIT, COMMENT_HIT)

    result = poll(hackernews_source(http_server, fetcher))

    assert result.mentions == (
        Mention(
            source="hn_acme",
            id="44170123",
            title="Comment on: Acme Cloud is down for <everyone>",
            text="Acme's status page was green the whole time.\n\nSee acme.example",
            url="https://news.ycombinator.com/item?id=44170123",
            author="pat",
            published=datetime(2025, 6, 3, 11, 0, tzinfo=UTC),
            metrics={},
            thread_id="44170001",
            parent_id="44170050",
        ),
        Mention(
            source="hn_acme",
            id="44170001",
            title="Acme Cloud is down for <everyone>",  # titles are plain text, not HTML
            text="",
            url="https://status.acme.example/incidents/42",
            author="jdoe",
            published=datetime(2025, 6, 3, 10, 0, tzinfo=UTC),
            metrics={"score": 412, "comments": 3},
            thread_id="44170001",
        ),
    )
    assert [m.raw for m in result.mentions] == [COMMENT_HIT, STORY_HIT]
    assert result.fetched == 2


def test_a_story_without_a_link_points_at_its_discussion(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    ask = story(44170200, NOW_I - HOUR, "Ask HN: Anyone else leaving Acme?")
    ask.update(url=None, story_text="We pay &quot;Acme&quot; a lot.<p>Alternatives?", points=7)
    serve(http_server, ask)

    (mention,) = poll(hackernews_source(http_server, fetcher)).mentions

    assert mention.url == "https://news.ycombinator.com/item?id=44170200"
    assert mention.text == 'We pay "Acme" a lot.\n\nAlternatives?'
    assert mention.metrics == {"score": 7, "comments": 0}


def test_the_first_poll_only_looks_back_first_window(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    api = serve(
        http_server, story(3, NOW_I - HOUR), story(2, NOW_I - 5 * HOUR), story(1, NOW_I - 2 * DAY)
    )

    default = poll(hackernews_source(http_server, fetcher))
    narrow = poll(hackernews_source(http_server, fetcher, first_window="4h"))

    assert api.searched("numericFilters") == [
        f"created_at_i>={NOW_I - DAY}",
        f"created_at_i>={NOW_I - 4 * HOUR}",
    ]
    assert ids(default) == ["3", "2"]
    assert ids(narrow) == ["3"]


def test_a_second_poll_with_nothing_new_returns_nothing(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    api = serve(http_server, story(2, NOW_I - HOUR), story(1, NOW_I - 2 * HOUR))
    source = hackernews_source(http_server, fetcher)

    first = poll(source)
    second = poll(source, first.cursor)
    third = poll(source, second.cursor)

    assert ids(first) == ["2", "1"]
    assert first.cursor == {"created_at_i": NOW_I - HOUR, "ids_at": ["2"]}
    assert second.mentions == third.mentions == ()
    assert third.cursor == first.cursor
    assert second.fetched == 1  # the newest item is read again (>=), just not returned
    assert api.searched("numericFilters")[1:] == [f"created_at_i>={NOW_I - HOUR}"] * 2


def test_only_new_items_are_returned_on_a_later_poll(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    api = serve(http_server, story(1, NOW_I - HOUR))
    source = hackernews_source(http_server, fetcher)
    first = poll(source)

    api.hits += [story(2, NOW_I - 30 * 60), story(3, NOW_I - 10 * 60)]
    later = poll(source, first.cursor)

    assert ids(later) == ["3", "2"]
    assert later.cursor == {"created_at_i": NOW_I - 10 * 60, "ids_at": ["3"]}
    assert poll(source, later.cursor).mentions == ()


def test_an_item_from_the_same_second_as_the_newest_seen_is_not_lost(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    second = NOW_I - HOUR
    api = serve(http_server, story(1, second))
    source = hackernews_source(http_server, fetcher)
    first = poll(source)

    api.hits.append(story(2, second))  # indexed after our poll, created in the same second
    later = poll(source, first.cursor)

    assert ids(first) == ["1"]
    assert ids(later) == ["2"]
    assert later.cursor == {"created_at_i": second, "ids_at": ["1", "2"]}
    assert poll(source, later.cursor).mentions == ()


def test_a_restarted_source_carries_on_from_the_stored_cursor(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    api = serve(http_server, story(1, NOW_I - HOUR))
    first = poll(hackernews_source(http_server, fetcher))
    api.hits.append(story(2, NOW_I - 60))
    stored = json.loads(json.dumps(first.cursor))  # as it comes back from the database

    after_restart = poll(hackernews_source(http_server, fetcher), stored)

    assert ids(after_restart) == ["2"]


def test_an_empty_first_poll_remembers_where_it_looked_from(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    api = serve(http_server)
    source = hackernews_source(http_server, fetcher)

    first = poll(source)
    api.hits.append(story(1, NOW_I - 2 * HOUR))
    later = poll(source, first.cursor)

    assert first.cursor == {"created_at_i": NOW_I - DAY, "ids_at": []}
    assert ids(later) == ["1"]


def test_pages_are_read_up_to_max_pages(
    http_server: HttpServer, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    serve(http_server, *(story(n, NOW_I - n * 60) for n in range(1, 8)))

    result = poll(hackernews_source(http_server, fetcher, hits_per_page=2, max_pages=3))

    assert ids(result) == ["1", "2", "3", "4", "5", "6"]  # newest first; 7 was on page 4
    assert logged(caplog) == [
        "source hn_acme: more than 3 pages of hits for 'Acme'; older ones were not read (raise max_pages or poll more often)"
    ]


def test_paging_stops_at_the_last_page(
    http_server: HttpServer, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    api = serve(http_server, *(story(n, NOW_I - n * 60) for n in range(1, 6)))

    result = poll(hackernews_source(http_server, fetcher, hits_per_page=2, max_pages=10))

    assert ids(result) == ["1", "2", "3", "4", "5"]
    assert api.searched("page") == ["0", "1", "2"]
    assert logged(caplog) == []


def test_an_item_found_by_two_terms_is_one_mention(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    api = serve(
        http_server,
        story(3, NOW_I - 60, "Acme Cloud pricing"),
        story(2, NOW_I - 120, "AcmeDB 2.0"),
        story(1, NOW_I - 180, "Acme and AcmeDB compared"),
    )

    result = poll(hackernews_source(http_server, fetcher, terms=("Acme", "AcmeDB")))

    assert api.searched("query") == ["Acme", "AcmeDB"]
    assert ids(result) == ["3", "2", "1"]
    assert result.fetched == 3


def test_rate_limiting_says_how_long_to_wait(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes[SEARCH_PATH] = Reply(b"slow down", status=429, headers={"Retry-After": "42"})

    with pytest.raises(RateLimited) as caught:
        poll(hackernews_source(http_server, fetcher))

    assert caught.value.retry_after == 42


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(b"oops", status=500), FetchError),
        (Reply(b"no", status=403), AccessDenied),
        (Reply(b'{"hits": [', headers={"Content-Type": "application/json"}), BadPayload),
    ],
    ids=["server error", "forbidden", "malformed json"],
)
def test_a_failing_search_raises_the_error_that_fits(
    http_server: HttpServer, fetcher: Fetcher, reply: Reply, error: type[Exception]
) -> None:
    http_server.routes[SEARCH_PATH] = reply

    with pytest.raises(error) as caught:
        poll(hackernews_source(http_server, fetcher))

    assert str(caught.value).startswith(http_server.url(SEARCH_PATH) + ": ")


@pytest.mark.parametrize(
    ("body", "shape"),
    [
        (b'{"message": "Invalid query", "status": 400}', "an object with keys 'message', 'status'"),
        (b'{"hits": null}', "an object with keys 'hits'"),
        (b"[]", "a JSON list"),
    ],
)
def test_a_response_without_a_hits_list_is_a_bad_payload(
    http_server: HttpServer, fetcher: Fetcher, body: bytes, shape: str
) -> None:
    http_server.routes[SEARCH_PATH] = Reply(body)

    with pytest.raises(BadPayload) as caught:
        poll(hackernews_source(http_server, fetcher))

    assert str(caught.value) == (
        f'{http_server.url(SEARCH_PATH)}: expected a JSON object with a "hits" list, got {shape}'
    )


def test_a_malformed_hit_is_skipped_and_the_others_kept(
    http_server: HttpServer, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    broken = {"objectID": "44170999", "title": "Acme without a date"}
    body = {"hits": [story(2, NOW_I - 60), broken, "not a hit", story(1, NOW_I - 120)]}
    http_server.routes[SEARCH_PATH] = Reply(json.dumps(body).encode())

    with caplog.at_level(logging.WARNING, logger="harken.sources"):
        result = poll(hackernews_source(http_server, fetcher))

    assert ids(result) == ["2", "1"]
    warnings = logged(caplog)
    assert len(warnings) == 2
    assert all(w.startswith("source hn_acme: skipped a Hacker News hit") for w in warnings)
    assert "Acme without a date" in warnings[0]


def test_a_page_of_more_hits_than_asked_for_is_read_only_as_far_as_asked(
    http_server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    # 100,000 small hits fit well under the default size cap.
    hits = [
        {"objectID": str(n), "created_at_i": NOW_I - n, "title": "Acme"} for n in range(100_000)
    ]
    http_server.routes[SEARCH_PATH] = Reply(json.dumps({"hits": hits, "nbPages": 1}).encode())
    fetcher = Fetcher(max_bytes=10_000_000)

    try:
        with caplog.at_level(logging.WARNING, logger="harken.sources"):
            result = poll(hackernews_source(http_server, fetcher, hits_per_page=50))
    finally:
        fetcher.close()

    assert ids(result) == [str(n) for n in range(50)]
    assert logged(caplog) == [
        f"source hn_acme: {http_server.base_url}/api/v1/search_by_date sent 100000 hits in a page of 50; read the first 50"
    ]


def test_without_a_query_or_brand_terms_the_source_declines(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    with pytest.raises(NotConfigured, match="nothing to search for"):
        hackernews_source(http_server, fetcher, terms=())


@pytest.mark.parametrize(
    "settings",
    [{"api_url": "hn.algolia.com"}, {"tags": ["job"]}, {"query": " "}, {"sort": "points"}],
)
def test_bad_settings_are_refused(settings: dict[str, object]) -> None:
    kind = source_kinds()["hackernews"]

    with pytest.raises(ValidationError):
        kind.Settings.model_validate({"type": "hackernews", **settings})

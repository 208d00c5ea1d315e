"""The reddit source against a real local server: praw and the RSS fallback both pointed at it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import prawcore
import pytest
from pydantic import ValidationError

from monitor.errors import AccessDenied, BadPayload, FetchError, NotConfigured, RateLimited
from monitor.fetch import Fetcher
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, source_kinds
from tests.servers import HttpServer, Reply

NOW = datetime(2025, 6, 3, 10, 0, tzinfo=UTC)
SECRET = "s3cr3t-never-shown"
# Generous limits, as Reddit sends them: praw's rate limiter then has no reason to sleep.
RATE_HEADERS = {
    "Content-Type": "application/json; charset=UTF-8",
    "x-ratelimit-remaining": "995",
    "x-ratelimit-used": "5",
    "x-ratelimit-reset": "60",
}
TOKEN = Reply(
    json.dumps(
        {"access_token": "token-123", "token_type": "bearer", "expires_in": 3600, "scope": "*"}
    ).encode(),
    headers={"Content-Type": "application/json; charset=UTF-8"},
)
ATOM_TYPE = "application/atom+xml; charset=UTF-8"


def at(minutes_before_now: float) -> float:
    return (NOW - timedelta(minutes=minutes_before_now)).timestamp()


def self_post(created: float = at(1)) -> dict[str, Any]:
    return {
        "kind": "t3",
        "data": {
            "id": "1d7acme",
            "name": "t3_1d7acme",
            "subreddit": "sysadmin",
            "title": "Acme Cloud down again?",
            "selftext": "Anyone else seeing **502s** from [Acme](https://acme.example)?",
            "selftext_html": '<!-- SC_OFF --><div class="md"><p>Anyone else seeing <strong>502s</strong> from <a href="https://acme.example">Acme</a>?</p>\n</div><!-- SC_ON -->',
            "author": "ops_pat",
            "created_utc": created,
            "score": 57,
            "num_comments": 23,
            "is_self": True,
            "permalink": "/r/sysadmin/comments/1d7acme/acme_cloud_down_again/",
            "url": "https://www.reddit.com/r/sysadmin/comments/1d7acme/acme_cloud_down_again/",
        },
    }


def link_post(created: float = at(5)) -> dict[str, Any]:
    return {
        "kind": "t3",
        "data": {
            "id": "1d79xyz",
            "name": "t3_1d79xyz",
            "subreddit": "acme",
            "title": "Acme raises prices by 20%",
            "selftext": "",
            "selftext_html": None,
            "author": "newsbot",
            "created_utc": created,
            "score": 12,
            "num_comments": 4,
            "is_self": False,
            "permalink": "/r/acme/comments/1d79xyz/acme_raises_prices_by_20/",
            "url": "https://news.example/acme-prices",
        },
    }


def post(number: int, created: float) -> dict[str, Any]:
    """A plain self post about Acme, for tests about which posts are new."""
    return {
        "kind": "t3",
        "data": {
            "id": f"p{number}",
            "name": f"t3_p{number}",
            "title": f"Acme story {number}",
            "selftext": f"Story {number}",
            "author": "someone",
            "created_utc": created,
            "score": 1,
            "num_comments": 0,
            "permalink": f"/r/acme/comments/p{number}/acme_story_{number}/",
        },
    }


COMMENT = {
    "kind": "t1",
    "data": {
        "id": "l6zq0ab",
        "name": "t1_l6zq0ab",
        "link_id": "t3_1d7acme",
        "parent_id": "t3_1d7acme",
        "link_title": "Acme Cloud down again?",
        "subreddit": "sysadmin",
        "author": "dev_sam",
        "body": "Same here, Acme support says they're on it.",
        "body_html": '<div class="md"><p>Same here, Acme support says they&#39;re on it.</p>\n</div>',
        "created_utc": at(0.5),
        "score": 9,
        "permalink": "/r/sysadmin/comments/1d7acme/acme_cloud_down_again/l6zq0ab/",
    },
}


def listing(*children: dict[str, Any], after: str | None = None) -> Reply:
    body = {"kind": "Listing", "data": {"children": list(children), "after": after, "before": None}}
    return Reply(json.dumps(body).encode(), headers=RATE_HEADERS)


SEARCH_ATOM = b"""<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"><category term="acme+sysadmin" label="r/acme+sysadmin"/><updated>2025-06-03T10:00:00+00:00</updated><id>/r/acme+sysadmin/search.rss?q=acme&amp;restrict_sr=1&amp;sort=new</id><link rel="self" href="https://www.reddit.com/r/acme+sysadmin/search.rss?q=acme&amp;restrict_sr=1&amp;sort=new" type="application/atom+xml" /><title>acme+sysadmin: search results - acme</title>
<entry><author><name>/u/ops_pat</name><uri>https://www.reddit.com/user/ops_pat</uri></author><category term="sysadmin" label="r/sysadmin"/><content type="html">&lt;!-- SC_OFF --&gt;&lt;div class=&quot;md&quot;&gt;&lt;p&gt;Anyone else seeing &lt;strong&gt;502s&lt;/strong&gt; from &lt;a href=&quot;https://acme.example&quot;&gt;Acme&lt;/a&gt;?&lt;/p&gt; &lt;/div&gt;&lt;!-- SC_ON --&gt; &amp;#32; submitted by &amp;#32; &lt;a href=&quot;https://www.reddit.com/user/ops_pat&quot;&gt; /u/ops_pat &lt;/a&gt; &amp;#32; to &amp;#32; &lt;a href=&quot;https://www.reddit.com/r/sysadmin/&quot;&gt; r/sysadmin &lt;/a&gt; &lt;br/&gt; &lt;span&gt;&lt;a href=&quot;https://www.reddit.com/r/sysadmin/comments/1d7acme/acme_cloud_down_again/&quot;&gt;[link]&lt;/a&gt;&lt;/span&gt; &amp;#32; &lt;span&gt;&lt;a href=&quot;https://www.reddit.com/r/sysadmin/comments/1d7acme/acme_cloud_down_again/&quot;&gt;[comments]&lt;/a&gt;&lt;/span&gt;</content><id>t3_1d7acme</id><link href="https://www.reddit.com/r/sysadmin/comments/1d7acme/acme_cloud_down_again/" /><updated>2025-06-03T09:59:00+00:00</updated><published>2025-06-03T09:59:00+00:00</published><title>Acme Cloud down again?</title></entry>
<entry><author><name>/u/newsbot</name><uri>https://www.reddit.com/user/newsbot</uri></author><category term="acme" label="r/acme"/><content type="html">&lt;table&gt; &lt;tr&gt;&lt;td&gt; &lt;a href=&quot;https://www.reddit.com/r/acme/comments/1d79xyz/acme_raises_prices_by_20/&quot;&gt; &lt;img src=&quot;https://b.thumbs.redditmedia.com/x.jpg&quot; alt=&quot;Acme raises prices by 20%&quot; title=&quot;Acme raises prices by 20%&quot; /&gt; &lt;/a&gt; &lt;/td&gt;&lt;td&gt; &amp;#32; submitted by &amp;#32; &lt;a href=&quot;https://www.reddit.com/user/newsbot&quot;&gt; /u/newsbot &lt;/a&gt; &amp;#32; to &amp;#32; &lt;a href=&quot;https://www.reddit.com/r/acme/&quot;&gt; r/acme &lt;/a&gt; &lt;br/&gt; &lt;span&gt;&lt;a href=&quot;https://news.example/acme-prices&quot;&gt;[link]&lt;/a&gt;&lt;/span&gt; &amp;#32; &lt;span&gt;&lt;a href=&quot;https://www.reddit.com/r/acme/comments/1d79xyz/acme_raises_prices_by_20/&quot;&gt;[comments]&lt;/a&gt;&lt;/span&gt; &lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;</content><id>t3_1d79xyz</id><link href="https://www.reddit.com/r/acme/comments/1d79xyz/acme_raises_prices_by_20/" /><updated>2025-06-03T09:55:00+00:00</updated><published>2025-06-03T09:55:00+00:00</published><title>Acme raises prices by 20%</title></entry>
</feed>
"""

COMMENTS_ATOM = b"""<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"><category term="acme+sysadmin" label="r/acme+sysadmin"/><updated>2025-06-03T10:00:00+00:00</updated><id>/r/acme+sysadmin/comments.rss</id><title>newest submissions : acme+sysadmin</title>
<entry><author><name>/u/dev_sam</name><uri>https://www.reddit.com/user/dev_sam</uri></author><category term="sysadmin" label="r/sysadmin"/><content type="html">&lt;!-- SC_OFF --&gt;&lt;div class=&quot;md&quot;&gt;&lt;p&gt;Same here, Acme support says they&amp;#39;re on it.&lt;/p&gt; &lt;/div&gt;&lt;!-- SC_ON --&gt;</content><id>t1_l6zq0ab</id><link href="https://www.reddit.com/r/sysadmin/comments/1d7acme/acme_cloud_down_again/l6zq0ab/"/><updated>2025-06-03T09:59:30+00:00</updated><title>/u/dev_sam on Acme Cloud down again?</title></entry>
</feed>
"""


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the machine running the tests has, each test starts without Reddit credentials."""
    monkeypatch.delenv("HARKEN_REDDIT_CLIENT_ID", raising=False)
    monkeypatch.delenv("HARKEN_REDDIT_CLIENT_SECRET", raising=False)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARKEN_REDDIT_CLIENT_ID", "app-id-42")
    monkeypatch.setenv("HARKEN_REDDIT_CLIENT_SECRET", SECRET)


@pytest.fixture
def api(http_server: HttpServer, credentials: None) -> HttpServer:
    """The local server playing Reddit's OAuth token endpoint, ready for API calls."""
    http_server.routes["/api/v1/access_token"] = TOKEN
    return http_server


def reddit_source(server: HttpServer, fetcher: Fetcher, **settings: object) -> Source:
    """The reddit source as the daemon builds it, with every Reddit address on the local server."""
    kind = source_kinds()["reddit"]
    table = {"type": "reddit", "api_url": server.base_url, "www_url": server.base_url}
    return kind(
        "reddit_acme",
        kind.Settings.model_validate({**table, **settings}),
        SourceContext(fetcher, terms=("Acme", "Acme Cloud"), now=lambda: NOW),
    )


def poll(source: Source, cursor: Cursor | None = None) -> Poll:
    return source.poll({} if cursor is None else cursor)


def queries(server: HttpServer, path: str) -> list[dict[str, list[str]]]:
    """The query parameters of every request the server saw for ``path``."""
    return [
        parse_qs(urlsplit(seen).query) for seen, _ in server.requests if urlsplit(seen).path == path
    ]


def test_api_mode_maps_posts_and_comments(api: HttpServer, fetcher: Fetcher) -> None:
    api.routes["/r/acme+sysadmin/search"] = listing(self_post(), link_post())
    api.routes["/r/acme+sysadmin/comments"] = listing(COMMENT)
    source = reddit_source(api, fetcher, subreddits=["acme", "r/sysadmin"], comments=True)

    result = poll(source)

    assert source.describe({}) == "mode: api (OAuth)"
    assert result.mentions == (
        Mention(
            source="reddit_acme",
            id="t3_1d7acme",
            title="Acme Cloud down again?",
            text="Anyone else seeing 502s from Acme?",
            url="https://www.reddit.com/r/sysadmin/comments/1d7acme/acme_cloud_down_again/",
            author="ops_pat",
            published=datetime(2025, 6, 3, 9, 59, tzinfo=UTC),
            metrics={"score": 57, "comments": 23},
            thread_id="t3_1d7acme",
        ),
        Mention(
            source="reddit_acme",
            id="t3_1d79xyz",
            title="Acme raises prices by 20%",
            text="",
            url="https://www.reddit.com/r/acme/comments/1d79xyz/acme_raises_prices_by_20/",
            author="newsbot",
            published=datetime(2025, 6, 3, 9, 55, tzinfo=UTC),
            metrics={"score": 12, "comments": 4},
            thread_id="t3_1d79xyz",
        ),
        Mention(
            source="reddit_acme",
            id="t1_l6zq0ab",
            text="Same here, Acme support says they're on it.",
            url="https://www.reddit.com/r/sysadmin/comments/1d7acme/acme_cloud_down_again/l6zq0ab/",
            author="dev_sam",
            published=datetime(2025, 6, 3, 9, 59, 30, tzinfo=UTC),
            metrics={"score": 9},
            thread_id="t3_1d7acme",
            parent_id="t3_1d7acme",
        ),
    )
    assert result.mentions[0].raw == self_post()["data"]
    assert result.fetched == 3
    # Reddit's client-credentials grant, then searches with the brand terms, newest first.
    assert b"grant_type=client_credentials" in api.bodies[0]
    [search] = queries(api, "/r/acme+sysadmin/search")
    assert search["q"] == ['"Acme" OR "Acme Cloud"']
    assert search["sort"] == ["new"]
    assert search["restrict_sr"] == ["1"]
    headers = dict(api.requests[-1][1])
    assert headers["Authorization"] == "bearer token-123"


def test_a_restarted_source_stores_nothing_twice(api: HttpServer, fetcher: Fetcher) -> None:
    api.routes["/search"] = listing(post(2, at(10)), post(1, at(20)))
    first = poll(reddit_source(api, fetcher))
    assert [m.id for m in first.mentions] == ["t3_p2", "t3_p1"]

    # A new source object with the stored cursor, as after a restart: the same listing is old news.
    again = poll(reddit_source(api, fetcher), first.cursor)
    assert again.mentions == ()
    assert again.fetched == 2

    # A new post, one that search indexed late (older than the newest seen), one far too old.
    api.routes["/search"] = listing(
        post(4, at(2)), post(2, at(10)), post(3, at(15)), post(1, at(20)), post(0, at(600))
    )
    later = poll(reddit_source(api, fetcher), json.loads(json.dumps(again.cursor)))
    assert [m.id for m in later.mentions] == ["t3_p4", "t3_p3"]
    assert poll(reddit_source(api, fetcher), later.cursor).mentions == ()


def test_paging_stops_at_posts_older_than_those_seen(api: HttpServer, fetcher: Fetcher) -> None:
    def search(request: BaseHTTPRequestHandler) -> Reply:
        after = parse_qs(urlsplit(request.path).query).get("after")
        if after == ["t3_p2"]:
            return listing(post(1, at(180)))
        return listing(post(3, at(1)), post(2, at(120)), after="t3_p2")

    api.routes["/search"] = search
    first = poll(reddit_source(api, fetcher, limit=150))
    assert [m.id for m in first.mentions] == ["t3_p3", "t3_p2", "t3_p1"]
    assert [q.get("after") for q in queries(api, "/search")] == [None, ["t3_p2"]]

    api.requests.clear()
    assert poll(reddit_source(api, fetcher, limit=150), first.cursor).mentions == ()
    assert len(queries(api, "/search")) == 1  # p2 is older than anything new could be


def test_auto_mode_uses_rss_without_credentials_and_the_api_with_them(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_server.routes["/search.rss"] = Reply(SEARCH_ATOM, headers={"Content-Type": ATOM_TYPE})
    http_server.routes["/search"] = listing(self_post())
    http_server.routes["/api/v1/access_token"] = TOKEN

    without = reddit_source(http_server, fetcher)
    assert without.describe({}) == "mode: rss (no credentials)"
    assert len(poll(without).mentions) == 2
    assert [urlsplit(path).path for path, _ in http_server.requests] == ["/search.rss"]

    monkeypatch.setenv("HARKEN_REDDIT_CLIENT_ID", "app-id-42")
    monkeypatch.setenv("HARKEN_REDDIT_CLIENT_SECRET", SECRET)
    http_server.requests.clear()
    with_credentials = reddit_source(http_server, fetcher)
    assert with_credentials.describe({}) == "mode: api (OAuth)"
    assert len(poll(with_credentials).mentions) == 1
    assert [urlsplit(path).path for path, _ in http_server.requests] == [
        "/api/v1/access_token",
        "/search",
    ]
    assert reddit_source(http_server, fetcher, mode="rss").describe({}) == (
        "mode: rss (set in config)"
    )


def test_api_mode_without_credentials_declines_to_start(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    with pytest.raises(
        NotConfigured, match="HARKEN_REDDIT_CLIENT_ID and HARKEN_REDDIT_CLIENT_SECRET"
    ):
        reddit_source(http_server, fetcher, mode="api")


def test_comments_need_named_subreddits(http_server: HttpServer, fetcher: Fetcher) -> None:
    with pytest.raises(ValidationError, match="comments = true needs subreddits"):
        reddit_source(http_server, fetcher, comments=True)


def test_refused_credentials_are_access_denied_and_the_secret_stays_hidden(
    api: HttpServer, fetcher: Fetcher
) -> None:
    api.routes["/api/v1/access_token"] = Reply(
        b'{"message": "Unauthorized", "error": 401}', status=401, headers=RATE_HEADERS
    )

    with pytest.raises(AccessDenied) as refused:
        poll(reddit_source(api, fetcher))

    message = str(refused.value)
    assert "HTTP 401" in message
    assert "HARKEN_REDDIT_CLIENT_SECRET" in message
    assert SECRET not in message


def test_a_403_from_the_api_is_access_denied(api: HttpServer, fetcher: Fetcher) -> None:
    api.routes["/search"] = Reply(b'{"error": 403}', status=403, headers=RATE_HEADERS)

    with pytest.raises(AccessDenied, match="HTTP 403") as refused:
        poll(reddit_source(api, fetcher))
    assert SECRET not in str(refused.value)


def test_429_is_rate_limited_for_as_long_as_reddit_asks(api: HttpServer, fetcher: Fetcher) -> None:
    api.routes["/search"] = Reply(
        b'{"message": "Too Many Requests", "error": 429}',
        status=429,
        headers={**RATE_HEADERS, "Retry-After": "42"},
    )

    with pytest.raises(RateLimited) as limited:
        poll(reddit_source(api, fetcher))

    assert limited.value.retry_after == 42


def test_a_server_error_is_a_fetch_error_after_praws_retries(
    api: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # praw waits a few seconds between its retries; the test has no reason to.
    monkeypatch.setattr(prawcore.sessions.FiniteRetryStrategy, "sleep", lambda self: None)
    api.routes["/search"] = Reply(b"upstream broke", status=500, headers=RATE_HEADERS)

    with pytest.raises(FetchError, match="HTTP 500"):
        poll(reddit_source(api, fetcher))

    assert len(queries(api, "/search")) == 3


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"kind": "Listing", "data": {"children": [', "malformed JSON"),
        (b'{"kind": "t3", "data": {}}', "expected a Listing"),
        (b'{"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {}}]}}', "lacks"),
    ],
)
def test_a_payload_not_in_reddits_shape_is_a_bad_payload(
    api: HttpServer, fetcher: Fetcher, body: bytes, problem: str
) -> None:
    api.routes["/search"] = Reply(body, headers=RATE_HEADERS)

    with pytest.raises(BadPayload, match=problem):
        poll(reddit_source(api, fetcher))


def test_rss_mode_gives_the_same_mentions_ids_as_the_api(api: HttpServer, fetcher: Fetcher) -> None:
    api.routes["/r/acme+sysadmin/search.rss"] = Reply(
        SEARCH_ATOM, headers={"Content-Type": ATOM_TYPE, "ETag": '"v1"'}
    )
    api.routes["/r/acme+sysadmin/comments.rss"] = Reply(
        COMMENTS_ATOM, headers={"Content-Type": ATOM_TYPE}
    )
    api.routes["/r/acme+sysadmin/search"] = listing(self_post(), link_post())
    api.routes["/r/acme+sysadmin/comments"] = listing(COMMENT)
    settings = {"subreddits": ["acme", "sysadmin"], "comments": True}

    feed = poll(reddit_source(api, fetcher, mode="rss", **settings))
    from_api = poll(reddit_source(api, fetcher, mode="api", **settings))

    assert feed.mentions == (
        Mention(
            source="reddit_acme",
            id="t3_1d7acme",
            title="Acme Cloud down again?",
            text="Anyone else seeing 502s from Acme?",
            url="https://www.reddit.com/r/sysadmin/comments/1d7acme/acme_cloud_down_again/",
            author="ops_pat",
            published=datetime(2025, 6, 3, 9, 59, tzinfo=UTC),
            thread_id="t3_1d7acme",
        ),
        Mention(
            source="reddit_acme",
            id="t3_1d79xyz",
            title="Acme raises prices by 20%",
            text="",
            url="https://www.reddit.com/r/acme/comments/1d79xyz/acme_raises_prices_by_20/",
            author="newsbot",
            published=datetime(2025, 6, 3, 9, 55, tzinfo=UTC),
            thread_id="t3_1d79xyz",
        ),
        Mention(
            source="reddit_acme",
            id="t1_l6zq0ab",
            text="Same here, Acme support says they're on it.",
            url="https://www.reddit.com/r/sysadmin/comments/1d7acme/acme_cloud_down_again/l6zq0ab/",
            author="dev_sam",
            published=datetime(2025, 6, 3, 9, 59, 30, tzinfo=UTC),
            thread_id="t3_1d7acme",
        ),
    )
    same = ("id", "url", "author", "title", "text", "published", "thread_id")
    assert [[getattr(m, key) for key in same] for m in feed.mentions] == [
        [getattr(m, key) for key in same] for m in from_api.mentions
    ]
    [search] = queries(api, "/r/acme+sysadmin/search.rss")
    assert search["q"] == ['"Acme" OR "Acme Cloud"']
    assert search["restrict_sr"] == ["1"]
    assert search["sort"] == ["new"]

    # Switching modes repeats nothing: the cursor is the same for both.
    assert poll(reddit_source(api, fetcher, mode="api", **settings), feed.cursor).mentions == ()
    api.requests.clear()
    assert poll(reddit_source(api, fetcher, mode="rss", **settings), feed.cursor).mentions == ()
    feed_request = next(h for p, h in api.requests if p.startswith("/r/acme+sysadmin/search.rss"))
    assert feed_request["If-None-Match"] == '"v1"'  # a conditional GET, answered 304


def test_a_feed_reddit_refuses_suggests_the_api(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes["/search.rss"] = Reply(b"blocked", status=403)

    with pytest.raises(AccessDenied, match="API mode with credentials"):
        poll(reddit_source(http_server, fetcher))

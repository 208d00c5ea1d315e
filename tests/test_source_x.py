"""The x source against a local stand-in for X's recent search, through the real tweepy client."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from monitor.errors import AccessDenied, BadPayload, FetchError, NotConfigured, RateLimited
from monitor.fetch import Fetcher
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, source_kinds
from tests.harness import Clock
from tests.servers import HttpServer, Reply, free_port

TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest-bearer-token-0123456789"
SEARCH = "/2/tweets/search/recent"
JUNE_3 = datetime(2025, 6, 3, 9, 0, tzinfo=UTC)


def user(number: int, *, followers: int = 100) -> dict[str, Any]:
    return {
        "id": str(9000 + number),
        "username": f"user{number}",
        "name": f"User {number}",
        "public_metrics": {"followers_count": followers, "following_count": 5, "tweet_count": 7},
    }


def post(number: int, text: str = "", **fields: Any) -> dict[str, Any]:
    """A post about Acme in X API v2's shape; ids grow with ``number``, as X's do with time."""
    post_id = str(1_800_000_000_000_000_000 + number)
    return {
        "id": post_id,
        "text": text or f"Acme post {number}",
        "author_id": str(9000 + number % 3),
        "created_at": "2025-06-03T08:00:00.000Z",
        "conversation_id": post_id,
        "lang": "en",
        "edit_history_tweet_ids": [post_id],
        "public_metrics": {
            "retweet_count": 0,
            "reply_count": 0,
            "like_count": number,
            "quote_count": 0,
            "bookmark_count": 0,
            "impression_count": 10 * number,
        },
        **fields,
    }


class FakeX:
    """Answers recent search the way X does: newest first, since_id, max_results, next_token."""

    def __init__(self, *posts: dict[str, Any]) -> None:
        self.posts = list(posts)  # newest first
        self.users = [user(0), user(1), user(2)]
        self.searches: list[dict[str, str]] = []

    def publish(self, *posts: dict[str, Any]) -> None:
        self.posts[:0] = posts

    def __call__(self, request: BaseHTTPRequestHandler) -> Reply:
        params = {key: values[0] for key, values in parse_qs(urlsplit(request.path).query).items()}
        self.searches.append(params)
        since_id = int(params.get("since_id", "0"))
        matching = [p for p in self.posts if int(p["id"]) > since_id]
        start = int(params.get("next_token", "page-0").removeprefix("page-"))
        end = start + int(params.get("max_results", "10"))
        chunk = matching[start:end]
        meta: dict[str, Any] = {"result_count": len(chunk)}
        body: dict[str, Any] = {"meta": meta}
        if chunk:
            authors = {p["author_id"] for p in chunk}
            body["data"] = chunk
            body["includes"] = {"users": [u for u in self.users if u["id"] in authors]}
            meta |= {"newest_id": chunk[0]["id"], "oldest_id": chunk[-1]["id"]}
        if end < len(matching):
            meta["next_token"] = f"page-{end}"
        return Reply(json.dumps(body).encode(), headers={"Content-Type": "application/json"})


@pytest.fixture(autouse=True)
def bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARKEN_X_BEARER_TOKEN", TOKEN)


def x_source(
    server: HttpServer,
    fetcher: Fetcher,
    *,
    clock: Clock | None = None,
    terms: tuple[str, ...] = ("Acme",),
    exclude: tuple[str, ...] = (),
    **settings: object,
) -> Source:
    """The x source as the daemon builds it: found by its kind, settings validated."""
    kind = source_kinds()["x"]
    return kind(
        "x_acme",
        kind.Settings.model_validate({"type": "x", "api_url": server.base_url, **settings}),
        SourceContext(fetcher, terms=terms, exclude=exclude, now=clock or Clock(JUNE_3)),
    )


def poll(source: Source, cursor: Cursor | None = None) -> Poll:
    return source.poll({} if cursor is None else cursor)


def test_the_brand_terms_reach_x_in_its_query_syntax(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    x = http_server.routes[SEARCH] = FakeX()
    source = x_source(
        http_server,
        fetcher,
        terms=("Acme", "Acme Cloud", "#acme"),
        exclude=("Acme Hardware", "Road Runner"),
        lang="en",
    )

    poll(source)

    (search,) = x.searches
    assert search["query"] == (
        '(Acme OR "Acme Cloud" OR #acme) -"Acme Hardware" -"Road Runner" -is:retweet lang:en'
    )
    assert search["expansions"] == "author_id"
    assert search["user.fields"] == "username,name,public_metrics"
    assert set(search["tweet.fields"].split(",")) >= {
        "created_at",
        "lang",
        "public_metrics",
        "conversation_id",
        "in_reply_to_user_id",
        "referenced_tweets",
    }
    assert search["max_results"] == "100"
    assert "since_id" not in search
    path, headers = http_server.requests[0]
    assert path.startswith(SEARCH + "?")
    assert headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_raw_query_is_used_as_written_with_reposts_allowed(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    x = http_server.routes[SEARCH] = FakeX()
    raw = "from:acme OR @acme has:links"

    poll(x_source(http_server, fetcher, query=raw, include_retweets=True))
    poll(x_source(http_server, fetcher, query=raw, lang="fr"))

    assert [search["query"] for search in x.searches] == [
        raw,
        f"({raw}) -is:retweet lang:fr",  # grouped: AND binds tighter than OR
    ]


def test_posts_become_mentions_with_their_authors_and_metrics(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    reply = post(
        5,
        "@acme your app &amp; site are down &lt;again&gt;",
        conversation_id="1800000000000000001",
        in_reply_to_user_id="9001",
        referenced_tweets=[{"type": "replied_to", "id": "1800000000000000001"}],
        lang="und",
        created_at="2025-06-03T09:39:21.000Z",
    )
    long_post = post(4, "Acme is… https://t.co/x", note_tweet={"text": "Acme is " + "great " * 60})
    http_server.routes[SEARCH] = x = FakeX(reply, long_post)
    x.users = [user(1, followers=12_345), user(2)]

    first, second = poll(x_source(http_server, fetcher)).mentions

    assert first == Mention(
        source="x_acme",
        id="1800000000000000005",
        text="@acme your app & site are down <again>",
        url="https://x.com/user2/status/1800000000000000005",
        author="@user2",
        published=datetime(2025, 6, 3, 9, 39, 21, tzinfo=UTC),
        lang="",  # X's "und": it could not tell
        metrics={
            "likes": 5,
            "reposts": 0,
            "replies": 0,
            "quotes": 0,
            "views": 50,
            "followers": 100,
        },
        thread_id="1800000000000000001",
        parent_id="1800000000000000001",
    )
    assert first.raw == reply
    assert second.text == "Acme is " + "great " * 60  # a long post's full text
    assert second.author == "@user1"
    assert second.metrics["followers"] == 12_345
    assert second.lang == "en"
    assert second.parent_id == ""


def test_a_post_whose_author_is_missing_still_has_an_address(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    x = http_server.routes[SEARCH] = FakeX(post(3))
    x.users = []
    x.posts[0]["public_metrics"].pop("impression_count")

    (mention,) = poll(x_source(http_server, fetcher)).mentions

    assert mention.author == ""
    assert mention.url == "https://x.com/i/web/status/1800000000000000003"
    assert "views" not in mention.metrics
    assert "followers" not in mention.metrics


def test_a_later_poll_asks_only_for_newer_posts_and_returns_nothing_twice(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    x = http_server.routes[SEARCH] = FakeX(post(2), post(1))
    source = x_source(http_server, fetcher)
    first = poll(source)
    x.publish(post(4), post(3))

    second = poll(source, first.cursor)
    third = poll(source, second.cursor)

    assert [m.id for m in first.mentions] == ["1800000000000000002", "1800000000000000001"]
    assert [m.id for m in second.mentions] == ["1800000000000000004", "1800000000000000003"]
    assert third.mentions == ()
    assert [search.get("since_id") for search in x.searches] == [
        None,
        "1800000000000000002",
        "1800000000000000004",
    ]
    assert third.cursor["since_id"] == "1800000000000000004"


def test_posts_x_sends_again_are_not_returned_again(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    body = json.dumps({"data": [post(2), post(1)], "meta": {"result_count": 2}}).encode()
    http_server.routes[SEARCH] = Reply(body)  # ignores since_id
    source = x_source(http_server, fetcher)

    first = poll(source)
    second = poll(source, first.cursor)

    assert len(first.mentions) == 2
    assert second.mentions == ()
    assert second.fetched == 2  # read (and paid for), just not new


def test_a_first_poll_reads_one_page_and_later_polls_page_back_to_the_last_post(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    x = http_server.routes[SEARCH] = FakeX(*(post(n) for n in range(30, 0, -1)))
    source = x_source(http_server, fetcher, max_results=10)
    first = poll(source)
    x.publish(*(post(n) for n in range(55, 30, -1)))

    second = poll(source, first.cursor)

    assert [m.id[-2:] for m in first.mentions] == [str(n) for n in range(30, 20, -1)]
    assert [m.id[-2:] for m in second.mentions] == [str(n) for n in range(55, 30, -1)]
    assert [search.get("next_token") for search in x.searches] == [
        None,
        None,
        "page-10",
        "page-20",
    ]
    assert second.fetched == 25


def test_the_read_budget_counts_across_polls_and_restarts_then_renews_the_next_day(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    x = http_server.routes[SEARCH] = FakeX(*(post(n) for n in range(12, 0, -1)))
    clock = Clock(datetime(2025, 6, 3, 21, 0, tzinfo=UTC))
    source = x_source(http_server, fetcher, clock=clock, max_results=10, daily_read_budget=30)
    first = poll(source)  # 10 read
    x.publish(*(post(n) for n in range(27, 12, -1)))
    second = poll(source, first.cursor)  # 15 more: 5 left, less than X's smallest page
    x.publish(post(28))
    requests_so_far = len(http_server.requests)

    restarted = x_source(http_server, fetcher, clock=clock, max_results=10, daily_read_budget=30)
    with pytest.raises(RateLimited) as caught:
        poll(restarted, second.cursor)

    assert len(http_server.requests) == requests_so_far  # X was not asked: it would bill
    assert caught.value.retry_after == 3 * 3600  # until midnight UTC
    assert "daily read budget (25 of 30 posts read) is spent" in str(caught.value)
    assert restarted.describe(second.cursor) == "budget: 5/30 left today"
    assert second.cursor["budget"] == {
        "day": "2025-06-03",
        "day_reads": 25,
        "month": "2025-06",
        "month_reads": 25,
    }

    clock.now += timedelta(hours=3)
    assert restarted.describe(second.cursor) == "budget: 30/30 left today"
    next_day = poll(restarted, second.cursor)

    assert [m.id[-2:] for m in next_day.mentions] == ["28"]
    assert next_day.cursor["budget"]["day_reads"] == 1
    assert next_day.cursor["budget"]["month_reads"] == 26


def test_a_request_never_asks_for_more_posts_than_the_budget_has_left(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    x = http_server.routes[SEARCH] = FakeX(*(post(n) for n in range(50, 0, -1)))
    source = x_source(http_server, fetcher, daily_read_budget=35, monthly_read_budget=1000)

    result = poll(source)

    assert x.searches[0]["max_results"] == "35"
    assert result.fetched == 35
    assert source.describe(result.cursor) == "budget: 0/35 left today, 965/1,000 left this month"


def test_a_spent_monthly_budget_waits_for_the_next_month(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes[SEARCH] = FakeX(post(1))
    clock = Clock(datetime(2025, 6, 30, 12, 0, tzinfo=UTC))
    source = x_source(http_server, fetcher, clock=clock, monthly_read_budget=10_000)
    cursor = {
        "budget": {"day": "2025-06-29", "day_reads": 40, "month": "2025-06", "month_reads": 9_995}
    }

    assert source.describe(cursor) == "budget: 5/10,000 left this month"
    with pytest.raises(RateLimited, match="monthly read budget") as caught:
        poll(source, cursor)

    assert caught.value.retry_after == 12 * 3600
    assert http_server.requests == []


def test_no_budget_is_described_as_such(http_server: HttpServer, fetcher: Fetcher) -> None:
    source = x_source(http_server, fetcher)
    cursor = {"budget": {"day": "2025-06-03", "day_reads": 1_234, "month": "2025-06"}}

    assert source.describe(cursor) == "no read budget (1,234 posts read today)"


def test_refused_credentials_are_access_denied_without_the_token(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    unauthorized = {"title": "Unauthorized", "type": "about:blank", "status": 401}
    http_server.routes[SEARCH] = Reply(
        json.dumps(unauthorized | {"detail": "Unauthorized"}).encode(), status=401
    )
    source = x_source(http_server, fetcher)

    with pytest.raises(AccessDenied) as refused:
        poll(source)
    http_server.routes[SEARCH] = Reply(
        json.dumps(unauthorized | {"detail": f"Bearer {TOKEN} is not valid"}).encode(), status=401
    )
    with pytest.raises(AccessDenied) as echoed:
        poll(source)

    assert "HTTP 401 Unauthorized" in str(refused.value)
    assert "HARKEN_X_BEARER_TOKEN" in str(refused.value)
    assert TOKEN not in str(refused.value)
    assert TOKEN not in str(echoed.value)
    assert "Bearer [token] is not valid" in str(echoed.value)


def test_a_rate_limit_waits_until_x_says_it_resets(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    reset = int(JUNE_3.timestamp()) + 120
    http_server.routes[SEARCH] = Reply(
        b'{"title": "Too Many Requests", "status": 429}',
        status=429,
        headers={"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"},
    )
    started = time.monotonic()

    with pytest.raises(RateLimited) as caught:
        poll(x_source(http_server, fetcher))

    assert caught.value.retry_after == 120
    assert time.monotonic() - started < 1  # tweepy did not sleep: the scheduler waits
    assert len(http_server.requests) == 1


def test_a_server_error_is_a_fetch_error(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes[SEARCH] = Reply(b"upstream unavailable", status=503)

    with pytest.raises(FetchError, match="HTTP 503 Service Unavailable") as caught:
        poll(x_source(http_server, fetcher))

    assert not isinstance(caught.value, RateLimited)


def test_a_slow_server_times_out(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes[SEARCH] = Reply(b"{}", delay=1.5)
    started = time.monotonic()

    with pytest.raises(FetchError, match=r"timed out after 0\.5s"):
        poll(x_source(http_server, fetcher))

    assert time.monotonic() - started < 1.2


def test_an_unreachable_api_is_a_fetch_error(http_server: HttpServer, fetcher: Fetcher) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    with pytest.raises(FetchError, match="ConnectionError"):
        poll(x_source(http_server, fetcher, api_url=nowhere))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"data": [{"id": "1800000000000000001", "te', "malformed JSON"),
        (b'["not", "an", "object"]', "expected a JSON object"),
        (b'{"data": [{"id": 42, "text": "Acme"}]}', 'without a numeric "id"'),
    ],
)
def test_a_malformed_response_is_a_bad_payload(
    http_server: HttpServer, fetcher: Fetcher, body: bytes, expected: str
) -> None:
    http_server.routes[SEARCH] = Reply(body, headers={"Content-Type": "application/json"})

    with pytest.raises(BadPayload, match=expected):
        poll(x_source(http_server, fetcher))


def test_a_failure_after_the_first_page_keeps_the_pages_already_paid_for(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    x = FakeX(*(post(n) for n in range(25, 0, -1)))

    def fail_on_second_page(request: BaseHTTPRequestHandler) -> Reply:
        if "next_token=" in request.path:
            return Reply(b"oops", status=500)
        return x(request)

    http_server.routes[SEARCH] = fail_on_second_page
    source = x_source(http_server, fetcher, max_results=10, daily_read_budget=100)

    result = poll(source, {"since_id": "1"})

    assert len(result.mentions) == 10
    assert result.cursor["budget"]["day_reads"] == 10
    assert result.cursor["since_id"] == "1800000000000000025"


def test_a_missing_token_means_not_configured(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARKEN_X_BEARER_TOKEN")
    monkeypatch.setenv("ACME_X_TOKEN", "  ")

    with pytest.raises(NotConfigured, match="HARKEN_X_BEARER_TOKEN is not set"):
        x_source(http_server, fetcher)
    with pytest.raises(NotConfigured, match="ACME_X_TOKEN is not set"):
        x_source(http_server, fetcher, bearer_token_env="ACME_X_TOKEN")
    assert http_server.requests == []


def test_no_terms_and_no_query_means_not_configured(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    with pytest.raises(NotConfigured, match="no brand terms"):
        x_source(http_server, fetcher, terms=())


@pytest.mark.parametrize(
    "settings",
    [
        {"max_results": 5},
        {"max_results": 101},
        {"lang": "English"},
        {"api_url": "api.x.com"},
        {"token": "x"},
    ],
)
def test_invalid_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        source_kinds()["x"].Settings.model_validate({"type": "x", **settings})

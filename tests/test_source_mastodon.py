"""The mastodon source against real local servers playing two instances: statuses in, mentions out."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from monitor.errors import BadPayload, FetchError, NotConfigured, RateLimited
from monitor.fetch import Fetcher
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, source_kinds
from tests.servers import Handler, HttpServer, Reply

TERMS = ("Acme",)
TOKEN_ENV = "HARKEN_MASTODON_TOKEN"

# Alice posts on a.example; b.example knows the post under its own id and acct "alice@a.example".
ALICE_URI = "https://a.example/users/alice/statuses/110"
BOB_URI = "https://b.example/users/bob/statuses/901"


def status(
    ident: str,
    uri: str,
    *,
    acct: str = "alice",
    content: str = "<p>I love #acme</p>",
    **fields: Any,
) -> dict[str, Any]:
    """A status as Mastodon's API returns it, trimmed to the fields Harken reads and a few more."""
    user = acct.split("@")[0]
    return {
        "id": ident,
        "created_at": "2025-06-03T09:39:21.000Z",
        "in_reply_to_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": uri,
        "url": uri.replace(f"/users/{user}/statuses/", f"/@{user}/"),
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "content": content,
        "reblog": None,
        "account": {
            "id": "7",
            "username": user,
            "acct": acct,
            "display_name": user.title(),
            "url": f"https://a.example/@{user}",
            "followers_count": 10,
        },
        "media_attachments": [],
        "tags": [{"name": "acme", "url": "https://a.example/tags/acme"}],
        **fields,
    }


def boost(ident: str, of: dict[str, Any], by: str = "carol") -> dict[str, Any]:
    """``by`` boosting ``of``: a status of its own that wraps the boosted one."""
    return status(
        ident, f"https://b.example/users/{by}/statuses/{ident}/activity", acct=by, content=""
    ) | {"reblog": of}


def json_reply(value: object, **headers: str) -> Reply:
    return Reply(
        json.dumps(value).encode(), headers={"Content-Type": "application/json", **headers}
    )


def timeline(statuses: list[dict[str, Any]]) -> Handler:
    """A tag timeline that, like Mastodon, answers newest first and honours since_id."""

    def reply(request: BaseHTTPRequestHandler) -> Reply:
        query = parse_qs(urlsplit(request.path).query)
        since = int(query.get("since_id", ["0"])[0])
        limit = int(query.get("limit", ["20"])[0])
        newer = [s for s in statuses if int(s["id"]) > since]
        return json_reply(sorted(newer, key=lambda s: -int(s["id"]))[:limit])

    return reply


def mastodon_source(
    instances: list[str],
    fetcher: Fetcher,
    terms: tuple[str, ...] = TERMS,
    now: Callable[[], datetime] = lambda: datetime(2025, 6, 3, 12, 0, tzinfo=UTC),
    **settings: object,
) -> Source:
    """The mastodon source as the daemon builds it: found by its kind, settings validated."""
    kind = source_kinds()["mastodon"]
    return kind(
        "acme_toots",
        kind.Settings.model_validate({"type": "mastodon", "instances": instances, **settings}),
        SourceContext(fetcher, terms=terms, now=now),
    )


def poll(source: Source, cursor: Cursor | None = None) -> Poll:
    return source.poll({} if cursor is None else cursor)


def requests_to(server: HttpServer, prefix: str) -> list[tuple[str, dict[str, str]]]:
    """Requests whose path starts with ``prefix``, with lower-case header names."""
    return [
        (path, {name.lower(): value for name, value in headers.items()})
        for path, headers in server.requests
        if path.startswith(prefix)
    ]


@pytest.fixture
def instances(http_server: HttpServer) -> list[str]:
    """Two instances on the local server, told apart by their path prefix."""
    return [http_server.url("/a"), http_server.url("/b")]


@pytest.fixture(autouse=True)
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def test_a_post_seen_on_two_instances_is_one_mention(
    http_server: HttpServer, fetcher: Fetcher, instances: list[str]
) -> None:
    alice_on_a = status("110", ALICE_URI)
    alice_on_b = status("800", ALICE_URI, acct="alice@a.example")
    http_server.routes["/a/api/v1/timelines/tag/acme"] = timeline([alice_on_a])
    http_server.routes["/b/api/v1/timelines/tag/acme"] = timeline(
        [boost("905", alice_on_b), status("901", BOB_URI, acct="bob")]
    )

    result = poll(mastodon_source(instances, fetcher))

    assert [m.id for m in result.mentions] == [ALICE_URI, BOB_URI]
    assert result.mentions[0].author == "@alice@127.0.0.1"  # a.example's copy came first
    assert result.mentions[1].author == "@bob@127.0.0.1"
    assert result.fetched == 3


def test_a_boost_is_the_boosted_post(
    http_server: HttpServer, fetcher: Fetcher, instances: list[str]
) -> None:
    alice = status("800", ALICE_URI, acct="alice@a.example", favourites_count=4)
    http_server.routes["/a/api/v1/timelines/tag/acme"] = timeline([boost("905", alice)])
    http_server.routes["/b/api/v1/timelines/tag/acme"] = timeline([])

    (mention,) = poll(mastodon_source(instances, fetcher)).mentions

    assert (mention.id, mention.author, mention.text) == (
        ALICE_URI,
        "@alice@a.example",
        "I love #acme",
    )
    assert mention.metrics["likes"] == 4
    assert mention.raw is not None
    assert mention.raw["id"] == "905"  # as received: the boost, with who boosted it


def test_a_status_becomes_a_mention(http_server: HttpServer, fetcher: Fetcher) -> None:
    reply = status(
        "112",
        "https://a.example/users/dana/statuses/112",
        acct="dana@c.example",
        content=(
            '<p><span class="h-card"><a href="https://a.example/@alice" class="u-url mention">'
            '@<span>alice</span></a></span> <a href="https://a.example/tags/acme" class="mention hashtag">'
            "#<span>Acme</span></a> support &amp; billing are down again&nbsp;&lt;3</p>"
            "<p>Day two.<br>Still nothing.</p>"
        ),
        spoiler_text="rant, outage",
        created_at="2025-06-03T11:39:21.500+02:00",
        language="de",
        in_reply_to_id="110",
        replies_count=2,
        reblogs_count=3,
        favourites_count=5,
    )
    reply["account"]["followers_count"] = 1234
    http_server.routes["/a/api/v1/timelines/tag/acme"] = json_reply([reply])

    (mention,) = poll(mastodon_source([http_server.url("/a")], fetcher)).mentions

    assert mention == Mention(
        source="acme_toots",
        id="https://a.example/users/dana/statuses/112",
        title="rant, outage",
        text="@alice #Acme support & billing are down again <3\n\nDay two.\nStill nothing.",
        url="https://a.example/@dana/112",
        author="@dana@c.example",
        published=datetime(2025, 6, 3, 9, 39, 21, 500000, tzinfo=UTC),
        lang="de",
        metrics={"followers": 1234, "likes": 5, "reposts": 3, "replies": 2},
        parent_id="110",
    )
    assert mention.raw == reply


def test_a_status_without_url_links_to_its_uri(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes["/a/api/v1/timelines/tag/acme"] = json_reply(
        [status("1", ALICE_URI, url=None, language=None, created_at="yesterday")]
    )

    (mention,) = poll(mastodon_source([http_server.url("/a")], fetcher)).mentions

    assert (mention.url, mention.lang, mention.published) == (ALICE_URI, "", None)


def test_the_next_poll_asks_only_for_newer_statuses(
    http_server: HttpServer, fetcher: Fetcher, instances: list[str]
) -> None:
    on_a = [status("99", "https://a.example/s/99"), status("100", "https://a.example/s/100")]
    on_b = [status("7", "https://b.example/s/7")]
    http_server.routes["/a/api/v1/timelines/tag/acme"] = timeline(on_a)
    http_server.routes["/b/api/v1/timelines/tag/acme"] = timeline(on_b)
    source = mastodon_source(instances, fetcher)
    first = poll(source)
    on_a.append(status("101", "https://a.example/s/101"))
    http_server.requests.clear()

    second = poll(source, first.cursor)

    assert [m.id for m in first.mentions] == [
        "https://a.example/s/100",  # newest first, ids compared as numbers: 100 after 99
        "https://a.example/s/99",
        "https://b.example/s/7",
    ]
    assert [m.id for m in second.mentions] == ["https://a.example/s/101"]
    assert [path for path, _ in http_server.requests] == [
        "/a/api/v1/timelines/tag/acme?limit=40&since_id=100",
        "/b/api/v1/timelines/tag/acme?limit=40&since_id=7",
    ]


def test_a_restart_with_the_stored_cursor_repeats_nothing(
    http_server: HttpServer, fetcher: Fetcher, instances: list[str]
) -> None:
    # These instances ignore since_id: the URIs remembered in the cursor still stop repeats.
    alice = status("110", ALICE_URI)
    http_server.routes["/a/api/v1/timelines/tag/acme"] = json_reply([alice])
    http_server.routes["/b/api/v1/timelines/tag/acme"] = json_reply([])
    first = poll(mastodon_source(instances, fetcher))
    stored = json.loads(json.dumps(first.cursor))  # as the database gives it back

    # b.example hears of Alice's post only now, under an id newer than anything it gave before.
    http_server.routes["/b/api/v1/timelines/tag/acme"] = json_reply(
        [status("800", ALICE_URI, acct="alice@a.example")]
    )
    after_restart = poll(mastodon_source(instances, fetcher), stored)

    assert [m.id for m in first.mentions] == [ALICE_URI]
    assert after_restart.mentions == ()
    assert after_restart.fetched == 2


def test_the_cursor_never_moves_back(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes["/a/api/v1/timelines/tag/acme"] = json_reply([status("100", ALICE_URI)])
    source = mastodon_source([http_server.url("/a")], fetcher)
    first = poll(source)
    # An instance that ignores since_id and serves an older status it has only just fetched.
    http_server.routes["/a/api/v1/timelines/tag/acme"] = json_reply([status("90", BOB_URI)])

    second = poll(source, first.cursor)

    assert [m.id for m in second.mentions] == [BOB_URI]
    assert second.cursor["instances"][http_server.url("/a")]["since"] == {"tag:acme": "100"}


def test_hashtags_default_to_the_one_word_brand_terms(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    for tag in ("acme", "acmecloud", "acme_hq", "café"):
        http_server.routes[f"/a/api/v1/timelines/tag/{quote(tag)}"] = timeline([])
    source = mastodon_source(
        [http_server.url("/a")],
        fetcher,
        terms=("Acme", "#AcmeCloud", "@acme_hq", "Acme Cloud", "acme.io", "ACME", "Café"),
    )

    poll(source)

    assert [path for path, _ in http_server.requests] == [
        "/a/api/v1/timelines/tag/acme?limit=40",
        "/a/api/v1/timelines/tag/acmecloud?limit=40",
        "/a/api/v1/timelines/tag/acme_hq?limit=40",
        "/a/api/v1/timelines/tag/caf%C3%A9?limit=40",
    ]
    assert source.describe({}).startswith("#acme, #acmecloud, #acme_hq, #café on 127.0.0.1:")


def test_search_runs_with_the_token_and_only_on_its_instance(
    http_server: HttpServer,
    fetcher: Fetcher,
    instances: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    http_server.routes["/a/api/v1/timelines/tag/acme"] = timeline([])
    http_server.routes["/b/api/v1/timelines/tag/acme"] = timeline([])
    http_server.routes["/a/api/v2/search"] = json_reply(
        {"accounts": [], "statuses": [status("120", BOB_URI, acct="bob@b.example")], "hashtags": []}
    )
    source = mastodon_source(instances, fetcher, terms=("Acme", "Acme Cloud"))

    result = poll(source)
    again = poll(source, result.cursor)

    assert [m.id for m in result.mentions] == [BOB_URI]
    assert again.mentions == ()
    searches = [path for path, _ in requests_to(http_server, "/a/api/v2/search")]
    assert searches == [
        "/a/api/v2/search?q=Acme&type=statuses&limit=40",
        "/a/api/v2/search?q=%22Acme+Cloud%22&type=statuses&limit=40",
        "/a/api/v2/search?q=Acme&type=statuses&limit=40&min_id=120",
        "/a/api/v2/search?q=%22Acme+Cloud%22&type=statuses&limit=40&min_id=120",
    ]
    assert all(h["authorization"] == "Bearer s3cret" for _, h in requests_to(http_server, "/a/"))
    assert all("authorization" not in h for _, h in requests_to(http_server, "/b/"))
    assert source.describe(again.cursor).endswith(
        "; search on 127.0.0.1:" + instances[0].split(":")[-1]
    )


def test_without_a_token_only_hashtags_are_followed(
    http_server: HttpServer, fetcher: Fetcher, instances: list[str]
) -> None:
    http_server.routes["/a/api/v1/timelines/tag/acme"] = timeline([status("110", ALICE_URI)])
    http_server.routes["/b/api/v1/timelines/tag/acme"] = timeline([])
    source = mastodon_source(instances, fetcher)

    result = poll(source)

    assert [m.id for m in result.mentions] == [ALICE_URI]
    assert not requests_to(http_server, "/a/api/v2/search")
    assert source.describe(result.cursor).endswith("; no search: HARKEN_MASTODON_TOKEN is not set")


def test_a_refused_search_falls_back_to_hashtags(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "expired")
    http_server.routes["/a/api/v1/timelines/tag/acme"] = timeline([status("110", ALICE_URI)])
    http_server.routes["/a/api/v2/search"] = Reply(
        b'{"error":"The access token is invalid"}', status=401
    )
    source = mastodon_source([http_server.url("/a")], fetcher)

    result = poll(source)

    assert [m.id for m in result.mentions] == [ALICE_URI]
    assert "search refused: " in source.describe(result.cursor)
    assert "HTTP 401" in source.describe(result.cursor)


def test_search_can_be_switched_off(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    http_server.routes["/a/api/v1/timelines/tag/acme"] = timeline([])
    source = mastodon_source([http_server.url("/a")], fetcher, search=False)

    poll(source)

    assert not requests_to(http_server, "/a/api/v2/search")
    assert source.describe({}).endswith("; search off")


def test_one_instance_down_keeps_the_others_mentions(
    http_server: HttpServer,
    fetcher: Fetcher,
    instances: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    http_server.routes["/a/api/v1/timelines/tag/acme"] = timeline([status("110", ALICE_URI)])
    http_server.routes["/b/api/v1/timelines/tag/acme"] = timeline([status("7", BOB_URI)])
    source = mastodon_source(instances, fetcher)
    first = poll(source)
    http_server.routes["/a/api/v1/timelines/tag/acme"] = Reply(b"oops", status=500)
    http_server.routes["/b/api/v1/timelines/tag/acme"] = timeline(
        [status("7", BOB_URI), status("8", "https://b.example/s/8")]
    )

    with caplog.at_level(logging.WARNING, logger="harken.sources.mastodon"):
        second = poll(source, first.cursor)

    assert [m.id for m in second.mentions] == ["https://b.example/s/8"]
    assert second.cursor["instances"][instances[0]] == first.cursor["instances"][instances[0]]
    (record,) = caplog.records
    assert "acme_toots" in record.getMessage()
    assert instances[0] in record.getMessage()
    assert "HTTP 500" in record.getMessage()


def test_every_instance_down_is_a_fetch_error(
    http_server: HttpServer, fetcher: Fetcher, instances: list[str]
) -> None:
    http_server.routes["/a/api/v1/timelines/tag/acme"] = Reply(b"oops", status=500)
    http_server.routes["/b/api/v1/timelines/tag/acme"] = Reply(b"bad gateway", status=502)

    with pytest.raises(FetchError) as caught:
        poll(mastodon_source(instances, fetcher))

    assert not isinstance(caught.value, RateLimited)
    assert str(caught.value).startswith("every instance failed: ")
    assert f"{instances[0]}/api/v1/timelines/tag/acme: HTTP 500" in str(caught.value)
    assert f"{instances[1]}/api/v1/timelines/tag/acme: HTTP 502" in str(caught.value)


def test_rate_limited_waits_until_the_instance_resets(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/a/api/v1/timelines/tag/acme"] = Reply(
        b'{"error":"Too many requests"}',
        status=429,
        headers={"X-RateLimit-Limit": "300", "X-RateLimit-Reset": "2026-08-01T15:00:00.409710Z"},
    )
    now = datetime(2026, 8, 1, 14, 58, 0, 409710, tzinfo=UTC)
    clocked = Fetcher(timeout=0.5, max_bytes=1_000_000, clock=now.timestamp)
    source = mastodon_source([http_server.url("/a")], clocked, now=lambda: now)

    with pytest.raises(RateLimited) as caught:
        poll(source)
    clocked.close()

    assert caught.value.retry_after == pytest.approx(120)
    assert "waiting 120s" in str(caught.value)


def test_malformed_json_is_a_bad_payload(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes["/a/api/v1/timelines/tag/acme"] = Reply(
        b'[{"id": "1", "uri": ', headers={"Content-Type": "application/json"}
    )

    with pytest.raises(BadPayload, match="malformed JSON"):
        poll(mastodon_source([http_server.url("/a")], fetcher))


def test_a_timeline_that_is_not_a_list_is_a_bad_payload(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/a/api/v1/timelines/tag/acme"] = json_reply({"error": "Record not found"})

    with pytest.raises(BadPayload, match="expected a list of statuses, got dict"):
        poll(mastodon_source([http_server.url("/a")], fetcher))


def test_statuses_in_an_unexpected_shape_are_skipped(
    http_server: HttpServer, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    no_uri = status("3", "") | {"uri": None}
    no_account = status("2", "https://a.example/s/2") | {"account": None}
    http_server.routes["/a/api/v1/timelines/tag/acme"] = json_reply(
        [no_uri, "junk", no_account, status("1", ALICE_URI)]
    )

    with caplog.at_level(logging.WARNING, logger="harken.sources.mastodon"):
        result = poll(mastodon_source([http_server.url("/a")], fetcher))

    assert [m.id for m in result.mentions] == [ALICE_URI]
    assert result.fetched == 4
    assert len(caplog.records) == 3
    assert result.cursor["instances"][http_server.url("/a")]["since"] == {"tag:acme": "3"}


def test_more_statuses_than_asked_for_are_read_only_as_far_as_asked(
    http_server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    statuses = [status(str(n), f"https://a.example/s/{n}") for n in range(5000, 0, -1)]
    http_server.routes["/a/api/v1/timelines/tag/acme"] = json_reply(statuses)
    url = http_server.url("/a/api/v1/timelines/tag/acme")
    fetcher = Fetcher(max_bytes=10_000_000)  # the default cap: 5,000 statuses fit under it

    try:
        with caplog.at_level(logging.WARNING, logger="harken.sources.mastodon"):
            result = poll(mastodon_source([http_server.url("/a")], fetcher, limit=40))
    finally:
        fetcher.close()

    assert [m.id for m in result.mentions] == [
        f"https://a.example/s/{n}" for n in range(5000, 4960, -1)
    ]
    assert [r.getMessage() for r in caplog.records] == [
        f"source acme_toots: {url} sent 5000 statuses where 40 were asked for; read the first 40"
    ]


def test_nothing_to_follow_declines_to_start(fetcher: Fetcher) -> None:
    with pytest.raises(NotConfigured, match="set hashtags, or put a token"):
        mastodon_source(["https://mastodon.example"], fetcher, terms=("Acme Cloud",))


def test_settings_are_checked(fetcher: Fetcher) -> None:
    kind = source_kinds()["mastodon"]
    with pytest.raises(ValueError, match="not an http"):
        kind.Settings.model_validate({"type": "mastodon", "instances": ["mastodon.social"]})
    with pytest.raises(ValueError, match="not a hashtag"):
        kind.Settings.model_validate(
            {"type": "mastodon", "instances": ["https://m.example"], "hashtags": ["acme cloud"]}
        )
    with pytest.raises(ValueError, match="less than or equal to 40"):
        kind.Settings.model_validate(
            {"type": "mastodon", "instances": ["https://m.example"], "limit": 80}
        )

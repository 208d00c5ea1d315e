"""The bluesky source against a real local Jetstream (websocket) and a real local HTTP server."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from monitor.errors import AccessDenied, FetchError, NotConfigured, RateLimited
from monitor.fetch import Fetcher
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, source_kinds
from tests.servers import HttpServer, Reply, free_port

NOW = datetime(2025, 6, 3, 9, 0, tzinfo=UTC)
NOW_US = int(NOW.timestamp()) * 1_000_000
FAN = "did:plc:acmefan7x2q4k3w9zzzzzzzz"
OTHER = "did:plc:someone5b8n2m1p4yyyyyyyy"
POST = "app.bsky.feed.post"


class JetstreamServer:
    """A local Jetstream: replays its events from the requested cursor, then stays open.

    A subscriber without a ``cursor`` gets only events at or after ``now_us``, as the real one
    starts a cursorless subscriber at the live edge.
    """

    def __init__(self) -> None:
        self.events: list[tuple[int, str]] = []  # (time_us, message as sent), in time order
        self.now_us = 0
        self.paths: list[str] = []  # each subscription's path and query string
        self.close_with: tuple[int, str] | None = None  # close code and reason after replaying
        self.refuse_with: tuple[int, dict[str, str]] | None = None  # HTTP status, headers
        self._server = serve(
            self._replay,
            "127.0.0.1",
            0,
            compression=None,
            process_request=self._check,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}"

    def add(self, *events: dict[str, Any]) -> None:
        for event in events:
            self.events.append((event["time_us"], json.dumps(event)))

    def add_raw(self, time_us: int, message: str) -> None:
        self.events.append((time_us, message))

    def cursors(self) -> list[int | None]:
        """The cursor each subscription asked for, None for none."""
        queries = [parse_qs(urlsplit(path).query) for path in self.paths]
        return [int(query["cursor"][0]) if "cursor" in query else None for query in queries]

    def start(self) -> JetstreamServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        if self.refuse_with is None:
            return None
        status, headers = self.refuse_with
        response = connection.respond(status, "go away\n")
        response.headers.update(Headers(headers))
        return response

    def _replay(self, connection: ServerConnection) -> None:
        query = parse_qs(urlsplit(connection.request.path if connection.request else "").query)
        start = int(query["cursor"][0]) if "cursor" in query else self.now_us
        try:
            for time_us, message in list(self.events):
                if time_us >= start:
                    connection.send(message)
            if self.close_with:
                connection.close(*self.close_with)
                return
            for _ in connection:  # Jetstream never ends a stream; the subscriber leaves
                pass
        except ConnectionClosed:
            pass


@pytest.fixture
def jetstream() -> Iterator[JetstreamServer]:
    server = JetstreamServer().start()
    yield server
    server.stop()


def post(
    time_us: int,
    rkey: str,
    text: str,
    *,
    did: str = FAN,
    created: str = "2025-06-03T09:00:00.250Z",
    reply: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A Jetstream event for a new post; ``reply`` is (root uri, parent uri)."""
    record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": created, "langs": ["en"]}
    if reply:
        root, parent = reply
        record["reply"] = {
            "root": {"uri": root, "cid": "bafyreiroot"},
            "parent": {"uri": parent, "cid": "bafyreiparent"},
        }
    commit = {
        "rev": f"3lrev{rkey}",
        "operation": "create",
        "collection": POST,
        "rkey": rkey,
        "record": record,
        "cid": f"bafyrei{rkey}",
    }
    return {"did": did, "time_us": time_us, "kind": "commit", "commit": commit}


def uri(rkey: str, did: str = FAN) -> str:
    return f"at://{did}/{POST}/{rkey}"


def bluesky_source(fetcher: Fetcher, **settings: object) -> Source:
    """The bluesky source as the daemon builds it: found by its kind, settings validated."""
    kind = source_kinds()["bluesky"]
    return kind(
        "acme_bsky",
        kind.Settings.model_validate({"type": "bluesky", "window": "0.25s", **settings}),
        SourceContext(fetcher, terms=("Acme", "acme cloud"), now=lambda: NOW),
    )


def poll(source: Source, cursor: Cursor | None = None) -> Poll:
    return source.poll({} if cursor is None else cursor)


def stored(cursor: Cursor) -> Cursor:
    """The cursor as it comes back from the database: through JSON."""
    loaded: Cursor = json.loads(json.dumps(cursor))
    return loaded


def resume_at(time_us: int) -> Cursor:
    return {"time_us": time_us}


def test_posts_naming_the_brand_become_mentions_and_others_are_dropped(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    jetstream.add(
        post(NOW_US + 1, "3kacme1", "Loving the new ACME dashboard"),
        post(NOW_US + 2, "3kcats", "cats are great", did=OTHER),
        {"did": OTHER, "time_us": NOW_US + 3, "kind": "identity", "identity": {"seq": 1}},
        {
            "did": FAN,
            "time_us": NOW_US + 4,
            "kind": "commit",
            "commit": {"rev": "r", "operation": "delete", "collection": POST, "rkey": "3kgone"},
        },
        {"did": OTHER, "time_us": NOW_US + 5, "kind": "account", "account": {"active": True}},
    )
    source = bluesky_source(fetcher, jetstream_url=jetstream.url)

    result = poll(source, resume_at(NOW_US))

    assert result.mentions == (
        Mention(
            source="acme_bsky",
            id=uri("3kacme1"),
            text="Loving the new ACME dashboard",
            url=f"https://bsky.app/profile/{FAN}/post/3kacme1",
            author=FAN,
            published=datetime(2025, 6, 3, 9, 0, 0, 250000, tzinfo=UTC),
            lang="en",
        ),
    )
    assert result.mentions[0].raw == post(NOW_US + 1, "3kacme1", "Loving the new ACME dashboard")
    assert result.fetched == 5
    assert result.cursor["time_us"] == NOW_US + 5  # the last event read, whatever its kind
    assert jetstream.paths[-1].startswith(f"/subscribe?wantedCollections={POST}&cursor=")


def test_a_reply_carries_its_thread_and_parent(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    root, parent = uri("3kroot", OTHER), uri("3kparent", OTHER)
    jetstream.add(post(NOW_US + 1, "3kreply", "acme cloud is down again?", reply=(root, parent)))

    (mention,) = poll(
        bluesky_source(fetcher, jetstream_url=jetstream.url), resume_at(NOW_US)
    ).mentions

    assert mention.thread_id == root
    assert mention.parent_id == parent


def test_a_post_without_a_usable_date_is_dated_by_its_event(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    jetstream.add(post(NOW_US + 1_500_000, "3knodate", "acme", created="yesterday-ish"))

    (mention,) = poll(
        bluesky_source(fetcher, jetstream_url=jetstream.url), resume_at(NOW_US)
    ).mentions

    assert mention.published == datetime(2025, 6, 3, 9, 0, 1, 500000, tzinfo=UTC)


def test_the_first_poll_starts_at_the_live_edge(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    jetstream.now_us = NOW_US
    jetstream.add(
        post(NOW_US - 60_000_000, "3kold", "acme, a minute ago"),
        post(NOW_US + 10, "3knew", "acme, just now"),
    )

    result = poll(bluesky_source(fetcher, jetstream_url=jetstream.url))

    assert jetstream.cursors() == [None]
    assert [m.id for m in result.mentions] == [uri("3knew")]
    assert result.cursor["time_us"] == NOW_US + 10


def test_a_quiet_first_poll_remembers_when_it_started_listening(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    jetstream.now_us = NOW_US
    source = bluesky_source(fetcher, jetstream_url=jetstream.url)

    first = poll(source)
    jetstream.add(post(NOW_US + 2_000_000, "3klater", "acme, after the first poll"))
    second = poll(source, stored(first.cursor))

    assert first.mentions == ()
    assert first.cursor["time_us"] == NOW_US  # the context's now, in microseconds
    assert [m.id for m in second.mentions] == [uri("3klater")]


def test_a_restart_resumes_from_the_cursor_without_gaps_or_duplicates(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    jetstream.add(
        post(NOW_US + 100, "3ka", "acme one"),
        post(NOW_US + 200, "3kb", "acme two"),
        post(NOW_US + 300, "3kc", "not the brand"),
    )
    first = poll(bluesky_source(fetcher, jetstream_url=jetstream.url), resume_at(NOW_US))
    # Posted while Harken was down, within the rewind of the cursor and after it.
    jetstream.add(
        post(NOW_US + 400, "3kd", "acme three"), post(NOW_US + 9_000_000, "3ke", "acme four")
    )

    restarted = bluesky_source(fetcher, jetstream_url=jetstream.url)
    second = poll(restarted, stored(first.cursor))
    third = poll(restarted, stored(second.cursor))

    assert [m.id for m in first.mentions] == [uri("3ka"), uri("3kb")]
    assert first.cursor["time_us"] == NOW_US + 300
    assert jetstream.cursors()[1] == NOW_US + 300 - 3_000_000  # rewound a few seconds
    assert second.fetched == 5  # the rewind replayed what the first poll had read
    assert [m.id for m in second.mentions] == [uri("3kd"), uri("3ke")]
    assert second.cursor["time_us"] == NOW_US + 9_000_000
    assert third.mentions == ()


def test_max_events_ends_a_poll_early_and_the_next_goes_on(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    jetstream.add(*(post(NOW_US + n, f"3k{n}", f"acme {n}") for n in range(1, 6)))
    source = bluesky_source(fetcher, jetstream_url=jetstream.url, max_events=2)

    polls = [poll(source, resume_at(NOW_US))]
    for _ in range(3):
        polls.append(poll(source, stored(polls[-1].cursor)))

    assert [[m.text for m in p.mentions] for p in polls] == [
        ["acme 1", "acme 2"],
        ["acme 3", "acme 4"],
        ["acme 5"],
        [],
    ]


def test_a_malformed_event_is_skipped_with_a_warning_and_the_rest_kept(
    jetstream: JetstreamServer, fetcher: Fetcher, caplog: pytest.LogCaptureFixture
) -> None:
    jetstream.add(post(NOW_US + 1, "3kfirst", "acme before"))
    jetstream.add_raw(NOW_US + 2, '{"did": "did:plc:broken", "time_us": ')
    jetstream.add_raw(NOW_US + 3, json.dumps({"did": FAN, "kind": "commit"}))
    broken = post(NOW_US + 4, "3kbroken", "acme")
    broken["commit"]["record"]["text"] = ["not", "text"]
    jetstream.add(broken, post(NOW_US + 5, "3klast", "acme after"))

    with caplog.at_level(logging.WARNING, logger="harken.sources"):
        result = poll(bluesky_source(fetcher, jetstream_url=jetstream.url), resume_at(NOW_US))

    assert [m.id for m in result.mentions] == [uri("3kfirst"), uri("3klast")]
    assert result.cursor["time_us"] == NOW_US + 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all(
        w.startswith("source acme_bsky: skipped a malformed Jetstream event") for w in warnings
    )
    assert "not JSON" in warnings[0]


def test_an_unreachable_server_is_a_fetch_error(fetcher: Fetcher) -> None:
    url = f"ws://127.0.0.1:{free_port()}"

    with pytest.raises(FetchError, match="cannot connect") as caught:
        poll(bluesky_source(fetcher, jetstream_url=url))

    assert str(caught.value).startswith(f"{url}/subscribe?")


def test_a_server_that_never_answers_the_handshake_times_out(fetcher: Fetcher) -> None:
    with socket.socket() as silent:  # accepts TCP connections, never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}"

        with pytest.raises(FetchError, match=r"no websocket handshake within 0\.5s"):
            poll(bluesky_source(fetcher, jetstream_url=url))


def test_a_refused_upgrade_with_429_is_rate_limited(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    jetstream.refuse_with = (429, {"Retry-After": "30"})

    with pytest.raises(RateLimited) as caught:
        poll(bluesky_source(fetcher, jetstream_url=jetstream.url))

    assert caught.value.retry_after == 30


def test_a_refused_upgrade_with_a_server_error_is_a_fetch_error(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    jetstream.refuse_with = (503, {})

    with pytest.raises(FetchError, match="HTTP 503"):
        poll(bluesky_source(fetcher, jetstream_url=jetstream.url))


def test_closing_with_try_again_later_is_rate_limited(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    jetstream.close_with = (1013, "too many connections")

    with pytest.raises(RateLimited, match="1013"):
        poll(bluesky_source(fetcher, jetstream_url=jetstream.url))


def test_a_stream_cut_short_keeps_what_was_read(
    jetstream: JetstreamServer, fetcher: Fetcher
) -> None:
    jetstream.add(post(NOW_US + 1, "3kread", "acme"))
    jetstream.close_with = (1011, "internal error")

    result = poll(bluesky_source(fetcher, jetstream_url=jetstream.url), resume_at(NOW_US))

    assert [m.id for m in result.mentions] == [uri("3kread")]
    assert result.cursor["time_us"] == NOW_US + 1


def test_a_jetstream_url_must_be_a_websocket_address() -> None:
    kind = source_kinds()["bluesky"]

    with pytest.raises(ValueError, match="is not a ws"):
        kind.Settings.model_validate({"type": "bluesky", "jetstream_url": "https://example.com"})


def test_without_brand_terms_the_source_declines(fetcher: Fetcher) -> None:
    kind = source_kinds()["bluesky"]

    with pytest.raises(NotConfigured, match="no"):
        kind("acme_bsky", kind.Settings(type="bluesky"), SourceContext(fetcher))


# searchPosts fallback


def search_hit(rkey: str, text: str, indexed: str, **counts: int) -> dict[str, Any]:
    return {
        "uri": uri(rkey),
        "cid": f"bafyrei{rkey}",
        "author": {"did": FAN, "handle": "fan.example.com", "displayName": "A Fan"},
        "record": {
            "$type": POST,
            "text": text,
            "createdAt": "2025-06-03T08:59:00Z",
            "langs": ["de"],
            "reply": {"root": {"uri": uri("3kroot", OTHER)}, "parent": {"uri": uri("3kp", OTHER)}},
        },
        "replyCount": counts.get("replies", 0),
        "repostCount": counts.get("reposts", 0),
        "likeCount": counts.get("likes", 0),
        "quoteCount": counts.get("quotes", 0),
        "indexedAt": indexed,
    }


def search_route(server: HttpServer, *pages: list[dict[str, Any]]) -> list[dict[str, list[str]]]:
    """Answer searchPosts with ``pages`` in turn (then nothing); return the queries seen."""
    queries: list[dict[str, list[str]]] = []
    remaining = list(pages)

    def answer(request: BaseHTTPRequestHandler) -> Reply:
        queries.append(parse_qs(urlsplit(request.path).query))
        posts = remaining.pop(0) if remaining else []
        return Reply(
            json.dumps({"posts": posts}).encode(), headers={"Content-Type": "application/json"}
        )

    server.routes["/xrpc/app.bsky.feed.searchPosts"] = answer
    return queries


def test_search_mode_maps_posts_and_resumes_since_the_newest(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    first_hit = search_hit(
        "3ks1", "Acme support rocks", "2025-06-03T08:59:01.000Z", likes=4, quotes=1
    )
    queries = search_route(http_server, [first_hit], [], [first_hit], [])
    source = bluesky_source(fetcher, mode="search", search_url=http_server.base_url)

    first = poll(source)
    second = poll(source, stored(first.cursor))

    assert first.mentions == (
        Mention(
            source="acme_bsky",
            id=uri("3ks1"),
            text="Acme support rocks",
            url=f"https://bsky.app/profile/{FAN}/post/3ks1",
            author="fan.example.com",
            published=datetime(2025, 6, 3, 8, 59, tzinfo=UTC),
            lang="de",
            metrics={"likes": 4.0, "reposts": 0.0, "replies": 0.0, "quotes": 1.0},
            thread_id=uri("3kroot", OTHER),
            parent_id=uri("3kp", OTHER),
        ),
    )
    assert [q["q"] for q in queries] == [["Acme"], ['"acme cloud"'], ["Acme"], ['"acme cloud"']]
    assert all(q["sort"] == ["latest"] for q in queries)
    assert "since" not in queries[0]
    assert queries[2]["since"] == ["2025-06-03T08:49:01Z"]  # the newest, less an overlap
    assert second.mentions == ()  # seen in the overlap, not returned twice


def test_search_sends_the_token_named_by_token_env(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARKEN_TEST_BSKY_TOKEN", "s3cret")
    search_route(http_server)
    source = bluesky_source(
        fetcher, mode="search", search_url=http_server.base_url, token_env="HARKEN_TEST_BSKY_TOKEN"
    )

    poll(source)

    assert http_server.requests[-1][1]["Authorization"] == "Bearer s3cret"


def test_search_without_the_token_in_the_environment_declines(
    fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARKEN_TEST_BSKY_TOKEN", raising=False)

    with pytest.raises(NotConfigured, match="HARKEN_TEST_BSKY_TOKEN"):
        bluesky_source(fetcher, mode="search", token_env="HARKEN_TEST_BSKY_TOKEN")


def test_search_refused_with_401_is_access_denied(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/xrpc/app.bsky.feed.searchPosts"] = Reply(
        b'{"error": "AuthMissing"}', status=401
    )
    source = bluesky_source(fetcher, mode="search", search_url=http_server.base_url)

    with pytest.raises(AccessDenied, match="set token_env"):
        poll(source)

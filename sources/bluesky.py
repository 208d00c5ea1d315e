"""Bluesky: the Jetstream websocket of new posts matched locally, or searchPosts as a fallback.

Bluesky asks integrators to consume the network rather than poll search. Harken's sources are
polled, so each poll connects to Jetstream, replays from the stored microsecond cursor for up
to ``window`` seconds, keeps the posts that name a brand term and disconnects. The cursor
resumes the next poll where this one stopped, rewound a few seconds as Jetstream recommends,
with the ids already returned from that overlap remembered so none comes back twice.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import Field, field_validator
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidStatus,
    WebSocketException,
)
from websockets.frames import CloseCode
from websockets.sync.client import ClientConnection, connect

from monitor.duration import Duration
from monitor.errors import AccessDenied, BadPayload, FetchError, NotConfigured, RateLimited
from monitor.fetch import DEFAULT_RATE_LIMIT_WAIT, USER_AGENT, raise_for_status
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, SourceSettings
from sources.bluesky_posts import POST, jetstream_mention, search_mention
from sources.times import utc_time
from sources.values import HttpUrl, is_int

log = logging.getLogger("harken.sources")

# Jetstream advises rewinding a few seconds when reconnecting, for gapless playback.
REWIND_US = 3_000_000
# searchPosts filters on a sort time that can trail the index time; overlap polls by this.
SEARCH_OVERLAP = timedelta(minutes=10)
SEARCH_PAGE_SIZE = 100  # the most searchPosts returns at once
SEARCH_MAX_PAGES = 5  # per term and poll, once a cursor exists
_MAX_REMEMBERED_IDS = 5000
_MAX_WARNINGS = 5  # malformed events logged one by one per poll; the rest only counted


class BlueskySettings(SourceSettings):
    mode: Literal["jetstream", "search"] = Field(
        default="jetstream", description="read the Jetstream websocket, or poll searchPosts"
    )
    jetstream_url: str = Field(
        default="wss://jetstream2.us-east.bsky.network", description="the Jetstream instance"
    )
    window: Duration = Field(
        default=timedelta(seconds=20), description="how long one poll listens to Jetstream"
    )
    max_events: int = Field(default=50_000, gt=0, description="new events read in one poll at most")
    search_url: HttpUrl = Field(default="https://api.bsky.app", description="the searchPosts host")
    token_env: str = Field(
        default="", description="environment variable holding a bearer token for search"
    )

    @field_validator("jetstream_url")
    @classmethod
    def _websocket_url(cls, url: str) -> str:
        if not url.startswith(("ws://", "wss://")):
            raise ValueError(
                f'"{url}" is not a ws(s):// URL, e.g. "wss://jetstream2.us-east.bsky.network"'
            )
        return url.rstrip("/").removesuffix("/subscribe")


class BlueskySource(Source):
    """Posts on Bluesky that name a brand, from Jetstream (default) or searchPosts."""

    Settings = BlueskySettings

    def __init__(self, name: str, settings: SourceSettings, context: SourceContext) -> None:
        super().__init__(name, settings, context)
        assert isinstance(settings, BlueskySettings)
        self.bluesky = settings
        if not context.terms:
            raise NotConfigured(
                f"source {name}: bluesky looks for brand terms and there are none; add terms to [[brands]]"
            )
        self._needles = tuple(term.casefold() for term in context.terms)
        self._token = ""
        if settings.mode == "search" and settings.token_env:
            self._token = os.environ.get(settings.token_env, "")
            if not self._token:
                raise NotConfigured(
                    f"source {name}: the environment variable {settings.token_env} (token_env) is not set"
                )

    def poll(self, cursor: Cursor) -> Poll:
        if self.bluesky.mode == "search":
            return self._poll_search(cursor)
        return self._poll_jetstream(cursor)

    def probe(self) -> Poll:
        # Connecting and hearing the stream for a second shows it answers; a whole window
        # would hold `harken doctor` for 20 s.
        if self.bluesky.mode == "jetstream":
            self.bluesky = self.bluesky.model_copy(update={"window": timedelta(seconds=1)})
        return self.poll({})

    def describe(self, cursor: Cursor) -> str:
        if self.bluesky.mode == "search":
            return "searchPosts fallback"
        time_us = cursor.get("time_us")
        if not isinstance(time_us, int):
            return "jetstream, not started"
        behind = self.context.now() - datetime.fromtimestamp(time_us / 1e6, UTC)
        return f"jetstream, {max(int(behind.total_seconds()), 0)}s behind"

    # Jetstream

    def _poll_jetstream(self, cursor: Cursor) -> Poll:
        query: dict[str, str | int] = {"wantedCollections": POST}
        last, seen = cursor.get("time_us"), cursor.get("seen")
        if is_int(last):
            query["cursor"] = max(last - REWIND_US, 0)
            seen = dict(seen) if isinstance(seen, Mapping) else {}
        else:  # start at the live edge; an empty poll still remembers when that was
            last, seen = int(self.context.now().timestamp() * 1_000_000), {}
        url = f"{self.bluesky.jetstream_url}/subscribe?{urlencode(query)}"
        reader = _EventReader(self.name, last, seen, self._needles)
        with self._connect(url) as websocket:
            self._listen(url, websocket, reader)
        reader.report_malformed()
        horizon = reader.last - REWIND_US
        remembered = {key: at for key, at in reader.seen.items() if at >= horizon}
        return Poll(
            mentions=tuple(reader.mentions),
            cursor={"time_us": reader.last, "seen": remembered},
            fetched=reader.read,
        )

    def _connect(self, url: str) -> ClientConnection:
        timeout = self.fetcher.timeout
        try:
            return connect(
                url,
                compression=None,
                open_timeout=timeout,
                close_timeout=min(timeout, 5.0),
                user_agent_header=USER_AGENT,
            )
        except InvalidStatus as error:
            refused = error.response
        except TimeoutError:
            raise FetchError(
                f"{url}: no websocket handshake within {timeout:g}s (raise [http] timeout to wait longer)"
            ) from None
        except WebSocketException as error:
            raise FetchError(f"{url}: websocket handshake failed: {error}") from None
        except OSError as error:
            raise FetchError(f"{url}: cannot connect: {error}") from None
        raise_for_status(url, refused.status_code, refused.reason_phrase, refused.headers)
        raise FetchError(
            f"{url}: HTTP {refused.status_code} instead of a websocket; is jetstream_url a Jetstream server?"
        )

    def _listen(self, url: str, websocket: ClientConnection, reader: _EventReader) -> None:
        deadline = time.monotonic() + self.bluesky.window.total_seconds()
        while reader.new < self.bluesky.max_events:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                message = websocket.recv(timeout=remaining)
            except TimeoutError:
                return
            except ConnectionClosedOK:
                return  # the server ended the stream; the cursor resumes it next poll
            except ConnectionClosed as closed:
                self._closed_with_error(url, closed, reader)
                return
            reader.take(message)

    def _closed_with_error(self, url: str, closed: ConnectionClosed, reader: _EventReader) -> None:
        code = closed.rcvd.code if closed.rcvd else CloseCode.ABNORMAL_CLOSURE
        reason = closed.rcvd.reason if closed.rcvd else ""
        said = f"{url}: Jetstream closed the connection ({code}{' ' + reason if reason else ''})"
        if code == CloseCode.TRY_AGAIN_LATER or (
            code == CloseCode.POLICY_VIOLATION and "limit" in reason.lower()
        ):
            raise RateLimited(
                f"{said}: rate limited; waiting {DEFAULT_RATE_LIMIT_WAIT:g}s",
                DEFAULT_RATE_LIMIT_WAIT,
            )
        if not reader.read:
            raise FetchError(said)
        # What was read is gap-free up to the cursor; keep it and resume from there next poll.
        log.info("%s after %d events; resuming next poll", said, reader.read)

    # searchPosts

    def _poll_search(self, cursor: Cursor) -> Poll:
        since = cursor.get("since")
        seen = set(cursor.get("seen") or ())
        url = f"{self.bluesky.search_url}/xrpc/app.bsky.feed.searchPosts"
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        posts: dict[str, Mapping[str, Any]] = {}
        for term in self.context.terms:
            params: dict[str, str | int] = {
                "q": f'"{term}"' if any(c.isspace() for c in term) else term,
                "sort": "latest",
                "limit": SEARCH_PAGE_SIZE,
            }
            if isinstance(since, str):
                params["since"] = since
            for _ in range(SEARCH_MAX_PAGES if isinstance(since, str) else 1):
                page = self._search(url, params, headers)
                for post in page["posts"]:
                    if isinstance(post, Mapping) and isinstance(post.get("uri"), str):
                        posts.setdefault(post["uri"], post)
                next_page = page.get("cursor")
                if not page["posts"] or not isinstance(next_page, str) or not next_page:
                    break
                params["cursor"] = next_page
        mentions = []
        newest: datetime | None = None
        for uri, post in posts.items():
            indexed = utc_time(post.get("indexedAt"))
            if indexed and (newest is None or indexed > newest):
                newest = indexed
            if uri in seen:
                continue
            mention = search_mention(self.name, post)
            if mention is None:
                log.warning(
                    "source %s: skipped a searchPosts result not shaped like a post: %.200s",
                    self.name,
                    json.dumps(post, default=str),
                    extra={"source": self.name},
                )
                continue
            mentions.append(mention)
        if newest is None:
            return Poll(mentions=tuple(mentions), cursor=dict(cursor), fetched=len(posts))
        next_cursor = {
            "since": (newest - SEARCH_OVERLAP).isoformat().replace("+00:00", "Z"),
            "seen": list(posts)[:_MAX_REMEMBERED_IDS],
        }
        return Poll(mentions=tuple(mentions), cursor=next_cursor, fetched=len(posts))

    def _search(
        self, url: str, params: Mapping[str, str | int], headers: Mapping[str, str]
    ) -> Mapping[str, Any]:
        try:
            body = self.fetcher.get_json(url, params=params, headers=headers)
        except AccessDenied as error:
            hint = (
                f"the token in {self.bluesky.token_env} may have expired"
                if self._token
                else 'searchPosts may need a login: set token_env to a variable holding a Bluesky access token, or use mode = "jetstream"'
            )
            raise AccessDenied(f"{error}; {hint}") from None
        if not isinstance(body, Mapping) or not isinstance(body.get("posts"), list):
            raise BadPayload(f"{url}: searchPosts answered without a list of posts")
        return body


class _EventReader:
    """Turns one poll's Jetstream messages into mentions, tracking the cursor as it goes."""

    def __init__(
        self, source: str, last: int, seen: dict[str, int], needles: tuple[str, ...]
    ) -> None:
        self.source = source
        self.resumed_from = last
        self.last = last  # time_us of the newest event read; the next poll resumes here
        self.seen = seen  # ids returned near the cursor, with their time_us
        self.needles = needles
        self.mentions: list[Mention] = []
        self.read = 0  # every event read, replayed or not
        self.new = 0  # events past the cursor the poll began with
        self.malformed = 0

    def take(self, message: str | bytes) -> None:
        self.read += 1
        try:
            event = json.loads(message)
        except ValueError as error:
            self._malformed(f"not JSON ({error})", message)
            return
        time_us = event.get("time_us") if isinstance(event, dict) else None
        if not is_int(time_us):
            self._malformed("no integer time_us", message)
            return
        if time_us > self.resumed_from:
            self.new += 1
        self.last = max(self.last, time_us)
        commit = event.get("commit")
        if (
            event.get("kind") != "commit"
            or not isinstance(commit, dict)
            or commit.get("collection") != POST
            or commit.get("operation") != "create"
        ):
            return  # identity and account events, deletions, other collections
        record = commit.get("record")
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            self._malformed("a post without text", message)
            return
        folded = record["text"].casefold()
        if not any(needle in folded for needle in self.needles):
            return
        mention = jetstream_mention(self.source, event, commit, record)
        if mention is None:
            self._malformed("a post without did or rkey", message)
            return
        if mention.id in self.seen:
            return  # replayed by the rewind; returned by an earlier poll
        self.seen[mention.id] = time_us
        self.mentions.append(mention)

    def _malformed(self, problem: str, message: str | bytes) -> None:
        self.malformed += 1
        if self.malformed <= _MAX_WARNINGS:
            shown = message if isinstance(message, str) else message.decode("utf-8", "replace")
            log.warning(
                "source %s: skipped a malformed Jetstream event, %s: %.200s",
                self.source,
                problem,
                shown,
                extra={"source": self.source},
            )

    def report_malformed(self) -> None:
        if self.malformed > _MAX_WARNINGS:
            log.warning(
                "source %s: skipped %d malformed Jetstream events in this poll",
                self.source,
                self.malformed,
                extra={"source": self.source},
            )

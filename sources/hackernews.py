"""Hacker News stories and comments, searched through the public Algolia HN Search API."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator

from monitor.duration import Duration
from monitor.errors import BadPayload, NotConfigured
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, SourceSettings
from sources.text import html_to_text
from sources.values import HttpUrl, is_int, numbers

log = logging.getLogger("harken.sources")

ITEM_URL = "https://news.ycombinator.com/item?id="

Tag = Literal["story", "comment", "poll", "show_hn", "ask_hn", "front_page"]


class HackernewsSettings(SourceSettings):
    query: str | None = Field(
        default=None, description="what to search for; by default each brand term in turn"
    )
    tags: tuple[Tag, ...] = Field(
        default=("story", "comment"), min_length=1, description="kinds of item to search"
    )
    api_url: HttpUrl = Field(
        default="https://hn.algolia.com", description="the search API's address"
    )
    hits_per_page: int = Field(default=100, gt=0, le=1000, description="hits asked for per request")
    max_pages: int = Field(default=3, gt=0, description="pages read per query and poll at most")
    first_window: Duration = Field(
        default=timedelta(days=1), description="how far back the very first poll looks"
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, query: str | None) -> str | None:
        if query is not None and not query.strip():
            raise ValueError("must not be empty; leave it out to search for the brand terms")
        return query


class HackernewsSource(Source):
    """Hacker News search: every story or comment the API finds is a candidate mention."""

    Settings = HackernewsSettings

    def __init__(self, name: str, settings: SourceSettings, context: SourceContext) -> None:
        super().__init__(name, settings, context)
        assert isinstance(settings, HackernewsSettings)
        # Algolia has no OR: each term is a search of its own, merged by objectID afterwards.
        self.queries = (settings.query,) if settings.query else context.terms
        if not self.queries:
            raise NotConfigured(
                f"sources.{name}: nothing to search for; set query or add terms to a brand"
            )
        self.search_url = f"{settings.api_url}/api/v1/search_by_date"

    def poll(self, cursor: Cursor) -> Poll:
        settings = self.settings
        assert isinstance(settings, HackernewsSettings)
        since, seen_at_since = _read_cursor(cursor)
        if since is None:
            since = int((self.context.now() - settings.first_window).timestamp())
            seen_at_since = set()
        hits: dict[str, _Hit] = {}
        for query in self.queries:
            for hit in self._search(query, since):
                hits.setdefault(hit.id, hit)
        # Newest first, as the API lists them; an item found by two terms is one mention.
        ordered = sorted(hits.values(), key=lambda hit: hit.created_at, reverse=True)
        mentions = tuple(
            _to_mention(self.name, hit.raw)
            for hit in ordered
            if hit.created_at > since or (hit.created_at == since and hit.id not in seen_at_since)
        )
        return Poll(
            mentions=mentions,
            cursor=_next_cursor(since, seen_at_since, ordered),
            fetched=len(ordered),
        )

    def describe(self, cursor: Cursor) -> str:
        since, _ = _read_cursor(cursor)
        searches = ", ".join(repr(query) for query in self.queries)
        if since is None:
            return f"searching {searches}; not polled yet"
        newest = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
        return f"searching {searches}; newest item seen {newest}"

    def _search(self, query: str, since: int) -> Iterator[_Hit]:
        """Every well-formed hit for ``query`` since ``since``, up to ``max_pages`` pages."""
        settings = self.settings
        assert isinstance(settings, HackernewsSettings)
        tags = settings.tags[0] if len(settings.tags) == 1 else f"({','.join(settings.tags)})"
        for page in range(settings.max_pages):
            body = self.fetcher.get_json(
                self.search_url,
                params={
                    "query": query,
                    "tags": tags,
                    # >= rather than >: an item from the same second as the newest seen is not
                    # lost; the ids remembered for that second keep it from coming back twice.
                    "numericFilters": f"created_at_i>={since}",
                    "hitsPerPage": settings.hits_per_page,
                    "page": page,
                },
            )
            raw_hits, pages = self._read_page(body, page)
            for raw in raw_hits:
                hit = _read_hit(raw)
                if hit is None:
                    log.warning(
                        "source %s: skipped a Hacker News hit without an objectID or created_at_i: %.200r",
                        self.name,
                        raw,
                        extra={"source": self.name},
                    )
                else:
                    yield hit
            if not raw_hits or page + 1 >= pages:
                return
        log.warning(
            "source %s: more than %d pages of hits for %r; older ones were not read (raise max_pages or poll more often)",
            self.name,
            settings.max_pages,
            query,
            extra={"source": self.name},
        )

    def _read_page(self, body: Any, page: int) -> tuple[list[Any], int]:
        """The hits of one response and how many pages there are in all."""
        settings = self.settings
        assert isinstance(settings, HackernewsSettings)
        if not isinstance(body, dict) or not isinstance(body.get("hits"), list):
            raise BadPayload(
                f'{self.search_url}: expected a JSON object with a "hits" list, got {_shape(body)}'
            )
        hits: list[Any] = body["hits"]
        if len(hits) > settings.hits_per_page:
            # Each hit becomes a mention to triage and store: a server's say-so is no bound.
            log.warning(
                "source %s: %s sent %d hits in a page of %d; read the first %d",
                self.name,
                self.search_url,
                len(hits),
                settings.hits_per_page,
                settings.hits_per_page,
                extra={"source": self.name},
            )
            hits = hits[: settings.hits_per_page]
        pages = body.get("nbPages")
        if not is_int(pages):  # not promised: a full page means there may be another
            pages = page + 2 if len(hits) >= settings.hits_per_page else page + 1
        return hits, int(pages)


@dataclass(frozen=True, slots=True)
class _Hit:
    """The two fields a hit cannot do without, and the hit as received."""

    id: str
    created_at: int
    raw: Mapping[str, Any]


def _read_hit(raw: Any) -> _Hit | None:
    if not isinstance(raw, dict):
        return None
    object_id, created_at = raw.get("objectID"), raw.get("created_at_i")
    if isinstance(object_id, int) and not isinstance(object_id, bool):
        object_id = str(object_id)
    if not isinstance(object_id, str) or not object_id or not is_int(created_at):
        return None
    return _Hit(object_id, int(created_at), raw)


def _read_cursor(cursor: Cursor) -> tuple[int | None, set[str]]:
    since = cursor.get("created_at_i")
    if not is_int(since):  # a first poll, or a cursor from someone's hand edit
        return None, set()
    return int(since), {str(item) for item in cursor.get("ids_at") or ()}


def _next_cursor(since: int, seen_at_since: set[str], hits: list[_Hit]) -> Cursor:
    newest = max([since, *(hit.created_at for hit in hits)])
    ids = {hit.id for hit in hits if hit.created_at == newest}
    if newest == since:
        ids |= seen_at_since
    return {"created_at_i": newest, "ids_at": sorted(ids)}


def _to_mention(source: str, hit: Mapping[str, Any]) -> Mention:
    object_id = str(hit["objectID"])
    item_url = ITEM_URL + object_id
    tags = hit.get("_tags")
    is_comment = "comment" in tags if isinstance(tags, list) else bool(_text(hit, "comment_text"))
    if is_comment:
        story_title = _text(hit, "story_title")
        title = f"Comment on: {story_title}" if story_title else ""
        url = item_url
        text = html_to_text(_text(hit, "comment_text"))
    else:
        title = _text(hit, "title").strip()
        link = _text(hit, "url")
        url = link if link.startswith(("http://", "https://")) else item_url
        text = html_to_text(_text(hit, "story_text"))
    metrics = numbers({"score": hit.get("points"), "comments": hit.get("num_comments")})
    story_id = _identifier(hit.get("story_id")) or ("" if is_comment else object_id)
    return Mention(
        source=source,
        id=object_id,
        text=text,
        title=title,
        url=url,
        author=_text(hit, "author"),
        published=datetime.fromtimestamp(int(hit["created_at_i"]), UTC),
        metrics=metrics,
        thread_id=story_id,
        parent_id=_identifier(hit.get("parent_id")),
        raw=hit,
    )


def _text(hit: Mapping[str, Any], key: str) -> str:
    value = hit.get(key)
    return value if isinstance(value, str) else ""


def _identifier(value: Any) -> str:
    if isinstance(value, str) or is_int(value):
        return str(value)
    return ""


def _shape(body: Any) -> str:
    if isinstance(body, dict):
        keys = ", ".join(repr(key) for key in list(body)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    return f"a JSON {type(body).__name__}"

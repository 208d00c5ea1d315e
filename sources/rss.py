"""RSS, Atom and RDF feeds, fetched conditionally and parsed by feedparser."""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC, datetime
from typing import Any

import feedparser
from pydantic import Field, field_validator

from monitor.errors import SourceError
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceSettings
from sources.text import html_to_text

# A feed is a window of recent items; remembering the ids of the last window is how we know
# which items are new without storing every item ever seen.
_MAX_REMEMBERED_IDS = 2000


class RssSettings(SourceSettings):
    url: str = Field(description="the feed's address")
    max_items: int = Field(default=500, gt=0, description="items read from one response at most")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f'"{url}" is not an http(s) URL')
        return url


class RssSource(Source):
    """A feed of articles or posts; every entry is a candidate mention."""

    Settings = RssSettings

    def poll(self, cursor: Cursor) -> Poll:
        settings = self.settings
        assert isinstance(settings, RssSettings)
        fetched = self.fetcher.get(settings.url, cursor.get("etag"), cursor.get("last_modified"))
        if fetched is None:  # 304: nothing changed, nothing to parse
            return Poll(mentions=(), cursor=cursor, fetched=0)
        feed = feedparser.parse(
            fetched.body,
            response_headers={"content-type": fetched.content_type},
            sanitize_html=False,
            resolve_relative_uris=False,
        )
        entries = feed.entries
        if not entries and (feed.bozo or not feed.version):
            raise SourceError(f"{settings.url}: {_not_a_feed(feed, fetched.content_type)}")
        seen = set(cursor.get("seen", ()))
        feed_language = str(feed.feed.get("language", ""))
        mentions = []
        ids = []
        for entry in entries[: settings.max_items]:
            mention = _to_mention(self.name, entry, feed_language)
            ids.append(mention.id)
            if mention.id not in seen:
                mentions.append(mention)
        next_cursor = {
            "etag": fetched.etag,
            "last_modified": fetched.last_modified,
            "seen": ids[:_MAX_REMEMBERED_IDS],
        }
        return Poll(mentions=tuple(mentions), cursor=next_cursor, fetched=len(entries))


def _not_a_feed(feed: Any, content_type: str) -> str:
    if "html" in content_type.lower():
        return f"got an HTML page ({content_type}), not a feed; check the URL"
    problem = feed.get("bozo_exception")
    detail = f": {problem}" if problem else ""
    return f"not a readable RSS/Atom feed{detail}"


def _to_mention(source: str, entry: Any, feed_language: str) -> Mention:
    title = html_to_text(str(entry.get("title", "")))
    contents = entry.get("content") or []
    body = contents[0].get("value", "") if contents else entry.get("summary", "")
    text = html_to_text(str(body))
    url = str(entry.get("link", ""))
    item_id = str(entry.get("id") or url or _digest(title, text))
    author = str(entry.get("author", ""))
    return Mention(
        source=source,
        id=item_id,
        text=text,
        title=title,
        url=url,
        author=author,
        published=_published(entry),
        lang=str(entry.get("language") or feed_language),
    )


def _published(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)


def _digest(*parts: str) -> str:
    return "sha1:" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()

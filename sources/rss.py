"""RSS, Atom and RDF feeds, fetched conditionally and parsed by feedparser."""

from __future__ import annotations

import calendar
import hashlib
from datetime import UTC, datetime
from typing import Any
from xml.sax import SAXParseException

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
        # A truncated document still yields an empty shell of an entry; it carries nothing.
        entries = [entry for entry in feed.entries if not _is_empty(entry)]
        if not entries and (feed.bozo or not feed.get("version")):
            raise SourceError(
                f"{settings.url}: {_not_a_feed(feed, fetched.body, fetched.content_type)}"
            )
        seen = set(cursor.get("seen", ()))
        feed_language = str(feed.feed.get("language") or "")
        mentions = []
        ids: dict[str, None] = {}  # in feed order, each once
        for entry in entries[: settings.max_items]:
            mention = _to_mention(self.name, entry, feed_language)
            if mention.id in ids:  # the same item twice in one feed is one mention
                continue
            ids[mention.id] = None
            if mention.id not in seen:
                mentions.append(mention)
        next_cursor = {
            "etag": fetched.etag,
            "last_modified": fetched.last_modified,
            "seen": list(ids)[:_MAX_REMEMBERED_IDS],
        }
        return Poll(mentions=tuple(mentions), cursor=next_cursor, fetched=len(entries))


def _is_empty(entry: Any) -> bool:
    return not any(entry.get(key) for key in ("id", "link", "title", "summary", "content"))


def _not_a_feed(feed: Any, body: bytes, content_type: str) -> str:
    start = body.lstrip(b" \t\r\n\xef\xbb\xbf")[:256].lower()
    if not start:
        return "the response was empty, not a feed; check the URL"
    # Servers often label an HTML page (a login wall, a moved site) as XML, so look at it too.
    if "html" in content_type.lower() or start.startswith((b"<!doctype html", b"<html")):
        shown = content_type or "no Content-Type"
        return f"got an HTML page ({shown}), not a feed; check the URL"
    problem = feed.get("bozo_exception")
    if isinstance(problem, SAXParseException):
        problem = f"XML error at line {problem.getLineNumber()}, column {problem.getColumnNumber()}: {problem.getMessage()}"
    detail = f": {problem}" if problem else ""
    return f"not a readable RSS/Atom feed{detail}"


def _to_mention(source: str, entry: Any, feed_language: str) -> Mention:
    title = html_to_text(str(entry.get("title", "")))
    contents = entry.get("content") or []
    body = contents[0].get("value", "") if contents else entry.get("summary", "")
    text = html_to_text(str(body))
    link = str(entry.get("link") or "")
    # feedparser copies a guid or Atom id into "link" when there is none: "tag:…" is no address.
    url = link if link.startswith(("http://", "https://")) else ""
    item_id = str(entry.get("id") or link or _digest(title, text))
    author = str(entry.get("author") or "")
    return Mention(
        source=source,
        id=item_id,
        text=text,
        title=title,
        url=url,
        author=author,
        published=_published(entry),
        lang=_language(entry, feed_language),
    )


def _language(entry: Any, feed_language: str) -> str:
    """The entry's own language (Atom's xml:lang on the entry), else the feed's."""
    details = [
        entry.get("title_detail"),
        entry.get("summary_detail"),
        *(entry.get("content") or []),
    ]
    for detail in details:
        if detail and detail.get("language"):
            return str(detail["language"])
    return str(entry.get("language") or feed_language)


def _published(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):  # a date far outside what datetime holds
        return None


def _digest(*parts: str) -> str:
    return "sha1:" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()

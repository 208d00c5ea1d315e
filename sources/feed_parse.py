"""A feed's body read into mentions: bounded before feedparser, cut by the prefilter, each
entry turned into a Mention. Runs in the daemon's parser processes (sources/rss.py offloads
it there).
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax import SAXParseException

import feedparser

from monitor.errors import BadPayload
from monitor.mention import Mention
from monitor.urls import unwrap_redirect
from sources.prefilter import ITEM_END, ITEM_START, Reduced, reduce_feed
from sources.text import html_to_text


@dataclass(frozen=True)
class ParsedFeed:
    """What parse_feed read: items, how many entries the feed held, what a reader should know."""

    # Each item's id with its mention, in feed order; None for an item the prefilter showed
    # cannot name a brand, read only for its id.
    items: list[tuple[str, Mention | None]]
    held: int
    notes: tuple[str, ...] = ()


def parse_feed(
    source: str,
    body: bytes,
    content_type: str,
    url: str,
    max_items: int,
    needles: frozenset[str] | None = None,
) -> ParsedFeed:
    """The first ``max_items`` entries of a feed as mentions.

    The bounds come before feedparser, which reads a whole document into memory at once:
    entity declarations are refused, and entries past ``max_items`` are cut off unparsed.
    With ``needles``, an item that contains none of them is read only for its id
    (sources.prefilter).
    """
    if _declares_entities(body):
        raise BadPayload(
            f"{url}: the feed declares XML entities (<!ENTITY …> in its DOCTYPE), which Harken refuses:"
            ' they can expand to gigabytes ("billion laughs") or pull in local files; ask the publisher to drop them'
        )
    notes = []
    body, held = _first_items(body, max_items)
    if held > max_items:
        notes.append(
            f"{url}: the feed holds {held:,} items; read the first {max_items:,} (raise the source's max_items to read more)"
        )
    body, bad_byte_at = _replace_undecodable(body, content_type)
    if bad_byte_at is not None:
        notes.append(
            f"{url}: the feed is not valid UTF-8 as it declares (first bad byte at offset {bad_byte_at:,}); read with the bad bytes shown as \N{REPLACEMENT CHARACTER}"
        )
    reduced = reduce_feed(body, content_type, needles) if needles is not None else None
    feed = _read_reduced(reduced, content_type) if reduced else None
    whole: tuple[bool, ...] | None = reduced.whole if feed is not None and reduced else None
    if feed is None:
        feed = _feedparser(body, content_type)
    # A truncated document still yields an empty shell of an entry; it carries nothing.
    entries = [
        (entry, whole is None or whole[index])
        for index, entry in enumerate(feed.entries)
        if not _is_empty(entry)
    ]
    if not entries and (feed.bozo or not feed.get("version")):
        raise BadPayload(f"{url}: {_not_a_feed(feed, body, content_type)}")
    language = str(feed.feed.get("language") or "")
    items: list[tuple[str, Mention | None]] = []
    for entry, read in entries[:max_items]:
        mention = _to_mention(source, entry, language) if read else None
        items.append((mention.id if mention else _cut_id(entry), mention))
    return ParsedFeed(items=items, held=max(held, len(entries)), notes=tuple(notes))


def _feedparser(body: bytes, content_type: str) -> Any:
    return feedparser.parse(
        body,
        response_headers={"content-type": content_type},
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _read_reduced(reduced: Reduced, content_type: str) -> Any | None:
    """feedparser's reading of a cut-down feed; None when it may differ from the whole's.

    The whole document was well-formed, so a complaint about the cut one, a different count of
    entries, or a cut entry with no id or link (its id would be a digest of the text cut out)
    means the cut went wrong: parse the whole instead.
    """
    feed = _feedparser(reduced.body, content_type)
    if feed.bozo or len(feed.entries) != len(reduced.whole):
        return None
    for entry, whole in zip(feed.entries, reduced.whole, strict=True):
        if not whole and not _cut_id(entry):
            return None
    return feed


def _cut_id(entry: Any) -> str:
    """The id _to_mention gives an entry, when it does not depend on the entry's text."""
    return str(entry.get("id") or entry.get("link") or "")


# The first start tag of the root element: entity declarations can only come before it.
_ROOT_START = re.compile(rb"<[A-Za-z_]")


def _declares_entities(body: bytes) -> bool:
    root = _ROOT_START.search(body)
    return b"<!ENTITY" in body[: root.start() if root else len(body)]


def _first_items(body: bytes, max_items: int) -> tuple[bytes, int]:
    """The body without its items past the first ``max_items``, and how many items it held."""
    held, cut = 0, -1
    for held, item in enumerate(ITEM_START.finditer(body), start=1):
        if held == max_items + 1:
            cut = item.start()
    if cut < 0:
        return body, held
    last_end = -1
    for end in ITEM_END.finditer(body, cut):
        last_end = end.end()
    if last_end < 0:
        return body, held
    return body[:cut] + body[last_end:], held


_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)""")


def _replace_undecodable(body: bytes, content_type: str) -> tuple[bytes, int | None]:
    """A UTF-8 body with its invalid bytes replaced, and where the first one was.

    Left to itself, feedparser reads such a body as windows-1252 and garbles every accented
    letter in it, brand names included, for the sake of one stray byte.
    """
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return body, None
    charset = _CHARSET.search(content_type)
    xml_declared = _XML_ENCODING.search(body.lstrip())
    name = charset[1] if charset else xml_declared[1].decode() if xml_declared else "utf-8"
    try:
        encoding = codecs.lookup(name).name
    except LookupError:
        return body, None
    if encoding != "utf-8":
        return body, None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        return body.decode("utf-8", "replace").encode("utf-8"), error.start
    return body, None


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
    # Google Alerts feeds wrap every link in a google.com/url redirect: keep the real page.
    url = unwrap_redirect(url)
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

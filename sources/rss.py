"""RSS, Atom and RDF feeds, fetched conditionally and parsed by feedparser."""

from __future__ import annotations

import base64
import calendar
import codecs
import hashlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote_plus, urlsplit
from xml.sax import SAXParseException

import feedparser
from pydantic import Field, field_validator, model_validator

from monitor.errors import BadPayload, NotConfigured
from monitor.mention import Cursor, Mention, Poll
from monitor.placeholders import fill, unset_variables, variables
from monitor.source import Source, SourceContext, SourceSettings
from monitor.urls import unwrap_redirect
from sources.prefilter import ITEM_END, ITEM_START, Reduced, reduce_feed
from sources.text import html_to_text

# A feed is a window of recent items; remembering the ids of the last window is how we know
# which items are new without storing every item ever seen.
_MAX_REMEMBERED_IDS = 2000

log = logging.getLogger("harken.sources")

# RFC 9110's token: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


# Feed addresses built from the brand terms, for the searches people set up most often.
PRESETS = {
    "google_news": "https://news.google.com/rss/search?q={query}&hl={language}&gl={country}&ceid={country}:{lang}",
    "hackernews": "https://hnrss.org/newest?q={query}",
}


class RssSettings(SourceSettings):
    url: str | None = Field(default=None, description="the feed's address")
    preset: Literal["google_news", "hackernews"] | None = Field(
        default=None, description="build the address from the brand terms instead of url"
    )
    query: str | None = Field(default=None, description="what a preset searches for")
    language: str = Field(default="en-US", description="google_news: language of the results")
    country: str = Field(default="US", description="google_news: edition")
    max_items: int = Field(default=500, gt=0, description="items read from one response at most")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers sent with each request; {VARIABLE} is filled from the environment",
    )
    username: str | None = Field(default=None, description="HTTP basic auth user name")
    password_env: str = Field(
        default="", description="environment variable holding the basic auth password"
    )

    def secret_variables(self) -> list[str]:
        return [name for value in self.headers.values() for name in variables(value)]

    @field_validator("headers")
    @classmethod
    def _header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name}: a value cannot hold a line break")
        return headers

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f'"{url}" is not an http(s) URL')
        return url

    @model_validator(mode="after")
    def _url_or_preset(self) -> RssSettings:
        if (self.url is None) == (self.preset is None):
            raise ValueError(
                'give either url = "https://…" or preset = "google_news" | "hackernews"'
            )
        if bool(self.username) != bool(self.password_env):
            raise ValueError(
                "basic auth needs both username and password_env (the environment variable "
                "holding the password)"
            )
        if self.username and any(name.lower() == "authorization" for name in self.headers):
            raise ValueError("give username and password_env or an Authorization header, not both")
        if self.url and urlsplit(self.url).username is not None and self.username:
            raise ValueError("the url holds a user name too; drop it and keep username")
        return self


class RssSource(Source):
    """A feed of articles or posts; every entry is a candidate mention."""

    Settings = RssSettings

    def __init__(self, name: str, settings: SourceSettings, context: SourceContext) -> None:
        super().__init__(name, settings, context)
        assert isinstance(settings, RssSettings)
        self.url = settings.url or _preset_url(settings, context.terms)
        self.headers = request_headers(name, settings, os.environ)
        self._notes: tuple[str, ...] = ()

    def poll(self, cursor: Cursor) -> Poll:
        settings = self.settings
        assert isinstance(settings, RssSettings)
        # A feed that moved permanently (301/308) is fetched at its new address from then on,
        # for as long as the configured address stays the same.
        moved = cursor.get("moved_to") if cursor.get("moved_from") == self.url else None
        url = moved or self.url
        fetched = self.fetcher.get(
            url, cursor.get("etag"), cursor.get("last_modified"), headers=self.headers
        )
        if fetched is None:  # 304: nothing changed, nothing to parse
            return Poll(mentions=(), cursor=cursor, fetched=0)
        if fetched.moved_to:
            log.warning(
                "source %s: %s moved permanently to %s; following it from now on",
                self.name,
                url,
                fetched.moved_to,
            )
            moved = fetched.moved_to
        # Parsing is most of a cold poll's CPU, and depends on nothing but the body.
        parsed = self.context.offload(
            parse_feed,
            self.name,
            fetched.body,
            fetched.content_type,
            url,
            settings.max_items,
            self.context.needles,
        )
        self._report(parsed.notes)
        seen = set(cursor.get("seen", ()))
        mentions = []
        ids: dict[str, None] = {}  # in feed order, each once
        for item_id, mention in parsed.items:
            if item_id in ids:  # the same item twice in one feed is one mention
                continue
            ids[item_id] = None
            # An item skipped unread (None) names no brand: remembered, never a mention.
            if mention is not None and item_id not in seen:
                mentions.append(mention)
        next_cursor = {
            "etag": fetched.etag,
            "last_modified": fetched.last_modified,
            "seen": list(ids)[:_MAX_REMEMBERED_IDS],
            **({"moved_from": self.url, "moved_to": moved} if moved else {}),
        }
        return Poll(mentions=tuple(mentions), cursor=next_cursor, fetched=parsed.held)

    def _report(self, notes: tuple[str, ...]) -> None:
        """Log what was wrong with the feed once, not on every poll while it stays so."""
        if notes != self._notes:
            for note in notes:
                log.warning("source %s: %s", self.name, note, extra={"source": self.name})
        self._notes = notes


def request_headers(name: str, settings: RssSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """The headers a private feed needs, filled from the environment when the source is built.

    A variable that is not set makes the source decline (NotConfigured) with its name, as a
    platform source without its token does, rather than fetch and be refused every poll.
    """
    headers: dict[str, str] = {}
    for header, template in settings.headers.items():
        missing = unset_variables(template, environ)
        if missing:
            raise NotConfigured(
                f"source {name}: the environment variable {', '.join(missing)} is not set; "
                f"[sources.{name}] headers.{header} needs it"
            )
        headers[header] = fill(template, environ)[0]
    if settings.username:
        password = environ.get(settings.password_env, "")
        if not password:
            raise NotConfigured(
                f"source {name}: the environment variable {settings.password_env} "
                "(password_env) is not set"
            )
        pair = f"{settings.username}:{password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return headers


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


def _preset_url(settings: RssSettings, terms: tuple[str, ...]) -> str:
    # News searches know no handles or hashtags: "@acme" and "#acme" are just "acme" there.
    words: dict[str, str] = {}  # case-folded -> first spelling
    for term in terms:
        words.setdefault(term.lstrip("@#").casefold(), term.lstrip("@#"))
    query = settings.query or " OR ".join(f'"{w}"' if " " in w else w for w in words.values())
    return PRESETS[str(settings.preset)].format(
        query=quote_plus(query),
        language=quote_plus(settings.language),
        country=quote_plus(settings.country),
        lang=quote_plus(settings.language.split("-")[0]),
    )


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

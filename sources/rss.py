"""RSS, Atom and RDF feeds, fetched conditionally and parsed by feedparser."""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote_plus, urlsplit

from pydantic import Field, field_validator, model_validator

from monitor.errors import NotConfigured
from monitor.mention import Cursor, Poll
from monitor.placeholders import fill, unset_variables, variables
from monitor.source import Source, SourceContext, SourceSettings
from sources.feed_parse import parse_feed

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

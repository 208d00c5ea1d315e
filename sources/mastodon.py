"""Mastodon: hashtag timelines and, where a token allows, status search, across instances.

The same post reaches many instances, each giving it its own id; its ``uri`` is the one name
they share, so it is the mention's id and what duplicates are recognised by.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator, model_validator

from monitor.errors import (
    AccessDenied,
    BadPayload,
    FetchError,
    NotConfigured,
    RateLimited,
    SourceError,
    SourceGone,
)
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, SourceSettings
from sources.text import html_to_text
from sources.times import utc_time
from sources.values import http_url, numbers

log = logging.getLogger("harken.sources.mastodon")

MAX_LIMIT = 40  # Mastodon's own cap for timelines and search
# URIs of recent polls, so a post that reaches a second instance a poll later is not new again.
_MAX_REMEMBERED_URIS = 2000
_HASHTAG = re.compile(r"\w+")
# Most to least in need of a person: what to raise when every instance failed.
_GRAVITY: tuple[type[SourceError], ...] = (
    AccessDenied,
    SourceGone,
    BadPayload,
    RateLimited,
    FetchError,
)


class MastodonSettings(SourceSettings):
    instances: tuple[str, ...] = Field(
        min_length=1, description="base URLs of the instances to ask"
    )
    hashtags: tuple[str, ...] | None = Field(
        default=None, description="tags to follow; default: the brand terms that are one word"
    )
    search: bool = Field(default=True, description="also search statuses where the token allows")
    token_env: str = Field(
        default="HARKEN_MASTODON_TOKEN", description="environment variable holding the token"
    )
    token_instance: str = Field(
        default="", description="the instance that issued the token; default: the first one"
    )
    limit: int = Field(default=MAX_LIMIT, ge=1, le=MAX_LIMIT, description="statuses per request")

    @field_validator("instances")
    @classmethod
    def _instance_urls(cls, instances: tuple[str, ...]) -> tuple[str, ...]:
        urls = tuple(http_url(url) for url in instances)
        if len(set(urls)) < len(urls):
            raise ValueError("an instance is listed twice")
        return urls

    @field_validator("token_instance")
    @classmethod
    def _token_instance_url(cls, url: str) -> str:
        return http_url(url) if url else ""

    @field_validator("hashtags")
    @classmethod
    def _plain_hashtags(cls, tags: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if tags is None:
            return None
        plain = tuple(_hashtag(tag) for tag in tags)
        bad = [tag for tag, normal in zip(tags, plain, strict=True) if not normal]
        if bad:
            raise ValueError(f"not a hashtag (letters, digits and _ only): {bad}")
        return tuple(dict.fromkeys(plain))

    @model_validator(mode="after")
    def _token_instance_is_listed(self) -> MastodonSettings:
        if self.token_instance and self.token_instance not in self.instances:
            raise ValueError(f'token_instance "{self.token_instance}" is not one of instances')
        return self


def _hashtag(term: str) -> str:
    tag = term.strip().lstrip("#@").lower()
    return tag if _HASHTAG.fullmatch(tag) else ""


@dataclass
class _Heard:
    """What one instance gave in one poll."""

    mentions: list[Mention] = field(default_factory=list)
    newest: dict[str, str] = field(default_factory=dict)  # feed -> newest status id
    search: str = ""  # "", "ok" or why the instance refused to search
    fetched: int = 0


class MastodonSource(Source):
    """Posts that carry the brand's hashtags or, searched with a token, name the brand."""

    Settings = MastodonSettings

    def __init__(self, name: str, settings: SourceSettings, context: SourceContext) -> None:
        super().__init__(name, settings, context)
        assert isinstance(settings, MastodonSettings)
        self.hashtags = (
            settings.hashtags
            if settings.hashtags is not None
            else tuple(dict.fromkeys(tag for tag in map(_hashtag, context.terms) if tag))
        )
        self.token = os.environ.get(settings.token_env, "").strip()
        self.token_instance = settings.token_instance or settings.instances[0]
        self.queries = tuple(
            dict.fromkeys(f'"{t}"' if " " in t.strip() else t.strip() for t in context.terms)
        )
        if not self.hashtags and not self._searching():
            raise NotConfigured(
                f"{name}: nothing to follow: no hashtags (no brand term is a single word) and no "
                f"search (set hashtags, or put a token for {self.token_instance} in {settings.token_env})"
            )

    def _searching(self) -> bool:
        assert isinstance(self.settings, MastodonSettings)
        return self.settings.search and bool(self.token) and bool(self.queries)

    def poll(self, cursor: Cursor) -> Poll:
        settings = self.settings
        assert isinstance(settings, MastodonSettings)
        before = cursor.get("instances")
        before = before if isinstance(before, dict) else {}
        seen = set(cursor.get("seen", ()))
        found: dict[str, Mention] = {}  # by URI, first instance's copy wins
        states: dict[str, Any] = {}
        failures: list[tuple[str, SourceError]] = []
        fetched = 0
        for instance in settings.instances:
            state = before.get(instance)
            state = state if isinstance(state, dict) else {}
            try:
                heard = self._poll_instance(instance, state)
            except SourceError as error:
                failures.append((instance, error))
                if state:
                    states[instance] = state  # unchanged: the next poll asks again from there
                continue
            fetched += heard.fetched
            for mention in heard.mentions:
                found.setdefault(mention.id, mention)
            states[instance] = {"since": _newest(state.get("since", {}), heard.newest)}
            if heard.search:
                states[instance]["search"] = heard.search
        if len(failures) == len(settings.instances):
            raise _gravest(failures)
        for instance, problem in failures:
            log.warning(
                "source %s: instance %s failed, keeping the others' results: %s",
                self.name,
                instance,
                problem,
            )
        remembered = [uri for uri in cursor.get("seen", ()) if uri not in found]
        return Poll(
            mentions=tuple(m for uri, m in found.items() if uri not in seen),
            cursor={
                "instances": states,
                "seen": [*found, *remembered][:_MAX_REMEMBERED_URIS],
            },
            fetched=fetched,
        )

    def _poll_instance(self, instance: str, state: Mapping[str, Any]) -> _Heard:
        settings = self.settings
        assert isinstance(settings, MastodonSettings)
        since = state.get("since", {})
        # A token only ever goes to the instance that issued it.
        headers = (
            {"Authorization": f"Bearer {self.token}"}
            if self.token and instance == self.token_instance
            else {}
        )
        heard = _Heard()
        for tag in self.hashtags:
            feed = f"tag:{tag}"
            url = f"{instance}/api/v1/timelines/tag/{quote(tag, safe='')}"
            params: dict[str, str | int] = {"limit": settings.limit}
            if feed in since:
                params["since_id"] = since[feed]
            statuses = self._get(url, params, headers)
            if not isinstance(statuses, list):
                raise BadPayload(f"{url}: expected a list of statuses, got {_kind(statuses)}")
            self._take(heard, feed, instance, url, statuses)
        if self._searching() and headers:
            heard.search = "ok"
            for query in self.queries:
                feed = f"search:{query}"
                url = f"{instance}/api/v2/search"
                params = {"q": query, "type": "statuses", "limit": settings.limit}
                if feed in since:
                    params["min_id"] = since[feed]
                try:
                    found = self._get(url, params, headers)
                except AccessDenied as error:  # the hashtags still work without it
                    heard.search = f"refused: {error}"
                    if state.get("search") != heard.search:
                        log.info("source %s: %s; hashtags only there", self.name, error)
                    break
                statuses = found.get("statuses") if isinstance(found, dict) else None
                if not isinstance(statuses, list):
                    raise BadPayload(f'{url}: expected {{"statuses": [...]}}, got {_kind(found)}')
                self._take(heard, feed, instance, url, statuses)
        return heard

    def _get(self, url: str, params: dict[str, str | int], headers: dict[str, str]) -> Any:
        return self.fetcher.get_json(url, params=params, headers=headers)

    def _take(self, heard: _Heard, feed: str, instance: str, url: str, statuses: list[Any]) -> None:
        heard.fetched += len(statuses)
        settings = self.settings
        assert isinstance(settings, MastodonSettings)
        limit = settings.limit
        if len(statuses) > limit:
            # Each status becomes a mention to triage and store: a server's say-so is no bound.
            log.warning(
                "source %s: %s sent %d statuses where %d were asked for; read the first %d",
                self.name,
                url,
                len(statuses),
                limit,
                limit,
            )
            statuses = statuses[:limit]
        for status in statuses:
            ident = status.get("id") if isinstance(status, dict) else None
            if isinstance(ident, str) and ident.isalnum():
                newest = heard.newest.get(feed)
                if newest is None or _id_order(ident) > _id_order(newest):
                    heard.newest[feed] = ident
            try:
                heard.mentions.append(_to_mention(self.name, instance, status))
            except _Unreadable as reason:
                log.warning("source %s: %s: skipped a status: %s", self.name, url, reason)

    def describe(self, cursor: Cursor) -> str:
        settings = self.settings
        assert isinstance(settings, MastodonSettings)
        tags = ", ".join(f"#{tag}" for tag in self.hashtags) or "no hashtags"
        where = ", ".join(_short(i) for i in settings.instances)
        note = f"{tags} on {where}"
        if not settings.search:
            return note + "; search off"
        if not self.token:
            return note + f"; no search: {settings.token_env} is not set"
        states = cursor.get("instances")
        state = states.get(self.token_instance) if isinstance(states, dict) else None
        search = state.get("search", "") if isinstance(state, dict) else ""
        if search.startswith("refused"):
            return note + f"; search {search}, hashtags only"
        return note + f"; search on {_short(self.token_instance)}"


class _Unreadable(Exception):
    """A status is not in the documented shape."""


def _to_mention(source: str, instance: str, item: Any) -> Mention:
    if not isinstance(item, dict):
        raise _Unreadable(f"expected an object, got {_kind(item)}")
    boosted = item.get("reblog")
    status = boosted if isinstance(boosted, dict) else item
    uri, content, account = status.get("uri"), status.get("content"), status.get("account")
    if not isinstance(uri, str) or not uri:
        raise _Unreadable(f"id {item.get('id')!r} has no uri")
    if not isinstance(content, str) or not isinstance(account, dict):
        raise _Unreadable(f"{uri} lacks its content or account")
    acct = str(account.get("acct") or account.get("username") or "")
    if acct and "@" not in acct:
        acct += f"@{urlsplit(instance).hostname}"
    url = status.get("url")
    parent = status.get("in_reply_to_id")
    counts = {
        "followers": account.get("followers_count"),
        "likes": status.get("favourites_count"),
        "reposts": status.get("reblogs_count"),
        "replies": status.get("replies_count"),
    }
    return Mention(
        source=source,
        id=uri,
        text=html_to_text(content),
        title=str(status.get("spoiler_text") or "").strip(),
        url=url if isinstance(url, str) and url else uri,
        author=f"@{acct}" if acct else "",
        published=utc_time(status.get("created_at")),
        lang=str(status.get("language") or ""),
        metrics=numbers(counts),
        parent_id=str(parent) if parent else "",
        raw=item,
    )


def _newest(before: Mapping[str, str], now: Mapping[str, str]) -> dict[str, str]:
    """Each feed's newest id of the two; an instance may return older ids than asked for."""
    merged = dict(before)
    for feed, ident in now.items():
        if feed not in merged or _id_order(ident) > _id_order(merged[feed]):
            merged[feed] = ident
    return merged


def _id_order(ident: str) -> tuple[int, str]:
    # Mastodon's ids are digits and Pleroma's fixed-width base62: longer is newer, then by text.
    return len(ident), ident


def _gravest(failures: list[tuple[str, SourceError]]) -> SourceError:
    """One error for a poll in which every instance failed: the kind most in need of a person."""

    def gravity(error: SourceError) -> tuple[int, float]:
        rank = next((i for i, kind in enumerate(_GRAVITY) if isinstance(error, kind)), 99)
        return rank, error.retry_after if isinstance(error, RateLimited) else 0.0

    worst = min((error for _, error in failures), key=gravity)
    if len(failures) == 1:
        return worst
    message = f"every instance failed: {'; '.join(str(error) for _, error in failures)}"
    if isinstance(worst, RateLimited):
        return RateLimited(message, worst.retry_after)
    return type(worst)(message)


def _short(instance: str) -> str:
    return instance.split("://", 1)[-1]


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__

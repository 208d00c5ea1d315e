"""X (formerly Twitter) recent search through tweepy, within a read budget X bills for."""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
import tweepy
from pydantic import Field, field_validator

from monitor.errors import (
    AccessDenied,
    BadPayload,
    FetchError,
    NotConfigured,
    RateLimited,
    SourceError,
    SourceGone,
)
from monitor.fetch import retry_after_seconds
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, SourceSettings
from sources.times import utc_time
from sources.values import HttpUrl, numbers
from sources.x_budget import SMALLEST_PAGE, ReadBudget

log = logging.getLogger("harken.sources.x")

SEARCH_ROUTE = "/2/tweets/search/recent"
TWEET_FIELDS = (
    "created_at,lang,public_metrics,conversation_id,in_reply_to_user_id,referenced_tweets,"
    "note_tweet"  # a long post's full text; "text" holds only its first 280 characters
)
USER_FIELDS = "username,name,public_metrics"
# A poll that finds more than this many pages of new posts keeps the newest and moves on.
_MAX_PAGES_PER_POLL = 10
# tweepy 4.17 sends every request to this host; _RebasedSession redirects it to api_url.
_TWEEPY_HOST = "https://api.twitter.com"
# X's codes for posts without a language: undetermined, no text, only media, hashtags…
_NO_LANGUAGE = frozenset({"und", "zxx", "qam", "qct", "qht", "qme", "qst"})
_BARE_KEYWORD = re.compile(r"[#@$]?\w+")


class XSettings(SourceSettings):
    query: str | None = Field(
        default=None, description="a raw X search query to use instead of the brand terms"
    )
    lang: str | None = Field(default=None, description='only posts in this language, e.g. "en"')
    include_retweets: bool = Field(default=False, description="also read reposts")
    bearer_token_env: str = Field(
        default="HARKEN_X_BEARER_TOKEN", description="the environment variable with the token"
    )
    max_results: int = Field(default=100, ge=10, le=100, description="posts per request")
    daily_read_budget: int | None = Field(
        default=None, ge=SMALLEST_PAGE, description="posts read per UTC day at most"
    )
    monthly_read_budget: int | None = Field(
        default=None, ge=SMALLEST_PAGE, description="posts read per UTC month at most"
    )
    api_url: HttpUrl = Field(default="https://api.x.com", description="X API's address")

    @field_validator("lang")
    @classmethod
    def _language_code(cls, lang: str | None) -> str | None:
        if lang is not None and not re.fullmatch(r"[a-z]{2,3}(-[a-z]{2,4})?", lang):
            raise ValueError(f'"{lang}" is not a language code X knows; write e.g. "en" or "fr"')
        return lang


class XSource(Source):
    """Posts on X that name a brand, found by X's recent search (the last seven days)."""

    Settings = XSettings

    def __init__(self, name: str, settings: SourceSettings, context: SourceContext) -> None:
        super().__init__(name, settings, context)
        assert isinstance(settings, XSettings)
        self.query = build_query(settings, context.terms, context.exclude)
        self._token = os.environ.get(settings.bearer_token_env, "").strip()
        if not self._token:
            raise NotConfigured(
                f"the environment variable {settings.bearer_token_env} is not set; put an X API "
                "bearer token in it (developer portal: your app's Keys and tokens)"
            )
        self._where = settings.api_url + SEARCH_ROUTE
        # Harken's scheduler waits out rate limits; tweepy sleeping would stall other sources.
        self._client = tweepy.Client(
            bearer_token=self._token, return_type=dict, wait_on_rate_limit=False
        )
        self._client.session.close()
        self._client.session = _RebasedSession(settings.api_url, context.fetcher.timeout)

    def poll(self, cursor: Cursor) -> Poll:
        settings = self.settings
        assert isinstance(settings, XSettings)
        since_id = _post_id(cursor.get("since_id"))
        budget = ReadBudget.from_cursor(
            cursor, self.context.now(), settings.daily_read_budget, settings.monthly_read_budget
        )
        budget.raise_if_spent(self.name)
        mentions: dict[int, Mention] = {}
        read = pages = 0
        newest = since_id or 0
        next_token: str | None = None
        while True:
            try:
                page = self._search(since_id, next_token, min(settings.max_results, budget.left))
            except SourceError as error:
                if pages == 0:
                    raise
                # The pages already read are paid for: keep them; the error comes back next poll.
                log.warning("source %s: stopped after %d pages: %s", self.name, pages, error)
                break
            pages += 1
            read += len(page.posts)
            budget.count(len(page.posts))
            for post in page.posts:
                post_id = int(post["id"])
                newest = max(newest, post_id)
                if (since_id is None or post_id > since_id) and post_id not in mentions:
                    mentions[post_id] = _to_mention(self.name, post, page.users)
            next_token = page.next_token
            # A first poll takes the newest page only rather than paying for a week of history.
            if since_id is None or not next_token or pages >= _MAX_PAGES_PER_POLL:
                break
            if budget.left < SMALLEST_PAGE:  # the rest would overspend; the newest are read
                break
        next_cursor = {"since_id": str(newest) if newest else None, "budget": budget.to_cursor()}
        return Poll(mentions=tuple(mentions.values()), cursor=next_cursor, fetched=read)

    def describe(self, cursor: Cursor) -> str:
        settings = self.settings
        assert isinstance(settings, XSettings)
        return ReadBudget.from_cursor(
            cursor, self.context.now(), settings.daily_read_budget, settings.monthly_read_budget
        ).describe()

    def _search(self, since_id: int | None, next_token: str | None, page_size: int) -> _Page:
        try:
            body = self._client.search_recent_tweets(
                self.query,
                since_id=since_id,
                next_token=next_token,
                max_results=page_size,
                expansions="author_id",
                tweet_fields=TWEET_FIELDS,
                user_fields=USER_FIELDS,
            )
        except (tweepy.TweepyException, requests.RequestException, ValueError) as error:
            raise self._translate(error) from None
        return _read_page(body, self._where)

    def _translate(self, error: Exception) -> SourceError:
        """The SourceError for what tweepy or requests raised; never with the token in it."""
        settings = self.settings
        assert isinstance(settings, XSettings)
        where, said = self._where, ""
        if isinstance(error, tweepy.HTTPException):
            response = error.response
            where = f"{where}: HTTP {response.status_code} {response.reason}".rstrip()
            said = "; ".join(self._hide(str(message)) for message in error.api_messages)
            said = f" (X says: {said})" if said else ""
        if isinstance(error, tweepy.TooManyRequests):
            wait = retry_after_seconds(error.response.headers, self.context.now().timestamp())
            return RateLimited(
                f"{where}: X's rate limit is reached; waiting {wait:g}s until it resets", wait
            )
        if isinstance(error, tweepy.Unauthorized | tweepy.Forbidden):
            return AccessDenied(
                f"{where}{said}: X refused the bearer token in {settings.bearer_token_env}; "
                "check the token, and that its app's plan includes recent search"
            )
        if isinstance(error, tweepy.TwitterServerError):
            return FetchError(f"{where}{said}: X is having trouble; trying again later")
        if isinstance(error, tweepy.BadRequest):
            return SourceError(
                f"{where}{said}: X rejected the search; check the brand terms or sources.{self.name}.query"
            )
        if isinstance(error, tweepy.NotFound):
            return SourceGone(f"{where}: no search here; check sources.{self.name}.api_url")
        if isinstance(error, tweepy.HTTPException):
            return FetchError(f"{where}{said}")
        if isinstance(error, requests.JSONDecodeError):  # before ValueError and RequestException
            return BadPayload(f"{where}: malformed JSON ({self._hide(str(error))})")
        if isinstance(error, requests.Timeout):
            return FetchError(
                f"{where}: timed out after {self.fetcher.timeout:g}s (raise [http] timeout to wait longer)"
            )
        if isinstance(error, requests.RequestException):
            return FetchError(f"{where}: {type(error).__name__}: {self._hide(str(error))}")
        return SourceError(f"{where}: {type(error).__name__}: {self._hide(str(error))}")

    def _hide(self, text: str) -> str:
        """``text`` without the token, in case a server or proxy echoed it back."""
        return text.replace(self._token, "[token]")


def build_query(settings: XSettings, terms: Sequence[str], exclude: Sequence[str]) -> str:
    """The X search query: the brand terms OR-ed, exclusions negated, reposts and language."""
    raw = (settings.query or "").strip()
    keywords = list(dict.fromkeys(_keyword(term) for term in terms if term.strip()))
    if raw:
        query = raw
    elif keywords:
        query = keywords[0] if len(keywords) == 1 else f"({' OR '.join(keywords)})"
        query += "".join(f" -{_keyword(phrase)}" for phrase in exclude if phrase.strip())
    else:
        raise NotConfigured(
            "there are no brand terms to search X for; add terms to a [[brands]] table or set a query"
        )
    extra = ("" if settings.include_retweets else " -is:retweet") + (
        f" lang:{settings.lang}" if settings.lang else ""
    )
    if extra and raw:
        query = f"({query})"  # AND binds tighter than OR in X's syntax
    return query + extra


def _keyword(term: str) -> str:
    """A word, #hashtag, @handle or $cashtag as it is; anything else as a quoted phrase."""
    term = " ".join(term.replace('"', " ").split())
    if _BARE_KEYWORD.fullmatch(term) and term != "OR":
        return term
    return f'"{term}"'


@dataclass(frozen=True)
class _Page:
    posts: list[dict[str, Any]]
    users: dict[str, dict[str, Any]]
    next_token: str | None


def _read_page(body: object, where: str) -> _Page:
    """One page of search results, checked against X's documented shape."""
    if not isinstance(body, dict):
        raise BadPayload(f"{where}: expected a JSON object, got {type(body).__name__}")
    posts = body.get("data") or []
    if not isinstance(posts, list):
        raise BadPayload(f'{where}: "data" is not a list of posts')
    for post in posts:
        if not (
            isinstance(post, dict)
            and isinstance(post.get("id"), str)
            and post["id"].isdigit()
            and isinstance(post.get("text"), str)
        ):
            raise BadPayload(f'{where}: a post without a numeric "id" and a "text": {post!r:.200}')
    includes = body.get("includes")
    users = includes.get("users") if isinstance(includes, dict) else None
    meta = body.get("meta")
    next_token = meta.get("next_token") if isinstance(meta, dict) else None
    return _Page(
        posts=posts,
        users={
            str(user["id"]): user for user in users or () if isinstance(user, dict) and "id" in user
        },
        next_token=next_token if isinstance(next_token, str) and next_token else None,
    )


def _to_mention(source: str, post: dict[str, Any], users: Mapping[str, dict[str, Any]]) -> Mention:
    user = users.get(str(post.get("author_id")), {})
    username = str(user.get("username") or "")
    # X redirects /i/web/status/ID to the post when the author was not in the expansion.
    url = f"https://x.com/{username or 'i/web'}/status/{post['id']}"
    note = post.get("note_tweet")
    text = note.get("text") if isinstance(note, dict) else None
    lang = str(post.get("lang") or "")
    metrics = _renamed(post.get("public_metrics"), _POST_METRICS)
    metrics |= _renamed(user.get("public_metrics"), {"followers_count": "followers"})
    parents = [
        str(reference.get("id"))
        for reference in post.get("referenced_tweets") or ()
        if isinstance(reference, dict) and reference.get("type") == "replied_to"
    ]
    return Mention(
        source=source,
        id=post["id"],
        text=html.unescape(text if isinstance(text, str) else post["text"]),  # X escapes &, <, >
        url=url,
        author=f"@{username}" if username else "",
        published=utc_time(post.get("created_at")),
        lang="" if lang in _NO_LANGUAGE else lang,
        metrics=metrics,
        thread_id=str(post.get("conversation_id") or ""),
        parent_id=parents[0] if parents else "",
        raw=post,
    )


_POST_METRICS = {
    "like_count": "likes",
    "retweet_count": "reposts",
    "reply_count": "replies",
    "quote_count": "quotes",
    "impression_count": "views",
}


def _renamed(counts: object, names: Mapping[str, str]) -> dict[str, float]:
    """X's counts under our names (theirs -> ours), numbers only."""
    if not isinstance(counts, dict):
        return {}
    return numbers({ours: counts.get(theirs) for theirs, ours in names.items()})


def _post_id(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


class _RebasedSession(requests.Session):
    """Sends tweepy's requests to ``api_url`` instead of the host it hard-codes, with a timeout.

    Rewriting here, before requests picks proxies and TLS settings, means those follow the real
    address; tweepy's own request building, status checks and JSON parsing all still run.
    """

    def __init__(self, api_url: str, timeout: float) -> None:
        super().__init__()
        self.api_url = api_url
        self.timeout = timeout

    def request(
        self, method: str, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if isinstance(url, str) and url.startswith(_TWEEPY_HOST + "/"):
            url = self.api_url + url[len(_TWEEPY_HOST) :]
        if kwargs.get("timeout") is None:  # tweepy sets none, and requests would wait forever
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)

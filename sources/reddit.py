"""Reddit: posts, and comments in named subreddits, that name the brand; via praw or public RSS.

Reddit approves API access per app, so a source runs in one of two modes: ``api`` (praw with
OAuth credentials from the environment: scores, comment counts, the full JSON) or ``rss`` (the
public search feeds, no credentials, fewer fields). Both give the same ids (``t3_…`` posts,
``t1_…`` comments) and share one cursor, so switching modes neither repeats nor skips items.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

import praw
import prawcore
from praw.exceptions import RedditAPIException
from pydantic import Field, field_validator, model_validator

from monitor.errors import AccessDenied, BadPayload, FetchError, NotConfigured, SourceError
from monitor.fetch import raise_for_status
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, SourceSettings
from sources.rss import RssSettings, RssSource
from sources.text import html_to_text
from sources.values import HttpUrl

REDDIT = "https://www.reddit.com"  # where permalinks point, whatever base URLs a source uses
USER_AGENT = "python:harken:0.1 (brand monitoring; +https://github.com/harken-monitor/harken)"
# Search indexes some posts minutes after they were made: items this much older than the newest
# one seen are still taken if unseen, so a late arrival is not skipped for good.
LATE_SECONDS = 30 * 60
_MAX_REMEMBERED_IDS = 2000
_PAGE = 100  # the most Reddit returns per listing request
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")
_FULLNAME = re.compile(r"^t[13]_[0-9a-z]+$")
_PERMALINK = re.compile(r"/comments/(?P<post>[0-9a-z]+)(?:/[^/?#]*/(?P<comment>[0-9a-z]+))?")


class RedditSettings(SourceSettings):
    query: str = Field(default="", description="search query; default: the brand terms, OR-ed")
    subreddits: list[str] = Field(default=[], description="search only these; empty: all")
    comments: bool = Field(default=False, description="also read the subreddits' new comments")
    mode: Literal["auto", "api", "rss"] = "auto"
    client_id_env: str = "HARKEN_REDDIT_CLIENT_ID"
    client_secret_env: str = "HARKEN_REDDIT_CLIENT_SECRET"
    user_agent: str = Field(default=USER_AGENT, min_length=7)
    limit: int = Field(default=100, gt=0, le=1000, description="items read per stream per poll")
    api_url: HttpUrl = "https://oauth.reddit.com"
    www_url: HttpUrl = REDDIT

    @field_validator("subreddits")
    @classmethod
    def _subreddit_names(cls, names: list[str]) -> list[str]:
        cleaned = [name.strip().removeprefix("/").removeprefix("r/") for name in names]
        wrong = [name for name in cleaned if not _SUBREDDIT.match(name)]
        if wrong:
            raise ValueError(
                f'{wrong} are not subreddit names (2-21 letters, digits or _, e.g. "python")'
            )
        return cleaned

    @model_validator(mode="after")
    def _comments_need_subreddits(self) -> RedditSettings:
        if self.comments and not self.subreddits:
            raise ValueError(
                "comments = true needs subreddits: Reddit has no comment search across all of "
                "Reddit, so Harken reads the newest comments of the subreddits you name"
            )
        return self


@dataclass(frozen=True)
class _Item:
    mention: Mention
    created: float | None  # seconds since the epoch; None when a feed entry has no date


class RedditSource(Source):
    """Reddit search for the brand (all of Reddit or named subreddits), newest first."""

    Settings = RedditSettings

    def __init__(self, name: str, settings: SourceSettings, context: SourceContext) -> None:
        super().__init__(name, settings, context)
        assert isinstance(settings, RedditSettings)
        self.query = settings.query or " OR ".join(
            '"' + term.replace('"', "") + '"' for term in context.terms
        )
        if not self.query:
            raise NotConfigured("no query and no brand terms to search for; set query")
        client_id = os.environ.get(settings.client_id_env, "")
        client_secret = os.environ.get(settings.client_secret_env, "")
        credentials = bool(client_id and client_secret)
        if settings.mode == "api" and not credentials:
            raise NotConfigured(
                f'mode = "api" needs {settings.client_id_env} and {settings.client_secret_env} '
                'in the environment (a Reddit app\'s id and secret); or set mode = "rss"'
            )
        self.mode = (
            "api" if settings.mode == "api" or (settings.mode == "auto" and credentials) else "rss"
        )
        self._reddit: praw.Reddit | None = None
        if self.mode == "api":
            # The secret lives only inside praw: never on this object, in a message or a log.
            self._reddit = praw.Reddit(
                client_id=client_id,
                client_secret=client_secret,
                user_agent=settings.user_agent,
                oauth_url=settings.api_url,
                reddit_url=settings.www_url,
                check_for_updates=False,
                check_for_async=False,
                requestor_kwargs={"timeout": context.fetcher.timeout},
            )

    def describe(self, cursor: Cursor) -> str:
        if self.mode == "api":
            return "mode: api (OAuth)"
        if self._settings.mode == "rss":
            return "mode: rss (set in config)"
        return "mode: rss (no credentials)"

    def poll(self, cursor: Cursor) -> Poll:
        streams = {"posts": self._posts}
        if self._settings.comments:
            streams["comments"] = self._comments
        mentions: list[Mention] = []
        next_cursor: dict[str, Any] = {}
        fetched = 0
        for stream, read in streams.items():
            state = cursor.get(stream) or {}
            items, validators = read(state)
            fetched += len(items)
            fresh, next_cursor[stream] = _remember(items, state, self.context.now().timestamp())
            next_cursor[stream].update(validators)
            mentions += fresh
        return Poll(mentions=tuple(mentions), cursor=next_cursor, fetched=fetched)

    @property
    def _settings(self) -> RedditSettings:
        assert isinstance(self.settings, RedditSettings)
        return self.settings

    def _posts(self, state: Mapping[str, Any]) -> tuple[list[_Item], dict[str, Any]]:
        subreddits = "+".join(self._settings.subreddits)
        where = f"/r/{subreddits}/search" if subreddits else "/search"
        params: dict[str, str | int] = {"q": self.query, "sort": "new", "t": "all"}
        if subreddits:
            params["restrict_sr"] = 1
        if self.mode == "api":
            return list(self._listing(where, {**params, "type": "link"}, state)), {}
        return self._feed(f"{where}.rss", params, state)

    def _comments(self, state: Mapping[str, Any]) -> tuple[list[_Item], dict[str, Any]]:
        where = f"/r/{'+'.join(self._settings.subreddits)}/comments"
        if self.mode == "api":
            return list(self._listing(where, {}, state)), {}
        return self._feed(f"{where}.rss", {}, state)

    def _listing(
        self, path: str, params: dict[str, str | int], state: Mapping[str, Any]
    ) -> Iterator[_Item]:
        """A listing newest first, page by page, until ``limit`` or items already behind us."""
        newest = state.get("newest")
        floor = None if newest is None else float(newest) - LATE_SECONDS
        url = self._settings.api_url + path
        after, read = "", 0
        while read < self._settings.limit:
            page_params = {**params, "limit": min(_PAGE, self._settings.limit - read)}
            if after:
                page_params["after"] = after
            children, after = _listing_page(url, self._request(path, page_params))
            for child in children:
                read += 1
                item = _from_api(self.name, url, child)
                if item is None:
                    continue
                yield item
                if floor is not None and item.created is not None and item.created < floor:
                    return
            if not after or not children:
                return

    def _request(self, path: str, params: dict[str, str | int]) -> Any:
        """One GET through praw (its rate limiter and retries), its failures made ours."""
        assert self._reddit is not None
        url = self._settings.api_url + path
        credentials = f"{self._settings.client_id_env} and {self._settings.client_secret_env}"
        try:
            return self._reddit.request(method="GET", path=path, params=params)
        except prawcore.exceptions.OAuthException as error:
            raise AccessDenied(
                f"{self._settings.www_url}/api/v1/access_token: Reddit refused the app ({error.error}); check {credentials}"
            ) from None
        except prawcore.exceptions.BadJSON:
            raise BadPayload(f"{url}: malformed JSON instead of a listing") from None
        except prawcore.exceptions.Redirect as error:
            raise SourceError(
                f"{url}: Reddit redirected to {error.path}; check that every name in subreddits exists"
            ) from None
        except prawcore.exceptions.ResponseException as error:
            response = error.response
            where = str(response.url).split("?")[0]
            status, reason = int(response.status_code), str(response.reason or "")
            if status in (401, 403):
                raise AccessDenied(
                    f'{where}: HTTP {status} {reason}: Reddit refused the app\'s credentials; check {credentials} in the environment and that Reddit approved API access for the app (or set mode = "rss")'
                ) from None
            raise_for_status(where, status, reason, response.headers)
            raise FetchError(f"{where}: unexpected HTTP {status} {reason}") from None
        except prawcore.exceptions.RequestException as error:
            problem = error.original_exception
            raise FetchError(f"{url}: {type(problem).__name__}: {problem}") from None
        except RedditAPIException as error:  # a 400 with reasons: usually the query
            raise SourceError(
                f"{url}: Reddit rejected the request ({error}); check query"
            ) from None
        except (ValueError, KeyError) as error:  # the token endpoint answered something else
            raise BadPayload(
                f"{self._settings.www_url}/api/v1/access_token: not an OAuth token ({type(error).__name__})"
            ) from None

    def _feed(
        self, path: str, params: dict[str, str | int], state: Mapping[str, Any]
    ) -> tuple[list[_Item], dict[str, Any]]:
        """A public RSS feed, fetched conditionally and parsed by the rss source."""
        query = urlencode({**params, "limit": min(_PAGE, self._settings.limit)})
        url = f"{self._settings.www_url}{path}?{query}"
        same_feed = state.get("feed") == url
        validators = {
            "etag": state.get("etag") if same_feed else None,
            "last_modified": state.get("last_modified") if same_feed else None,
        }
        reader = RssSource(
            self.name,
            RssSettings(type="rss", url=url, max_items=self._settings.limit),
            self.context,
        )
        try:
            poll = reader.poll(validators)
        except AccessDenied as error:
            raise AccessDenied(
                f"{error}. Reddit refuses feeds to some networks and user agents; API mode with credentials avoids this"
            ) from None
        items = [item for mention in poll.mentions if (item := _from_feed(mention))]
        return items, {"feed": url, **{key: poll.cursor.get(key) for key in validators}}


def _remember(
    items: list[_Item], state: Mapping[str, Any], now: float
) -> tuple[list[Mention], dict[str, Any]]:
    """The items not seen before, and the stream's next state: newest time and recent ids."""
    newest: float | None = None if state.get("newest") is None else float(state["newest"])
    seen = {key: float(value) for key, value in (state.get("seen") or {}).items()}
    floor = None if newest is None else newest - LATE_SECONDS
    fresh = []
    for item in items:
        created = item.created
        if item.mention.id in seen or (
            floor is not None and created is not None and created < floor
        ):
            continue
        fresh.append(item.mention)
        seen[item.mention.id] = now if created is None else created  # undated: keep it a while
    times = [item.created for item in items if item.created is not None]
    newest = max([*times, newest] if newest is not None else times, default=None)
    horizon = (newest if newest is not None else now) - LATE_SECONDS
    kept = sorted(
        ((key, value) for key, value in seen.items() if value >= horizon),
        key=lambda pair: pair[1],
        reverse=True,
    )[:_MAX_REMEMBERED_IDS]
    return fresh, {"newest": newest, "seen": dict(kept)}


def _listing_page(url: str, page: Any) -> tuple[list[Mapping[str, Any]], str]:
    """A Listing's children and the ``after`` that asks for the next page ("" on the last)."""
    data = page.get("data") if isinstance(page, dict) and page.get("kind") == "Listing" else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(children, list) or not all(isinstance(child, dict) for child in children):
        raise BadPayload(f"{url}: expected a Listing of posts, got {str(page)[:80]!r}")
    assert isinstance(data, dict)
    return children, str(data.get("after") or "")


def _from_api(source: str, url: str, child: Mapping[str, Any]) -> _Item | None:
    """A search or comment listing child as a mention; None for kinds that are neither."""
    kind, data = child.get("kind"), child.get("data")
    if kind not in ("t3", "t1"):
        return None
    if not isinstance(data, dict) or not data.get("id") or "created_utc" not in data:
        raise BadPayload(f"{url}: a {kind} item lacks its id or created_utc")
    try:
        created = float(data["created_utc"])
    except (TypeError, ValueError):
        raise BadPayload(f"{url}: created_utc {data['created_utc']!r} is not a time") from None
    fullname = str(data.get("name") or f"{kind}_{data['id']}")
    permalink = str(data.get("permalink") or "")
    if kind == "t3":
        text = _rendered(data.get("selftext_html"), data.get("selftext"))
        thread, parent, title = fullname, "", str(data.get("title") or "")
        metrics = {"score": data.get("score"), "comments": data.get("num_comments")}
    else:
        text = _rendered(data.get("body_html"), data.get("body"))
        thread, parent, title = str(data.get("link_id") or ""), str(data.get("parent_id") or ""), ""
        metrics = {"score": data.get("score")}
        if not permalink and thread:
            permalink = f"/comments/{thread.removeprefix('t3_')}/_/{data['id']}/"
    mention = Mention(
        source=source,
        id=fullname,
        text=text,
        title=html_to_text(title),
        url=f"{REDDIT}{permalink}" if permalink.startswith("/") else permalink,
        author=str(data.get("author") or ""),
        published=datetime.fromtimestamp(created, tz=UTC),
        metrics={
            key: float(value) for key, value in metrics.items() if isinstance(value, int | float)
        },
        thread_id=thread,
        parent_id=parent,
        raw=data,
    )
    return _Item(mention, created)


def _rendered(html: Any, markdown: Any) -> str:
    """Reddit's own HTML rendering when it sent one, else the markdown with its marks dropped."""
    if html:
        return html_to_text(str(html))
    text = _MARKDOWN_LINK.sub(r"\1", str(markdown or ""))
    return html_to_text(_MARKDOWN_MARKS.sub("", text))


_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKDOWN_MARKS = re.compile(r"\*\*|__|~~|`|^&gt;\s?|^>\s?|^#{1,6}\s+", re.M)
# Every feed entry ends "submitted by /u/name [to r/sub] [link] [comments]": not the author's words.
_FEED_TRAILER = re.compile(
    r"\s*submitted by\s+/u/[\w-]+(?:\s+to\s+r/\w+)?\s*(?:\[link\])?\s*(?:\[comments\])?\s*\Z"
)


def _from_feed(mention: Mention) -> _Item | None:
    """An rss-source mention of a Reddit feed entry, with the ids and fields API mode gives."""
    link = _PERMALINK.search(mention.url)
    if _FULLNAME.match(mention.id):
        fullname = mention.id
    elif link:
        fullname = f"t1_{link['comment']}" if link["comment"] else f"t3_{link['post']}"
    else:
        return None  # not a post or comment (a subreddit, a user): nothing to hear
    comment = fullname.startswith("t1_")
    thread = f"t3_{link['post']}" if link else ("" if comment else fullname)
    published = mention.published
    return _Item(
        replace(
            mention,
            id=fullname,
            title="" if comment else mention.title,
            text=_FEED_TRAILER.sub("", mention.text),
            author=mention.author.removeprefix("/u/"),
            thread_id=thread,
        ),
        published.timestamp() if published else None,
    )

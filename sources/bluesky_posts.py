"""Bluesky posts, from a Jetstream event or a searchPosts result, as Mentions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.mention import Mention
from sources.times import utc_time
from sources.values import numbers

POST = "app.bsky.feed.post"


def jetstream_mention(
    source: str, event: Mapping[str, Any], commit: Mapping[str, Any], record: Mapping[str, Any]
) -> Mention | None:
    """A Jetstream post-creation event as a Mention; None when it lacks its did or rkey."""
    did, rkey = event.get("did"), commit.get("rkey")
    if not (isinstance(did, str) and did and isinstance(rkey, str) and rkey):
        return None
    published = utc_time(record.get("createdAt")) or datetime.fromtimestamp(
        event["time_us"] / 1e6, UTC
    )
    return _post_mention(source, f"at://{did}/{POST}/{rkey}", did, record, published, {}, event)


def search_mention(source: str, post: Mapping[str, Any]) -> Mention | None:
    """A searchPosts PostView as a Mention; None when it is not shaped like one."""
    uri, author, record = post.get("uri"), post.get("author"), post.get("record")
    if not (isinstance(uri, str) and isinstance(author, Mapping) and isinstance(record, Mapping)):
        return None
    if not isinstance(record.get("text", ""), str):
        return None
    counts = {
        "likes": post.get("likeCount"),
        "reposts": post.get("repostCount"),
        "replies": post.get("replyCount"),
        "quotes": post.get("quoteCount"),
    }
    metrics = {name: float(value) for name, value in numbers(counts).items()}
    handle = author.get("handle")
    name = handle if isinstance(handle, str) and handle else str(author.get("did") or "")
    published = utc_time(record.get("createdAt")) or utc_time(post.get("indexedAt"))
    return _post_mention(source, uri, name, record, published, metrics, post)


def _post_mention(
    source: str,
    uri: str,
    author: str,
    record: Mapping[str, Any],
    published: datetime | None,
    metrics: Mapping[str, float],
    raw: Mapping[str, Any],
) -> Mention:
    # at://did/app.bsky.feed.post/rkey -> the web address bsky.app shows it at
    did, _, rkey = uri.removeprefix("at://").partition(f"/{POST}/")
    langs = record.get("langs")
    reply = record.get("reply")
    return Mention(
        source=source,
        id=uri,
        text=str(record.get("text") or ""),
        url=f"https://bsky.app/profile/{did}/post/{rkey}" if rkey else "",
        author=author,
        published=published,
        lang=langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else "",
        metrics=metrics,
        thread_id=_reply_uri(reply, "root"),
        parent_id=_reply_uri(reply, "parent"),
        raw=raw,
    )


def _reply_uri(reply: object, which: str) -> str:
    ref = reply.get(which) if isinstance(reply, Mapping) else None
    uri = ref.get("uri") if isinstance(ref, Mapping) else None
    return uri if isinstance(uri, str) else ""

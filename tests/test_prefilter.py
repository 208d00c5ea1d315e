"""Skipping feed items that cannot name a brand must never lose a mention, nor move the cursor."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from monitor.config.settings import Brand
from monitor.errors import BadPayload
from monitor.fetch import Fetcher
from monitor.mention import Cursor, Mention
from monitor.source import SourceContext, source_kinds
from monitor.triage.matcher import BrandMatcher
from monitor.triage.needles import brand_needles
from sources.feed_parse import ParsedFeed, parse_feed
from tests.servers import HttpServer, Reply

REPO = Path(__file__).resolve().parent.parent
# CI has ../shared beside the project; elsewhere the test says why it cannot run.
SHARED_FEEDS = Path(os.environ.get("HARKEN_SHARED_FEEDS", REPO.parent / "shared/data/feeds"))
# feedparser's own test corpus: the tests/ folder of its sdist
# (pip download feedparser==6.0.14 --no-binary :all: --no-deps; tar xzf; point here).
FEEDPARSER_TESTS = os.environ.get("HARKEN_FEEDPARSER_TESTS", "")
NOT_FEEDS = {".json", ".html", ".htm", ".opml", ".py"}
_WORD = re.compile(r"[A-Za-z]{5,}")


def brands(*terms: str, query: str | None = None) -> list[Brand]:
    listed = [Brand(name="Listed", terms=list(terms))]
    if query is None:
        return listed
    return [*listed, Brand.model_validate({"name": "Query", "terms": ["q"], "query": query})]


def named(parsed: ParsedFeed, matcher: BrandMatcher) -> list[Mention]:
    """The mentions triage would keep, in feed order."""
    mentions = [mention for _, mention in parsed.items if mention is not None]
    return [m for m in mentions if matcher.find(f"{m.title}\n{m.text}" if m.title else m.text)]


def assert_same(body: bytes, content_type: str, configured: Sequence[Brand]) -> bool:
    """Both paths agree on ids, count and named mentions; whether any item was cut."""
    needles = brand_needles(configured)
    assert needles is not None
    matcher = BrandMatcher(configured)
    whole = parse_feed("s", body, content_type, "https://feed.example/", 500)
    cut = parse_feed("s", body, content_type, "https://feed.example/", 500, needles)
    assert [item_id for item_id, _ in cut.items] == [item_id for item_id, _ in whole.items]
    assert cut.held == whole.held
    assert named(cut, matcher) == named(whole, matcher)
    return any(mention is None for _, mention in cut.items)


def feed_files(folder: Path) -> list[Path]:
    return [
        path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and path.suffix.lower() not in NOT_FEEDS
        and not path.name.upper().startswith("LICENSE")
    ]


def check_corpus(files: list[Path]) -> int:
    """Every file through both paths with several brand sets; how many files had items cut."""
    cut_files = 0
    for path in files:
        body = path.read_bytes()
        content_type = "application/atom+xml" if path.suffix == ".atom" else "application/xml"
        try:
            whole = parse_feed("s", body, content_type, "https://feed.example/", 500)
        except BadPayload:
            continue
        # Words from the feed itself, so that some items match and others do not.
        text = " ".join(f"{m.title} {m.text}" for _, m in whole.items if m is not None)
        words = sorted({word.lower() for word in _WORD.findall(text)}) or ["nothing"]
        sets = [
            brands(words[len(words) // 3]),
            brands(words[0], f"{words[-1]} {words[len(words) // 2]}"),
            brands("zzyzx", query=f'({words[len(words) // 4]} OR "{words[-1]}") NOT {words[0]}'),
            brands("zzyzx"),
        ]
        cut = [assert_same(body, content_type, configured) for configured in sets]
        cut_files += any(cut)
    return cut_files


@pytest.mark.slow
def test_every_shared_feed_names_the_same_brands_with_and_without_skipping() -> None:
    if not SHARED_FEEDS.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SHARED_FEEDS} is missing; CI has ../shared beside the project")
        pytest.skip(f"{SHARED_FEEDS} is absent (set HARKEN_SHARED_FEEDS to the feeds folder)")
    files = feed_files(SHARED_FEEDS)
    assert len(files) > 50
    assert check_corpus(files) > len(files) // 2  # the prefilter did cut most feeds


def test_feedparsers_own_corpus_names_the_same_brands_with_and_without_skipping() -> None:
    if not FEEDPARSER_TESTS or not Path(FEEDPARSER_TESTS).is_dir():
        pytest.skip(
            "set HARKEN_FEEDPARSER_TESTS to the tests/ folder of feedparser 6.0.14's sdist"
            " (pip download feedparser==6.0.14 --no-binary :all: --no-deps)"
        )
    assert check_corpus(feed_files(Path(FEEDPARSER_TESTS))) > 0


def rss(*items: str, declaration: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    return (
        f'{declaration}<rss version="2.0"><channel><title>News</title>'
        f"<link>https://news.example/</link><description>d</description>{''.join(items)}"
        "</channel></rss>"
    )


OTHER = "<item><guid>urn:other</guid><title>Weather</title><description>Rain.</description></item>"


def item(number: int, title: str, description: str = "Nothing to see.") -> str:
    return f"<item><guid>urn:{number}</guid><title>{title}</title><description>{description}</description></item>"


HAZARDS = {
    "decimal reference": item(1, "&#65;cme ships"),
    "hex reference, upper case": item(2, "&#x41;CME ships"),
    "escaped reference in HTML": item(3, "t", "&lt;p&gt;&amp;#65;cme is down&lt;/p&gt;"),
    "tag inside the word": item(4, "t", "&lt;b&gt;Ac&lt;/b&gt;me is down"),
    "CDATA": item(5, "t", "<![CDATA[<p>Our <b>ACME</b> order</p>]]>"),
    "CDATA split": item(6, "<![CDATA[Ac]]><![CDATA[me]]> news"),
    "comment inside the word": item(7, "Ac<!-- x -->me news"),
    "named entity around it": item(8, "Tom&amp;Acme&nbsp;Co".replace("&nbsp;", "&amp;nbsp;")),
}


@pytest.mark.parametrize("hazard", sorted(HAZARDS))
def test_a_hidden_brand_name_is_still_read(hazard: str) -> None:
    body = rss(OTHER, HAZARDS[hazard]).encode()
    assert assert_same(body, "application/rss+xml", brands("Acme"))  # "other" was cut
    parsed = parse_feed("s", body, "application/rss+xml", "u", 500, frozenset({"acme"}))
    assert [m is not None for _, m in parsed.items] == [False, True]


def test_an_entity_inside_the_word_keeps_the_item_whole() -> None:
    # "A&amp;cme" reads "A&cme": no brand, but the item is read whole rather than guessed at.
    body = rss(OTHER, item(1, "A&amp;cme")).encode()
    assert_same(body, "application/rss+xml", brands("Acme"))


@pytest.mark.parametrize(
    ("encoding", "title"),
    [
        ("iso-8859-1", "Acm\u00e9 ouvre"),
        ("windows-1252", "\u201cAcm\u00e9\u201d ouvre"),
    ],
)
def test_single_byte_encodings_keep_accented_brands(encoding: str, title: str) -> None:
    body = rss(OTHER, item(1, title), declaration=f'<?xml version="1.0" encoding="{encoding}"?>')
    raw = body.encode(encoding)
    assert assert_same(raw, "application/rss+xml", brands("Acmé"))
    parsed = parse_feed("s", raw, "application/rss+xml", "u", 500, frozenset({"acmé"}))
    assert [m.title for _, m in parsed.items if m] == [title]


def test_utf16_is_parsed_whole() -> None:
    body = rss(OTHER, item(1, "Acme"), declaration='<?xml version="1.0" encoding="utf-16"?>')
    raw = body.encode("utf-16")  # with its BOM
    assert not assert_same(raw, "application/rss+xml", brands("Acme"))


def test_an_ill_formed_feed_is_parsed_whole() -> None:
    body = rss(OTHER, item(1, "Acme &nbsp; news")).encode()  # &nbsp; is not XML
    assert not assert_same(body, "application/rss+xml", brands("Acme"))


def test_items_without_id_or_link_are_parsed_whole() -> None:
    body = rss(
        "<item><title>Weather</title></item>", item(1, "Acme"), "<item><title>Acme</title></item>"
    ).encode()
    assert not assert_same(body, "application/rss+xml", brands("Acme"))


def test_needles_are_one_word_of_each_term_that_can_name_a_brand() -> None:
    assert brand_needles(brands("Acme", "Acme Cloud")) == frozenset({"acme", "cloud"})
    configured = brands("Acme", query='(case:Widget OR "big gizmos" OR gadget*) NOT pie')
    assert brand_needles(configured) == frozenset({"acme", "widget", "gizmos", "gadget"})


def test_a_letter_re_ignorecase_folds_to_ascii_still_counts() -> None:
    # The matcher reads "\u212aodak" (Kelvin sign) as "Kodak"; so must the prefilter.
    body = rss(OTHER, item(1, "\u212aodak film")).encode()
    assert assert_same(body, "application/rss+xml", brands("Kodak"))
    parsed = parse_feed("s", body, "application/rss+xml", "u", 500, frozenset({"kodak"}))
    assert [m is not None for _, m in parsed.items] == [False, True]


Polled = tuple[Cursor, list[Mention]]


def poll_twice(url: str, fetcher: Fetcher, needles: frozenset[str] | None) -> list[Polled]:
    """Two polls' cursors and the mentions triage would keep from each."""
    kind = source_kinds()["rss"]
    source = kind(
        "news",
        kind.Settings.model_validate({"type": "rss", "url": url}),
        SourceContext(fetcher, needles=needles),
    )
    matcher = BrandMatcher(brands("Acme"))
    first = source.poll({})
    second = source.poll({**first.cursor, "etag": None})  # the feed changed meanwhile
    return [
        (poll.cursor, [m for m in poll.mentions if matcher.find(f"{m.title}\n{m.text}")])
        for poll in (first, second)
    ]


def test_the_cursor_moves_as_it_does_without_skipping(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    feeds = iter(
        [
            rss(OTHER, item(1, "Acme down"), item(2, "Rain"), OTHER),
            rss(item(3, "Sun"), item(4, "Acme back"), OTHER, item(1, "Acme down")),
        ]
        * 2
    )
    http_server.routes["/feed.xml"] = lambda request: Reply(
        next(feeds).encode(), headers={"Content-Type": "application/rss+xml", "ETag": '"1"'}
    )
    url = http_server.url("/feed.xml")
    whole = poll_twice(url, fetcher, None)
    skipping = poll_twice(url, fetcher, frozenset({"acme"}))
    assert skipping == whole
    (_, first), (cursor, second) = whole
    assert [m.title for m in first + second] == ["Acme down", "Acme back"]
    assert cursor["seen"] == ["urn:3", "urn:4", "urn:other", "urn:1"]

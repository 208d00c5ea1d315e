"""Canonical URLs: one story reached through two sources has one key."""

from __future__ import annotations

import pytest

from monitor.urls import canonical_url, without_credentials

STORY = "https://news.example/2024/05/acme-outage"


@pytest.mark.parametrize(
    "url",
    [
        STORY,
        "http://news.example/2024/05/acme-outage",
        "HTTPS://WWW.News.Example/2024/05/acme-outage/",
        "https://news.example:443/2024/05/acme-outage#comments",
        "http://news.example:80/2024/05/acme-outage",
        "https://news.example/2024/05/acme-outage?utm_source=rss&utm_medium=feed&UTM_Campaign=x",
        "https://news.example/2024/05/acme-outage?fbclid=IwAR0abc&gclid=xyz&mc_cid=1&mc_eid=2",
        "https://news.example/2024/05/acme-outage?ref=hackernews&ref_src=twsrc&cmpid=rss",
        "  https://news.example/2024/05/acme-outage  ",
    ],
)
def test_variants_of_one_story_share_its_key(url: str) -> None:
    assert canonical_url(url) == STORY


def test_a_google_alerts_link_is_the_story_it_points_to() -> None:
    alert = (
        "https://www.google.com/url?rct=j&sa=t"
        "&url=https://www.news.example/2024/05/acme-outage%3Futm_source%3Dgoogle"
        "&ct=ga&cd=CAIyGjQ&usg=AOvVaw0"
    )

    assert canonical_url(alert) == STORY


@pytest.mark.parametrize(
    "url",
    [
        "https://www.google.com/url?q=https://news.example/2024/05/acme-outage&sa=D",
        "https://google.co.uk/url?url=http%3A%2F%2Fnews.example%2F2024%2F05%2Facme-outage",
        "https://www.google.de/url?url=https://www.google.com/url?q=" + STORY,
    ],
)
def test_google_redirects_are_unwrapped_wherever_they_point(url: str) -> None:
    assert canonical_url(url) == STORY


def test_a_lookalike_of_google_is_not_unwrapped() -> None:
    lookalike = "https://google.evil.example/url?q=" + STORY

    assert canonical_url(lookalike).startswith("https://google.evil.example/url?q=")


def test_a_google_redirect_without_a_web_target_stays_as_it_is() -> None:
    assert canonical_url("https://www.google.com/url?q=javascript:alert(1)") == (
        "https://google.com/url?q=javascript%3Aalert%281%29"
    )


def test_a_google_news_article_link_cannot_be_unwrapped_offline() -> None:
    url = "https://news.google.com/rss/articles/CBMiWmh0dHBzOi8vbmV3cy5leGFtcGxl?oc=5"

    assert canonical_url(url) == url


def test_remaining_query_parameters_are_sorted_and_kept() -> None:
    assert canonical_url("https://forum.example/thread?page=2&id=42&utm_term=acme") == (
        "https://forum.example/thread?id=42&page=2"
    )
    assert canonical_url("https://forum.example/thread?id=42") != canonical_url(
        "https://forum.example/thread?id=43"
    )


def test_the_path_keeps_its_case_and_other_ports_stay() -> None:
    assert canonical_url("https://Example.org:8443/Docs/") == "https://example.org:8443/Docs"
    assert canonical_url("https://example.org/") == "https://example.org"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://news.example/file",
        "javascript:alert(1)",
        "mailto:press@acme.example",
        "news.example/2024/05/acme-outage",
        "https://",
        "https://news.example:99999/",
        "https://[::1/",
    ],
)
def test_what_is_not_a_web_link_has_no_key(url: str) -> None:
    assert canonical_url(url) == ""


@pytest.mark.parametrize(
    ("shown", "safe"),
    [
        ("https://user:pass@feeds.example/a.xml", "https://***@feeds.example/a.xml"),
        ("https://TOKEN123@feeds.example/a.xml", "https://***@feeds.example/a.xml"),
        ("https://f.example/a?apikey=abc&page=2", "https://f.example/a?apikey=***&page=2"),
        ("https://f.example/a?page=2&api_key=abc", "https://f.example/a?page=2&api_key=***"),
        ("https://f.example/a?access_token=abc#top", "https://f.example/a?access_token=***#top"),
        ("https://f.example/a?X-Amz-Signature=abc", "https://f.example/a?X-Amz-Signature=***"),
        ("https://f.example/a?sig=abc&secret=def", "https://f.example/a?sig=***&secret=***"),
        (
            "fetch https://f.example/a?key=abc: HTTP 404",
            "fetch https://f.example/a?key=***: HTTP 404",
        ),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
        ("https://f.example/a?page=2&sort=new", "https://f.example/a?page=2&sort=new"),
    ],
)
def test_credentials_in_urls_are_hidden_wherever_they_are_shown(shown: str, safe: str) -> None:
    assert without_credentials(shown) == safe

"""Private feeds: a token or a password from the environment, never written in the feed's URL."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.config.load import load_config
from monitor.config.secrets import secret_values
from monitor.errors import AccessDenied, NotConfigured
from monitor.fetch import Fetcher
from monitor.source import Source, SourceContext, source_kinds
from tests.harness import Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer

TOKEN = "feed-token-Secret-0123456789"
PASSWORD = "feed-password-Secret-0123456789"
FEED = rss_feed(("p-1", "Acme Cloud is down", "Acme Cloud is down again, terrible outage."))


def wants(authorization: str) -> object:
    """A route that serves the feed only to a request carrying ``authorization``."""

    def answer(request: BaseHTTPRequestHandler) -> Reply:
        if request.headers.get("Authorization") != authorization:
            return Reply(b"who are you?", status=401)
        return Reply(FEED, headers={"Content-Type": "application/rss+xml"})

    return answer


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    client = Fetcher(timeout=5)
    yield client
    client.close()


def rss_source(fetcher: Fetcher, **settings: object) -> Source:
    kind = source_kinds()["rss"]
    return kind(
        "private", kind.Settings.model_validate({"type": "rss", **settings}), SourceContext(fetcher)
    )


def test_a_bearer_token_header_is_filled_from_the_environment(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_server.routes["/private.xml"] = wants(f"Bearer {TOKEN}")  # type: ignore[assignment]
    monkeypatch.setenv("FEED_TOKEN", TOKEN)

    source = rss_source(
        fetcher,
        url=http_server.url("/private.xml"),
        headers={"Authorization": "Bearer {FEED_TOKEN}"},
    )

    assert [mention.title for mention in source.poll({}).mentions] == ["Acme Cloud is down"]


def test_basic_auth_takes_its_password_from_the_environment(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    basic = base64.b64encode(f"reader:{PASSWORD}".encode()).decode()
    http_server.routes["/private.xml"] = wants(f"Basic {basic}")  # type: ignore[assignment]
    monkeypatch.setenv("FEED_PASSWORD", PASSWORD)

    source = rss_source(
        fetcher,
        url=http_server.url("/private.xml"),
        username="reader",
        password_env="FEED_PASSWORD",
    )

    assert len(source.poll({}).mentions) == 1


def test_a_wrong_token_is_access_denied(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_server.routes["/private.xml"] = wants(f"Bearer {TOKEN}")  # type: ignore[assignment]
    monkeypatch.setenv("FEED_TOKEN", "an-old-token-0123456789")
    source = rss_source(
        fetcher,
        url=http_server.url("/private.xml"),
        headers={"Authorization": "Bearer {FEED_TOKEN}"},
    )

    with pytest.raises(AccessDenied, match="HTTP 401"):
        source.poll({})


def test_an_unset_variable_skips_the_source_naming_it(
    fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FEED_TOKEN", raising=False)
    monkeypatch.delenv("FEED_PASSWORD", raising=False)

    with pytest.raises(
        NotConfigured, match=r"FEED_TOKEN is not set; \[sources.private\] headers.Authorization"
    ):
        rss_source(
            fetcher,
            url="https://feeds.example/p.xml",
            headers={"Authorization": "Bearer {FEED_TOKEN}"},
        )
    with pytest.raises(NotConfigured, match=r"FEED_PASSWORD \(password_env\) is not set"):
        rss_source(
            fetcher,
            url="https://feeds.example/p.xml",
            username="reader",
            password_env="FEED_PASSWORD",
        )


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"username": "reader"}, "needs both username and password_env"),
        ({"password_env": "FEED_PASSWORD"}, "needs both username and password_env"),
        (
            {"username": "r", "password_env": "P", "headers": {"authorization": "Bearer x"}},
            "not both",
        ),
        ({"headers": {"Bad Name": "x"}}, "not an HTTP header name"),
        ({"headers": {"X-Key": "a\r\nHost: evil"}}, "line break"),
    ],
)
def test_auth_settings_that_cannot_work_are_config_errors(
    settings: dict[str, object], says: str
) -> None:
    kind = source_kinds()["rss"]
    with pytest.raises(ValidationError, match=says):
        kind.Settings.model_validate(
            {"type": "rss", "url": "https://feeds.example/p.xml", **settings}
        )


def test_the_token_is_not_sent_to_another_host_a_feed_redirects_to(
    http_server: HttpServer, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = HttpServer().start()
    try:
        elsewhere.routes["/moved.xml"] = Reply(FEED)
        http_server.routes["/private.xml"] = Reply(
            status=302,
            headers={"Location": elsewhere.url("/moved.xml").replace("127.0.0.1", "localhost")},
        )
        monkeypatch.setenv("FEED_TOKEN", TOKEN)
        source = rss_source(
            fetcher,
            url=http_server.url("/private.xml"),
            headers={"Authorization": "Bearer {FEED_TOKEN}"},
        )

        assert len(source.poll({}).mentions) == 1
        sent = {name.lower() for name in elsewhere.requests[-1][1]}
        assert "authorization" not in sent
    finally:
        elsewhere.stop()


def write_private_config(harness: Harness, url: str, smtp_port: int) -> None:
    harness.write_config(
        {},
        smtp_port,
        extra=f"""
[sources.private]
type = "rss"
url = "{url}"
headers = {{ Authorization = "Bearer {{FEED_TOKEN}}" }}

[sources.members]
type = "rss"
url = "{url.replace("private", "members")}"
username = "reader"
password_env = "FEED_PASSWORD"
""",
    )


@pytest.mark.slow
def test_a_refused_private_feed_shows_its_secrets_nowhere(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server has rotated both credentials: every request is refused, and every place a
    # refusal is told (poll summary, verbose log, stored health, health alert, doctor) must
    # say so without repeating what Harken sent.
    http_server.routes["/private.xml"] = wants("Bearer the-new-one")  # type: ignore[assignment]
    http_server.routes["/members.xml"] = wants("Basic the-new-one")  # type: ignore[assignment]
    monkeypatch.setenv("FEED_TOKEN", TOKEN)
    monkeypatch.setenv("FEED_PASSWORD", PASSWORD)
    harness = Harness(tmp_path)
    write_private_config(harness, http_server.url("/private.xml"), smtp_server.port)
    assert secret_values(load_config(harness.config)) >= {TOKEN, PASSWORD}

    runs = [
        harness.harken("--verbose", "poll"),
        harness.harken("--verbose", "sources", "test", "members"),
        harness.harken("sources", "list"),
        harness.harken("doctor"),
    ]

    assert "refused our credentials" in runs[0].stdout, runs[0].stdout + runs[0].stderr
    basic = base64.b64encode(f"reader:{PASSWORD}".encode()).decode()
    shown = "\n".join(run.stdout + run.stderr for run in runs)
    with sqlite3.connect(harness.database) as database:
        shown += repr(database.execute("SELECT * FROM source_health").fetchall())
        shown += repr(database.execute("SELECT * FROM alerts").fetchall())
    alerts = [str(message) for message in smtp_server.inbox]
    assert any("private is disabled" in alert for alert in alerts), alerts
    shown += "".join(alerts)
    for secret in (TOKEN, PASSWORD, basic):
        assert secret not in shown

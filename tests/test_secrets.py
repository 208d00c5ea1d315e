"""No secret reaches a log line, a printed table or a stored health row, even with --verbose,
where libraries log every request they make (tweepy logs each request's headers)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO
from tests.servers import HttpServer

SECRETS = {
    "HARKEN_X_BEARER_TOKEN": "x-bearer-Secret-0123456789",
    "HARKEN_REDDIT_CLIENT_ID": "reddit-id-Secret-0123456789",
    "HARKEN_REDDIT_CLIENT_SECRET": "reddit-secret-Secret-0123456789",
    "HARKEN_MASTODON_TOKEN": "mastodon-token-Secret-0123456789",
    "HARKEN_TEST_BLUESKY_TOKEN": "bluesky-token-Secret-0123456789",
    "HARKEN_TEST_SMTP_PASSWORD": "smtp-password-Secret-0123456789",
}
# Written into a feed's URL by someone who did not know better.
FEED_PASSWORD = "feed-password-Secret-0123"
FEED_KEY = "feed-apikey-Secret-0123"


def write_config(folder: Path, server: HttpServer) -> Path:
    base = server.url("").rstrip("/")
    feed = server.url(f"/private.xml?apikey={FEED_KEY}&page=1")
    feed = feed.replace("http://", f"http://reader:{FEED_PASSWORD}@")
    config = folder / "config.toml"
    config.write_text(
        f"""
[organisation]
name = "Acme Inc."

[[brands]]
name = "Acme"
terms = ["Acme"]

[sources.feed]
type = "rss"
url = "{feed}"

[sources.reddit_api]
type = "reddit"
mode = "api"
subreddits = ["acme"]
api_url = "{base}"
www_url = "{base}"

[sources.x_search]
type = "x"
api_url = "{base}"

[sources.hn]
type = "hackernews"
api_url = "{base}"

[sources.toots]
type = "mastodon"
instances = ["{base}"]

[sources.sky_search]
type = "bluesky"
mode = "search"
search_url = "{base}"
token_env = "HARKEN_TEST_BLUESKY_TOKEN"

[sources.sky_stream]
type = "bluesky"
jetstream_url = "{base.replace("http://", "ws://")}"
window = "1s"

[recipients]
oncall = ["oncall@example.com"]
marketing = ["marketing@example.com"]

[storage]
url = "sqlite:///harken.db"

[email]
host = "127.0.0.1"
port = 1
username = "harken"
password_env = "HARKEN_TEST_SMTP_PASSWORD"

[rules]
path = "{REPO / "rules"}"

[templates]
path = "{REPO / "templates"}"
""",
        encoding="utf-8",
    )
    return config


def harken(config: Path, log_format: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = ["-m", "monitor", "--verbose", "--log-format", log_format, "--config", str(config)]
    return subprocess.run(
        [sys.executable, *command, *args],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **SECRETS, "NO_COLOR": "1", "COLUMNS": "250"},
        check=False,
    )


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.slow
def test_verbose_runs_of_every_source_kind_never_show_a_secret(
    tmp_path: Path, http_server: HttpServer, log_format: str
) -> None:
    config = write_config(tmp_path, http_server)

    runs = [
        harken(config, log_format, "poll"),
        harken(config, log_format, "sources", "test", "x_search"),
        harken(config, log_format, "sources", "list"),
        # Errors printed by a command, not logged: the feed's 404 names its URL.
        harken(config, log_format, "sources", "test", "feed"),
        harken(config, log_format, "doctor"),
    ]

    shown = "\n".join(run.stdout + run.stderr for run in runs)
    # The debug lines that used to carry the bearer token are there, without it.
    assert "Making API request" in shown, shown[-3000:]
    assert "'Authorization': '***'" in shown
    # Every kind was polled and said what went wrong with it.
    for name in ("feed", "reddit_api", "x_search", "hn", "toots", "sky_search", "sky_stream"):
        assert name in runs[0].stdout, runs[0].stdout
    assert "reader:***@" not in shown  # the whole userinfo goes, the name too
    assert "***@127.0.0.1" in shown
    assert "apikey=***&page=1" in shown
    for secret in [*SECRETS.values(), FEED_PASSWORD, FEED_KEY]:
        assert secret not in shown

    with sqlite3.connect(tmp_path / "harken.db") as database:
        stored = repr(database.execute("SELECT * FROM source_health").fetchall())
    assert "apikey=***" in stored
    for secret in (FEED_PASSWORD, FEED_KEY):
        assert secret not in stored

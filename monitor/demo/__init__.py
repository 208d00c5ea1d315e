"""``harken demo``: the whole pipeline on made-up posts served from 127.0.0.1, no credentials.

The posts are about the fictional Acme, dated within the last hours so the digest of the last
day shows them as they came. The demo keeps the organisation, rules and templates of the user's
config, swaps in Acme and two local feeds, writes that config beside its database (so
``harken --config DIR/config.toml alerts ack 1`` works on what it made) and writes what it
would email to files.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from monitor.config.load import load_config
from monitor.config.settings import Brand, Config
from monitor.config.toml import to_toml
from monitor.daemon.deliver import deliver_alerts
from monitor.daemon.digests import digest_of
from monitor.daemon.poll import poll_all
from monitor.daemon.summary import PollSummary
from monitor.daemon.wiring import open_app
from monitor.digest import render_digest
from monitor.mail.mailer import FolderMailer

FEEDS = {"demo_news": "news.xml", "demo_forum": "forum.atom"}
ACME = Brand(name="Acme", terms=["Acme", "@acme", "#acme", "Acme Cloud"], exclude=["Acme Hardware"])


@dataclass(frozen=True)
class DemoResult:
    summaries: list[PollSummary]
    alerts: list[Path]
    digest_html: Path
    digest_text: Path
    database: Path
    config: Path


@contextmanager
def serve_posts(now: datetime) -> Iterator[str]:
    """Serve the bundled feeds on 127.0.0.1 at a free port, dated up to ``now``; yield the URL."""
    feeds = {
        f"/{file}": dated_until(now, (Path(__file__).parent / file).read_text(encoding="utf-8"))
        for file in FEEDS.values()
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = feeds.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


_RFC_822 = re.compile(r"(<pubDate>)([^<]+)(</pubDate>)")
_ISO_8601 = re.compile(r"(<(?:updated|published)>)([^<]+)(</(?:updated|published)>)")


def dated_until(now: datetime, feed: str) -> str:
    """``feed`` with every date moved by one amount, so its newest is half an hour before
    ``now`` and the posts keep their spacing (hours apart: the digest's chart has a shape)."""
    dates = [parsedate_to_datetime(m.group(2)) for m in _RFC_822.finditer(feed)]
    dates += [datetime.fromisoformat(m.group(2)) for m in _ISO_8601.finditer(feed)]
    if not dates:
        return feed
    shift = now - timedelta(minutes=30) - max(dates)
    feed = _RFC_822.sub(
        lambda m: m[1] + format_datetime(parsedate_to_datetime(m[2]) + shift, usegmt=True) + m[3],
        feed,
    )
    return _ISO_8601.sub(
        lambda m: (
            m[1] + (datetime.fromisoformat(m[2]) + shift).isoformat().replace("+00:00", "Z") + m[3]
        ),
        feed,
    )


def demo_config(config: Config, base_url: str, database: Path, path: Path) -> Config:
    """The user's config with Acme as the brand, the local feeds as sources and the demo's
    database, written to ``path`` so harken's other commands can open what the demo made."""
    sources = {name: {"type": "rss", "url": f"{base_url}/{file}"} for name, file in FEEDS.items()}
    written = config.settings.model_dump(mode="json", by_alias=True, exclude_defaults=True) | {
        "brands": [ACME.model_dump(mode="json", exclude_defaults=True)],
        "sources": sources,
        "storage": {"url": f"sqlite:///{database}"},
        # Absolute, since the written config lives in another folder than the user's.
        "rules": {"path": str(config.rules_path), "lexicon": str(config.lexicon_path)},
        "templates": {"path": str(config.templates_path)},
    }
    path.write_text(to_toml(written), encoding="utf-8")
    return load_config(path)


def run_demo(config: Config, out: Path) -> DemoResult:
    """Poll the sample feeds once and write the alerts and the digest Harken would send."""
    out.mkdir(parents=True, exist_ok=True)
    database = out / "harken-demo.db"
    for stale in out.glob("harken-demo.db*"):
        stale.unlink()
    for stale in out.glob("harken-alert-*"):
        stale.unlink()
    mailer = FolderMailer(out)
    now = datetime.now(UTC)
    with serve_posts(now) as base_url:
        demo = demo_config(config, base_url, database.resolve(), out / "config.toml")
        app = open_app(demo, mailer=mailer)
        try:
            summaries = poll_all(app)
            deliver_alerts(app)
            end = app.now()
            email = render_digest(digest_of(app, end - timedelta(days=1), end), app.templates)
        finally:
            app.close()
    digest_html, digest_text = out / "digest.html", out / "digest.txt"
    digest_html.write_text(email.html_for_file(), encoding="utf-8")
    digest_text.write_text(email.text, encoding="utf-8")
    return DemoResult(
        summaries, sorted(mailer.written), digest_html, digest_text, database, demo.path
    )
